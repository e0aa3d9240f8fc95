"""Model zoo: MLP, LeNet-5, a CIFAR AlexNet, CIFAR ResNets (8/14/20/32/56: 6n + 2 layers, option A) and
ResNet-18.

Every model takes N x C x H x W images with H = W in {28, 32} and returns N x num_classes logits.
Module names are part of the API: persistence selects parameters by name patterns (``conv*``,
``fc*``, ``layer3.*``) and hooks find activations by name (``act1``..``act4`` in LeNet-5).
"""

from __future__ import annotations

import inspect
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from pnlib.base import checks

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def _activation(name: str) -> type[nn.Module]:
    checks.choice("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]


def _scaled(channels: int, width_mult: float) -> int:
    checks.number("width_mult", width_mult)
    return max(1, int(round(channels * width_mult)))


def _flat_size(features: nn.Module, in_channels: int, image_size: int) -> int:
    """Feature size after the conv stack, by a dummy forward (covers 28 and 32 alike)."""
    with torch.no_grad():
        return int(features(torch.zeros(1, in_channels, image_size, image_size)).numel())


class MLP(nn.Module):
    def __init__(
        self, in_features: int, num_classes: int, depth: int = 2, width: int = 256, activation: str = "relu"
    ):
        super().__init__()
        checks.integer("depth", depth, minimum=0)
        checks.integer("width", width)
        act = _activation(activation)
        dims = [in_features] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.acts = nn.ModuleList(act() for _ in range(depth))
        self.out = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for lin, act in zip(self.hidden, self.acts):
            x = act(lin(x))
        return self.out(x)


class LeNet5(nn.Module):
    """6-16-120-84 LeNet-5; conv1 pads by 2 on 28x28 inputs so both sizes reach 16x5x5."""

    def __init__(
        self, num_classes: int, in_channels: int, image_size: int, activation: str = "relu", pool: str = "max"
    ):
        super().__init__()
        act = _activation(activation)
        checks.choice("pool", pool, POOLS)
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2 if image_size == 28 else 0)
        self.act1, self.pool1 = act(), POOLS[pool](2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.act2, self.pool2 = act(), POOLS[pool](2)
        stack = nn.Sequential(self.conv1, self.pool1, self.conv2, self.pool2)
        self.fc1 = nn.Linear(_flat_size(stack, in_channels, image_size), 120)
        self.act3 = act()
        self.fc2 = nn.Linear(120, 84)
        self.act4 = act()
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.act1(self.conv1(x)))
        x = self.pool2(self.act2(self.conv2(x))).flatten(1)
        x = self.act4(self.fc2(self.act3(self.fc1(x))))
        return self.fc3(x)


