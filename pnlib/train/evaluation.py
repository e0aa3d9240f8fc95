"""Scoring a model: logits for a whole split in evaluation mode, and their loss and accuracy."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pnlib.train.precision import autocast


@torch.no_grad()
def predict_logits(
    model: nn.Module, X: torch.Tensor, batch_size: int = 1000, amp: bool = False, channels_last: bool = False
) -> torch.Tensor:
    """Logits for all of X in evaluation mode (float32)."""
    was_training = model.training
    model.eval()
    fmt = torch.channels_last if channels_last and X.dim() == 4 else torch.contiguous_format
    with autocast(X.device, amp):
        out = torch.cat(
            [
                model(X[i : i + batch_size].contiguous(memory_format=fmt)).float()
                for i in range(0, len(X), batch_size)
            ]
        )
    model.train(was_training)
    return out


def score(logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Cross-entropy and accuracy of logits (or log-probabilities) against labels."""
    return {"loss": F.cross_entropy(logits, y).item(), "acc": (logits.argmax(1) == y).float().mean().item()}


def evaluate(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 1000, amp: bool = False
) -> dict:
    return score(predict_logits(model, X, batch_size, amp), y)
