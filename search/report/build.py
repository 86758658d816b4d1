"""``python -m search report``: compute a study's numbers (:mod:`search.report.data`), draw its figures and write
``runs/<study>/report/`` (``index.html``, ``summary.md``, ``report.json``, the PNGs; a study in another storage than
its default journal: ``runs/<study>/report-<storage>/``, :func:`report_dir`); with several studies also
``runs/comparison/`` (``index.html``, ``summary.md``)."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import optuna

from search.processes import remove_if_dead
from search.report import figures, render
from search.report.data import StudyData, check_reportable, comparison, study_report
from search.report.snapshot import frozen
from search.selection import study_best
from search.spec import StudySpec
from search.storage import is_default_journal, load_existing, store_file
from search.whole_file import write_whole

#: a server's default port, written or not, names the same store (two report folders for one study, before)
DEFAULT_PORTS = {"postgresql": ":5432", "mysql": ":3306"}


def report_dir(name: str, url: str, runs: str | Path = "runs") -> Path:
    """Where the report of study ``name`` in storage ``url`` goes: ``runs/<name>/report`` for the study's default
    journal, else ``runs/<name>/report-<storage>``: the storage's file name or scheme, host and database, and a
    short digest of the whole URL (a password left out). Two storages may each hold a study of the same name (a
    trial run on the default journal, the real one on PostgreSQL): their reports must not overwrite each other."""
    base = Path(runs) / name
    if is_default_journal(url, name, runs):  # however it is spelled
        return base / "report"
    path = store_file(url)
    if path is not None:
        label, key = path.stem, str(path.resolve())
    else:
        parts = urlsplit(url)
        label = "-".join(x for x in (parts.scheme.split("+")[0], parts.hostname, parts.path.strip("/")) if x)
        where = sorted(q for q in parts.query.split("&") if q.split("=")[0] in ("host", "port", "dbname"))
        family = parts.scheme.split("+")[0]  # the driver, a password and connection options name no other store
        host = parts.netloc.rpartition("@")[2].removesuffix(DEFAULT_PORTS.get(family, "\0"))  # (:5432: no other)
        key = f"{family}://{parts.username or ''}@{host}{parts.path}?{'&'.join(where)}"
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._")[:40] or "storage"
    return base / f"report-{label}-{hashlib.sha256(key.encode()).hexdigest()[:6]}"


def check_writable(outdir: Path, what: str) -> None:
    """One line, before the verdict retrains anything, when ``outdir`` cannot be made or written (a colleague's
    directory, a read-only share): ``mkdir`` raised a PermissionError traceback after the retraining."""
    from search.preflight import PreflightError

    target = outdir.resolve()  # the folder is written beside it and renamed into place: its parent is written
    above = next((p for p in target.parents if p.exists()), Path("."))
    if not os.access(above, os.W_OK | os.X_OK):
        where = f" ({above} is not writable)"
        raise PreflightError(f"{what} {outdir}: cannot write the report there{where}; give a directory you can "
                             "write (python -m search report ... --out DIR)")  # fmt: skip


def build(
    study: optuna.Study, spec: StudySpec, outdir: Path, seeds: int | None = None, url: str | None = None
) -> StudyData:
    """Write one study's report into ``outdir`` (whole or not at all: :func:`_swap_in`); its numbers. ``url``: the
    study's storage, named in the commands the report prints (a retry or a dashboard without it opened the default
    journal: "no study ... run make study first")."""
    data, probes = study_report(study, spec, seeds, url)  # the retraining: minutes, before anything is written
    data.report_dir = str(outdir)
    target = outdir.resolve()  # a symbolic link to the report folder stays a link: the folder it names is replaced
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{_HOST}-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    _sweep_dead(target)
    partial.mkdir()
    try:
        _write(study, spec, partial, data, probes)
        _swap_in(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # a stop or an error midway: the old report stays as it was
    return data


#: this machine, in a report's partial folder's name: on a runs/ shared between machines another's pid means nothing
_HOST = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


def _sweep_dead(target: Path) -> None:
    """Remove the partial folders of reports that this machine's processes began and that are gone (a SIGKILL
    left ``.report.partial-<pid>`` beside the report; each report removed only its own)."""
    for leftover in target.parent.glob(f".{target.name}.partial-{_HOST}-*"):
        remove_if_dead(leftover, leftover.name.rsplit("-", 1)[-1])


def _swap_in(new: Path, outdir: Path) -> None:
    """Put the finished report folder ``new`` where ``outdir`` is (the folder is the report's own: replaced whole):
    a Ctrl-C while the figures were drawn left a folder whose history plot showed 12 trials and whose page still
    named the old best, or no index.html at all. A stop between the two renames puts the old folder back."""
    old = outdir.with_name(f".{outdir.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)  # one an earlier process of this pid left (a container's pid 1)
    with _signals_held():  # the two renames are one step: a Ctrl-C waits for both (microseconds)
        try:
            if outdir.exists():
                outdir.rename(old)
            new.rename(outdir)
        except BaseException:  # (an OSError: the old folder back in place)
            if old.exists() and not outdir.exists():
                old.rename(outdir)
            raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP held back within (delivered on leaving), on the main thread; elsewhere nothing."""
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _write(study: optuna.Study, spec: StudySpec, outdir: Path, data: StudyData, probes: dict[str, Any]) -> None:
    history = figures.history_plot(study, spec.metric, outdir / "history.png")
    data.figures.append({"file": history.name, "caption": "Objective per trial (o complete, x pruned at its last "
                         "reported value) and the best so far."})  # fmt: skip
    order = sorted(data.importances.get("fANOVA", {}).items(), key=lambda kv: -kv[1])
    top = [name for name, _ in order] or sorted(study_best(study).params)
    slices = figures.slice_plots(study, top, spec.metric, outdir / "slices.png")
    if slices is not None:
        path, n = slices
        ranked = "most important parameters (fANOVA)" if order else (
            "parameters (not ranked: fANOVA failed on these trials)" if any(data.importances.values())
            else "parameters (too few complete trials, all of them tied or within one standard error of the best, "
            "or none varied: nothing to rank them by)"
        )  # fmt: skip
        data.figures.append({"file": path.name, "caption": f"Objective against the {n} {ranked}."})
    for label, probe in probes.items():
        paths = probe.figures(outdir, prefix=f"{label}_")
        data.introspection[label]["figures"] = {kind: p.name for kind, p in paths.items()}
    (outdir / "report.json").write_text(json.dumps(data.to_json(), indent=1, default=str))
    (outdir / "summary.md").write_text(render.markdown(data))
    (outdir / "index.html").write_text(render.page(data))


def comparison_dir(base: Path, reports: list[Path]) -> Path:
    """``base/comparison``, or ``comparison-1``, ... when that is a study's own folder: a study named "comparison"
    had its report replaced by the comparison page (``--out``), or its run folder (journal beside) written into."""
    taken = {p.resolve() for r in reports for p in (r, r.parent)}
    for i in itertools.count():
        d = base / ("comparison" if i == 0 else f"comparison-{i}")
        ours = not d.exists() or (d / COMPARISON_MARK).exists() or not any(d.iterdir())  # (a study's: anything else)
        if d.resolve() not in taken and ours:
            return d
    raise AssertionError("unreachable")


COMPARISON_MARK = ".regtune-comparison"  # written into a comparison's folder: a folder without it is not one


def write_comparison(reports: list[StudyData], outdir: Path) -> Path:
    """The best regularizers per architecture side by side: ``outdir/index.html`` and ``outdir/summary.md``."""
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / COMPARISON_MARK).touch()
    cmp = comparison(reports)
    write_whole(outdir / "index.html", render.comparison_page(cmp, outdir))  # (a kill leaves the last page whole)
    write_whole(outdir / "summary.md", render.comparison_markdown(cmp))
    return outdir / "index.html"


