"""Train K members of one array on the same mini-batches: :func:`fit_array`.

A plain PyTorch loop (no Lightning trainer): per step, each member's masks from its own stream, one forward of
the stacked network, each member's loss (cross-entropy, label smoothing, penalties), one backward, each
member's clipping, one optimizer step, each member's max-norm caps. Per epoch, each member's validation row
(``epoch``, ``val_acc``, ``val_loss``, ``val_loss_t``, ``score``, ``train_loss``, as :class:`models.train.BestEpoch`
writes it),
its best epoch and early stopping; then ``on_epoch`` (the search side's pruning) and ``on_checkpoint``. A member
that stops (done, early-stopped, pruned, diverged) leaves the stacked tensors at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn import functional as F

from models.array.masks import draw_member, stack
from models.array.optim import Clipping, StackedAdam, max_norm_rows
from models.array.stacked import ArrayOutput, StackedNet
from models.array.streams import MemberStreams, initial_member
from models.array.support import array_key, unsupported
from models.calibration import calibrated_loss
from models.classifier import exploded, typical_loss, validation_divergence
from models.config import WEIGHT_ROLES, RNNConfig, TrainConfig, as_dict
from models.datamodule import SequenceDataModule
from models.train import METRICS, score

MemberCheckpoint = dict[str, Any]
CHECKPOINT_FORMAT = "regtune.array.member/1"
OnEpoch = Callable[[int, list[tuple[int, dict[str, float]]]], Collection[int]]
#: ``on_record(epoch, member, state, gradients, final)``: ``state()`` gives a member's weights after the epoch (one
#: RNNClassifier state, copied only when called), ``gradients`` its gradient statistics over the epoch's steps
#: (models.introspect.gradient_stats keys), ``final`` whether this epoch ended its fit (done or early-stopped)
OnRecord = Callable[[int, int, Callable[[], dict[str, torch.Tensor]], dict[str, float], bool], None]


@dataclass
class MemberResult:
    best: dict[str, float]  # the best epoch's row (epoch, val_acc, val_loss, score, train_loss)
    history: list[dict[str, float]]  # one row per epoch run
    epochs_run: int
    status: str  # done | early_stopped | stopped | diverged
    reason: str | None  # for diverged: what and when (as models.classifier.DivergedError.reason)
    state: dict[str, torch.Tensor] | None  # the best epoch's weights as one RNNClassifier.state_dict()
    #: with ``track_gradients``: the fit's gradient statistics, keyed as models.introspect.gradient_stats keys them
    gradients: dict[str, float] = field(default_factory=dict)


@dataclass
class _Member:
    index: int
    rnn: RNNConfig
    train: TrainConfig
    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, float] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    loss_sum: float = 0.0
    count: int = 0
    status: str | None = None
    reason: str | None = None
    grads: _GradLog | None = None
    epoch_grads: _GradLog | None = None  # with ``on_record``: this epoch's steps only

    def result(self) -> MemberResult:
        best = self.best or {"epoch": float(len(self.history) - 1)}
        grads = self.grads.summary() if self.grads is not None else {}
        return MemberResult(
            best, self.history, len(self.history), self.status or "done", self.reason, self.best_state, grads
        )


class _GradLog:
    """One member's gradient statistics over its fit: the global norm before clipping (mean, max), each role's
    norm (mean), the fraction of steps clipping cut: what a lone trial's ``GradientLog`` gathers."""

    def __init__(self) -> None:
        self.steps, self.clipped, self.norm_sum, self.norm_max = 0, 0, 0.0, 0.0
        self.roles: dict[str, float] = {}
        self.nonfinite = 0

    def add(self, norm: float, roles: dict[str, float], clipped: bool) -> None:
        if not math.isfinite(norm):
            self.nonfinite += 1
            return
        self.steps += 1
        self.clipped += int(clipped)
        self.norm_sum += norm
        self.norm_max = max(self.norm_max, norm)
        for role, value in roles.items():
            self.roles[role] = self.roles.get(role, 0.0) + value

    def summary(self) -> dict[str, float]:
        n = max(self.steps, 1)
        out = {"grad.steps": float(self.steps), "grad.norm_mean": self.norm_sum / n, "grad.norm_max": self.norm_max,
               "grad.clip_fraction": self.clipped / n, "grad.nonfinite": float(self.nonfinite)}  # fmt: skip
        out.update({f"grad.{role}": v / n for role, v in self.roles.items() if role != "other"})
        return out


