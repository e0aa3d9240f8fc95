"""Generated stand-ins for CIFAR-10 and Fashion-MNIST, written in the official on-disk formats.

Tests, benchmarks and the ``smoke`` profile use them where no dataset is installed, so every code
path that reads real files (pickles, IDX) also runs offline. The images are noise plus a band
whose row (and colour) depends on the label, so a model can learn them.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from pnlib.train.formats import CIFAR_CLASSES, CIFAR_DIR, FASHION_DIR, FASHION_FILES, unpickle

# what the smoke profile writes when no dataset is installed: large enough for every notebook's
# smoke preset (the empty-data-folder test in tests/test_notebooks.py keeps that true)
SMOKE_DIR = "generated-smoke"
SMOKE_TRAIN_PER_BATCH = 400  # 5 batches: 2,000 training images
SMOKE_TEST = 1000


def _fake_images(rng: np.random.Generator, labels: np.ndarray, channels: int, size: int) -> np.ndarray:
    band = size // 10 + 2
    table = np.zeros((10, channels, size, size), dtype=np.int64)
    for k in range(10):  # one pattern per class, gathered by label below
        top = k * (size - band) // 9
        table[k, k % channels, top : top + band] = 90
    noise = rng.integers(0, 150, size=(len(labels), channels, size, size))
    return (noise + table[labels]).astype(np.uint8)  # max 149 + 90 fits uint8


def write_fake_cifar10(root: str | Path, n_per_batch: int = 100, n_test: int = 100, seed: int = 0) -> Path:
    """Write a small random CIFAR-10 in the official python pickle layout; returns the folder."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / CIFAR_DIR
    folder.mkdir(parents=True, exist_ok=True)
    files = [(f"data_batch_{i}", n_per_batch, f"training batch {i} of 5") for i in range(1, 6)]
    for fname, n, label in files + [("test_batch", n_test, "testing batch 1 of 1")]:
        y = rng.integers(0, 10, size=n)
        x = _fake_images(rng, y, 3, 32).reshape(n, 3072)
        # str keys, as the official (Python 2) files read under encoding="latin1": both pnlib
        # and torchvision's CIFAR10 can read these
        d = {
            "batch_label": label,
            "labels": [int(v) for v in y],
            "data": x,
            "filenames": [f"fake_{fname}_{j}.png" for j in range(n)],
        }
        (folder / fname).write_bytes(pickle.dumps(d, protocol=2))
    meta = {"num_cases_per_batch": n_per_batch, "label_names": list(CIFAR_CLASSES), "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def _idx_bytes(arr: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_fake_idx(
    root: str | Path, n_train: int = 600, n_test: int = 100, seed: int = 0, gz: bool = True
) -> Path:
    """Write the four Fashion-MNIST IDX files (28x28, random) into ``root/fashion-mnist/``."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / FASHION_DIR
    folder.mkdir(parents=True, exist_ok=True)
    y_tr, y_te = rng.integers(0, 10, size=n_train), rng.integers(0, 10, size=n_test)
    arrays = (
        _fake_images(rng, y_tr, 1, 28)[:, 0],
        y_tr.astype(np.uint8),
        _fake_images(rng, y_te, 1, 28)[:, 0],
        y_te.astype(np.uint8),
    )
    for stem, arr in zip(FASHION_FILES, arrays):
        raw = _idx_bytes(arr)  # mtime=0: byte-identical files for the same seed
        (folder / (stem + ".gz" if gz else stem)).write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
    return folder


def smoke_stand_in(root: str | Path) -> Path:
    """The generated CIFAR-format folder the smoke profile reads when no dataset is installed."""
    folder = Path(root) / SMOKE_DIR
    meta = folder / CIFAR_DIR / "batches.meta"
    sizes_ok = meta.exists() and unpickle(meta).get("num_cases_per_batch") == SMOKE_TRAIN_PER_BATCH
    if not sizes_ok:  # absent, or written by an older, smaller preset
        write_fake_cifar10(folder, n_per_batch=SMOKE_TRAIN_PER_BATCH, n_test=SMOKE_TEST, seed=0)
    return folder


@contextmanager
def cifar10_or_generated(root: str | Path = "data", n_per_batch: int = 10000, n_test: int = 100):
    """Yield ``root`` when it holds CIFAR-10, else a temporary folder of generated files in the
    official format (for benchmarks on machines without the dataset)."""
    if (Path(root) / CIFAR_DIR).exists():
        yield Path(root)
        return
    with tempfile.TemporaryDirectory() as tmp:
        write_fake_cifar10(tmp, n_per_batch=n_per_batch, n_test=n_test, seed=0)
        print(f"no CIFAR-10 in {root}/: generated {5 * n_per_batch:,} images in the official format")
        yield Path(tmp)
