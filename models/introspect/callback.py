"""The Lightning callback that records weights, gradients and activations once per validation epoch."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch import nn

from models.introspect.activations import capture
from models.introspect.diagnoses import compact
from models.introspect.layout import device_of
from models.introspect.plots import figures_from_state
from models.introspect.time_gradients import time_gradients as gradient_over_time
from models.introspect.weights import gradient_stats, weight_histograms, weight_stats

MAX_SEQUENCES = 32  # the callback's fixed batch is cut to this many sequences (cost; enough for fractions)
#: a search trial records every this many epochs, plus its last and best epochs (``Introspection(ends=True)``)
RECORD_EVERY = 8


def fixed_batch(source: Any, n: int = MAX_SEQUENCES) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first ``n`` sequences of a :class:`~models.datamodule.SequenceDataModule`'s validation part (its training
    part when there is no validation part) or of a :class:`~models.data.SequenceSet`, padding trimmed:
    ``(x, lengths, y)``."""
    data = source
    if hasattr(source, "val_set"):
        data = source.val_set if len(source.val_set) else source.train_set
    lengths = torch.as_tensor(np.asarray(data.lengths[:n]), dtype=torch.long)
    x = torch.as_tensor(np.asarray(data.X[:n, : int(lengths.max())]), dtype=torch.float32)
    return x, lengths, torch.as_tensor(np.asarray(data.y[:n]), dtype=torch.long)


