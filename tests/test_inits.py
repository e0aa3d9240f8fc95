from __future__ import annotations

import pytest
import torch

from pnlib.train.inits import INITS, init_model
from pnlib.train.models import build_model


def _params(m):
    return [p.detach().clone() for p in m.parameters()]


@pytest.mark.parametrize("scheme", list(INITS))
def test_deterministic_and_seed_dependent(scheme):
    a = init_model(build_model("resnet20", width_mult=0.5), scheme, seed=3)
    b = build_model("resnet20", width_mult=0.5)
    assert init_model(b, scheme, seed=3) is b
    c = init_model(build_model("resnet20", width_mult=0.5), scheme, seed=4)
    for pa, pb in zip(_params(a), _params(b)):
        assert torch.equal(pa, pb)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(_params(a), _params(c)))


def test_global_rng_untouched():
    model = build_model("lenet5")  # construction itself draws from the global RNG
    torch.manual_seed(123)
    expected = torch.rand(5)
    torch.manual_seed(123)
    init_model(model, "kaiming", seed=0)
    assert torch.equal(torch.rand(5), expected)


def test_labels_and_scales():
    assert list(INITS) == ["default", "kaiming", "xavier", "orthogonal", "small_normal", "large_normal"]
    assert {k for k, v in INITS.items() if v == "poor"} == {"small_normal", "large_normal"}
    m = init_model(build_model("mlp", width=512), "small_normal", seed=0)
    w = m.hidden[0].weight.detach()
    assert abs(float(w.std()) - 0.01) < 0.0005 and abs(float(w.mean())) < 0.001
    assert float(m.hidden[0].bias.detach().abs().max()) == 0.0
    m = init_model(build_model("mlp", width=512), "large_normal", seed=0)
    assert abs(float(m.hidden[0].weight.detach().std()) - 1.0) < 0.05
    m = init_model(build_model("mlp", width=512), "kaiming", seed=0)
    fan_in = m.hidden[1].weight.shape[1]
    assert abs(float(m.hidden[1].weight.detach().std()) - (2 / fan_in) ** 0.5) < 0.003
    m = init_model(build_model("mlp", width=64), "orthogonal", seed=0)
    w = m.hidden[1].weight.detach()
    assert torch.allclose(w @ w.T, torch.eye(64), atol=1e-4)


def test_batchnorm_reset():
    m = build_model("resnet20", width_mult=0.25)
    m.train()
    m(torch.randn(8, 3, 32, 32))  # moves running stats
    with torch.no_grad():
        m.bn1.weight.fill_(3.0)
    init_model(m, "large_normal", seed=0)
    assert torch.equal(m.bn1.weight, torch.ones_like(m.bn1.weight))
    assert torch.equal(m.bn1.bias, torch.zeros_like(m.bn1.bias))
    assert torch.equal(m.bn1.running_mean, torch.zeros_like(m.bn1.running_mean))
    assert int(m.bn1.num_batches_tracked) == 0


def test_unknown_scheme():
    with pytest.raises(ValueError) as e:
        init_model(build_model("lenet5"), "he_uniform", seed=0)
    msg = str(e.value)
    assert "init" in msg and "he_uniform" in msg and all(k in msg for k in INITS)
