from pathlib import Path

import pytest
import torch

from pnlib.train.data import load_dataset
from pnlib.train.generated import write_fake_cifar10


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """Small generated data in CIFAR-10's real on-disk format, loaded the way users load it."""
    root = tmp_path_factory.mktemp("data")
    write_fake_cifar10(root, n_per_batch=60, n_test=100, seed=0)
    return load_dataset("cifar10", root, val_size=100)


@pytest.fixture(autouse=True)
def _single_thread():
    torch.set_num_threads(1)  # deterministic, and leaves the other core to the other job
    yield


# modules that start processes (engines, workers, notebooks, a browser) or time whole benchmarks:
# `make test` runs them, `make test-fast` leaves them out (-m "not integration")
INTEGRATION = {
    "test_benchmarks",
    "test_browser",
    "test_engines",
    "test_executors",
    "test_faults",
    "test_notebooks",
}


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).stem in INTEGRATION:
            item.add_marker(pytest.mark.integration)
