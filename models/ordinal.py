"""Output heads for ordinal grades: a network's single score f turned into K-1 exceedance logits.

Both heads take a backbone's one output per image, f (N, 1), and return g (N, K-1), where g_k is
the logit of P(grade > k); engine.nn.functional.coral_loss / cumulative_link_loss train them.

* ``CoralHead`` (Cao et al. 2020): g_k = f + b_k. The weights before f are shared by all K-1
  binary questions, only the biases differ: the rank-consistent CORAL layer.
* ``CumulativeLinkHead`` (McCullagh 1980): g_k = f - theta_k with cut-points kept in order by
  construction, theta_k = theta_0 + sum_{j<=k} softplus(delta_j), so P(grade > k) always decreases
  with k and every class probability is positive.

``ordinal_probabilities`` turns exceedance logits into class probabilities (for AUC and the
confusion matrix) and ``ordinal_predict`` into grades.
"""

from __future__ import annotations

import numpy as np

import engine
from engine import nn
from engine.nn.functional import cumsum
from engine.ops import activation as A
from engine.ops import shape as S


class CoralHead(nn.Module):
    """(N, 1) score -> (N, K-1) logits g_k = f + b_k. Biases start decreasing, (K-2-k)/(K-1) - 1/2."""

    def __init__(self, num_classes: int):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"CoralHead: needs at least 2 grades, got {num_classes}")
        k = num_classes - 1
        self.num_classes = num_classes
        self.bias = engine.Parameter(engine.tensor((np.arange(k)[::-1] / k - 0.5).astype(np.float32)))

    def forward(self, f):
        return f.reshape(-1, 1) + self.bias


class CumulativeLinkHead(nn.Module):
    """(N, 1) score -> (N, K-1) logits g_k = f - theta_k with increasing cut-points theta."""

    def __init__(self, num_classes: int):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"CumulativeLinkHead: needs at least 2 grades, got {num_classes}")
        k = num_classes - 1
        self.num_classes = num_classes
        self.first = engine.Parameter(engine.tensor(np.array([-0.5 * (k - 1)], dtype=np.float32)))
        # softplus(0.5413) = 1: cut-points start one logit apart
        self.log_gaps = engine.Parameter(engine.tensor(np.full(k - 1, 0.5413, dtype=np.float32)))

    def cutpoints(self):
        """theta (K-1,), increasing."""
        if self.log_gaps.shape[0] == 0:
            return self.first
        return S.cat([self.first, self.first + cumsum(A.softplus(self.log_gaps))])

    def forward(self, f):
        return f.reshape(-1, 1) - self.cutpoints()


def ordinal_probabilities(logits: np.ndarray) -> np.ndarray:
    """(N, K-1) exceedance logits -> (N, K) class probabilities P(y = k) = P(y > k-1) - P(y > k).

    CORAL's P(y > k) can rise slightly with k before training settles its biases; negative
    differences are clipped to 0 and the rows renormalised."""
    logits = np.asarray(logits, dtype=np.float64)
    exceed = 1.0 / (1.0 + np.exp(-logits))
    ones, zeros = np.ones((len(logits), 1)), np.zeros((len(logits), 1))
    p = np.clip(-np.diff(np.hstack([ones, exceed, zeros]), axis=1), 0.0, None)
    total = p.sum(1, keepdims=True)
    return np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / p.shape[1])


def ordinal_predict(logits: np.ndarray) -> np.ndarray:
    """(N, K-1) exceedance logits -> (N,) grades: the number of questions answered "yes" (CORAL's rule)."""
    return (np.asarray(logits) > 0).sum(1).astype(np.int64)
