"""Which precision a model trains in on a device: ``resolve_precision`` turns ``auto`` / ``fp32`` /
``bf16`` into fp32 or bf16 with the reason, from what the device runs natively (a GPU, or a CPU with
AMX / AVX-512 BF16 through oneDNN) and, on the CPU, from a measured verdict per model. The CPU
model changes between this project's machines, so precision is decided per machine, never in a
preset (bf16 is 1.6–2.9× faster with AMX and 2–3× slower without it)."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # CPU flags under which oneDNN runs bf16 convolutions fast
# bf16 − fp32 test accuracy, paired by seed, margin ±0.5 points (benchmarks/bench_precision.py on this
# project's CPU machine, 2026-12-02): auto uses bf16 on the CPU only for a model shown equivalent
CPU_BF16_VERDICTS = {"lenet5": "inconclusive (10 seeds)", "resnet20": "inconclusive (5 seeds)"}


def default_device() -> torch.device:
    """cuda > mps > cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset | None:
    """The CPU's flags, read once per process (every grid cell resolves its precision)."""
    try:
        return frozenset(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return None


def bf16_support(device: torch.device) -> tuple[bool, str]:
    """Whether ``device`` runs bf16 convolutions and matrix products natively, and why (or why not)."""
    device = torch.device(device)
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported()
        return ok, f"{torch.cuda.get_device_name(device)} {'supports' if ok else 'does not support'} bf16"
    if device.type != "cpu":
        return False, f"no bf16 path is used on {device.type}"
    if not torch.backends.mkldnn.is_available():
        return False, "this torch build has no oneDNN (mkldnn), which runs bf16 on the CPU"
    flags = _cpu_flags()
    if flags is None:
        return False, "the CPU's flags cannot be read (no /proc/cpuinfo)"
    found = [f for f in CPU_BF16_FLAGS if f in flags]
    return (
        (True, f"the CPU has {' and '.join(found)} (oneDNN)")
        if found
        else (False, f"the CPU has neither {' nor '.join(CPU_BF16_FLAGS)}: bf16 would be emulated, and slow")
    )


def resolve_precision(precision: str, device, model: str | None = None) -> tuple[str, str]:
    """``("fp32" | "bf16", why)`` for ``precision`` on ``device``: ``auto`` is bf16 where the device
    runs it natively (a GPU, or a CPU with AMX / AVX-512 BF16 through oneDNN) and, on the CPU, only
    for a ``model`` whose bf16 accuracy was shown equivalent to fp32 (``CPU_BF16_VERDICTS``)."""
    if isinstance(precision, bool) or precision not in PRECISIONS:
        raise ValueError(
            f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)} "
            f"(bf16: bf16 autocast of the forward pass + channels_last; parameters stay fp32)"
        )
    ok, why = bf16_support(device)
    if precision == "bf16" and not ok:
        raise ValueError(
            f"precision 'bf16' is not available on {torch.device(device)}: {why}. Use 'fp32' or 'auto'"
        )
    if precision != "auto":
        return precision, why
    if not ok:
        return "fp32", why + "; auto falls back to fp32"
    if torch.device(device).type == "cpu" and model is not None:
        verdict = CPU_BF16_VERDICTS.get(model, "not measured")
        if not verdict.startswith("equivalent"):
            return (
                "fp32",
                f"{why}, but bf16 is not shown equivalent to fp32 for {model} ({verdict}): auto keeps fp32",
            )
        why += f"; bf16 − fp32 accuracy for {model}: {verdict}"
    return "bf16", why


def autocast(device: torch.device, amp: bool):
    """bf16 autocast of the forward pass when ``amp``; parameters and the penalty stay float32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)
