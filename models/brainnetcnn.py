"""BrainNetCNN (Kawahara et al., "BrainNetCNN: Convolutional neural networks for brain networks;
towards predicting neurodevelopment", NeuroImage 146:1038-1049, 2017).

A connectome is an (R, R) matrix of connection strengths between R brain regions. Its rows and
columns are regions, not a spatial grid, so a 3x3 image kernel (which mixes neighbouring rows,
i.e. arbitrary unrelated regions) has no meaning. BrainNetCNN's filters respect the graph instead:

* ``EdgeToEdge`` (E2E): the new weight of edge (i, j) combines every edge that touches region i
  or region j — a cross-shaped filter, a row filter plus a column filter:
      out[o, i, j] = sum_{c,k} w_row[o, c, k] A[c, i, k] + sum_{c,k} w_col[o, c, k] A[c, k, j] + b[o];
* ``EdgeToNode`` (E2N): one value per region from all of its edges (a row filter):
      out[o, i] = sum_{c,k} w[o, c, k] A[c, i, k] + b[o];
* ``NodeToGraph`` (N2G): one value per graph from all regions:
      out[o] = sum_{c,i} w[o, c, i] x[c, i] + b[o].

Each is a matrix product over one slice of the input, composed from engine ops (permute, reshape,
matmul), so gradients and second derivatives come from those ops. Shapes follow Kawahara's code:
(N, C, R, R) for edges, (N, C, R, 1) for nodes, (N, C, 1, 1) for the graph.
"""

from __future__ import annotations

import math

from engine import nn
from engine.nn import init
from engine.nn.module import Module
from engine.tensor import Parameter


def _parameter(*shape) -> Parameter:
    from engine.creation import zeros

    return Parameter(zeros(*shape).data)


def _check(layer: str, x, channels: int, regions: int, last: int | None) -> None:
    expected = (channels, regions, regions if last is None else last)
    if x.ndim != 4 or tuple(x.shape[1:]) != expected:
        raise ValueError(f"{layer}: input must be (N, {', '.join(map(str, expected))}), got shape {tuple(x.shape)}")


def _row_filter(x, weight):
    """sum_{c,k} w[o, c, k] x[n, c, i, k] -> (N, O, R): x (N, C, R, R), weight (O, C, R)."""
    n, c, r, _ = x.shape
    rows = x.permute(0, 2, 1, 3).reshape(n, r, c * r)  # (N, R_i, C * R_k)
    return (rows @ weight.reshape(weight.shape[0], c * r).T).permute(0, 2, 1)  # (N, O, R_i)


class _SliceLinear(Module):
    def __init__(self, in_channels: int, out_channels: int, n_regions: int, n_filters: int = 1):
        super().__init__()
        self.in_channels, self.out_channels, self.n_regions = int(in_channels), int(out_channels), int(n_regions)
        self.fan_in = n_filters * in_channels * n_regions
        self.bias = _parameter(out_channels)

    def _init(self, *weights) -> None:
        bound = 1.0 / math.sqrt(self.fan_in)  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), like Linear and Conv
        for w in (*weights, self.bias):
            init.uniform_(w, -bound, bound)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, n_regions={self.n_regions}"


class EdgeToEdge(_SliceLinear):
    """E2E: (N, C, R, R) -> (N, O, R, R), a row plus a column filter (module docstring)."""

    def __init__(self, in_channels: int, out_channels: int, n_regions: int):
        super().__init__(in_channels, out_channels, n_regions, n_filters=2)
        self.weight_row = _parameter(out_channels, in_channels, n_regions)
        self.weight_col = _parameter(out_channels, in_channels, n_regions)
        self._init(self.weight_row, self.weight_col)

    def forward(self, x):
        _check("EdgeToEdge", x, self.in_channels, self.n_regions, None)
        row = _row_filter(x, self.weight_row)  # (N, O, R_i)
        col = _row_filter(x.permute(0, 1, 3, 2), self.weight_col)  # the same filter on A^T: (N, O, R_j)
        return row.unsqueeze(3) + col.unsqueeze(2) + self.bias.reshape(1, -1, 1, 1)


class EdgeToNode(_SliceLinear):
    """E2N: (N, C, R, R) -> (N, O, R, 1), one value per region from its row of edges."""

    def __init__(self, in_channels: int, out_channels: int, n_regions: int):
        super().__init__(in_channels, out_channels, n_regions)
        self.weight = _parameter(out_channels, in_channels, n_regions)
        self._init(self.weight)

    def forward(self, x):
        _check("EdgeToNode", x, self.in_channels, self.n_regions, None)
        return (_row_filter(x, self.weight) + self.bias.reshape(1, -1, 1)).unsqueeze(3)


class NodeToGraph(_SliceLinear):
    """N2G: (N, C, R, 1) -> (N, O, 1, 1), one value per graph from every region."""

    def __init__(self, in_channels: int, out_channels: int, n_regions: int):
        super().__init__(in_channels, out_channels, n_regions)
        self.weight = _parameter(out_channels, in_channels, n_regions)
        self._init(self.weight)

    def forward(self, x):
        _check("NodeToGraph", x, self.in_channels, self.n_regions, 1)
        n = x.shape[0]
        flat = x.reshape(n, self.in_channels * self.n_regions)
        out = flat @ self.weight.reshape(self.out_channels, -1).T + self.bias
        return out.reshape(n, self.out_channels, 1, 1)


class BrainNetCNN(Module):
    """E2E -> E2N -> N2G -> fully connected: x (N, 1, R, R) -> (N, num_outputs).

    Kawahara et al. used E2E 32, E2E 32, E2N 64, N2G 256, FC 128, 30 with leaky ReLU (slope 0.33)
    and dropout 0.5; the defaults here are narrower (one E2E of ``e2e`` channels, ``e2n``, ``n2g``)
    for small cohorts and CPUs. num_outputs: 1 for a regression score or a binary logit.
    """

    def __init__(self, n_regions: int, num_outputs: int = 1, e2e: int = 8, e2n: int = 16, n2g: int = 32,
                 dropout: float = 0.5, slope: float = 0.33):
        super().__init__()
        self.e2e = EdgeToEdge(1, e2e, n_regions)
        self.e2n = EdgeToNode(e2e, e2n, n_regions)
        self.n2g = NodeToGraph(e2n, n2g, n_regions)
        self.act = nn.LeakyReLU(slope)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(n2g, num_outputs)

    def forward(self, x):
        h = self.act(self.e2e(x))
        h = self.act(self.e2n(h))
        h = self.drop(self.act(self.n2g(h)))
        return self.fc(h.reshape(h.shape[0], -1))
