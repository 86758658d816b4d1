"""``python -m search report``: compute a study's numbers (:mod:`search.report.data`), draw its figures and write
``runs/<study>/report/`` (``index.html``, ``summary.md``, ``report.json``, the PNGs); with several studies also
``runs/comparison/`` (``index.html``, ``summary.md``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import optuna

from search.report import figures, render
from search.report.data import StudyData, check_reportable, comparison, study_report
from search.spec import StudySpec
from search.storage import load_existing


def build(study: optuna.Study, spec: StudySpec, outdir: Path, seeds: int | None = None) -> StudyData:
    """Write one study's report into ``outdir``; its numbers."""
    outdir.mkdir(parents=True, exist_ok=True)
    data, probes = study_report(study, spec, seeds)
    history = figures.history_plot(study, spec.metric, outdir / "history.png")
    data.figures.append({"file": history.name, "caption": "Objective per trial (o complete, x pruned at its last "
                         "reported value) and the best so far."})  # fmt: skip
    order = sorted(data.importances.get("fANOVA", {}).items(), key=lambda kv: -kv[1])
    top = [name for name, _ in order] or sorted(study.best_trial.params)
    slices = figures.slice_plots(study, top, spec.metric, outdir / "slices.png")
    if slices is not None:
        path, n = slices
        data.figures.append({"file": path.name, "caption": f"Objective against the {n} most important parameters "
                             "(fANOVA)."})  # fmt: skip
    for label, probe in probes.items():
        paths = probe.figures(outdir, prefix=f"{label}_")
        data.introspection[label]["figures"] = {kind: p.name for kind, p in paths.items()}
    (outdir / "report.json").write_text(json.dumps(data.to_json(), indent=1, default=str))
    (outdir / "summary.md").write_text(render.markdown(data))
    (outdir / "index.html").write_text(render.page(data))
    return data


def write_comparison(reports: list[StudyData], outdir: Path) -> Path:
    """The best regularizers per architecture side by side: ``outdir/index.html`` and ``outdir/summary.md``."""
    outdir.mkdir(parents=True, exist_ok=True)
    cmp = comparison(reports)
    (outdir / "index.html").write_text(render.comparison_page(cmp))
    (outdir / "summary.md").write_text(render.comparison_markdown(cmp))
    return outdir / "index.html"


def main(args: argparse.Namespace) -> int:
    from search.preflight import prepare

    reports = []
    for path in args.studies:
        prepared = prepare(path, args.storage)  # the spec as the study ran it: with the data-dependent defaults
        spec, url = prepared.spec, prepared.url
        study = load_existing(url, spec.name, path)
        outdir = Path("runs") / spec.name / "report"
        check_reportable(study, spec)  # before anything is written or announced
        print(f"report for {spec.name} -> {outdir}/index.html", flush=True)
        data = build(study, spec, outdir)
        print(render.markdown(data))
        reports.append(data)
    if len(reports) > 1:
        out = write_comparison(reports, Path("runs") / "comparison")
        print((out.parent / "summary.md").read_text())
        print(f"comparison -> {out}")
    return 0
