"""In-memory CIFAR-10 / Fashion-MNIST with a fixed seeded validation split and batched augmentation.

Whole splits live as normalised float32 tensors on the device; ``batches`` slices them with a
seeded permutation and ``augment_batch`` does random crop + flip on whole batches with tensor ops.
Files are read in their official formats (CIFAR python pickles, IDX) and validated, so a corrupt
download fails with a message naming the file instead of a cryptic error later.
"""
from __future__ import annotations

import gzip
import pickle
import struct
import tempfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

DATASETS = ("auto", "cifar10", "fashion_mnist")
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck")
FASHION_DIR = "fashion-mnist"
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian: dataset-fashion-mnist
FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class DatasetError(RuntimeError):
    """A dataset file is corrupt or truncated."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"{path}: {problem}. The file looks corrupt or truncated; delete it and "
                         f"download it again (or pass download=True after deleting it).")
        self.path = Path(path)


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

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.X_train.shape[-1])


# ----------------------------------------------------------------------------------- CIFAR-10

class _SafeUnpickler(pickle.Unpickler):
    """Refuses every global except what a pickled numpy array needs (no code execution)."""

    _ALLOWED = {"_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer"}

    def find_class(self, module: str, name: str):
        if (module.startswith("numpy") and name in self._ALLOWED) or (module, name) in (
                ("copyreg", "_reconstructor"), ("builtins", "object"), ("_codecs", "encode")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing global {module}.{name}")


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            obj = _SafeUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise DatasetError(path, "file is missing from the dataset folder") from None
    except Exception as exc:  # any unpickling failure means a bad file
        raise DatasetError(path, f"cannot unpickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise DatasetError(path, f"expected a pickled dict, got {type(obj).__name__}")
    # official files give bytes keys under encoding="bytes"; accept str keys as well
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _check_labels(path: Path, y: np.ndarray, n_images: int) -> None:
    if y.shape != (n_images,):
        raise DatasetError(path, f"{y.shape} labels for {n_images} images")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DatasetError(path, f"labels outside 0..9 (min {y.min()}, max {y.max()})")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = _unpickle(path)
    if "data" not in d or "labels" not in d:
        raise DatasetError(path, f"missing keys b'data'/b'labels' (found {list(d)})")
    x = d["data"]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        desc = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise DatasetError(path, f"b'data' must be a uint8 array of shape (N, 3072), got {desc}")
    try:
        y = np.asarray(d["labels"], dtype=np.int64)
    except (TypeError, ValueError):
        raise DatasetError(path, "b'labels' is not a list of integers") from None
    _check_labels(path, y, len(x))
    return x.reshape(-1, 3, 32, 32), y


def _read_cifar(folder: Path):
    meta = _unpickle(folder / "batches.meta")
    names = meta.get("label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise DatasetError(folder / "batches.meta", "b'label_names' must be a list of 10 names")
    classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    parts = [_read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = _read_cifar_batch(folder / "test_batch")
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return x_train, y_train, x_test, y_test, classes


def _cifar_not_found(root: Path, extra: str = "") -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"CIFAR-10 not found: expected the python version in {root / CIFAR_DIR}/ (data_batch_1..5, "
        f"test_batch, batches.meta). Download {CIFAR_URL} and extract it into {root}/, or pass "
        f"download=True to fetch it when a network is available.{extra}")


def _download(cls_name: str, root: Path, not_found) -> None:
    """Fetch via torchvision (imported lazily: slow, and needed only here)."""
    try:
        import torchvision
        getattr(torchvision.datasets, cls_name)(str(root), train=True, download=True)
    except Exception as exc:
        raise not_found(root, f" Download failed: {type(exc).__name__}: {exc}") from exc


def _load_cifar(root: Path, download: bool):
    folder = root / CIFAR_DIR
    if not folder.is_dir():
        if not download:
            raise _cifar_not_found(root)
        _download("CIFAR10", root, _cifar_not_found)
    return _read_cifar(folder)


# ------------------------------------------------------------------------------ Fashion-MNIST

def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes (magic 0x0000 0x08 ndim, big-endian uint32 dims)."""
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(path, f"cannot read/decompress ({type(exc).__name__}: {exc})") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(path, f"only {len(raw)} bytes, shorter than the IDX header")
    zero, dtype_code, nd = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or nd != ndim:
        raise DatasetError(path, f"bad IDX magic {raw[:4].hex()} (want 0000 08 {ndim:02x}: uint8, {ndim}-d)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) - header != int(np.prod(dims)):
        raise DatasetError(path, f"size mismatch: header says {dims} = {int(np.prod(dims))} bytes, "
                                 f"file holds {len(raw) - header}")
    return np.frombuffer(bytearray(raw), dtype=np.uint8, offset=header).reshape(dims)  # writable


def _fashion_dirs(root: Path) -> list[Path]:
    return [root / FASHION_DIR, root / "FashionMNIST" / "raw", Path(FASHION_SYSTEM_DIR)]


def _find_fashion(root: Path) -> list[Path] | None:
    """Paths of the four files in the first folder that has all of them (gz or not)."""
    for d in _fashion_dirs(root):
        found = [next((p for p in (d / f"{s}.gz", d / s) if p.is_file()), None) for s in FASHION_FILES]
        if all(found):
            return found
    return None


def _fashion_not_found(root: Path, extra: str = "") -> DatasetNotFoundError:
    where = ", ".join(f"{d}/" for d in _fashion_dirs(root))
    return DatasetNotFoundError(
        f"Fashion-MNIST not found: looked in {where} for {', '.join(f + '(.gz)' for f in FASHION_FILES)}. "
        f"Put the four IDX .gz files in {root / FASHION_DIR}/, or `apt-get install "
        f"dataset-fashion-mnist`, or pass download=True to fetch them when a network is available.{extra}")


def _load_fashion(root: Path, download: bool):
    files = _find_fashion(root)
    if files is None and download:
        _download("FashionMNIST", root, _fashion_not_found)
        files = _find_fashion(root)
    if files is None:
        raise _fashion_not_found(root)
    x_train, y_train, x_test, y_test = (_read_idx(p, 3 if "images" in p.name else 1) for p in files)
    _check_labels(files[1], y_train, len(x_train))
    _check_labels(files[3], y_test, len(x_test))
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(files[2], f"image size {x_test.shape[1:]} differs from train {x_train.shape[1:]}")
    return x_train[:, None], y_train.astype(np.int64), x_test[:, None], y_test.astype(np.int64), FASHION_CLASSES


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


def _check_size(name: str, value, minimum: int = 1) -> None:
    if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool)
                              or value < minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def load_dataset(name: str = "auto", root: str | Path = "data", *, val_size: int = 5000,
                 train_size: int | None = None, test_size: int | None = None, split_seed: int = 0,
                 pad_to_32: bool = False, download: bool = False, device: str | torch.device = "cpu") -> Data:
    """Load ``name`` (see DATASETS) from ``root`` into normalised tensors on ``device``.

    The validation split is a ``split_seed``-seeded random subset of the official training set;
    ``train_size``/``test_size`` keep only the first n of the (shuffled) train / the test split.
    Normalisation uses per-channel mean/std of the returned train split.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset name={name!r}; allowed: {', '.join(DATASETS)}")
    _check_size("val_size", val_size)
    _check_size("train_size", train_size)
    _check_size("test_size", test_size)
    root = Path(root)
    if name == "cifar10":
        used, raw = "cifar10", _load_cifar(root, download)
    elif name == "fashion_mnist":
        used, raw = "fashion_mnist", _load_fashion(root, download)
    else:
        try:
            used, raw = "cifar10", _load_cifar(root, download)
        except DatasetNotFoundError as cifar_missing:
            try:
                used, raw = "fashion_mnist", _load_fashion(root, download)
            except DatasetNotFoundError as fashion_missing:
                raise DatasetNotFoundError(f"name='auto' found neither dataset.\n{cifar_missing}\n"
                                           f"{fashion_missing}") from None
    x_all, y_all, x_test, y_test, classes = raw
    if used == "fashion_mnist" and pad_to_32:
        pad = [(0, 0), (0, 0)] + [(max(0, (32 - s) // 2), max(0, 32 - s - (32 - s) // 2)) for s in x_all.shape[2:]]
        x_all, x_test = np.pad(x_all, pad), np.pad(x_test, pad)

    n = len(x_all)
    if val_size >= n:
        raise ValueError(f"val_size must be < the {n} training images; got {val_size}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(split_seed))).numpy()
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    for pname, size, avail in (("train_size", train_size, n - val_size), ("test_size", test_size, len(x_test))):
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

    return Data(used, prep(x_train), labels(y_all[train_idx]), prep(x_all[val_idx]),
                labels(y_all[val_idx]), prep(x_test), labels(y_test), mean, std, tuple(classes))


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
    rows = oy[:, None] + torch.arange(H, device=dev)                         # B x H
    cols = torch.arange(W, device=dev).expand(B, W)
    cols = ox[:, None] + torch.where(flip[:, None], W - 1 - cols, cols)      # B x W, reversed if flip
    idx = (rows[:, :, None] * Wp + cols[:, None, :]).view(B, 1, H * W).expand(B, C, H * W)
    return Xp.flatten(2).gather(2, idx).view(B, C, H, W)


def batches(X: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = True,
            augment: bool = False, generator: torch.Generator | None = None,
            drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (Xb, yb) mini-batches covering every sample once; deterministic given ``generator``."""
    n = X.shape[0]
    if len(y) != n:
        raise ValueError(f"X has {n} samples but y has {len(y)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    order = (torch.randperm(n, generator=generator) if shuffle else torch.arange(n)).to(X.device)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        i = order[start:start + batch_size]
        yield (augment_batch(X[i], generator) if augment else X[i]), y[i]


# ------------------------------------------------------------------------------ fake datasets

def _fake_images(rng: np.random.Generator, labels: np.ndarray, channels: int, size: int) -> np.ndarray:
    """Noise plus a bright band whose row (and colour, for RGB) depends on the label: learnable."""
    band = size // 10 + 2
    table = np.zeros((10, channels, size, size), dtype=np.int64)
    for k in range(10):  # one pattern per class, gathered by label below
        top = k * (size - band) // 9
        table[k, k % channels, top:top + band] = 90
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
        d = {"batch_label": label, "labels": [int(v) for v in y], "data": x,
             "filenames": [f"fake_{fname}_{j}.png" for j in range(n)]}
        (folder / fname).write_bytes(pickle.dumps(d, protocol=2))
    meta = {"num_cases_per_batch": n_per_batch, "label_names": list(CIFAR_CLASSES), "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def _idx_bytes(arr: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_fake_idx(root: str | Path, n_train: int = 600, n_test: int = 100, seed: int = 0,
                   gz: bool = True) -> Path:
    """Write the four Fashion-MNIST IDX files (28x28, random) into ``root/fashion-mnist/``."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / FASHION_DIR
    folder.mkdir(parents=True, exist_ok=True)
    y_tr, y_te = rng.integers(0, 10, size=n_train), rng.integers(0, 10, size=n_test)
    arrays = (_fake_images(rng, y_tr, 1, 28)[:, 0], y_tr.astype(np.uint8),
              _fake_images(rng, y_te, 1, 28)[:, 0], y_te.astype(np.uint8))
    for stem, arr in zip(FASHION_FILES, arrays):
        raw = _idx_bytes(arr)  # mtime=0: byte-identical files for the same seed
        (folder / (stem + ".gz" if gz else stem)).write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
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


def load_for_profile(name: str, root: str | Path, profile: str, **kwargs) -> Data:
    """``load_dataset``, except that the ``smoke`` profile falls back to generated CIFAR-format
    files when no dataset is installed, so the notebooks' code paths run anywhere."""
    try:
        return load_dataset(name, root, **kwargs)
    except DatasetNotFoundError:
        if profile != "smoke":
            raise
        generated = Path(root) / "generated-smoke"
        if not (generated / CIFAR_DIR).exists():
            write_fake_cifar10(generated, n_per_batch=200, n_test=300, seed=0)
        print(f"SMOKE PROFILE: no {name} dataset found; using generated CIFAR-10-format files in {generated}")
        return load_dataset("cifar10", generated, **kwargs)
