from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pnlib import notebooks
from pnlib.train import data as D
from pnlib.train.data import DATASETS, Data, DatasetNotFoundError, augment_batch, batches, load_dataset
from pnlib.train.formats import DatasetError, unpickle
from pnlib.train.generated import write_fake_cifar10, write_fake_idx


@pytest.fixture
def no_system_fashion(monkeypatch, tmp_path):
    monkeypatch.setenv(D.SYSTEM_ENV, str(tmp_path / "no-such-dir"))


@pytest.fixture
def cifar_root(tmp_path):
    write_fake_cifar10(tmp_path, n_per_batch=60, n_test=40, seed=1)
    return tmp_path


def _norm_check(X):
    m, s = X.mean(dim=(0, 2, 3)), X.std(dim=(0, 2, 3), unbiased=False)
    assert torch.allclose(m, torch.zeros_like(m), atol=1e-4)
    assert torch.allclose(s, torch.ones_like(s), atol=1e-4)


def test_fake_cifar_loads(cifar_root):
    d = load_dataset("cifar10", cifar_root, val_size=50)
    assert isinstance(d, Data) and d.name == "cifar10"
    assert d.X_train.shape == (250, 3, 32, 32) and d.X_val.shape == (50, 3, 32, 32)
    assert d.X_test.shape == (40, 3, 32, 32)
    assert d.X_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert (d.num_classes, d.in_channels, d.image_size) == (10, 3, 32)
    assert d.classes[0] == "airplane" and d.classes[-1] == "truck"
    _norm_check(d.X_train)
    # labels and pixels survive the round trip: undo the normalisation on the test set
    raw = unpickle(cifar_root / "cifar-10-batches-py" / "test_batch")
    assert d.y_test.tolist() == raw["labels"]
    mean, std = torch.tensor(d.mean).view(1, 3, 1, 1), torch.tensor(d.std).view(1, 3, 1, 1)
    pixels = (d.X_test * std + mean) * 255
    assert torch.allclose(pixels, torch.from_numpy(raw["data"].reshape(-1, 3, 32, 32)).float(), atol=1e-3)
    # identity semantics (eq=False): hashable, and an equal-content reload is a different object
    assert {d: 1}[d] == 1 and d != load_dataset("cifar10", cifar_root, val_size=50)


def test_py2_era_pickle_paths_load(cifar_root):
    # the official files name numpy.core.multiarray (numpy 1.x); ours name numpy._core
    p = cifar_root / "cifar-10-batches-py" / "data_batch_2"
    old = p.read_bytes().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    p.write_bytes(old)
    assert load_dataset("cifar10", cifar_root, val_size=10).X_train.shape[0] == 290


def _image_keys(d, X):
    pixels = X * torch.tensor(d.std).view(1, -1, 1, 1) + torch.tensor(d.mean).view(1, -1, 1, 1)
    return {tuple(r) for r in pixels.mul(255).round().to(torch.uint8).flatten(1)[:, :64].tolist()}


def test_split_sizes_disjoint_deterministic(cifar_root):
    a = load_dataset("cifar10", cifar_root, val_size=30, split_seed=5)
    b = load_dataset("cifar10", cifar_root, val_size=30, split_seed=5)
    c = load_dataset("cifar10", cifar_root, val_size=30, split_seed=6)
    assert torch.equal(a.X_val, b.X_val) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.X_val, c.X_val)
    # disjoint and complete: each (random, hence unique) image appears once across train + val
    tr, va = _image_keys(a, a.X_train), _image_keys(a, a.X_val)
    assert len(tr) == 270 and len(va) == 30 and not tr & va
    s = load_dataset("cifar10", cifar_root, val_size=30, split_seed=5, train_size=100, test_size=7)
    assert s.X_train.shape[0] == 100 and s.X_test.shape[0] == 7 and torch.equal(s.y_val, a.y_val)
    assert torch.equal(s.y_train, a.y_train[:100])
    _norm_check(s.X_train)


