"""``python -m search``: the command line the Makefile calls."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
import warnings

import optuna

from search.spec import StudyFileError, StudySpec, load_study
from search.storage import STORAGE_ENV, StorageError, mask_url, open_storage, resolve_url, schema_lock
from search.worker import Interrupted


def quiet_libraries() -> None:
    """Silence the libraries' notices a user need not see (Lightning's banners, Optuna's experimental warnings);
    shared by the benchmarks."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*is already reported.*")
    warnings.filterwarnings("ignore", message=".*Heartbeat of storage is supposed to be used with Study.optimize.*")


def worker_plan(workers: int | None, per_gpu: int) -> list[dict[str, str]]:
    """One environment per local worker: GPUs round-robin (``per_gpu`` each), CPU threads split evenly."""
    import torch

    gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = (
        [g for g in gpus.split(",") if g.strip()]
        if gpus is not None
        else [str(i) for i in range(torch.cuda.device_count())]
    )
    n = workers or (len(ids) * per_gpu if ids else 1)
    cores = os.cpu_count() or 1
    plans = []
    for i in range(n):
        env = {"OMP_NUM_THREADS": str(max(1, cores // n)), "REGTUNE_WORKER_INDEX": str(i)}
        if ids:
            env["CUDA_VISIBLE_DEVICES"] = ids[i % len(ids)]
        plans.append(env)
    return plans


def _sampler_index(join_only: bool) -> int:
    """Offsets the sampler's seed. A lone ``study`` run keeps the study's seed (reproducible); any worker that
    shares the study (``worker``, or one of WORKERS) gets one no other worker on any machine has: workers started
    with the same seed would propose the same parameters."""
    index = os.environ.get("REGTUNE_WORKER_INDEX")
    if not join_only and index is None:
        return 0
    import secrets

    return int(index or 0) + 1000 * (1 + secrets.randbelow(1_000_000))


def _open(args: argparse.Namespace, spec: StudySpec):  # type: ignore[no-untyped-def]
    url = resolve_url(args.storage, spec.name)
    return url, open_storage(url)


def cmd_study(args: argparse.Namespace, join_only: bool = False) -> int:
    from search.final import changed_values, final_result
    from search.progress import Progress
    from search.worker import counts, ensure_study, run_worker, study_total

    spec = load_study(args.study)
    url, storage = _open(args, spec)
    with schema_lock(url):  # many workers starting at once on a new study: one creates it and its starting points
        study = ensure_study(spec, storage, total=args.trials)
    total = study_total(study, spec, args.trials)
    c = counts(study)
    print(f"study {spec.name} ({spec.path}) in {mask_url(url)}: {c['finished']}/{total} trials finished", flush=True)
    plans = worker_plan(args.workers, args.workers_per_gpu)
    if c["finished"] < total:
        progress = Progress(total, c["finished"], spec.direction, spec.name)
        try:
            if len(plans) == 1 and args.in_process:
                index = _sampler_index(join_only)
                threads = plans[0]["OMP_NUM_THREADS"]
                if not os.environ.get("OMP_NUM_THREADS"):
                    import torch

                    torch.set_num_threads(int(threads))
                run_worker(
                    spec, storage, total, index, on_trial=progress.trial, on_epoch=progress.epoch,
                    artifacts=args.artifacts,
                )  # fmt: skip
            else:
                _run_processes(args, url, total, plans, study, progress)
        finally:
            progress.close()
    if join_only:
        print(f"study {spec.name}: total of {total} trials reached; worker exits", flush=True)
        return 0
    return _report(study, spec, total, url, changed_values, final_result)


def _run_processes(args, url, total, plans, study, progress) -> None:  # type: ignore[no-untyped-def]
    from search.worker import counts

    procs = []
    for env in plans:
        # the URL travels in the environment, not on the command line: `ps` would show its password
        cmd = [sys.executable, "-m", "search", "worker", str(args.study), "--trials", str(total),
               "--workers", "1", "--in-process"] + (["--artifacts", args.artifacts] if args.artifacts else [])  # fmt: skip
        child = {**os.environ, **env, STORAGE_ENV: url}
        procs.append(subprocess.Popen(cmd, env=child, stdout=subprocess.DEVNULL))
    try:
        while any(p.poll() is None for p in procs):
            time.sleep(2)
            try:
                best = study.best_value
            except ValueError:
                best = None
            progress.set(counts(study), best)
    except KeyboardInterrupt:
        for p in procs:
            p.wait(timeout=60)
        raise
    bad = [p.returncode for p in procs if p.returncode]
    if bad:
        raise SystemExit(f"{len(bad)} worker(s) failed (exit codes {bad}); rerun the same command to resume")


def _report(study, spec, total, url, changed_values, final_result) -> int:  # type: ignore[no-untyped-def]
    from search.worker import counts

    c = counts(study)
    print(
        f"\n{spec.name}: {c['finished']}/{total} trials finished ({c['complete']} complete, {c['pruned']} pruned, "
        f"{c['fail']} failed, {c['waiting']} waiting)"
    )
    if c["complete"] == 0:
        print("no complete trial yet: nothing to report")
        return 1
    best = study.best_trial
    ua = best.user_attrs
    metric = "val_acc (ties broken by val_loss)" if spec.metric == "val_acc" else "val_loss"
    print(
        f"best trial #{best.number}{' (' + ua['recipe'] + ')' if 'recipe' in ua else ''}: {metric} = {best.value:.4f}"
    )
    print(f"  validation: accuracy {ua.get('val_acc', float('nan')):.4f}, loss {ua.get('val_loss', float('nan')):.4f} "
          f"(mean over {ua.get('folds', 1)} fold(s)); model path {ua.get('path')}")  # fmt: skip
    print("  configuration (values that differ from the defaults):")
    for k, v in sorted(changed_values(ua["config"]).items()):
        print(f"    {k}: {v:.3g}" if isinstance(v, float) else f"    {k}: {v}")
    print("\ntest accuracy: each configuration retrained on the full training split for its best epoch count,")
    print("evaluated once on the test split, mean ± std over seeds:", flush=True)
    res = final_result(study, spec)
    for key, label in (("best", f"best (trial #{best.number})"), ("baseline", "no regularization")):
        r = res[key]
        print(f"  {label:<22} {r['mean']:.4f} ± {r['std']:.4f}  ({len(r['accs'])} seeds, {r['epochs']} epochs)")
    print(f"  {'difference':<22} {res['difference']:+.4f}   (test split: {res['test_size']} sequences)")
    print(f"\ndashboard: make dashboard STUDY={spec.path}{' STORAGE=' + mask_url(url) if '://' in url else ''}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    url = args.storage or os.environ.get(STORAGE_ENV) or resolve_url(None, load_study(args.study).name)
    storage = open_storage(url, plain=True)  # the bare RDBStorage: optuna-dashboard checks its schema version
    from optuna_dashboard import run_server

    from search.introspection import artifact_store

    figures = artifact_store(load_study(args.study).name, args.artifacts, storage)
    print(
        f"optuna-dashboard for {mask_url(url)} on http://{args.host}:{args.port} (figures: {figures._base_path})",
        flush=True,
    )
    run_server(storage, host=args.host, port=args.port, artifact_store=figures)
    return 0


def cmd_proxy(args: argparse.Namespace) -> int:
    url = args.storage or os.environ.get(STORAGE_ENV)
    if not url or not url.startswith(("postgresql", "mysql", "sqlite")):
        raise StorageError("make proxy needs STORAGE=postgresql://... (the database the proxy serves)")
    from concurrent.futures import ThreadPoolExecutor

    from optuna.storages import run_grpc_proxy_server

    # the proxy holds the only database connections of all its workers: as many as its request threads
    storage = open_storage(url, pool={"pool_size": args.threads, "max_overflow": 0})
    print(f"gRPC storage proxy for {mask_url(url)} on {args.host}:{args.port}", flush=True)
    run_grpc_proxy_server(storage, host=args.host, port=args.port, thread_pool=ThreadPoolExecutor(args.threads))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    for path in args.studies:
        spec = load_study(path)
        print(
            f"{path}: ok ({spec.name}: {len(spec.search)} searched, {spec.trials} trials, {spec.sampler}/{spec.pruner})"
        )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from search.report import main as report_main

    return report_main(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m search", description="regtune: search the regularizers of an RNN classifier"
    )
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, many: bool = False) -> None:
        sp.add_argument("--storage", help="storage URL (default runs/<study>/journal.log, or $REGTUNE_STORAGE)")

    for name, help_ in (("study", "run or resume a study to its total, then report the result"),
                        ("worker", "join a study and work until its total is reached")):  # fmt: skip
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("study", help="study file, e.g. studies/lstm.yaml")
        common(sp)
        sp.add_argument("--trials", type=int, help="the study's total number of finished trials")
        sp.add_argument("--workers", type=int, help="local worker processes (default: 1, or one per GPU)")
        sp.add_argument("--workers-per-gpu", type=int, default=1)
        sp.add_argument("--artifacts", help="shared directory for trial checkpoints")
        sp.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    sp = sub.add_parser("dashboard", help="serve optuna-dashboard")
    sp.add_argument("study", nargs="?", default="studies/lstm.yaml")
    common(sp)
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8080)
    sp.add_argument("--artifacts", help="the ARTIFACTS directory the workers used (trial figures are under it)")
    sp = sub.add_parser("proxy", help="serve Optuna's gRPC storage proxy in front of an RDB storage")
    common(sp)
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=13000)
    sp.add_argument("--threads", type=int, default=8, help="request threads (and database connections)")
    sp = sub.add_parser("report", help="write the HTML report of one or more studies")
    sp.add_argument("studies", nargs="+")
    common(sp)
    sp = sub.add_parser("validate", help="check study files and exit")
    sp.add_argument("studies", nargs="+")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    quiet_libraries()
    if getattr(args, "trials", None) is not None and args.trials < 1:
        print(f"error: --trials/TRIALS={args.trials}: must be an integer >= 1", file=sys.stderr)
        return 2
    if getattr(args, "workers", None) is not None and args.workers < 1:
        print(f"error: --workers/WORKERS={args.workers}: must be an integer >= 1", file=sys.stderr)
        return 2
    if args.command in ("study", "worker") and not args.in_process:
        args.in_process = (args.workers or 1) == 1
    try:
        if args.command == "study":
            return cmd_study(args)
        if args.command == "worker":
            return cmd_study(args, join_only=True)
        return {"dashboard": cmd_dashboard, "proxy": cmd_proxy, "validate": cmd_validate, "report": cmd_report}[
            args.command
        ](args)
    except (StudyFileError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted):
        print("\ninterrupted: the running trial was marked failed and re-queued; rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
