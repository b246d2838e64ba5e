"""The architectures fedot trains and fuses, by name.

Every model here is plain ``torch.nn`` code that ``torch.fx`` can trace, so the
fusion engine derives its neuron groups from the graph; nothing here knows
about fusion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

InputShape = tuple[int, int, int]


class MLPNet(nn.Module):
    """The fully connected net of Singh & Jaggi (2020): input-400-200-100-classes."""

    def __init__(
        self,
        input_shape: InputShape = (1, 28, 28),
        num_classes: int = 10,
        hidden: Sequence[int] = (400, 200, 100),
        bias: bool = True,
    ) -> None:
        super().__init__()
        widths = [math.prod(input_shape), *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(n_in, n_out, bias=bias), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], num_classes, bias=bias))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """Two conv blocks and two linear layers: quick to train, enough for (Fashion-)MNIST."""

    def __init__(
        self,
        input_shape: InputShape = (1, 28, 28),
        num_classes: int = 10,
        width: int = 32,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        channels, height, width_px = input_shape
        layers: list[nn.Module] = []
        for c_in, c_out in ((channels, width), (width, 2 * width)):
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers += [nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        flat = 2 * width * (height // 4) * (width_px // 4)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


VGG11_LAYOUT = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG11(nn.Module):
    """VGG11 for 32×32 inputs with one linear classifier, as in the paper's CIFAR-10 runs.

    ``bias=False, batch_norm=False`` is the paper's variant. Smaller inputs (e.g.
    28×28 MNIST) keep working: the max-pools round up (``ceil_mode``), which changes
    nothing at 32×32, and an adaptive pool fixes the classifier's input at 512.
    """

    def __init__(
        self,
        input_shape: InputShape = (3, 32, 32),
        num_classes: int = 10,
        batch_norm: bool = False,
        bias: bool = True,
        width_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = input_shape[0]
        for item in VGG11_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
                continue
            c_out = max(1, int(item * width_multiplier))
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias and not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU())
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class BasicBlock(nn.Module):
    """ResNet basic block; the shortcut is a 1×1 conv when shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int, batch_norm: bool) -> None:
        super().__init__()
        norm: Callable[[int], nn.Module] = nn.BatchNorm2d if batch_norm else (lambda c: nn.Identity())
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=not batch_norm)
        self.bn1 = norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=not batch_norm)
        self.bn2 = norm(c_out)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=not batch_norm), norm(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet18 for 32×32 inputs (3×3 stem, no max-pool), with or without BatchNorm."""

    def __init__(
        self,
        input_shape: InputShape = (3, 32, 32),
        num_classes: int = 10,
        batch_norm: bool = True,
        width: int = 64,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(input_shape[0], width, 3, 1, 1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(width) if batch_norm else nn.Identity()
        self.relu = nn.ReLU()
        stages = []
        c_in = width
        for i, stride in enumerate((1, 2, 2, 2)):
            c_out = width * 2**i
            stages.append(
                nn.Sequential(
                    BasicBlock(c_in, c_out, stride, batch_norm),
                    BasicBlock(c_out, c_out, 1, batch_norm),
                )
            )
            c_in = c_out
        self.layers = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(out), 1))


ModelFactory = Callable[[InputShape, int], nn.Module]

MODELS: dict[str, ModelFactory] = {
    "mlp": lambda shape, classes: MLPNet(shape, classes),
    "mlp_nobias": lambda shape, classes: MLPNet(shape, classes, bias=False),
    "cnn": lambda shape, classes: SmallCNN(shape, classes),
    "cnn_bn": lambda shape, classes: SmallCNN(shape, classes, batch_norm=True),
    "vgg11": lambda shape, classes: VGG11(shape, classes),
    "vgg11_nobias": lambda shape, classes: VGG11(shape, classes, bias=False),
    "vgg11_bn": lambda shape, classes: VGG11(shape, classes, batch_norm=True),
    "resnet18": lambda shape, classes: ResNet18(shape, classes, batch_norm=True),
    "resnet18_nobn": lambda shape, classes: ResNet18(shape, classes, batch_norm=False),
}


def build_model(
    name: str, input_shape: InputShape = (1, 28, 28), num_classes: int = 10
) -> nn.Module:
    """Return a freshly initialised model by its command-line name (see ``MODELS``)."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}"
        ) from None
    return factory(tuple(input_shape), num_classes)