@pytest.mark.parametrize(
    "kwargs,param",
    [
        ({"val_size": 0}, "val_size"),
        ({"val_size": 300}, "val_size"),
        ({"train_size": 0}, "train_size"),
        ({"test_size": -1}, "test_size"),
        ({"train_size": 10_000}, "train_size"),
    ],
)
def test_bad_sizes(cifar_root, kwargs, param):
    with pytest.raises(ValueError, match=param):
        load_dataset("cifar10", cifar_root, **{"val_size": 10, **kwargs})


def test_unknown_name(tmp_path):
    with pytest.raises(ValueError) as e:
        load_dataset("mnist", tmp_path)
    assert "mnist" in str(e.value) and all(n in str(e.value) for n in DATASETS)


def test_fake_idx_loads(tmp_path, no_system_fashion):
    write_fake_idx(tmp_path, n_train=300, n_test=50, gz=True)
    d = load_dataset("fashion_mnist", tmp_path, val_size=100)
    assert d.name == "fashion_mnist" and d.X_train.shape == (200, 1, 28, 28)
    assert d.X_test.shape == (50, 1, 28, 28) and d.y_test.dtype == torch.int64
    assert d.classes[-1] == "Ankle boot" and 0 <= int(d.y_train.min()) and int(d.y_train.max()) <= 9
    _norm_check(d.X_train)
    p = load_dataset("fashion_mnist", tmp_path, val_size=100, pad_to_32=True)
    assert p.X_train.shape == (200, 1, 32, 32) and p.image_size == 32
    border = p.X_train[:, :, :2] * p.std[0] + p.mean[0]  # padded rows are black in pixel space
    assert torch.allclose(border, torch.zeros_like(border), atol=1e-5)
    _norm_check(p.X_train)
    # plain (non-gz) files and the torchvision folder layout work as well
    write_fake_idx(tmp_path / "plain", n_train=300, n_test=50, gz=False)
    (tmp_path / "plain" / "fashion-mnist").rename(tmp_path / "plain" / "FashionMNIST")
    (tmp_path / "plain" / "FashionMNIST").rename(tmp_path / "plain" / "raw")
    (tmp_path / "plain" / "FashionMNIST").mkdir()
    (tmp_path / "plain" / "raw").rename(tmp_path / "plain" / "FashionMNIST" / "raw")
    q = load_dataset("fashion_mnist", tmp_path / "plain", val_size=100)
    assert torch.equal(q.X_train, d.X_train) and torch.equal(q.y_test, d.y_test)


def test_auto_prefers_cifar(tmp_path, no_system_fashion):
    write_fake_idx(tmp_path, n_train=300, n_test=50)
    assert load_dataset("auto", tmp_path, val_size=10).name == "fashion_mnist"
    write_fake_cifar10(tmp_path, n_per_batch=20, n_test=20)
    assert load_dataset("auto", tmp_path, val_size=10).name == "cifar10"


def test_corrupt_cifar_names_file(cifar_root):
    bad = cifar_root / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(b"\x80\x04this is not a pickle" * 10)
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", cifar_root, val_size=10)
    assert "data_batch_3" in str(e.value) and "delete" in str(e.value).lower()
    # valid pickle, wrong content
    bad.write_bytes(__import__("pickle").dumps({b"data": np.zeros((5, 100), np.uint8), b"labels": [0] * 5}))
    with pytest.raises(DatasetError, match="data_batch_3"):
        load_dataset("cifar10", cifar_root, val_size=10)
    # a pickle that would run code is refused, not executed
    bad.write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(DatasetError, match="refusing global os.system"):
        load_dataset("cifar10", cifar_root, val_size=10)


def test_truncated_idx_names_file(tmp_path, no_system_fashion):
    folder = write_fake_idx(tmp_path, n_train=300, n_test=50)
    f = folder / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(DatasetError) as e:
        load_dataset("fashion_mnist", tmp_path, val_size=10)
    assert "train-images-idx3-ubyte.gz" in str(e.value) and "download" in str(e.value)
    # intact gzip, but the IDX payload is short / has a bad magic
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    write_fake_idx(tmp_path, n_train=300, n_test=50)
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes())[:-3]))
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz.*size mismatch"):
        load_dataset("fashion_mnist", tmp_path, val_size=10)
    labels.write_bytes(gzip.compress(b"\x00\x00\x0d\x01" + bytes(8)))
    with pytest.raises(DatasetError, match="magic"):
        load_dataset("fashion_mnist", tmp_path, val_size=10)


