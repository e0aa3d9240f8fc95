"""The one training loop: ``train`` trains K models in lockstep with a hook after backward; ``fit``
is one model, optionally under the persistent penalty (``PenaltyHook``).

The hot loop keeps everything on the device: batches are index gathers from in-memory tensors,
the penalty gradient is added in place after backward, and per-step losses stay in a device
buffer that is read once per epoch (that is also where a non-finite loss is caught).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from pnlib.base import checks, store
from pnlib.train.data import batches
from pnlib.train.evaluation import evaluate
from pnlib.train.precision import autocast

OPTIMIZERS = ("sgd", "adam", "adamw")
LR_SCHEDULES = ("cosine", "step", "constant")


NOT_SCORED = {"loss": math.nan, "acc": math.nan}  # a history epoch between two validation scores


class DivergedError(RuntimeError):
    """The training loss became non-finite; ``epoch`` and ``step`` say where (1-based epoch)."""

    def __init__(self, epoch: int, step: int, global_step: int, value: float):
        self.epoch, self.step, self.global_step, self.value = epoch, step, global_step, value
        super().__init__(
            f"training diverged: the loss became {value} at epoch {epoch}, step {step} "
            f"(global step {global_step}). Lower the learning rate or the penalty strength, "
            f"or use a better-scaled init."
        )


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one trajectory's optimisation, validated on construction."""

    num_epochs: int = 10
    batch_size: int = 128
    lr: float = 0.05
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    lr_schedule: str = "cosine"
    augment: bool = False
    # 256, not 1000: a ResNet-20 trajectory ran 1.3-1.4x faster end to end on one CPU thread (benchmarks/bench_eval.py)
    eval_batch_size: int = 256
    eval_every: int = 1  # epochs between the history's validation scores (and always the last); NaN between
    amp: bool = False  # bf16 autocast of the forward pass (precision "bf16" = amp + channels_last)
    channels_last: bool = False
    compile: bool = False  # torch.compile the training forward
    checkpoint_every: int = 1  # epochs between in-trajectory checkpoints (0: none)

    def __post_init__(self):
        for name in ("num_epochs", "batch_size", "eval_batch_size", "eval_every"):
            checks.integer(name, getattr(self, name))
        checks.integer("checkpoint_every", self.checkpoint_every, minimum=0)
        checks.number("lr", self.lr)
        checks.number("momentum", self.momentum, inclusive=True, below=1.0)
        checks.number("weight_decay", self.weight_decay, inclusive=True)
        checks.choice("optimizer", self.optimizer, OPTIMIZERS)
        checks.choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        for name in ("nesterov", "augment", "amp", "channels_last", "compile"):
            checks.boolean(name, getattr(self, name))

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def precision(self) -> str:
        """``bf16`` (autocast + channels_last), ``fp32``, or the two flags as set by hand."""
        if self.amp == self.channels_last:
            return "bf16" if self.amp else "fp32"
        return f"amp={self.amp}, channels_last={self.channels_last}"

    def lr_at(self, progress: float) -> float:
        """Learning rate at training progress t ∈ [0, 1)."""
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * progress))
        if self.lr_schedule == "step":  # ×0.1 at 50% and 75%, the usual CIFAR recipe
            return self.lr * (0.1 ** ((progress >= 0.5) + (progress >= 0.75)))
        return self.lr


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    opt = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return opt(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


class PenaltyHook:
    """The persistent penalty as the loop's hook (K = 1): λ(t)∇P into ``.grad`` after backward,
    and the penalty's columns of the history (P, λ(t), distances to the anchors)."""

    def __init__(self, penalty):
        self.penalty = penalty

    def after_backward(self, t: float) -> list[torch.Tensor]:
        return [self.penalty.apply_(t)]  # λ(t)∇P straight into .grad

    def history_row(self, member: int, row: dict, penalty: float, progress: float) -> dict:
        return {
            **row,
            "penalty": penalty,
            "strength": self.penalty.strength_at(progress),
            **{f"dist_anchor_{j + 1}": d for j, d in enumerate(self.penalty.distances().tolist())},
        }


def fit(
    model: nn.Module,
    data,
    cfg: TrainConfig,
    *,
    penalty=None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    desc: str = "",
    on_epoch=None,
) -> pd.DataFrame:
    """Train ``model`` on ``data`` (a ``pnlib.train.data.Data``) and return the per-epoch history.

    ``seed`` fixes the batch order, augmentation and dropout. With ``checkpoint`` set, state is
    saved every ``cfg.checkpoint_every`` epochs and an existing checkpoint is resumed, so an
    interrupted trajectory ends bitwise where an uninterrupted one would (on CPU).
    Raises ``DivergedError`` when the training loss turns non-finite. ``on_epoch(epoch, model)``
    is called after each finished epoch (1-based), before its checkpoint. ``train`` with one member.
    """
    hook = PenaltyHook(penalty) if penalty is not None else None
    each = (lambda epoch, models: on_epoch(epoch, models[0])) if on_epoch is not None else None
    return train(
        [model],
        data,
        cfg,
        seeds=[seed],
        hook=hook,
        checkpoint=checkpoint,
        progress=progress,
        desc=desc or "fit",
        on_epoch=each,
    )[0]


def train(
    models: list[nn.Module],
    data,
    cfg: TrainConfig,
    *,
    seeds: list[int],
    hook=None,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    desc: str = "train",
    on_epoch=None,
) -> list[pd.DataFrame]:
    """The one training loop: K members in lockstep, member k with its own optimizer and batch
    order (``seeds[k]``). Each step every member goes forward and backward, then ``hook`` runs
    (``after_backward(t)`` returns each member's penalty value; ``history_row(k, row, P, t)`` gives
    member k's history row with the epoch's mean P), then all members step. Dropout draws from
    ``seeds[0]`` on a forked generator: the caller's random state is left as it was. Checkpoints and
    resume as in ``fit``; a non-finite loss of any member raises ``DivergedError``. Returns the
    histories."""
    if len(seeds) != len(models):
        raise ValueError(
            f"train got {len(models)} models but {len(seeds)} seeds: one batch-order seed per member"
        )
    device = data.X_train.device
    cuda = (
        [torch.cuda.current_device() if device.index is None else device.index]
        if device.type == "cuda"
        else []
    )
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seeds[0])  # dropout
        return _lockstep(models, data, cfg, seeds, hook, checkpoint, progress, desc, on_epoch)


