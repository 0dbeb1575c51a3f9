"""The multilayer perceptron: layers of neurons, each Output = phi(W^T x + b)."""

from __future__ import annotations

from engine import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU}


class MLP(nn.Module):
    """Fully connected network. x: (N, ...) is flattened to (N, in_features) -> (N, out_features).

    hidden: widths of the hidden layers; activation: "relu", "sigmoid", "tanh", "gelu", "elu";
    dropout: probability after each hidden activation; batchnorm: BatchNorm1d before it.
    """

    def __init__(self, in_features: int, out_features: int, hidden=(256, 256), activation: str = "relu",
                 dropout: float = 0.0, batchnorm: bool = False):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
        layers = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