class _Rules:
    """The live members' loss and gradient rules as stacked factors (rebuilt when members leave)."""

    def __init__(self, live: list[_Member], net: StackedNet) -> None:
        dev = net.flat.device
        trains = [m.train for m in live]

        def vec(values: list[float]) -> torch.Tensor | None:
            return torch.tensor(values, device=dev, dtype=net.flat.dtype) if any(values) else None

        self.l1 = net.role_vector([{r: t.penalties[r][0] for r in WEIGHT_ROLES} for t in trains])
        self.l2 = net.role_vector([{r: t.penalties[r][1] for r in WEIGHT_ROLES} for t in trains])
        self.any_l1, self.any_l2 = bool(self.l1.any()), bool(self.l2.any())
        self.smoothing = vec([t.label_smoothing for t in trains])
        self.act_l1, self.act_l2 = vec([t.activity_l1 for t in trains]), vec([t.activity_l2 for t in trains])
        self.ar, self.tar = vec([t.ar for t in trains]), vec([t.tar for t in trains])
        self.caps = {r: v for r in WEIGHT_ROLES if (v := vec([t.max_norms[r] for t in trains])) is not None}
        self.roles = {s.name: s.role for s in net.slots}
        self.clip = Clipping(trains, dev)
        names = sorted({s.role for s in net.slots})
        self.role_names = names
        self.role_onehot = torch.cat(
            [torch.nn.functional.one_hot(torch.full((s.size,), names.index(s.role)), len(names)) for s in net.slots]
        ).to(dev, net.flat.dtype)  # (N, roles): each entry's role, for the per-role gradient norms

    def gradient_norms(self, grad: torch.Tensor) -> tuple[list[float], list[list[float]]]:
        """Each member's global gradient norm and its norm per role (``role_names``), from one matmul."""
        squares = (grad * grad) @ self.role_onehot  # (K, roles)
        total = squares.sum(1).sqrt()
        return total.tolist(), squares.sqrt().tolist()

    def loss(self, out: ArrayOutput, y: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
        """Each member's training loss (K,): what ``RNNClassifier.training_step`` returns for it."""
        logits = out.logits
        members, batch, classes = logits.shape
        logp = F.log_softmax(logits, -1)
        nll = -logp.gather(2, y.view(1, batch, 1).expand(members, batch, 1)).squeeze(2).mean(1)
        loss = nll
        if self.smoothing is not None:
            loss = (1 - self.smoothing) * nll + self.smoothing * (-logp.mean(2).mean(1))
        if self.any_l1:
            loss = loss + (self.l1 * flat.abs()).sum(1)
        if self.any_l2:
            loss = loss + (self.l2 * flat * flat).sum(1)
        if self.act_l1 is not None:
            loss = loss + self.act_l1 * out.pooled.abs().sum((1, 2)) / batch
        if self.act_l2 is not None:
            loss = loss + self.act_l2 * out.pooled.pow(2).sum((1, 2)) / batch
        if self.ar is not None or self.tar is not None:
            seq = out.sequence
            mask = out.mask if out.mask is not None else torch.ones(seq.shape[1:3], dtype=torch.bool, device=seq.device)
            width = seq.shape[-1]
            if self.ar is not None:
                m = mask.unsqueeze(-1).to(seq.dtype)
                loss = loss + self.ar * (seq.pow(2) * m).sum((1, 2, 3)) / (m.sum() * width).clamp(min=1)
            if self.tar is not None and seq.shape[2] >= 2:
                pair = (mask[:, 1:] & mask[:, :-1]).unsqueeze(-1).to(seq.dtype)
                diff = (seq[:, :, 1:] - seq[:, :, :-1]).pow(2) * pair
                loss = loss + self.tar * diff.sum((1, 2, 3)) / (pair.sum() * width).clamp(min=1)
        return loss


def _check(members: Sequence[tuple[RNNConfig, TrainConfig]], metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r}: allowed values are {', '.join(METRICS)}")
    if not members:
        raise ValueError("fit_array needs at least one member")
    for i, (rnn, train) in enumerate(members):
        why = unsupported(rnn, train)
        if why:
            raise ValueError(f"member {i}: {why}")
    keys = {array_key(r, t) for r, t in members}
    if len(keys) > 1:
        raise ValueError(f"members of one array need equal array_key(); got {len(keys)} different: {sorted(keys)}")


def fit_array(
    members: Sequence[tuple[RNNConfig, TrainConfig]],
    data: SequenceDataModule,
    metric: str = "val_acc",
    on_epoch: OnEpoch | None = None,
    on_checkpoint: Callable[[int, MemberCheckpoint], None] | None = None,
    resume: Sequence[MemberCheckpoint | None] | None = None,
    device: str | torch.device = "cpu",
    *,
    fused_kernels: bool | None = None,
    track_gradients: bool = False,
    on_record: OnRecord | None = None,
) -> list[MemberResult]:
    """Train every member on ``data``'s train part, validating each epoch; member k's results equal, by value,
    :func:`models.train.fit` of ``members[k]`` alone (same seed, same data). See the module docstring.

    ``on_epoch(epoch, [(member, row)])`` after each epoch's validation, for the members that ran it; it returns
    the members to stop now (status ``stopped``). ``on_checkpoint(member, state)`` at each epoch's end for the
    members that go on. ``resume``: one checkpoint or None per member; members resumed together must be at the
    same epoch, and then every member must be resumed (they share the batch order). ``fused_kernels``: whether
    members whose trial alone runs the fused kernel run it here too, one call each (default: on the CPU), or
    join the batched loop (:mod:`models.array.stacked`); either way the same function. ``track_gradients``: each
    member's gradient statistics over the fit (``MemberResult.gradients``), for introspection. ``on_record(epoch,
    member, state, gradients, final)`` after each epoch's validation and ``on_epoch``, for the members that ran it:
    ``state()``, the member's weights now (a single ``RNNClassifier.state_dict()``, on the CPU, copied when
    called), its gradient statistics over this epoch's steps, and whether the epoch ended the member's fit (done
    or early-stopped; not a stop by ``on_epoch``): what a lone trial's introspection record reads.
    """
    _check(members, metric)
    dev = torch.device(device)
    n_val = len(data.val_set)
    if n_val == 0:
        raise ValueError("fit_array needs a validation part (data.val_set is empty)")
    sign = 1.0 if METRICS[metric] == "max" else -1.0
    track_gradients = track_gradients or on_record is not None
    live = [
        _Member(i, r, t, grads=_GradLog() if track_gradients else None, epoch_grads=_GradLog() if on_record else None)
        for i, (r, t) in enumerate(members)
    ]
    starts = [initial_member(r, t.seed) for r, t in members]
    net = StackedNet(members[0][0], [s[0] for s in starts], dev, fused_kernels)
    streams = MemberStreams([s[1] for s in starts], dev)
    opt = StackedAdam([t for _, t in members], net.role_vector, net.flat)
    loader = data.train_dataloader()
    order = loader.sampler.generator  # type: ignore[attr-defined]
    first_epoch = _resume(resume, live, net, opt, streams, order) if resume is not None else 0
    rules = _Rules(live, net)
    done: list[_Member] = []
    epoch = first_epoch
    while live:
        streams.loader_draw()  # the training loader's iterator
        for m in live:
            m.loss_sum, m.count = 0.0, 0
        for step, (x, lengths, y) in enumerate(loader):
            x, lengths, y = x.to(dev), lengths.to(dev), y.to(dev)
            padded = bool((lengths < x.shape[1]).any())
            with streams.drawing(range(len(live))) as each:
                draws = [draw_member(live[k].rnn, x.shape[0], x.shape[1], padded, dev) for k in each]
            out = net.forward(x, lengths, stack(draws))
            losses = rules.loss(out, y, net.flat)
            values = losses.detach().tolist()
            failed = []
            for k, (m, v) in enumerate(zip(live, values)):
                if exploded(v):
                    m.status, m.reason = "diverged", f"training loss {v} at epoch {epoch + 1}, step {step}"
                    failed.append(k)
                m.loss_sum += v * len(y)
                m.count += len(y)
            net.flat.grad = None
            losses.sum().backward()
            grad = net.flat.grad
            assert grad is not None
            if track_gradients:
                totals, per_role = rules.gradient_norms(grad)
            if rules.clip.active:
                norms = rules.clip(grad).tolist()
                for k, (m, norm, on) in enumerate(zip(live, norms, rules.clip.on.tolist())):
                    if on and not math.isfinite(norm) and m.status is None:
                        m.status, m.reason = "diverged", f"gradient norm {norm} at epoch {epoch + 1}"
                        failed.append(k)
            if track_gradients:
                cut = rules.clip.cut.tolist() if rules.clip.active else [False] * len(live)
                for m, norm, roles, c in zip(live, totals, per_role, cut):
                    assert m.grads is not None
                    m.grads.add(norm, dict(zip(rules.role_names, roles)), c)
                    if m.epoch_grads is not None:
                        m.epoch_grads.add(norm, dict(zip(rules.role_names, roles)), c)
            opt.step(net.flat.data, grad)
            if rules.caps:
                max_norm_rows(net.views(net.flat.data), rules.roles, rules.caps)
            if failed:
                live, rules = _leave(sorted(set(failed)), live, done, net, opt, streams)
                if not live:
                    break
        if not live:
            break
        streams.loader_draw()  # the validation loader's iterator
        rows = _validate(net, data, live, metric, n_val, epoch, sign, dev)
        blown = [k for k, m in enumerate(live) if m.status == "diverged"]  # its validation loss (_validate)
        if blown:
            rows = [r for k, r in enumerate(rows) if k not in blown]
            live, rules = _leave(blown, live, done, net, opt, streams)
            if not live:
                break
        stop = set(on_epoch(epoch, [(m.index, r) for m, r in zip(live, rows)])) if on_epoch else set()
        leaving = []
        for k, m in enumerate(live):
            if m.index in stop:
                m.status = "stopped"
            elif (
                m.best is not None
                and m.best["epoch"] < epoch
                and m.train.patience
                and (epoch - m.best["epoch"] >= m.train.patience)
            ):
                m.status = "early_stopped"
            elif epoch + 1 >= m.train.max_epochs:
                m.status = "done"
            if m.status is not None:
                leaving.append(k)
        if on_record is not None:
            for k, m in enumerate(live):
                assert m.epoch_grads is not None
                final = m.status in ("done", "early_stopped")
                on_record(epoch, m.index, lambda k=k: net.member_state(k), m.epoch_grads.summary(), final)  # type: ignore[misc]
                m.epoch_grads = _GradLog()
        if on_checkpoint is not None:
            for k, m in enumerate(live):
                if k not in leaving:
                    on_checkpoint(m.index, _checkpoint(k, m, epoch, net, opt, streams, order))
        if leaving:
            live, rules = _leave(leaving, live, done, net, opt, streams)
        epoch += 1
    results = {m.index: m.result() for m in done}
    return [results[i] for i in range(len(members))]


def _validate(
    net: StackedNet, data: SequenceDataModule, live: list[_Member], metric: str, n_val: int, epoch: int,
    sign: float, dev: torch.device,
) -> list[dict[str, float]]:  # fmt: skip
    """Each live member's row for this epoch (eval mode: no masks, running statistics); best and its weights. A
    member whose validation loss exploded (:func:`models.classifier.exploded`) is marked diverged instead."""
    loss_sum = torch.zeros(len(live), device=dev, dtype=torch.float64)
    correct = torch.zeros(len(live), device=dev, dtype=torch.float64)
    count = 0
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []  # (logits, labels) per batch: the tie-break's loss
    each: list[torch.Tensor] = []  # (members, batch) losses: the median sequence's judges divergence
    with torch.no_grad():
        for x, lengths, y in data.val_dataloader():
            x, lengths, y = x.to(dev), lengths.to(dev), y.to(dev)
            logits = net.forward(x, lengths, None).logits
            k, b, c = logits.shape
            ce = F.cross_entropy(logits.reshape(k * b, c), y.repeat(k), reduction="none").view(k, b)
            loss_sum += ce.sum(1).double()
            each.append(ce)
            correct += (logits.argmax(2) == y).sum(1).double()
            count += b
            seen.append((logits, y))
    ties = calibrated_loss(torch.cat([z for z, _ in seen], 1), torch.cat([t for _, t in seen])).tolist()
    medians = typical_loss(torch.cat(each, 1)).tolist()
    rows = []
    for k, (m, ls, co, tie, median) in enumerate(zip(live, loss_sum.tolist(), correct.tolist(), ties, medians)):
        acc, loss = co / count, ls / count
        row = {"epoch": epoch, "val_acc": acc, "val_loss": loss, "val_loss_t": tie,
               "score": score(metric, acc, loss, max(n_val, 1), tie)}  # fmt: skip
        if m.count:
            row["train_loss"] = m.loss_sum / m.count
        rows.append(row)
        why = validation_divergence(median, epoch)  # as a lone fit's BestEpoch: before the epoch is recorded or kept
        if why is not None:
            m.status, m.reason = "diverged", why
            continue
        m.history.append(row)
        if m.best is None or sign * row["score"] > sign * m.best["score"]:
            m.best = row
            m.best_state = net.member_state(k)
    return rows


def _leave(
    idx: list[int], live: list[_Member], done: list[_Member], net: StackedNet, opt: StackedAdam, streams: MemberStreams
) -> tuple[list[_Member], _Rules]:
    """Members ``idx`` (rows) leave the array: their rows, optimizer state and streams are dropped."""
    done.extend(live[k] for k in idx)
    keep = [k for k in range(len(live)) if k not in set(idx)]
    live = [live[k] for k in keep]
    if live:
        index = torch.as_tensor(keep, device=net.flat.device, dtype=torch.long)
        net.keep(keep)
        opt.keep(index)
        streams.keep(keep)
    return live, _Rules(live, net) if live else None  # type: ignore[return-value]


def _checkpoint(
    k: int, m: _Member, epoch: int, net: StackedNet, opt: StackedAdam, streams: MemberStreams, order: torch.Generator
) -> MemberCheckpoint:
    return {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,  # the last epoch completed
        "config": as_dict(m.rnn, m.train),
        "state": net.member_state(k),
        "optimizer": opt.member_state(k),
        "rng": {name: s.clone() for name, s in streams.states[k].items()},
        "batch_order": order.get_state(),
        "history": [dict(r) for r in m.history],
        "best": None if m.best is None else dict(m.best),
        "best_state": m.best_state,
    }


def _resume(
    resume: Sequence[MemberCheckpoint | None], live: list[_Member], net: StackedNet, opt: StackedAdam,
    streams: MemberStreams, order: torch.Generator,
) -> int:  # fmt: skip
    """Load the members' checkpoints; return the epoch to go on from."""
    if len(resume) != len(live):
        raise ValueError(f"resume has {len(resume)} entries for {len(live)} members")
    given = [c for c in resume if c is not None]
    if not given:
        return 0
    if len(given) != len(resume):
        raise ValueError("resume: either every member or none has a checkpoint (members share the batch order)")
    epochs = {int(c["epoch"]) for c in given}
    steps = {int(c["optimizer"]["steps"]) for c in given}
    if len(epochs) > 1 or len(steps) > 1:
        raise ValueError(f"resume: the members' checkpoints are at different epochs {sorted(epochs)}")
    for k, (m, c) in enumerate(zip(live, given)):
        if c.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"resume[{k}]: not an array member checkpoint (format {c.get('format')!r})")
        if c["config"] != as_dict(m.rnn, m.train):
            raise ValueError(f"resume[{k}]: the checkpoint is of another configuration")
        net.load_member(k, c["state"])
        opt.load_member(k, c["optimizer"])
        streams.states[k] = {name: s.clone() for name, s in c["rng"].items() if name in streams.states[k]}
        m.history = [dict(r) for r in c["history"]]
        m.best = None if c["best"] is None else dict(c["best"])
        m.best_state = c["best_state"]
    order.set_state(given[0]["batch_order"])
    return epochs.pop() + 1
