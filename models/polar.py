"""A recurrent network that segments a roughly star-shaped object by predicting its boundary radius at
every angle around a seed point: segmentation as a sequence problem.

The image is unwrapped around the seed into polar coordinates (tasks/boundary.py): row j of the
input is the intensity profile along the ray at angle theta_j = 2 pi j / A, sampled at K radii. A
bidirectional recurrent layer reads the A rays in order, so the radius chosen at one angle is informed
by the rays on both sides - the boundary's continuity, which a ray-by-ray threshold ignores. This is
the review's "RNN for segmentation" idea in its simplest form (compare the polar-domain boundary
tracking of, e.g., Tang et al. for lesions, and RNN refinement of contours).

The angle sequence is a circle, but an RNN reads a line: the first and last rays would each see only
one side. ``PolarBoundaryRNN`` therefore pads the sequence circularly by a quarter turn at both ends
before the RNN and crops the padding afterwards, so every output ray has context on both sides.
"""

from __future__ import annotations

import engine
from engine import nn


class PolarBoundaryRNN(nn.Module):
    """(N, A, K) ray profiles -> (N, A) boundary radii in units of the ray's sample spacing, in (0, K).

    Per ray: Linear(K, features) + ReLU; then a bidirectional GRU or LSTM over the A rays (circularly
    padded by A // 4 each side); then Linear(2H, 1) and K * sigmoid, so a radius never leaves the ray.
    """

    def __init__(self, n_radii: int, cell: str = "gru", hidden_size: int = 64, features: int = 32):
        super().__init__()
        cells = {"gru": nn.GRU, "lstm": nn.LSTM}
        if cell not in cells:
            raise ValueError(f"PolarBoundaryRNN: cell must be one of {', '.join(cells)}, got {cell!r}")
        self.n_radii = n_radii
        self.embed = nn.Sequential(nn.Linear(n_radii, features), nn.ReLU())
        self.rnn = cells[cell](features, hidden_size, batch_first=True, bidirectional=True)
        self.radius = nn.Linear(2 * hidden_size, 1)

    def forward(self, rays):
        if rays.ndim != 3 or rays.shape[2] != self.n_radii:
            raise ValueError(f"PolarBoundaryRNN: expected ray profiles (N, A, {self.n_radii}), got shape "
                             f"{tuple(rays.shape)}")
        a = rays.shape[1]
        pad = max(1, a // 4)
        circular = engine.cat([rays[:, a - pad:], rays, rays[:, :pad]], 1)
        hidden, _ = self.rnn(self.embed(circular))
        return self.radius(hidden[:, pad:pad + a]).squeeze(2).sigmoid() * self.n_radii
