"""How many members fit on a device: :func:`max_members`.

The rule (bytes per member, float32):

- parameters: ``N`` entries held 6 times (weights, gradient, Adam's two moments, the best epoch's copy, a
  checkpoint's copy): ``24 N``;
- activations of one training step, per layer and direction, kept for the backward of
  :func:`models.recurrence.run_members` (hidden and cell states, gate activations, input projections, the gate
  gradients and their flattened copies): about ``(6 G + 6) H`` floats per sequence step, ``G`` the gates
  (LSTM 4, GRU 3, RNN 1); plus the member's copies of the input and of each layer's output (masks, norms):
  ``4 (C + 2 D L)`` bytes per step, ``D`` the output width and ``L`` the layers;
- times the batch size and the longest sequence, times 1.5 for the allocator's slack.

``K = floor(fraction * memory / bytes per member)``, at least 1 and at most ``cap``: memory is by default the
free memory, ``torch.cuda.mem_get_info`` on a GPU, the available RAM on the CPU (where the two cores, not memory,
set the useful K: the cap, 64, keeps a CPU array from growing past what it can speed up). The search sizes a CPU
array from the machine's total RAM (:func:`total_bytes`) and lowers it only when the available RAM cannot hold it
(``search.arrays.auto_size``): K shapes a study, so the same study on the same machine gets the same K.
"""

from __future__ import annotations

import os

import torch

from models.config import GATES, RNNConfig, TrainConfig
from models.network import RNNClassifierNet


def member_bytes(rnn: RNNConfig, train: TrainConfig, longest: int) -> int:
    """The estimated memory one member costs in training (see the module docstring)."""
    with torch.device("meta"):
        params = sum(p.numel() for p in RNNClassifierNet(rnn).parameters())
    gates = len(GATES[rnn.cell])
    dirs = 2 if rnn.bidirectional else 1
    width = rnn.hidden_size * dirs
    per_step = 4 * (
        rnn.num_layers * dirs * (6 * gates + 6) * rnn.hidden_size + rnn.input_size + 2 * width * rnn.num_layers
    )
    return int(24 * params + 1.5 * per_step * train.batch_size * longest)


def free_bytes(device: str | torch.device) -> int:
    """The device's memory a new array may take: free memory on a GPU; on the CPU the RAM the kernel calls
    available (``MemAvailable``: free pages plus the page cache it can drop). Free pages alone shrink as files
    are read and cached, so the same study on the same machine got a smaller K, and other results, after a
    day's work than after a reboot."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return int(torch.cuda.mem_get_info(dev)[0])
    return _ram("MemAvailable", "SC_AVPHYS_PAGES")


def total_bytes(device: str | torch.device) -> int:
    """The device's whole memory: the GPU's, or the machine's RAM (``MemTotal``)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return int(torch.cuda.mem_get_info(dev)[1])
    return _ram("MemTotal", "SC_PHYS_PAGES")


def _ram(field: str, pages: str) -> int:
    """``field`` of Linux's /proc/meminfo in bytes; elsewhere the POSIX page count ``pages``; else 4 GiB."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # not Linux
        return int(os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError):  # not a POSIX system
        return 4 << 30


def max_members(
    rnn: RNNConfig, train: TrainConfig, longest: int, device: str | torch.device = "cpu", fraction: float = 0.5,
    cap: int | None = None, memory: int | None = None,
) -> int:  # fmt: skip
    """The largest K whose array fits in ``fraction`` of ``memory`` bytes (default: the device's free memory;
    module docstring), in [1, cap]; ``cap`` defaults to 64 on the CPU and 1024 on a GPU. ``longest``: the
    longest training sequence."""
    if longest < 1:
        raise ValueError(f"longest={longest!r}: must be an integer >= 1 (steps of the longest sequence)")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction!r}: must be in (0, 1]")
    if cap is None:
        cap = 1024 if torch.device(device).type == "cuda" else 64
    memory = free_bytes(device) if memory is None else memory
    k = int(fraction * memory // member_bytes(rnn, train, longest))
    return max(1, min(cap, k))
