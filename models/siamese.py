"""A two-branch (siamese) network for baseline/follow-up image pairs (treatment response).

Both visits go through the same encoder (shared weights: Bromley et al., "Signature verification
using a siamese time delay neural network", NIPS 1993), so the two embeddings live in one space
and their difference measures change, not appearance. The head reads [e_follow - e_base, e_base]:
the change, and where it started from.
"""

from __future__ import annotations

from engine import nn
from engine.ops import shape as S


class SiameseNet(nn.Module):
    """x: (N, 2, *spatial), channel 0 the baseline and channel 1 the follow-up -> (N, num_outputs).

    encoder: any module mapping (N, 1, *spatial) -> (N, embed); hidden: width of the head's layer.
    """

    def __init__(self, encoder: nn.Module, embed: int, num_outputs: int = 1, hidden: int = 32):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Sequential(nn.Linear(2 * embed, hidden), nn.ReLU(), nn.Linear(hidden, num_outputs))

    def forward(self, x):
        if x.ndim < 3 or x.shape[1] != 2:
            raise ValueError(f"SiameseNet: input must be (N, 2, ...) baseline/follow-up pairs, got {tuple(x.shape)}")
        n = x.shape[0]
        both = self.encoder(S.cat([x[:, 0:1], x[:, 1:2]], dim=0))  # one pass, shared weights
        base, follow = both[:n], both[n:]
        return self.head(S.cat([follow - base, base], dim=1))