class AlexNet(nn.Module):
    """CIFAR AlexNet: 5 convs (64-192-384-256-256, kernels 5,5,3,3,3, size-keeping padding)."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        width_mult: float = 1.0,
        hidden: int = 1024,
        dropout: float = 0.5,
    ):
        super().__init__()
        c = [_scaled(k, width_mult) for k in (64, 192, 384, 256, 256)]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c[0], 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c[0], c[1], 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c[1], c[2], 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c[2], c[3], 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c[3], c[4], 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(_flat_size(self.features, in_channels, image_size), hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class ShortcutA(nn.Module):
    """Option-A shortcut of He et al. (2016): stride-2 subsampling plus zero channel padding."""

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.stride, self.extra = stride, planes - in_planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        lo = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, lo, self.extra - lo))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, option: str):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride == 1 and in_planes == planes:
            self.shortcut: nn.Module = nn.Identity()
        elif option == "A":
            self.shortcut = ShortcutA(in_planes, planes, stride)
        else:  # option B: 1x1 projection
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Stem conv3x3 -> stages of basic blocks (first stage stride 1, then stride 2) -> GAP -> fc."""

    def __init__(self, widths: tuple[int, ...], blocks: int, option: str, num_classes: int, in_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        in_planes = widths[0]
        for i, planes in enumerate(widths):
            layer = []
            for b in range(blocks):
                layer.append(BasicBlock(in_planes, planes, 2 if (i > 0 and b == 0) else 1, option))
                in_planes = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.num_stages = len(widths)
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(x.mean(dim=(2, 3)))


def _mlp(num_classes, in_channels, image_size, depth=2, width=256, activation="relu"):
    return MLP(in_channels * image_size * image_size, num_classes, depth, width, activation)


def _lenet5(num_classes, in_channels, image_size, activation="relu", pool="max"):
    return LeNet5(num_classes, in_channels, image_size, activation, pool)


def _alexnet(num_classes, in_channels, image_size, width_mult=1.0, hidden=1024, dropout=0.5):
    return AlexNet(num_classes, in_channels, image_size, width_mult, hidden, dropout)


def _cifar_resnet(n: int) -> Callable[..., nn.Module]:
    def build(num_classes, in_channels, image_size, width_mult=1.0):
        widths = tuple(_scaled(w, width_mult) for w in (16, 32, 64))
        return ResNet(widths, n, "A", num_classes, in_channels)

    return build


def _resnet18(num_classes, in_channels, image_size, width_mult=1.0):
    widths = tuple(_scaled(w, width_mult) for w in (64, 128, 256, 512))
    return ResNet(widths, 2, "B", num_classes, in_channels)


# name -> (builder, allowed kwargs); the kwarg sets are checked before building so that a typo
# fails with a message naming it instead of a TypeError deep inside a constructor.
_BUILDERS: dict[str, tuple[Callable[..., nn.Module], tuple[str, ...]]] = {
    "mlp": (_mlp, ("depth", "width", "activation")),
    "lenet5": (_lenet5, ("activation", "pool")),
    "alexnet": (_alexnet, ("width_mult", "hidden", "dropout")),
    "resnet8": (_cifar_resnet(1), ("width_mult",)),
    "resnet14": (_cifar_resnet(2), ("width_mult",)),
    "resnet20": (_cifar_resnet(3), ("width_mult",)),
    "resnet32": (_cifar_resnet(5), ("width_mult",)),
    "resnet56": (_cifar_resnet(9), ("width_mult",)),
    "resnet18": (_resnet18, ("width_mult",)),
}


MODELS = _BUILDERS.keys()  # a live view: registered models appear in it
BUILTIN_MODELS = tuple(_BUILDERS)  # what every process can build (worker processes do not see registrations)


def register_model(name: str, builder: Callable[..., nn.Module]) -> None:
    """Make ``builder(num_classes, in_channels, image_size, **kwargs)`` buildable by ``name``, so that
    ``build_model``, ``RunConfig``, ``Experiment`` (and its cache) and the notebooks accept it. Its
    keyword arguments become the model's allowed ``model_kwargs``. Trajectories are cached by name
    and kwargs: give a changed architecture a new name."""
    if not isinstance(name, str) or not name or name in _BUILDERS:
        raise ValueError(
            f"model name must be a new non-empty string; got {name!r} (taken: {', '.join(_BUILDERS)})"
        )
    params = list(inspect.signature(builder).parameters.values())
    if len(params) < 3 or any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params[:3]):
        raise ValueError(f"builder for {name!r} must take (num_classes, in_channels, image_size, **kwargs)")
    _BUILDERS[name] = (builder, tuple(p.name for p in params[3:] if p.kind != p.VAR_KEYWORD))


def unregister_model(name: str) -> None:
    """Forget a model that ``register_model`` added (the built-in ones stay)."""
    if name in BUILTIN_MODELS or name not in _BUILDERS:
        raise ValueError(
            f"{name!r} is not a registered model; registered: "
            f"{', '.join(n for n in _BUILDERS if n not in BUILTIN_MODELS) or 'none'}"
        )
    del _BUILDERS[name]


def build_model(
    name: str, num_classes: int = 10, in_channels: int = 3, image_size: int = 32, **kwargs
) -> nn.Module:
    """Build model ``name`` on the CPU; ``kwargs`` are model-specific (see module docstring)."""
    checks.choice("model", name, MODELS)
    builder, allowed = _BUILDERS[name]
    bad = sorted(set(kwargs) - set(allowed))
    if bad:
        raise ValueError(f"model {name!r} got unknown kwargs {bad}; allowed: {list(allowed)}")
    for arg, value in (
        ("num_classes", num_classes),
        ("in_channels", in_channels),
        ("image_size", image_size),
    ):
        checks.integer(arg, value)
    return builder(num_classes, in_channels, image_size, **kwargs)


def describe_model(name: str, kwargs: dict | tuple = ()) -> str:
    """A model at its scale, in words: ``ResNet-8 ×0.5``, ``AlexNet ×0.25 (MLP 256)``, ``LeNet-5``."""
    kwargs = dict(kwargs)
    title = {"alexnet": "AlexNet", "lenet5": "LeNet-5", "mlp": "MLP", "resnet18": "ResNet-18"}.get(name)
    title = title or (f"ResNet-{name.removeprefix('resnet')}" if name.startswith("resnet") else name)
    width = kwargs.get("width_mult", 1.0)
    text = title + ("" if width == 1.0 else f" ×{width:g}")
    return text + (f" (MLP {kwargs['hidden']})" if "hidden" in kwargs else "")


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not); buffers such as BN running stats excluded."""
    return sum(p.numel() for p in model.parameters())
