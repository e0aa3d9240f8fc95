from __future__ import annotations

import pytest
import torch

from pnlib.train.models import MODELS, build_model, count_params

SMALL = {
    "alexnet": {"width_mult": 0.125, "hidden": 32},
    "resnet18": {"width_mult": 0.125},
    "resnet56": {"width_mult": 0.5},
    "mlp": {"width": 32},
}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_forward_backward(name, channels, size):
    torch.manual_seed(0)
    model = build_model(name, num_classes=7, in_channels=channels, image_size=size, **SMALL.get(name, {}))
    x = torch.randn(4, channels, size, size)
    out = model(x)
    assert out.shape == (4, 7)
    assert torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_param_counts():
    assert count_params(build_model("resnet20")) == 269_722  # 0.27M, He et al. (2016) Table 6
    assert count_params(build_model("resnet32")) == 464_154  # 0.46M
    assert count_params(build_model("resnet56")) == 853_018  # 0.85M
    assert count_params(build_model("resnet18")) == 11_173_962
    assert count_params(build_model("lenet5")) == 62_006


def test_resnet_names_and_option_a():
    m = build_model("resnet20")
    names = dict(m.named_modules())
    for n in ("conv1", "bn1", "layer1.0.conv1", "layer1.0.bn1", "layer3.2.conv2", "fc"):
        assert n in names
    assert all(c.bias is None for c in m.modules() if isinstance(c, torch.nn.Conv2d))
    # option A: the downsampling shortcut holds no parameters
    assert not list(m.layer2[0].shortcut.parameters())
    r18 = dict(build_model("resnet18").named_modules())
    assert isinstance(r18["layer2.0.shortcut.0"], torch.nn.Conv2d) and "layer4.1.conv2" in r18


def test_lenet5_names_and_activations():
    m = build_model("lenet5", activation="tanh", pool="avg", in_channels=1, image_size=28)
    children = dict(m.named_children())
    for n in ("conv1", "conv2", "fc1", "fc2", "fc3"):
        assert n in children
    assert [n for n, _ in m.named_parameters()] == [
        f"{layer}.{p}" for layer in ("conv1", "conv2", "fc1", "fc2", "fc3") for p in ("weight", "bias")
    ]
    for i in range(1, 5):
        assert isinstance(children[f"act{i}"], torch.nn.Tanh)
    assert m.conv1.padding == (2, 2) and m.fc1.in_features == 400
    assert build_model("lenet5").conv1.padding == (0, 0)
    # act3 sees fc1's output: hooks rely on this pairing
    seen = {}
    m.act3.register_forward_hook(lambda mod, inp, out: seen.update(shape=out.shape))
    m(torch.zeros(2, 1, 28, 28))
    assert seen["shape"] == (2, 120)


def test_mlp_and_alexnet_layout():
    m = build_model("mlp", depth=3, width=16, activation="sigmoid", in_channels=1, image_size=28)
    names = [n for n, mod in m.named_modules() if isinstance(mod, torch.nn.Linear)]
    assert names == ["hidden.0", "hidden.1", "hidden.2", "out"]
    assert m.hidden[0].in_features == 784
    a = build_model("alexnet", width_mult=0.5, hidden=64)
    convs = [mod.out_channels for mod in a.features if isinstance(mod, torch.nn.Conv2d)]
    assert convs == [32, 96, 192, 128, 128]
    assert isinstance(a.classifier[0], torch.nn.Dropout) and a.classifier[-1].out_features == 10


def test_errors():
    with pytest.raises(ValueError) as e:
        build_model("vgg16")
    msg = str(e.value)
    assert "model" in msg and "vgg16" in msg and all(n in msg for n in MODELS)
    with pytest.raises(ValueError, match="widht"):
        build_model("mlp", widht=3)
    with pytest.raises(ValueError, match="activation"):
        build_model("lenet5", activation="gelu")


def test_a_registered_model_works_with_experiment_and_the_notebook_parameters(tiny_data, tmp_path):
    from torch import nn

    from pnlib.experiments import profiles
    from pnlib.experiments.experiment import Experiment
    from pnlib.method.persistence import PenaltyConfig
    from pnlib.train.loop import TrainConfig
    from pnlib.train.models import register_model, unregister_model
    from pnlib.train.runs import RunConfig

    def tiny(num_classes, in_channels, image_size, width=8):
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * image_size**2, width),
            nn.ReLU(),
            nn.Linear(width, num_classes),
        )

    register_model("tiny_test_net", tiny)
    try:
        with pytest.raises(ValueError, match="new non-empty string"):
            register_model("lenet5", tiny)
        with pytest.raises(ValueError, match="unknown kwargs"):
            build_model("tiny_test_net", depth=3)
        cfg = RunConfig(
            model="tiny_test_net",
            model_kwargs={"width": 6},
            K=2,
            train=TrainConfig(num_epochs=1, batch_size=50),
            penalty=PenaltyConfig(),
        )
        rows = Experiment(tmp_path, tiny_data, progress=False).run("persistent", cfg, seed=0)
        assert rows["model"].eq("tiny_test_net").all() and len(rows) == 3
        assert profiles.config_for(
            "04_alexnet_resnet", {"profile": "smoke", "models": "tiny_test_net"}
        ).models == ("tiny_test_net",)
    finally:
        unregister_model("tiny_test_net")


def test_models_are_named_at_their_scale():
    from pnlib.train.models import describe_model

    assert describe_model("resnet8", {"width_mult": 0.5}) == "ResNet-8 ×0.5"
    assert describe_model("alexnet", {"width_mult": 0.25, "hidden": 256}) == "AlexNet ×0.25 (MLP 256)"
    assert (
        describe_model("resnet20", {"width_mult": 1.0}) == "ResNet-20"
        and describe_model("lenet5") == "LeNet-5"
    )
    # ResNet-8 and -14 are the CIFAR family's 6n + 2 layers with n = 1 and 2 blocks per stage
    assert [len(build_model(f"resnet{d}").layer1) for d in (8, 14, 20)] == [1, 2, 3]
