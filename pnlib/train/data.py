"""Where the datasets live, and CIFAR-10 / Fashion-MNIST in memory with a fixed seeded validation
split and batched augmentation.

Whole splits live as normalised float32 tensors on the device; ``batches`` slices them with a
seeded permutation and ``augment_batch`` does random crop + flip on whole batches with tensor ops.
The files are read and validated by ``formats``.

Where the data come from (``locate``): CIFAR-10 in the data folder, then Fashion-MNIST in the
data folder or Debian's ``/usr/share/datasets``, then (``download=True``) torchvision's downloaders,
CIFAR-10 first, with a short connect timeout so that an offline machine moves on at once.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from pnlib.base import checks
from pnlib.base.store import project_root
from pnlib.train.formats import CIFAR_DIR, CIFAR_URL, FASHION_DIR, FASHION_FILES, FASHION_MIRROR, read

DATASETS = ("auto", "cifar10", "fashion_mnist")
TITLES = {"cifar10": "CIFAR-10", "fashion_mnist": "Fashion-MNIST"}  # how reports name them
DATA_ENV = "PNLIB_DATA"  # the data folder; default <repository>/data
SYSTEM_ENV = "PNLIB_SYSTEM_DATASETS"  # Debian's datasets folder; default /usr/share/datasets
DOWNLOAD_TIMEOUT_S = 10  # per connect/read: an offline machine gives up at once


class DatasetNotFoundError(FileNotFoundError):
    """The dataset files are not where load_dataset looks."""


@dataclass(frozen=True, eq=False)
class Data:
    """Normalised splits (X: float32 N x C x H x W, y: int64) plus the train-split statistics."""

    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    source: tuple = ()  # the load_dataset arguments that rebuild these splits (a worker process loads them so)

    @property
    def title(self) -> str:
        """The dataset's name as a reader knows it (``Fashion-MNIST``), for titles and tables."""
        return TITLES.get(self.name, self.name)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.X_train.shape[-1])


# ----------------------------------------------------------------------------- where data live


def data_root() -> Path:
    """``$PNLIB_DATA``, else ``data/`` in the repository: where the notebooks read datasets."""
    return Path(os.environ.get(DATA_ENV) or project_root() / "data")


def system_fashion_dir() -> Path:
    """Fashion-MNIST in Debian's datasets folder (``$PNLIB_SYSTEM_DATASETS``, default /usr/share/datasets)."""
    return Path(os.environ.get(SYSTEM_ENV) or "/usr/share/datasets") / "fashion-mnist"


def _fashion_dirs(root: Path) -> list[Path]:
    return [root / FASHION_DIR, root / "FashionMNIST" / "raw", system_fashion_dir()]


def _find(name: str, root: Path):
    """The files of ``name`` under ``root`` (CIFAR-10: its folder; Fashion-MNIST: the four IDX
    files of the first folder that has all of them, gz or not), or None."""
    if name == "cifar10":
        return root / CIFAR_DIR if (root / CIFAR_DIR).is_dir() else None
    for d in _fashion_dirs(root):
        found = [next((p for p in (d / f"{s}.gz", d / s) if p.is_file()), None) for s in FASHION_FILES]
        if all(found):
            return found
    return None


def _download(name: str, root: Path) -> str | None:
    """Fetch ``name`` with torchvision's downloader (it checks the archives' MD5); returns the
    reason on failure. torchvision is imported here only: it is slow and needed only here."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # urllib inside torchvision sets none itself
    try:
        import torchvision

        cls = {"cifar10": "CIFAR10", "fashion_mnist": "FashionMNIST"}[name]
        getattr(torchvision.datasets, cls)(str(root), train=True, download=True)
        return None
    except Exception as exc:  # offline, DNS, HTTP error, checksum mismatch: all mean "not here"
        for d in (root / "FashionMNIST" / "raw", root / "FashionMNIST"):  # what a failed try left empty
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
        return f"{type(exc).__name__}: {exc}"
    finally:
        socket.setdefaulttimeout(old)


def remedies(root: Path, names=("cifar10", "fashion_mnist")) -> str:
    """What a user can do when no dataset is found: exact commands, folders and URLs."""
    lines = []
    if "fashion_mnist" in names:
        lines.append(
            f"  - Debian/Ubuntu, offline: sudo apt-get install dataset-fashion-mnist   "
            f"(read from {system_fashion_dir()}/)"
        )
    if "cifar10" in names:
        lines.append(
            f"  - CIFAR-10 (the paper's dataset): download {CIFAR_URL} and unpack it in {root}/ "
            f"(tar xzf ... -C {root}), which makes {root / CIFAR_DIR}/"
        )
    if "fashion_mnist" in names:
        urls = " ".join(FASHION_MIRROR + f + ".gz" for f in FASHION_FILES)
        lines.append(f"  - Fashion-MNIST: download {urls} into {root / FASHION_DIR}/")
    lines.append(
        f"  - with a network, pnlib downloads them itself (download=True; `make run` does); "
        f"${DATA_ENV} chooses another data folder"
    )
    return "\n".join(lines)


def locate(name: str = "auto", root: str | Path | None = None, download: bool = False):
    """``(dataset, files)`` that ``load_dataset`` reads. ``auto`` looks for CIFAR-10 in ``root``,
    then Fashion-MNIST in ``root`` or Debian's folder, then downloads CIFAR-10, then Fashion-MNIST."""
    checks.choice("dataset", name, DATASETS)
    root = Path(root) if root is not None else data_root()
    wanted = ("cifar10", "fashion_mnist") if name == "auto" else (name,)
    for n in wanted:
        found = _find(n, root)
        if found is not None:
            return n, found
    failures = []
    if download:
        for n in wanted:
            reason = _download(n, root)
            found = _find(n, root) if reason is None else None
            if found is not None:
                return n, found
            failures.append(f"  - download of {n} failed: {reason or 'no files after download'}")
    looked = [f"{root / CIFAR_DIR}/"] * ("cifar10" in wanted) + [f"{d}/" for d in _fashion_dirs(root)] * (
        "fashion_mnist" in wanted
    )
    tried = "\n".join(failures) if failures else "  - no download was tried (download=False)"
    raise DatasetNotFoundError(
        f"no {' or '.join(wanted)} dataset found.\nLooked in: {', '.join(looked)}\n{tried}\n"
        f"To get one, do any of these:\n{remedies(root, wanted)}"
    )