def _once(paths: list[str], prepared: list[Any]) -> tuple[list[str], list[Any]]:
    """Each study once: a study file given twice, or two files naming one study in one store, were two identical
    columns of the comparison with no word (the faults6 probe); a note says which were left out."""
    seen: dict[tuple[str, str], str] = {}
    kept_paths, kept = [], []
    for path, p in zip(paths, prepared):
        key = (p.spec.name, p.url)
        if key in seen:
            print(f"note: {path} names the study {p.spec.name!r} of {seen[key]} in the same storage: reported once",
                  file=sys.stderr)  # fmt: skip
            continue
        seen[key] = path
        kept_paths.append(path)
        kept.append(p)
    return kept_paths, kept


def report_target(study: optuna.Study, spec: StudySpec, url: str, out: Path | None = None) -> Path:
    """Where the report of ``study`` goes (``out``, else :func:`report_dir`), once the study is one ``spec``
    describes and has something to report; the command line's and :func:`search.api.write_report`'s check."""
    from search.fingerprint import changed_error
    from search.storage import mask_url
    from search.worker import definition_changes

    found = definition_changes(study, spec, mask_url(url))
    if found:  # the verdict would retrain rows of the edited file (or data) beside trials of the stored one
        raise changed_error(spec, mask_url(url), found, report=True)
    outdir = out if out is not None else report_dir(spec.name, url)
    check_reportable(study, spec)
    check_writable(outdir, "--out" if out is not None else "the report directory")
    return outdir


def main(args: argparse.Namespace) -> int:
    from search.preflight import PreflightError, prepare
    from search.storage import readable

    out = getattr(args, "out", None)
    if out:  # OUT itself, or a folder above it, is a file: NotADirectoryError after the retraining
        above = next((p for p in (Path(out), *Path(out).parents) if p.exists()), None)
        if above is not None and not above.is_dir():
            where = "" if above == Path(out) else f" ({above} is a file)"
            raise PreflightError(f"--out {out}: is not a directory{where}; give a directory for the reports "
                                 "(OUT/<study>/)")  # fmt: skip
    reports = []

    def checked(study: optuna.Study, spec: StudySpec, url: str) -> Path:
        return report_target(study, spec, url, Path(out) / spec.name if out else None)

    # every study checked before any is retrained or announced: a missing second study file ended the command
    # minutes later, after the first one's report (the spec as the study ran it, with the data-dependent defaults)
    prepared = [prepare(path, args.storage, read_only=True) for path in args.studies]
    paths, prepared = _once(list(args.studies), prepared)
    with contextlib.ExitStack() as stack:
        opened = []
        for path, p in zip(paths, prepared):
            read_url = stack.enter_context(readable(p.url, name=p.spec.name))  # a read-only store: a copy
            study = load_existing(read_url, p.spec.name, path)
            opened.append((p.spec, study, checked(study, p.spec, p.url)))
        for (spec, study, outdir), p in zip(opened, prepared):
            print(f"report for {spec.name} -> {outdir}/index.html", flush=True)
            data = build(frozen(study), spec, outdir, url=p.url)  # its trials as they are now: workers may go on
            print(render.markdown(data))
            reports.append(data)
    if len(reports) > 1:
        dirs = [outdir for _, _, outdir in opened]
        out = write_comparison(reports, comparison_dir(Path(out or "runs"), dirs))
        print((out.parent / "summary.md").read_text())
        print(f"comparison -> {out}")
    return 0
