"""The one seed scheme, for the protocol's runs and the batched synthetic runs alike.

Run ``seed`` of a cell has its θ₀ drawn with ``seed`` itself: the persistent run, the re-runs,
the longer run and restart 1 all start there, so they are paired. Restart k ≥ 2 draws a fresh
init with ``init_seed(seed, k)``, and trajectory k's batch order comes from ``data_seed(seed, k)``.
Derived seeds hash their labels, so they never collide with a base seed by arithmetic accident
(``seed + 1000·k`` does, once seeds pass 1000).
"""

from __future__ import annotations

import hashlib


def derive_seed(*parts) -> int:
    """A stable 31-bit seed from any labels (independent of Python's hash randomisation)."""
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def init_seed(seed: int, k: int = 1) -> int:
    """Seed of the k-th initialization of run ``seed``: θ₀ for k = 1, a fresh restart after."""
    return seed if k == 1 else derive_seed(seed, "init", k)


def data_seed(seed: int, k: int = 1) -> int:
    """Seed of trajectory k's batch order (and augmentation) in run ``seed``."""
    return derive_seed(seed, "data", k)


SCHEME = 'pnlib.base.seeds: θ₀ = seed, restart k = derive_seed(seed, "init", k), batches derive_seed(seed, "data", k)'