# -------------------------------------------------------------------------------- load_dataset


def _channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean/std (population) in [0, 1] pixel units, from uint8 histograms."""
    v = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for c in range(x.shape[1]):
        h = np.bincount(np.ascontiguousarray(x[:, c]).ravel(), minlength=256).astype(np.float64)
        m = float(h @ v / h.sum())
        means.append(m)
        stds.append(max(float(np.sqrt(h @ (v - m) ** 2 / h.sum())), 1e-8))
    return tuple(means), tuple(stds)


def load_dataset(
    name: str = "auto",
    root: str | Path | None = None,
    *,
    val_size: int = 5000,
    train_size: int | None = None,
    test_size: int | None = None,
    split_seed: int = 0,
    pad_to_32: bool = False,
    download: bool = False,
    device: str | torch.device = "cpu",
) -> Data:
    """Load ``name`` (see DATASETS, and ``locate`` for where it is looked for) from ``root``
    (default ``data_root()``) into normalised tensors on ``device``.

    The validation split is a ``split_seed``-seeded random subset of the official training set;
    ``train_size``/``test_size`` keep only the first n of the (shuffled) train / the test split.
    Normalisation uses per-channel mean/std of the returned train split.
    """
    checks.integer("val_size", val_size)
    checks.optional(checks.integer, "train_size", train_size)
    checks.optional(checks.integer, "test_size", test_size)
    used, found = locate(name, root, download)
    x_all, y_all, x_test, y_test, classes = read(used, found)
    if used == "fashion_mnist" and pad_to_32:
        pad = [(0, 0), (0, 0)] + [
            (max(0, (32 - s) // 2), max(0, 32 - s - (32 - s) // 2)) for s in x_all.shape[2:]
        ]
        x_all, x_test = np.pad(x_all, pad), np.pad(x_test, pad)

    n = len(x_all)
    if val_size >= n:
        raise ValueError(f"val_size must be < the {n} training images; got {val_size}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(split_seed))).numpy()
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    for pname, size, avail in (
        ("train_size", train_size, n - val_size),
        ("test_size", test_size, len(x_test)),
    ):
        if size is not None and size > avail:
            raise ValueError(f"{pname}={size} exceeds the {avail} images available")
    train_idx = train_idx[:train_size]
    x_test, y_test = x_test[:test_size], y_test[:test_size]
    x_train = x_all[train_idx]
    mean, std = _channel_stats(x_train)

    def prep(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x)).to(device).float().div_(255.0)
        m = torch.tensor(mean, device=t.device).view(1, -1, 1, 1)
        s = torch.tensor(std, device=t.device).view(1, -1, 1, 1)
        return t.sub_(m).div_(s)

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)).to(device)

    source = dict(
        name=used,
        root=str(root if root is not None else data_root()),
        val_size=val_size,
        train_size=train_size,
        test_size=test_size,
        split_seed=split_seed,
        pad_to_32=pad_to_32,
    )
    return Data(
        used,
        prep(x_train),
        labels(y_all[train_idx]),
        prep(x_all[val_idx]),
        labels(y_all[val_idx]),
        prep(x_test),
        labels(y_test),
        mean,
        std,
        tuple(classes),
        tuple(source.items()),
    )


# ------------------------------------------------------------------------ batching / augment


def augment_batch(X: torch.Tensor, generator: torch.Generator | None = None, pad: int = 4) -> torch.Tensor:
    """Random crop (zero padding ``pad``) and horizontal flip of a whole N x C x H x W batch.

    Padding is zero in *normalised* space (the per-channel mean, not black): harmless for
    training and avoids de-normalising. Offsets then flips are drawn from the CPU ``generator``.
    """
    B, C, H, W = X.shape
    dev = X.device
    oy = torch.randint(0, 2 * pad + 1, (B,), generator=generator).to(dev)
    ox = torch.randint(0, 2 * pad + 1, (B,), generator=generator).to(dev)
    flip = torch.randint(0, 2, (B,), generator=generator).to(dev).bool()
    Wp = W + 2 * pad
    Xp = torch.nn.functional.pad(X, (pad, pad, pad, pad))
    rows = oy[:, None] + torch.arange(H, device=dev)  # B x H
    cols = torch.arange(W, device=dev).expand(B, W)
    cols = ox[:, None] + torch.where(flip[:, None], W - 1 - cols, cols)  # B x W, reversed if flip
    idx = (rows[:, :, None] * Wp + cols[:, None, :]).view(B, 1, H * W).expand(B, C, H * W)
    return Xp.flatten(2).gather(2, idx).view(B, C, H, W)


def batches(
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool = True,
    augment: bool = False,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (Xb, yb) mini-batches covering every sample once; deterministic given ``generator``."""
    n = X.shape[0]
    if len(y) != n:
        raise ValueError(f"X has {n} samples but y has {len(y)}")
    checks.integer("batch_size", batch_size)
    order = (torch.randperm(n, generator=generator) if shuffle else torch.arange(n)).to(X.device)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        i = order[start : start + batch_size]
        yield (augment_batch(X[i], generator) if augment else X[i]), y[i]
