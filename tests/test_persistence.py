import math

import pytest
import torch
from torch import nn

from pnlib.method.kernels import KERNELS, kernel_value, schedule_factor
from pnlib.method.persistence import GRANULARITIES, PenaltyConfig, PersistentPenalty, select_modules


def small_net(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential()
    net.add_module("conv", nn.Conv2d(2, 3, 3))
    net.add_module("act", nn.Tanh())
    net.add_module("flat", nn.Flatten())
    net.add_module("fc", nn.Linear(3 * 2 * 2, 4))
    net.add_module("head", nn.Linear(4, 2, bias=False))
    return net.double()


def perturbed(net, scale, seed):
    g = torch.Generator().manual_seed(seed)
    return {
        k: v + scale * torch.randn(v.shape, generator=g, dtype=v.dtype) for k, v in net.state_dict().items()
    }


def penalised(kernel, granularity, n_anchors=3, **kw):
    net = small_net()
    pen = PersistentPenalty(net, PenaltyConfig(kernel=kernel, granularity=granularity, strength=0.7, **kw))
    for j in range(n_anchors):
        pen.add_anchor(perturbed(net, 0.3, seed=j))
    with torch.no_grad():  # move θ away from θ₀ so the gradients are generic
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net, pen


def test_kernel_values_at_known_points():
    r = torch.tensor([0.0, 0.5, 1.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(kernel_value("gaussian", r), torch.exp(-(r**2) / 2))
    torch.testing.assert_close(kernel_value("inverse", r), 1 / (r**2 + 1e-2))
    torch.testing.assert_close(
        kernel_value("hinge", r), torch.tensor([1.0, 0.25, 0.0, 0.0], dtype=torch.float64)
    )


@pytest.mark.parametrize("flat", [False, True], ids=["per tensor", "flat"])
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_fused_gradient_matches_autograd_and_finite_differences(kernel, granularity, flat):
    # hinge is zero outside the unit ball: use a wide fixed bandwidth so the test sees a gradient
    net, pen = penalised(kernel, granularity, bandwidth=5.0 if kernel == "hinge" else "travel")
    progress = 0.3
    value = pen.value(progress)
    assert value.item() > 0
    auto = torch.autograd.grad(value, list(net.parameters()))
    for p in net.parameters():
        p.grad = None
    P = pen.apply_(progress, flat=flat)
    torch.testing.assert_close(P * pen.strength_at(progress), value.detach(), atol=1e-12, rtol=1e-12)
    for p, g in zip(net.parameters(), auto):
        assert p.grad is not None
        torch.testing.assert_close(p.grad, g, atol=1e-6, rtol=1e-6)
    # central finite differences on a few coordinates of every parameter
    h = 1e-6
    for p, g in zip(net.parameters(), auto):
        flat = p.data.view(-1)
        for idx in range(0, flat.numel(), max(1, flat.numel() // 4)):
            old = flat[idx].item()
            flat[idx] = old + h
            up = pen.value(progress).item()
            flat[idx] = old - h
            down = pen.value(progress).item()
            flat[idx] = old
            assert (up - down) / (2 * h) == pytest.approx(g.view(-1)[idx].item(), abs=1e-6, rel=1e-5)


@pytest.mark.parametrize("flat", [False, True], ids=["per tensor", "flat"])
def test_fused_gradient_accumulates_onto_loss_gradient(flat):
    net, pen = penalised("gaussian", "neuron")
    x = torch.randn(5, 2, 4, 4, dtype=torch.float64)
    ref = torch.autograd.grad(net(x).square().mean() + pen.value(), list(net.parameters()))
    net(x).square().mean().backward()
    pen.apply_(flat=flat)
    for p, g in zip(net.parameters(), ref):
        torch.testing.assert_close(p.grad, g, atol=1e-10, rtol=1e-8)


def test_the_flat_path_follows_the_anchors_as_they_change(tmp_path):
    """apply_(flat=True) keeps the anchors as one (J, N) tensor: a new anchor, a replaced set and a
    loaded state must each be seen, or the gradient would use stale anchors."""
    net, pen = penalised("gaussian", "neuron", n_anchors=1)

    def both():
        grads = []
        for flat in (False, True):
            for p in net.parameters():
                p.grad = None
            pen.apply_(0.2, flat=flat)
            grads.append([p.grad.clone() for p in net.parameters()])
        for a, b in zip(*grads):
            torch.testing.assert_close(a, b)  # the dtype's default tolerance
        return grads[1]

    one = both()
    pen.add_anchor(perturbed(net, 0.3, seed=7))
    two = both()
    pen.set_anchors([perturbed(net, 0.3, seed=8)])
    other = both()
    assert not torch.equal(one[0], two[0]) and not torch.equal(one[0], other[0])
    torch.save(pen.state_dict(), tmp_path / "p.pt")
    pen.set_anchors([perturbed(net, 0.3, seed=9), perturbed(net, 0.3, seed=10)])
    both()
    pen.load_state_dict(torch.load(tmp_path / "p.pt"))
    torch.testing.assert_close(both()[0], other[0], atol=0, rtol=0)
    pen.float()  # a cast: the flat path's copy of the anchors follows
    net.float()
    torch.testing.assert_close(both()[0], other[0].float(), atol=1e-6, rtol=1e-5)


def test_full_and_partial_selection():
    net = small_net()
    assert list(select_modules(net)) == ["conv", "fc", "head"]
    assert list(select_modules(net, include=("fc", "head"))) == ["fc", "head"]
    assert list(select_modules(net, exclude=("conv",))) == ["fc", "head"]
    pen = PersistentPenalty(net, PenaltyConfig(include=("c*",)))
    assert pen.param_names == ["conv.weight", "conv.bias"]
    with pytest.raises(ValueError, match=r"selects no .*conv, fc, head"):
        select_modules(net, include=("features.*",))


def test_partial_penalty_touches_only_its_parameters():
    net = small_net()
    pen = PersistentPenalty(net, PenaltyConfig(include=("fc",)))
    pen.add_anchor(perturbed(net, 0.2, 0))
    with torch.no_grad():
        net.fc.weight.add_(0.05)
    pen.apply_()
    assert net.conv.weight.grad is None and net.head.weight.grad is None
    assert net.fc.weight.grad.abs().sum() > 0


def test_neuron_grouping_bandwidth_and_distance():
    net = nn.Sequential(nn.Linear(3, 2)).double()
    theta0 = {k: torch.zeros_like(v) for k, v in net.state_dict().items()}
    pen = PersistentPenalty(net, PenaltyConfig(granularity="neuron"), theta0=theta0)
    a = {
        "0.weight": torch.tensor([[1.0, 0, 0], [0, 2, 0]], dtype=torch.float64),
        "0.bias": torch.tensor([0.0, 0.0], dtype=torch.float64),
    }
    pen.add_anchor(a)
    # σ per neuron is its travel: row 0 moved 1, row 1 moved 2
    torch.testing.assert_close(pen.sigma2, torch.tensor([[1.0, 4.0]], dtype=torch.float64))
    with torch.no_grad():
        net[0].weight.copy_(a["0.weight"])
        net[0].bias.copy_(torch.tensor([1.0, 0.0]))  # neuron 0 is 1 away (r=1), neuron 1 on its anchor
    expected = math.exp(-0.5) + 1.0
    assert pen.value().item() == pytest.approx(expected)
    assert pen.distances().tolist() == pytest.approx([1.0])
    layer = PersistentPenalty(net, PenaltyConfig(granularity="layer"), theta0=theta0)
    layer.add_anchor(a)
    torch.testing.assert_close(layer.sigma2, torch.tensor([[5.0]], dtype=torch.float64))


def test_unmoved_groups_carry_no_memory():
    net = nn.Sequential(nn.Linear(3, 2)).double()
    pen = PersistentPenalty(net, PenaltyConfig(kernel="inverse"))
    pen.add_anchor(net)  # the anchor is θ₀ itself: zero travel everywhere
    assert pen.value().item() == 0.0
    pen.apply_()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in net.parameters())


def test_schedule_values():
    assert schedule_factor("constant", 0.9) == 1.0
    assert schedule_factor("linear", 0.25) == pytest.approx(0.75)
    assert schedule_factor("linear", 1.0) == 0.0
    assert schedule_factor("cosine", 0.5) == pytest.approx(0.5)
    assert schedule_factor("cosine", 1.0) == pytest.approx(0.0)
    assert schedule_factor("off_after:0.5", 0.49) == 1.0
    assert schedule_factor("off_after:0.5", 0.5) == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kernel": "laplace"}, "unknown kernel 'laplace'; allowed: gaussian, inverse, hinge"),
        ({"granularity": "unit"}, "unknown granularity 'unit'; allowed: model, layer, neuron"),
        ({"schedule": "step"}, "unknown schedule 'step'; allowed"),
        ({"schedule": "off_after:1.5"}, r"fraction .* \(0, 1\]"),
        ({"strength": -1.0}, "strength"),
        ({"bandwidth": 0.0}, "bandwidth"),
        ({"bandwidth": "wide"}, "bandwidth"),
    ],
)
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PenaltyConfig(**kwargs)


def test_anchor_state_round_trip(tmp_path):
    net, pen = penalised("gaussian", "neuron", n_anchors=2)
    torch.save(pen.state_dict(), tmp_path / "anchors.pt")
    fresh = PersistentPenalty(net, PenaltyConfig(kernel="gaussian", granularity="neuron", strength=0.7))
    fresh.load_state_dict(torch.load(tmp_path / "anchors.pt"))
    assert fresh.num_anchors == 2
    torch.testing.assert_close(fresh.value(), pen.value())
    other = PersistentPenalty(net, PenaltyConfig(kernel="inverse", granularity="neuron", strength=0.7))
    with pytest.raises(ValueError, match="differs"):
        other.load_state_dict(torch.load(tmp_path / "anchors.pt"))
