"""Networks (engine Modules) and classical baselines. Models know nothing of datasets:
each takes its input channels, number of outputs and spatial size as arguments.

    from models import build_model
    net = build_model("resnet18", in_channels=1, num_classes=2, spatial_shape=(28, 28))
"""

from __future__ import annotations

import importlib

# name -> (module, class, one-line description, spatial dims accepted)
REGISTRY = {
    "perceptron": ("models.perceptron", "Perceptron", "a single neuron, phi(W^T x + b)", (1, 2, 3)),
    "mlp": ("models.mlp", "MLP", "multilayer perceptron 256-256 with ReLU", (1, 2, 3)),
    "lenet5": ("models.lenet", "LeNet5", "LeNet-5 (LeCun 1998); 2D images, or volumes with 3D layers", (2, 3)),
    "alexnet": ("models.alexnet", "AlexNetSmall", "small AlexNet-style CNN (2D or 3D)", (2, 3)),
    "vgg": ("models.vgg", "VGGSmall", "small VGG-style CNN with batch norm (2D or 3D)", (2, 3)),
    "resnet18": ("models.resnet", "ResNet18", "ResNet-18 adapted to 28x28 as in MedMNIST v2 (2D or 3D)", (2, 3)),
}


def _class(name):
    module, cls, *_ = REGISTRY[name]
    return getattr(importlib.import_module(module), cls)


def build_model(name: str, in_channels: int, num_classes: int, spatial_shape, **kwargs):
    """Build a registered network for inputs (N, in_channels, *spatial_shape).

    Raises ValueError with the reason when the model does not fit the data's shape.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(REGISTRY))}")
    dims = len(spatial_shape)
    accepted = REGISTRY[name][3]
    if dims not in accepted:
        raise ValueError(f"model {name!r} takes {' or '.join(f'{d}D' for d in accepted)} inputs, "
                         f"but the data is {dims}D with shape {tuple(spatial_shape)}")
    cls = _class(name)
    n_features = in_channels
    for s in spatial_shape:
        n_features *= s
    if name == "perceptron":
        return cls(n_features, num_classes if num_classes > 2 else 1, **kwargs)
    if name == "mlp":
        return cls(n_features, num_classes, **kwargs)
    if name == "lenet5":
        if len(set(spatial_shape)) != 1 or spatial_shape[0] < 12:
            raise ValueError(f"model 'lenet5' needs square (cubic) inputs of at least 12 pixels per side, but the "
                             f"data is {tuple(spatial_shape)}")
        return cls(in_channels, num_classes, input_size=spatial_shape[0], dims=dims, **kwargs)
    if min(spatial_shape) < 8:
        raise ValueError(f"model {name!r} needs images of at least 8 pixels per side, got {tuple(spatial_shape)}")
    return cls(in_channels, num_classes, dims=dims, **kwargs)


def describe() -> dict[str, str]:
    return {name: entry[2] for name, entry in REGISTRY.items()}


__all__ = ["REGISTRY", "build_model", "describe"]