class Introspection(Callback):
    """Records weight, gradient and activation statistics once per validation epoch (every ``every_n_epochs``
    epochs; the sanity check is skipped) on a fixed batch ``(x, lengths[, ...])`` cut to ``max_sequences``.

    ``epochs`` holds one flat dict of finite floats per recorded epoch (``"epoch"``, the per-layer keys and the
    aggregates; see :func:`weight_stats`, :func:`gradient_stats`, :func:`capture`), ``curves`` the hidden-state
    norm against the step per recorded epoch, ``histograms`` the :func:`weight_histograms` of the weights training
    ended with (taken at train end: histograms are not needed per epoch). Gradient statistics cover the steps
    since the previous record (the model's ``grad_log`` is reset after each read); the callback switches the
    model's per-component gradient norms on at fit start. ``seconds`` / ``cpu_seconds`` are the time spent
    recording. When the fit diverges (:class:`~models.classifier.DivergedError`), one last record with
    ``"diverged": 1.0`` is made.

    With ``ends`` (what a search trial uses, every ``every_n_epochs`` = :data:`RECORD_EVERY` epochs), the fit's
    last epoch and its best epoch are recorded too, at the end of the fit: the last from the weights training ended
    with, the best from the weights :class:`~models.train.BestEpoch` kept of it, so :meth:`summary` of the best
    epoch is that epoch's own record however sparse the others are. Each record's gradient statistics are then
    those of its own epoch's steps (kept per epoch: a dict of a few floats). A record costs 6.5-9 ms, about a tenth
    of an epoch of the default study's model on one core; one every 8 epochs plus the two ends keeps the per-epoch
    figures and the best epoch's statistics at about a fifth of that (``bench.study_level``: introspection costs
    1.05x a whole study, median of 6 paired runs).

    Cost: when the fixed batch is the head of the validation set (:func:`fixed_batch`), the layers' inputs and
    outputs are taken from the validation pass itself (:meth:`attach`) and only the gates are recomputed; on CPU
    a record runs on one intra-op thread or on torch's setting, whichever was faster lately (:class:`_Threads`).
    ``bench/introspection_overhead.py`` measures the overhead per epoch.
    """

    def __init__(
        self,
        batch: Sequence[torch.Tensor],
        every_n_epochs: int = 1,
        max_sequences: int = MAX_SEQUENCES,
        histograms: bool = True,
        ends: bool = False,
        time_gradients: bool = False,
    ) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs={every_n_epochs!r}: must be an integer >= 1")
        if time_gradients and len(batch) < 3:
            raise ValueError("time_gradients needs the fixed batch's labels: (x, lengths, y), as fixed_batch gives")
        x, lengths = batch[0][:max_sequences], torch.as_tensor(batch[1][:max_sequences])
        self.x = x[:, : int(lengths.max())].detach().float().cpu()
        self.lengths = lengths.detach().long().cpu()
        self.y = torch.as_tensor(batch[2][:max_sequences]).detach().long().cpu() if time_gradients else None
        self.every_n_epochs = every_n_epochs
        self.ends = ends  # also record the fit's last and best epochs at its end; gradients per epoch
        self.epoch_gradients: dict[int, dict[str, float]] = {}  # with ends: each epoch's gradient statistics
        self.keep_histograms = histograms
        self.epochs: list[dict[str, float]] = []
        self.curves: list[dict[str, list[float]]] = []
        self.histograms: dict[str, dict[str, list[float]]] = {}
        self._handles: list[Any] = []
        self._armed, self._collecting = False, False
        self._recorded: tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]] | None = None
        self.reused = False  # whether the last record replayed the validation pass's layer outputs
        self.seconds = 0.0  # wall-clock time spent recording
        self.cpu_seconds = 0.0  # CPU time of this thread spent recording
        self._device: torch.device | None = None
        self._threads = _Threads()

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        model: Any = pl_module
        model.track_group_gradients = True
        model.grad_log.reset()
        self._to(device_of(model.net))
        self.attach(model.net)

    def _to(self, device: torch.device) -> None:
        if self._device != device:
            self.x, self.lengths, self._device = self.x.to(device), self.lengths.to(device), device
            self.y = None if self.y is None else self.y.to(device)

    def attach(self, net: nn.Module) -> None:
        """Watch ``net``'s next eval-mode forward: when the batch it reads starts with the fixed batch (as the
        first validation batch does when the fixed batch is the head of the validation set, see
        :func:`fixed_batch`), keep each layer's input and output for those sequences, so that :meth:`record`
        replays the gates from them instead of running the layers again. Anything else is ignored, and the
        record then runs its own forward. :meth:`detach` (at train end) removes the hooks."""
        self.detach()
        self._armed, self._collecting, self._recorded = True, False, None
        self._layer_io: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._handles = [net.register_forward_pre_hook(self._on_net_input)]
        layers: Any = net.layers
        self._handles += [layer.register_forward_hook(self._on_layer_output) for layer in layers]
        self._n_layers = len(layers)

    def detach(self) -> None:
        for handle in getattr(self, "_handles", []):
            handle.remove()
        self._handles = []
        self._armed, self._collecting, self._recorded = False, False, None

    def _on_net_input(self, net: nn.Module, args: tuple[Any, ...]) -> None:
        if not self._armed or net.training:
            return
        self._armed = False  # only the first eval-mode forward after arming is considered
        x, lengths = args[0], args[1]
        n, steps = self.x.shape[0], self.x.shape[1]
        self._collecting = (
            x.shape[0] >= n and x.shape[1] >= steps and x.shape[2:] == self.x.shape[2:]
            and x.device == self.x.device and torch.equal(lengths[:n], self.lengths)
            and torch.equal(x[:n, :steps], self.x)
        )  # fmt: skip
        self._layer_io = []

    def _on_layer_output(self, layer: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> None:
        if not self._collecting:
            return
        n = self.x.shape[0]
        lengths = args[1][:n]
        steps = int(lengths.max())  # after the Conv1D front end
        self._layer_io.append((args[0][:n, :steps].clone(), output[:n, :steps].clone()))
        if len(self._layer_io) == 1:
            self._lengths_in = lengths.clone()
        if len(self._layer_io) == self._n_layers:
            self._collecting, self._recorded = False, (self._lengths_in, self._layer_io)

    def due(self, epoch: int) -> bool:
        """Whether ``epoch`` is on the schedule (every ``every_n_epochs`` epochs, from epoch 0)."""
        return epoch % self.every_n_epochs == 0

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        epoch, model = trainer.current_epoch, pl_module
        gradients = None
        if self.ends:  # this epoch's own gradient statistics, kept for whichever record of it comes
            gradients = self.epoch_gradients[epoch] = gradient_stats(model)
            model.grad_log.reset()  # type: ignore[union-attr, operator]
        if not self.due(epoch):
            self._recorded = None  # this pass's layer outputs are not this record's; watch the next pass
            self._armed = bool(self._handles)
            return
        self.record(pl_module, epoch, gradients)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.detach()
        if self.ends:
            from models.train import BestEpoch

            last = trainer.current_epoch - 1  # the fit's last epoch (the counter is past it at train end)
            keeper = next((c for c in trainer.callbacks if isinstance(c, BestEpoch)), None)  # type: ignore[attr-defined]
            with as_validated(pl_module):  # (once: under SWA it recomputes BatchNorm statistics over the data)
                if last >= 0 and last in self.epoch_gradients:
                    self.record_end(pl_module, last, None)
                if self.keep_histograms:
                    self.histograms = weight_histograms(pl_module.net)  # type: ignore[arg-type]
            if keeper is not None and keeper.best is not None and keeper.best_state is not None:
                self.record_end(pl_module, int(keeper.best["epoch"]), keeper.best_state)
        elif self.keep_histograms:
            with as_validated(pl_module):
                self.histograms = weight_histograms(pl_module.net)  # type: ignore[arg-type]

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        from models.classifier import DivergedError

        self.detach()
        if not isinstance(exception, DivergedError):
            return  # e.g. a pruned trial: nothing went wrong with the model
        try:
            row = self.record(pl_module, trainer.current_epoch)
            row["diverged"] = 1.0
            if self.keep_histograms:
                self.histograms = weight_histograms(pl_module.net)  # type: ignore[arg-type]
        except Exception:  # introspection must never mask the fit's own error
            pass

    def state_dict(self) -> dict[str, Any]:
        """Saved in a Lightning checkpoint: a resumed fit keeps its records and each epoch's gradient statistics
        (a trial resumed after its best epoch stored that epoch with no gradient numbers at all)."""
        return {"epochs": self.epochs, "curves": self.curves, "epoch_gradients": self.epoch_gradients,
                "seconds": self.seconds, "cpu_seconds": self.cpu_seconds}  # fmt: skip

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epochs, self.curves = list(state_dict["epochs"]), list(state_dict["curves"])
        self.epoch_gradients = {int(k): v for k, v in state_dict["epoch_gradients"].items()}
        self.seconds = float(state_dict.get("seconds", 0.0))
        self.cpu_seconds = float(state_dict.get("cpu_seconds", 0.0))

    # ------------------------------------------------------------------ recording
    def record(self, model: Any, epoch: int, gradients: dict[str, float] | None = None) -> dict[str, float]:
        """Measure ``model`` (an :class:`~models.classifier.RNNClassifier`) now; append and return the row.

        ``gradients``: the epoch's gradient statistics measured elsewhere (a trial-array member's, trained in the
        stacked model: :func:`models.array.fit_array`'s ``on_record``) instead of the model's ``grad_log``."""
        start, cpu = time.perf_counter(), time.thread_time()
        device = device_of(model.net)
        with torch.no_grad(), self._threads.use(device):
            row: dict[str, float] = {"epoch": float(epoch)}
            if gradients is None:
                row.update(gradient_stats(model))
                model.grad_log.reset()
            else:
                row.update(gradients)
            row.update(weight_stats(model.net))
            self._to(device)
            recorded, self._recorded = self._recorded, None
            self.reused = recorded is not None  # the validation pass's own layer outputs were replayed
            if recorded is not None:
                lengths, layer_io = recorded
                cap = capture(model.net, layer_io[0][0], lengths, recorded=layer_io)
            else:
                cap = capture(model.net, self.x, self.lengths)
            row.update(cap.stats)
            if self.y is not None:
                row.update(gradient_over_time(model.net, self.x, self.lengths, self.y))
            self._armed = bool(self._handles)  # watch the next validation pass
        self.epochs.append(row)
        self.curves.append(cap.curves)
        self.seconds += time.perf_counter() - start
        self.cpu_seconds += time.thread_time() - cpu
        return row

    def record_end(
        self, model: Any, epoch: int, state: dict[str, torch.Tensor] | None,
        gradients: dict[str, float] | None = None,
    ) -> None:  # fmt: skip
        """Record ``epoch`` (the fit's last or best) unless it is recorded already: ``model`` as it is, or with
        ``state`` (its state dict then) loaded for the record and the model's own weights put back after; its
        gradient statistics are ``gradients`` or the ones kept for that epoch. The record runs its own forward on
        the fixed batch and takes its place in epoch order."""
        if any(int(r["epoch"]) == epoch for r in self.epochs):
            return
        grads = gradients if gradients is not None else self.epoch_gradients.get(epoch, {})
        own = None
        if state is not None:
            own = {k: v.detach().clone() for k, v in model.state_dict().items()}
            model.load_state_dict(state)
        self._recorded = None  # a replayed validation pass would be another epoch's
        try:
            self.record(model, epoch, grads)
        finally:
            if own is not None:
                model.load_state_dict(own)
        order = sorted(range(len(self.epochs)), key=lambda i: self.epochs[i]["epoch"])
        self.epochs = [self.epochs[i] for i in order]
        self.curves = [self.curves[i] for i in order]

    # ------------------------------------------------------------------ results
    def summary(self, epoch: int | None = None) -> dict[str, float]:
        """The compact statistics (aggregates only, no per-layer keys; <= ~70 numbers) of the last recorded
        epoch, or of the latest record at or before ``epoch`` (e.g. the best epoch). Empty before any record."""
        rows = self.epochs if epoch is None else [r for r in self.epochs if r["epoch"] <= epoch]
        if not rows:
            return {}
        return compact(rows[-1])

    def history(self) -> list[dict[str, float]]:
        """Every recorded epoch's full flat dict (copies)."""
        return [dict(r) for r in self.epochs]

    def state(self) -> dict[str, Any]:
        """Everything recorded, JSON-serializable: ``{"epochs", "curves", "histograms", "seconds"}``, and with
        ``ends`` ``"gradients"``: every epoch's gradient statistics (records are sparser: the gradient figure
        drew straight lines across epochs that were measured but not recorded)."""
        out = {"epochs": self.history(), "curves": self.curves, "histograms": self.histograms, "seconds": self.seconds}
        if self.epoch_gradients:
            out["gradients"] = [{"epoch": float(e), **g} for e, g in sorted(self.epoch_gradients.items())]
        return out

    def figures(self, outdir: str | Path, prefix: str = "") -> dict[str, Path]:
        """Write the figures into ``outdir``; ``{"weights", "gradients", "saturation", "hidden_norm",
        "time_gradient"}`` -> path (the weight histograms only when recorded, the gradient over time only when
        measured: :func:`~models.introspect.plots.figure_kinds`)."""
        return figures_from_state(self.state(), outdir, prefix)


@contextmanager
def as_validated(model: Any) -> Iterator[None]:
    """``model`` with the weights its validation measures: with EMA or SWA on, the average swapped in (between two
    validations the module holds its training weights), and put back after. The last epoch's record, taken at
    train end, measured the raw weights while every other record (and the fit's result) was the average: two
    trials with different ``swa_start`` stored identical weight norms."""
    averager = getattr(model, "averager", None)
    if averager is None:
        yield
        return
    model.on_validation_epoch_start()
    try:
        yield
    finally:
        model.on_validation_epoch_end()


class _Threads:
    """The intra-op thread count a record runs with on CPU: one, or torch's setting, whichever ran the latest
    record faster. Its tensors are tiny: extra threads help a little on an idle machine, and stall many times
    over on a busy one (when another process takes a core, every parallel region waits for it). The mode not
    in use is tried again every ``PROBE_EVERY`` records, so the choice follows the machine's load."""

    PROBE_EVERY = 16

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}  # thread count -> wall time of its latest record
        self.records = 0

    def pick(self, device: torch.device) -> int | None:
        threads = torch.get_num_threads()
        if device.type != "cpu" or threads == 1:
            return None
        self.records += 1
        modes = (1, threads)
        untried = [m for m in modes if m not in self.seconds]
        if untried:
            return untried[0]
        best = min(modes, key=lambda m: self.seconds[m])
        if self.records % self.PROBE_EVERY == 0:
            return modes[0] if best == modes[1] else modes[1]
        return best

    @contextmanager
    def use(self, device: torch.device) -> Iterator[None]:
        mode = self.pick(device)
        if mode is None:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(mode)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[mode] = time.perf_counter() - start
            torch.set_num_threads(before)