def _lockstep(
    models, data, cfg: TrainConfig, seeds, hook, checkpoint, progress, desc, on_epoch
) -> list[pd.DataFrame]:
    device = data.X_train.device
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    for m in models:
        m.to(device=device, memory_format=fmt).train()
    forwards = [torch.compile(m) if cfg.compile else m for m in models]
    opts = [make_optimizer(m, cfg) for m in models]
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    K, n = len(models), len(data.X_train)
    steps_per_epoch = n // cfg.batch_size if n >= cfg.batch_size else 1
    total_steps = steps_per_epoch * cfg.num_epochs
    hists, start_epoch = [[] for _ in models], 0
    if checkpoint is not None and Path(checkpoint).exists():
        hists, start_epoch = _resume(checkpoint, device, models, opts, gens)
    bar = tqdm(
        range(start_epoch, cfg.num_epochs),
        desc=desc,
        disable=not progress,
        leave=False,
        initial=start_epoch,
        total=cfg.num_epochs,
    )
    for epoch in bar:
        t0 = time.perf_counter()
        losses = torch.zeros(K, steps_per_epoch, device=device)
        correct = torch.zeros(K, device=device, dtype=torch.long)
        pen_sum = torch.zeros(K, device=device)
        seen = 0
        loaders = [
            batches(
                data.X_train,
                data.y_train,
                cfg.batch_size,
                augment=cfg.augment,
                generator=g,
                drop_last=n >= cfg.batch_size,
            )
            for g in gens
        ]
        for i, member_batches in enumerate(zip(*loaders)):
            t = (epoch * steps_per_epoch + i) / total_steps
            for j, (forward, opt, (xb, yb)) in enumerate(zip(forwards, opts, member_batches)):
                for group in opt.param_groups:
                    group["lr"] = cfg.lr_at(t)
                with autocast(device, cfg.amp):
                    out = forward(xb.contiguous(memory_format=fmt) if xb.dim() == 4 else xb)
                    loss = F.cross_entropy(out.float(), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                losses[j, i] = loss.detach()
                correct[j] += (out.argmax(1) == yb).sum()
            if hook is not None:  # every member sees the others' state before anyone steps
                for j, value in enumerate(hook.after_backward(t)):
                    pen_sum[j] += value
            for opt in opts:
                opt.step()
            seen += len(member_batches[0][1])
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            j, step = (int(v) for v in bad[0])
            raise DivergedError(
                epoch + 1, step + 1, epoch * steps_per_epoch + step + 1, losses[j, step].item()
            )
        last = epoch + 1 == cfg.num_epochs
        scored = last or (epoch + 1) % cfg.eval_every == 0
        for j, m in enumerate(models):
            # fp32: bf16 moved test acc by 0.14 pt
            val = evaluate(m, data.X_val, data.y_val, cfg.eval_batch_size) if scored else NOT_SCORED
            row = {
                "epoch": epoch + 1,
                "train_loss": losses[j].mean().item(),
                "train_acc": correct[j].item() / seen,
                "val_loss": val["loss"],
                "val_acc": val["acc"],
                "lr": cfg.lr_at((epoch + 1) / cfg.num_epochs),
                "seconds": time.perf_counter() - t0,
            }
            if hook is not None:
                row = hook.history_row(
                    j, row, pen_sum[j].item() / steps_per_epoch, (epoch + 1) / cfg.num_epochs
                )
            hists[j].append(row)
        bar.set_postfix(loss=f"{hists[0][-1]['train_loss']:.3f}", val_acc=f"{hists[0][-1]['val_acc']:.3f}")
        if on_epoch is not None:
            on_epoch(epoch + 1, models)
        if (
            checkpoint is not None
            and cfg.checkpoint_every
            and (epoch + 1) % cfg.checkpoint_every == 0
            and not last
        ):
            _save(checkpoint, epoch + 1, models, opts, gens, hists)
    bar.close()
    return [pd.DataFrame(h) for h in hists]


def _save(path, epoch: int, models, opts, gens, hists) -> None:
    store.save_tensors(
        path,
        {
            "epoch": epoch,
            "models": [m.state_dict() for m in models],
            "optimizers": [o.state_dict() for o in opts],
            "generators": [g.get_state() for g in gens],
            "torch_rng": torch.get_rng_state(),
            "histories": hists,
        },
    )


def _resume(path, device, models, opts, gens) -> tuple[list, int]:
    state = store.load_tensors(path, device)
    if len(state["models"]) != len(models):
        raise ValueError(
            f"{path} holds a checkpoint of {len(state['models'])} members, not {len(models)}: "
            f"delete it to train from the start"
        )
    for m, o, g, ms, os_, gs in zip(
        models, opts, gens, state["models"], state["optimizers"], state["generators"]
    ):
        m.load_state_dict(ms)
        o.load_state_dict(os_)
        g.set_state(gs.cpu())  # RNG states are CPU byte tensors, also on a GPU run
    torch.set_rng_state(state["torch_rng"].cpu())
    return state["histories"], state["epoch"]