def test_missing_dataset(tmp_path, no_system_fashion):
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("cifar10", tmp_path)
    msg = str(e.value)
    assert "cifar-10-batches-py" in msg and "cifar-10-python.tar.gz" in msg and "download=True" in msg
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("auto", tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "fashion-mnist") in msg and "dataset-fashion-mnist" in msg
    assert "cifar-10-batches-py" in msg  # auto reports both datasets
    assert "download=True" in msg and isinstance(e.value, FileNotFoundError)


def test_batches_cover_each_index_once():
    X = torch.arange(103, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()
    y = torch.arange(103)
    g = torch.Generator().manual_seed(0)
    out = list(batches(X, y, 10, generator=g))
    assert [len(b[1]) for b in out] == [10] * 10 + [3]
    seen = torch.cat([b[1] for b in out])
    assert sorted(seen.tolist()) == list(range(103)) and seen.tolist() != list(range(103))
    assert all(torch.equal(xb[:, 0, 0, 0], yb.float()) for xb, yb in out)  # X and y stay paired
    again = torch.cat([b[1] for b in batches(X, y, 10, generator=torch.Generator().manual_seed(0))])
    assert torch.equal(seen, again)
    assert len(list(batches(X, y, 10, drop_last=True, generator=g))) == 10
    assert torch.equal(torch.cat([b[1] for b in batches(X, y, 7, shuffle=False)]), y)


def _slow_crop_flip(x, oy, ox, flip, pad=4):
    p = F.pad(x, (pad, pad, pad, pad))
    c = p[:, oy : oy + x.shape[1], ox : ox + x.shape[2]]
    return c.flip(-1) if flip else c


def test_augment_matches_slow_reference():
    X = torch.randn(64, 3, 8, 8)
    out = augment_batch(X, torch.Generator().manual_seed(1))
    assert out.shape == X.shape
    assert torch.equal(out, augment_batch(X, torch.Generator().manual_seed(1)))
    found = []
    for i in range(64):
        hits = [
            (oy, ox, f)
            for oy in range(9)
            for ox in range(9)
            for f in (False, True)
            if torch.equal(out[i], _slow_crop_flip(X[i], oy, ox, f))
        ]
        assert len(hits) == 1, f"sample {i}: {hits}"
        found.append(hits[0])
    flips = {f for _, _, f in found}
    assert flips == {False, True}
    assert len({(oy, ox) for oy, ox, _ in found}) > 20  # offsets vary across the batch


def test_batches_augment_deterministic():
    X, y = torch.randn(50, 1, 6, 6), torch.arange(50)
    a = [xb for xb, _ in batches(X, y, 16, augment=True, generator=torch.Generator().manual_seed(3))]
    b = [xb for xb, _ in batches(X, y, 16, augment=True, generator=torch.Generator().manual_seed(3))]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not torch.equal(torch.cat(a), X[torch.randperm(50, generator=torch.Generator().manual_seed(3))])


def test_fake_data_is_learnable(tmp_path):
    # nearest class-mean classifier on fake CIFAR beats chance clearly
    write_fake_cifar10(tmp_path, n_per_batch=100, n_test=200)
    d = load_dataset("cifar10", tmp_path, val_size=50)
    means = torch.stack([d.X_train[d.y_train == k].mean(0) for k in range(10)]).flatten(1)
    pred = torch.cdist(d.X_test.flatten(1), means).argmin(1)
    assert (pred == d.y_test).float().mean() > 0.5


@pytest.mark.skipif(not D.system_fashion_dir().is_dir(), reason="no system Fashion-MNIST")
def test_real_fashion_mnist(tmp_path):
    d = load_dataset("fashion_mnist", tmp_path, val_size=5000, test_size=None)
    assert d.X_train.shape[0] + d.X_val.shape[0] == 60_000 and d.X_val.shape[0] == 5000
    assert d.X_test.shape == (10_000, 1, 28, 28)
    assert abs(d.mean[0] - 0.2860) < 0.002 and abs(d.std[0] - 0.3530) < 0.002
    assert torch.bincount(d.y_test).tolist() == [1000] * 10


def test_smoke_profile_falls_back_to_generated_files(tmp_path, no_system_fashion, capsys):
    d = notebooks.load_for_profile("auto", "smoke", tmp_path, val_size=100, train_size=200)
    assert d.name == "cifar10" and len(d.y_train) == 200 and "SMOKE PROFILE" in capsys.readouterr().out
    assert (tmp_path / "generated-smoke" / "cifar-10-batches-py" / "test_batch").is_file()


@pytest.fixture
def offline(monkeypatch):
    """No network, as on this project's machines: every name lookup fails at once."""
    import socket

    def refuse(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known (offline test)")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_offline_with_nothing_installed_says_what_to_do(tmp_path, no_system_fashion, offline):
    with pytest.raises(DatasetNotFoundError) as e:
        notebooks.load_for_profile("auto", "cpu", tmp_path / "empty", val_size=100)
    msg = str(e.value)
    assert "download of cifar10 failed" in msg and "download of fashion_mnist failed" in msg
    assert "sudo apt-get install dataset-fashion-mnist" in msg
    assert D.CIFAR_URL in msg and all(D.FASHION_MIRROR + f + ".gz" in msg for f in D.FASHION_FILES)
    assert str(tmp_path / "empty" / "fashion-mnist") in msg


class _FakeDownloader:
    """Stands in for a torchvision dataset class: 'downloads' generated files into root."""

    calls: list = []

    def __init__(self, root, train, download):
        import socket

        type(self).calls.append((type(self).__name__, socket.getdefaulttimeout()))
        self.write(root)


class FakeCIFAR10(_FakeDownloader):
    write = staticmethod(lambda root: write_fake_cifar10(root, n_per_batch=40, n_test=40))


def test_auto_downloads_cifar10_first_with_a_short_timeout(tmp_path, no_system_fashion, monkeypatch):
    import torchvision

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    _FakeDownloader.calls = []
    d = load_dataset("auto", tmp_path, val_size=50, download=True)
    assert d.name == "cifar10" and _FakeDownloader.calls == [("FakeCIFAR10", D.DOWNLOAD_TIMEOUT_S)]
    load_dataset("auto", tmp_path, val_size=50, download=True)  # now found on disk: no second download
    assert len(_FakeDownloader.calls) == 1


def test_auto_order_local_fashion_before_any_download(tmp_path, no_system_fashion, monkeypatch):
    import torchvision

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    _FakeDownloader.calls = []
    write_fake_idx(tmp_path, n_train=300, n_test=40)
    assert load_dataset("auto", tmp_path, val_size=50, download=True).name == "fashion_mnist"
    assert _FakeDownloader.calls == []


def test_make_run_data_check(tmp_path, no_system_fashion, offline, capsys):
    nbs = [str(p) for p in sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))]
    reading = [nb for nb in nbs if notebooks.needs_dataset(nb)]
    assert reading and len(reading) < len(nbs)
    assert notebooks.check("cpu", nbs, tmp_path) == 2
    err = capsys.readouterr().err
    free = " ".join(nb for nb in nbs if nb not in reading)
    assert f'make run NOTEBOOKS="{free}"' in err and "sudo apt-get install dataset-fashion-mnist" in err
    assert (
        notebooks.check("smoke", nbs, tmp_path) == 0
        and notebooks.check("cpu", [free.split()[0]], tmp_path) == 0
    )
    write_fake_idx(tmp_path, n_train=300, n_test=40)
    assert notebooks.check("cpu", nbs, tmp_path) == 0 and "fashion_mnist" in capsys.readouterr().out
