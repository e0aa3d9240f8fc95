"""The official CIFAR-10 and Fashion-MNIST file formats, read and validated.

CIFAR-10 python pickles (through an unpickler that refuses code) and Fashion-MNIST IDX files
(gz or not) are parsed into uint8 arrays and checked, so a corrupt download fails with a message
naming the file instead of a cryptic error later. ``read`` returns one dataset's splits; the
constants say how the files are laid out and where they are published.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FASHION_DIR = "fashion-mnist"
FASHION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FASHION_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"  # torchvision's
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


class DatasetError(RuntimeError):
    """A dataset file is corrupt or truncated."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(
            f"{path}: {problem}. The file looks corrupt or truncated; delete it and "
            f"download it again (or pass download=True after deleting it)."
        )
        self.path = Path(path)


# ----------------------------------------------------------------------------------- CIFAR-10


class _SafeUnpickler(pickle.Unpickler):
    """Refuses every global except what a pickled numpy array needs (no code execution)."""

    _ALLOWED = {"_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer"}

    def find_class(self, module: str, name: str):
        if (module.startswith("numpy") and name in self._ALLOWED) or (module, name) in (
            ("copyreg", "_reconstructor"),
            ("builtins", "object"),
            ("_codecs", "encode"),
        ):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing global {module}.{name}")


def unpickle(path: Path) -> dict:
    """The dict pickled in ``path`` (str keys), read without running any code."""
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
    d = unpickle(path)
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
    meta = unpickle(folder / "batches.meta")
    names = meta.get("label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise DatasetError(folder / "batches.meta", "b'label_names' must be a list of 10 names")
    classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    parts = [_read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = _read_cifar_batch(folder / "test_batch")
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return x_train, y_train, x_test, y_test, classes


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
        raise DatasetError(
            path,
            f"size mismatch: header says {dims} = {int(np.prod(dims))} bytes, file holds {len(raw) - header}",
        )
    return np.frombuffer(bytearray(raw), dtype=np.uint8, offset=header).reshape(dims)  # writable


# -------------------------------------------------------------------------------- one dataset


def read(name: str, found):
    """``(x_train, y_train, x_test, y_test, classes)`` of ``name`` from the files ``found`` that
    ``data.locate`` returns (uint8 N x C x H x W images, int64 labels)."""
    if name == "cifar10":
        return _read_cifar(found)
    x_train, y_train, x_test, y_test = (_read_idx(p, 3 if "images" in p.name else 1) for p in found)
    _check_labels(found[1], y_train, len(x_train))
    _check_labels(found[3], y_test, len(x_test))
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(found[2], f"image size {x_test.shape[1:]} differs from train {x_train.shape[1:]}")
    return (
        x_train[:, None],
        y_train.astype(np.int64),
        x_test[:, None],
        y_test.astype(np.int64),
        FASHION_CLASSES,
    )
