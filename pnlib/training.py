"""One trajectory: ``fit`` trains a model for a number of epochs, optionally under a penalty.

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

from . import checks, store
from .data import batches

OPTIMIZERS = ("sgd", "adam", "adamw")
LR_SCHEDULES = ("cosine", "step", "constant")


class DivergedError(RuntimeError):
    """The training loss became non-finite; ``epoch`` and ``step`` say where (1-based epoch)."""

    def __init__(self, epoch: int, step: int, global_step: int, value: float):
        self.epoch, self.step, self.global_step, self.value = epoch, step, global_step, value
        super().__init__(
            f"training diverged: the loss became {value} at epoch {epoch}, step {step} "
            f"(global step {global_step}). Lower the learning rate or the penalty strength, "
            f"or use a better-scaled init.")


def default_device() -> torch.device:
    """cuda > mps > cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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
    eval_batch_size: int = 1000
    amp: bool = False             # bf16 autocast (GPU)
    channels_last: bool = False
    compile: bool = False         # torch.compile the training forward
    checkpoint_every: int = 1     # epochs between in-trajectory checkpoints (0: none)

    def __post_init__(self):
        for name in ("num_epochs", "batch_size", "eval_batch_size"):
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

    def lr_at(self, progress: float) -> float:
        """Learning rate at training progress t ∈ [0, 1)."""
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * progress))
        if self.lr_schedule == "step":  # ×0.1 at 50% and 75%, the usual CIFAR recipe
            return self.lr * (0.1 ** ((progress >= 0.5) + (progress >= 0.75)))
        return self.lr


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                               nesterov=cfg.nesterov and cfg.momentum > 0, weight_decay=cfg.weight_decay)
    opt = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return opt(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def _autocast(device: torch.device, amp: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)


@torch.no_grad()
def predict_logits(model: nn.Module, X: torch.Tensor, batch_size: int = 1000, amp: bool = False,
                   channels_last: bool = False) -> torch.Tensor:
    """Logits for all of X in evaluation mode (float32)."""
    was_training = model.training
    model.eval()
    fmt = torch.channels_last if channels_last and X.dim() == 4 else torch.contiguous_format
    with _autocast(X.device, amp):
        out = torch.cat([model(X[i:i + batch_size].contiguous(memory_format=fmt)).float()
                         for i in range(0, len(X), batch_size)])
    model.train(was_training)
    return out


def score(logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Cross-entropy and accuracy of logits (or log-probabilities) against labels."""
    return {"loss": F.cross_entropy(logits, y).item(), "acc": (logits.argmax(1) == y).float().mean().item()}


def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 1000, amp: bool = False) -> dict:
    return score(predict_logits(model, X, batch_size, amp), y)


def fit(model: nn.Module, data, cfg: TrainConfig, *, penalty=None, seed: int = 0,
        checkpoint: str | Path | None = None, progress: bool = True, desc: str = "", on_epoch=None) -> pd.DataFrame:
    """Train ``model`` on ``data`` (a ``pnlib.data.Data``) and return the per-epoch history.

    ``seed`` fixes the batch order, augmentation and dropout. With ``checkpoint`` set, state is
    saved every ``cfg.checkpoint_every`` epochs and an existing checkpoint is resumed, so an
    interrupted trajectory ends bitwise where an uninterrupted one would (on CPU).
    Raises ``DivergedError`` when the training loss turns non-finite. ``on_epoch(epoch, model)``
    is called after each finished epoch (1-based), before its checkpoint.
    """
    device = data.X_train.device
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=fmt).train()
    forward = torch.compile(model) if cfg.compile else model
    opt = make_optimizer(model, cfg)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout
    n = len(data.X_train)
    steps_per_epoch = n // cfg.batch_size if n >= cfg.batch_size else 1
    total_steps = steps_per_epoch * cfg.num_epochs
    rows, start_epoch = [], 0
    if checkpoint is not None and Path(checkpoint).exists():
        state = store.load_tensors(checkpoint, device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"].cpu())      # RNG states are CPU byte tensors, also on a GPU run
        torch.set_rng_state(state["torch_rng"].cpu())
        rows, start_epoch = state["history"], state["epoch"]
    bar = tqdm(range(start_epoch, cfg.num_epochs), desc=desc or "fit", disable=not progress, leave=False,
               initial=start_epoch, total=cfg.num_epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        losses = torch.zeros(steps_per_epoch, device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        pen_sum = torch.zeros((), device=device)
        seen = 0
        for i, (xb, yb) in enumerate(batches(data.X_train, data.y_train, cfg.batch_size, augment=cfg.augment,
                                             generator=gen, drop_last=n >= cfg.batch_size)):
            t = (epoch * steps_per_epoch + i) / total_steps
            for group in opt.param_groups:
                group["lr"] = cfg.lr_at(t)
            with _autocast(device, cfg.amp):
                out = forward(xb.contiguous(memory_format=fmt) if xb.dim() == 4 else xb)
                loss = F.cross_entropy(out.float(), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if penalty is not None:
                pen_sum += penalty.apply_(t)  # λ(t)∇P straight into .grad
            opt.step()
            losses[i] = loss.detach()
            correct += (out.argmax(1) == yb).sum()
            seen += len(yb)
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            step = int(bad[0])
            raise DivergedError(epoch + 1, step + 1, epoch * steps_per_epoch + step + 1, losses[step].item())
        val = evaluate(model, data.X_val, data.y_val, cfg.eval_batch_size, cfg.amp)
        row = {"epoch": epoch + 1, "train_loss": losses.mean().item(), "train_acc": correct.item() / seen,
               "val_loss": val["loss"], "val_acc": val["acc"], "lr": cfg.lr_at((epoch + 1) / cfg.num_epochs),
               "seconds": time.perf_counter() - t0}
        if penalty is not None:
            row["penalty"] = pen_sum.item() / steps_per_epoch
            row["strength"] = penalty.strength_at((epoch + 1) / cfg.num_epochs)
            row.update({f"dist_anchor_{j + 1}": d for j, d in enumerate(penalty.distances().tolist())})
        rows.append(row)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_acc=f"{row['val_acc']:.3f}")
        if on_epoch is not None:
            on_epoch(epoch + 1, model)
        last = epoch + 1 == cfg.num_epochs
        if checkpoint is not None and cfg.checkpoint_every and (epoch + 1) % cfg.checkpoint_every == 0 and not last:
            store.save_tensors(checkpoint, {"epoch": epoch + 1, "model": model.state_dict(),
                                            "optimizer": opt.state_dict(), "generator": gen.get_state(),
                                            "torch_rng": torch.get_rng_state(), "history": rows})
    bar.close()
    return pd.DataFrame(rows)
