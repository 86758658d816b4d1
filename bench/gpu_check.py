"""GPU check, for a session that is lent a GPU machine: one short script, ``python -m bench.gpu_check``.

1. cuDNN: the fused path of every cell (plain, and with weight drop and per-batch recurrent dropout, which
   swap in a dropped hidden-to-hidden matrix) dispatches to ``aten::_cudnn_rnn``, forward and backward;
2. fused == loop on the device: for each cell, one and two directions, the fused and the per-step loop network
   with the same weights give the same logits and gradients (regularizers off);
3. the 20-epoch model-speed ratios of :mod:`bench.models_speed` on the device (``--skip-speed`` leaves them out);
4. trial arrays (CUDA only, ``--skip-arrays`` leaves them out): :mod:`bench.arrays` on the device (K single fits vs
   one array of K = 1, 8, 32, one fold), then at the study level: the default study, ``--array-trials``
   trials of ``--array-epochs`` epochs, run whole (:func:`bench.array_study.run_study`) as one trial per process,
   with ``WORKERS_PER_GPU`` = 2 and 4 processes on the GPU, and as arrays of K = 8 and 32; the ratios of trials/min
   and epochs/s (targets: arrays >= 8x one trial per process, >= 2x the best WORKERS_PER_GPU setting).

``--device cpu`` runs checks 2 and 3 on the CPU (check 1 is then reported as not applicable): how the tests
exercise this script without a GPU. Exits 1 when a check fails, 2 when the device is not there; results go to
``runs/bench/gpu_check.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from bench import write_result
from models.config import RNNConfig
from models.network import RNNClassifierNet

OUT = Path("runs/bench/gpu_check.json")
CELLS = ("lstm", "gru", "rnn")
CUDNN_OP = "aten::_cudnn_rnn"
#: the fused-path configurations whose kernel is checked: plain, and the two that replace weight_hh per forward
CUDNN_CONFIGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "weight_drop": {"weight_drop": 0.3},
    "recurrent_dropout_batch": {"recurrent_dropout": 0.25, "recurrent_dropout_mode": "batch"},
}


def _batch(device: str, batch: int = 16, steps: int = 29, channels: int = 12) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(7, steps + 1, (batch,), generator=gen)
    lengths[0] = steps
    x = torch.randn(batch, steps, channels, generator=gen) * (torch.arange(steps) < lengths[:, None])[..., None]
    y = torch.randint(0, 9, (batch,), generator=gen)
    return x.to(device), lengths.to(device), y.to(device)


def _net(device: str, seed: int = 0, **params: Any) -> RNNClassifierNet:
    torch.manual_seed(seed)
    return RNNClassifierNet(RNNConfig(input_size=12, num_classes=9, hidden_size=32, **params)).to(device)


def check_cudnn(device: str) -> list[dict[str, Any]]:
    """Which aten RNN op each fused configuration runs in training (forward + backward)."""
    from torch.profiler import ProfilerActivity, profile

    rows = []
    x, lengths, y = _batch(device)
    for cell in CELLS:
        for name, params in CUDNN_CONFIGS.items():
            net = _net(device, cell=cell, **params).train()
            assert net.path == "fused", (cell, name, net.path)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                torch.nn.functional.cross_entropy(net(x, lengths).logits, y).backward()
                if device == "cuda":
                    torch.cuda.synchronize()
            ops = sorted(
                {e.key for e in prof.key_averages() if "rnn" in e.key.lower() or e.key in ("aten::lstm", "aten::gru")}
            )
            used = CUDNN_OP in ops
            rows.append({"check": "cudnn", "cell": cell, "config": name, "ops": ops,
                         "ok": used if device == "cuda" else None})  # fmt: skip
    return rows


def check_fused_equals_loop(device: str) -> list[dict[str, Any]]:
    rows = []
    x, lengths, y = _batch(device)
    for cell in CELLS:
        for bidirectional in (False, True):
            params: dict[str, Any] = {"cell": cell, "bidirectional": bidirectional, "num_layers": 2}
            fused, loop = _net(device, path="fused", **params), _net(device, seed=1, path="loop", **params)
            loop.load_state_dict(fused.state_dict())
            fused.train(), loop.train()
            a, b = fused(x, lengths), loop(x, lengths)
            torch.nn.functional.cross_entropy(a.logits, y).backward()
            torch.nn.functional.cross_entropy(b.logits, y).backward()
            logit_err = float((a.logits - b.logits).detach().abs().max())
            loop_grads = {n: q.grad for n, q in loop.named_parameters()}
            grad_err = 0.0
            for n, p in fused.named_parameters():
                g, h = p.grad, loop_grads[n]
                assert g is not None and h is not None, n
                grad_err = max(grad_err, float((g - h).abs().max() / h.abs().max().clamp(min=1e-12)))
            rows.append({"check": "fused_equals_loop", "cell": cell, "bidirectional": bidirectional,
                         "max_logit_diff": logit_err, "max_rel_grad_diff": grad_err,
                         "ok": logit_err < 1e-4 and grad_err < 1e-3})  # fmt: skip
    return rows


#: (label, array_size, worker processes on the one GPU) of the study-level runs
ARRAY_RUNS = (("one trial per process", 1, 1), ("WORKERS_PER_GPU=2", 1, 2), ("WORKERS_PER_GPU=4", 1, 4),
              ("array K=8", 8, 1), ("array K=32", 32, 1))  # fmt: skip


def check_array_study(trials: int, epochs: int) -> dict[str, Any]:
    """The default study run whole in each of :data:`ARRAY_RUNS` (one after the other, same session); rates and
    the ratios of the best array run to one trial per process and to the best WORKERS_PER_GPU run."""
    import tempfile

    from bench.array_study import run_study, study_copy

    rows = []
    with tempfile.TemporaryDirectory(prefix="regtune-gpu-arrays-") as name:
        tmp = Path(name)
        for i, (label, size, workers) in enumerate(ARRAY_RUNS):
            try:
                row = run_study(study_copy(tmp, f"gpu{i}", size, epochs), trials, tmp, workers=workers, timeout=150)
            except Exception as exc:  # one failed run must not hide the others
                row = {"error": str(exc)[-500:]}
            rows.append({"run": label, "array_size": size, "workers": workers, **row})
            if "error" in row:
                print(f"  study {label:<22} FAILED: {row['error'][-200:]}", flush=True)
            else:
                print(f"  study {label:<22} {row['trials_per_min']:>7.1f} trials/min {row['epochs_per_s']:>7.1f} "
                      f"epochs/s  best {row['best_value']:.4f} ({row['finished']} trials in {row['span_s']:.0f} s)",
                      flush=True)  # fmt: skip
    ok = {r["run"]: r for r in rows if "error" not in r}

    def best(prefix: str, key: str) -> float | None:
        vals = [r[key] for label, r in ok.items() if label.startswith(prefix)]
        return max(vals) if vals else None

    ratios: dict[str, Any] = {}
    for key in ("trials_per_min", "epochs_per_s"):
        one, arrays, many = ok.get("one trial per process", {}).get(key), best("array", key), best("WORKERS", key)
        if one and arrays:
            ratios[f"arrays_vs_one_process_{key}"] = round(arrays / one, 2)
        if many and arrays:
            ratios[f"arrays_vs_best_workers_per_gpu_{key}"] = round(arrays / many, 2)
    print("  trial arrays: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()) + " (targets: >= 8x one process, "
          ">= 2x the best WORKERS_PER_GPU)", flush=True)  # fmt: skip
    return {"trials": trials, "max_epochs": epochs, "rows": rows, "ratios": ratios}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--skip-speed", action="store_true", help="leave out the 20-epoch model-speed ratios")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each model-speed variant")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--skip-arrays", action="store_true", help="leave out the study-level trial-array check")
    parser.add_argument("--array-trials", type=int, default=32, help="trials of each study-level run")
    parser.add_argument("--array-epochs", type=int, default=6, help="max_epochs of each study-level run")
    args = parser.parse_args(argv if argv is not None else [])
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device is visible (torch.cuda.is_available() is False); run it on a GPU machine, "
              "or with --device cpu", file=sys.stderr)  # fmt: skip
        return 2
    if args.device == "cuda":  # float32 matmuls exactly as on CPU: TF32 would make fused vs. loop differ by ~1e-3
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"gpu_check on {device_name}, torch {torch.__version__}, cuDNN "
          f"{torch.backends.cudnn.version() if args.device == 'cuda' else '-'}")  # fmt: skip
    rows = check_cudnn(args.device) + check_fused_equals_loop(args.device)
    for r in rows:
        status = {True: "ok", False: "FAIL", None: "n/a"}[r["ok"]]
        if r["check"] == "cudnn":
            print(f"  cudnn             {r['cell']:<5} {r['config']:<24} {status:<5} {', '.join(r['ops'])}")
        else:
            print(f"  fused == loop     {r['cell']:<5} {'bi' if r['bidirectional'] else 'uni':<24} {status:<5} "
                  f"logits {r['max_logit_diff']:.1e}, gradients {r['max_rel_grad_diff']:.1e} (relative)")  # fmt: skip
    speed = None
    if not args.skip_speed:
        from bench import models_speed

        speed = models_speed.main(["--device", args.device, "--repeats", str(args.repeats),
                                   "--out", str(args.out.with_name("models_speed_" + args.device + ".json"))])  # fmt: skip
    arrays = arrays_speed = None
    if args.skip_arrays:
        pass
    elif args.device != "cuda":
        print("  trial arrays at the study level: skipped (a GPU check; on the CPU see python -m bench.array_study)")
    else:
        from bench import arrays as arrays_bench  # K single fits vs one array of K, one fold, on the device

        arrays_speed = arrays_bench.main(["--device", "cuda", "--ks", "1", "8", "32", "--repeats", "1",
                                          "--out", str(args.out.with_name("arrays_cuda.json"))])  # fmt: skip
        arrays = check_array_study(args.array_trials, args.array_epochs)
    failed = [r for r in rows if r["ok"] is False]
    payload = {"device": device_name, "torch": torch.__version__, "checks": rows, "models_speed": speed,
               "arrays_speed": arrays_speed, "array_study": arrays, "failed": len(failed)}  # fmt: skip
    print(f"{len(rows) - len(failed)}/{len(rows)} checks passed" + (f", {len(failed)} FAILED" if failed else ""))
    write_result(args.out, payload)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
