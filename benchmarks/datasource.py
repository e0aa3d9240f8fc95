"""The dataset a benchmark measures on: Fashion-MNIST when it is installed, else generated files in
CIFAR-10's official format, enough for the sizes asked (validation and training share the five
training batches). Shared by the benchmarks; not a benchmark itself."""

from __future__ import annotations

from pnlib.train.data import Data, DatasetNotFoundError, load_dataset
from pnlib.train.generated import write_fake_cifar10


def fashion_or_generated(
    tmp, *, train_size: int, val_size: int, test_size: int, pad_to_32: bool = False
) -> Data:
    """Fashion-MNIST of these sizes, or generated CIFAR-format files written into ``tmp``."""
    sizes = dict(train_size=train_size, val_size=val_size, test_size=test_size)
    try:
        return load_dataset("fashion_mnist", pad_to_32=pad_to_32, **sizes)
    except DatasetNotFoundError:
        write_fake_cifar10(tmp, n_per_batch=-(-(train_size + val_size) // 5), n_test=test_size)
        return load_dataset("cifar10", tmp, **sizes)
