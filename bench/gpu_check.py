"""GPU check, for a session that is lent a GPU machine: one short script, ``python -m bench.gpu_check``.

1. cuDNN: the fused path of every cell (plain, and with weight drop and per-batch recurrent dropout, which
   swap in a dropped hidden-to-hidden matrix) dispatches to ``aten::_cudnn_rnn``, forward and backward;
2. fused == loop on the device: for each cell, one and two directions, the fused and the per-step loop network
   with the same weights give the same logits and gradients (regularizers off);
3. the 20-epoch model-speed ratios of :mod:`bench.models_speed` on the device (``--skip-speed`` leaves them out).

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--skip-speed", action="store_true", help="leave out the 20-epoch model-speed ratios")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each model-speed variant")
    parser.add_argument("--out", type=Path, default=OUT)
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
    failed = [r for r in rows if r["ok"] is False]
    payload = {"device": device_name, "torch": torch.__version__, "checks": rows, "models_speed": speed,
               "failed": len(failed)}  # fmt: skip
    print(f"{len(rows) - len(failed)}/{len(rows)} checks passed" + (f", {len(failed)} FAILED" if failed else ""))
    write_result(args.out, payload)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
