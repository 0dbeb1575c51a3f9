"""Losses for ordinal labels (grades 0 < 1 < ... < K-1), composed from differentiable ops.

A grade is more than a class name: predicting grade 3 for a grade-0 lesion is worse than
predicting grade 1, and cross-entropy cannot see that. Two classical answers:

* CORAL (Cao, Mirjalili and Raschka, "Rank consistent ordinal regression for neural networks",
  Pattern Recognit. Lett. 140, 2020). Grade y becomes K-1 binary questions "is y > k?"
  (k = 0..K-2), answered by K-1 logits g_k that share one weight vector and differ only in
  their biases: g_k = w . h + b_k. The loss sums binary cross-entropies over the questions,

      L = -sum_k [ [y > k] log sigmoid(g_k) + [y <= k] log(1 - sigmoid(g_k)) ],

  and the predicted grade counts the "yes" answers: sum_k [sigmoid(g_k) > 0.5]. The shared weight
  makes the answers rank-consistent (P(y > k) decreases with k) once the biases are ordered.

* The cumulative link model ("proportional odds", McCullagh, J. R. Stat. Soc. B 42, 1980): one
  score f and ordered cut-points theta_0 < ... < theta_{K-2} with P(y > k) = sigmoid(f - theta_k).
  Written with the exceedance logits g_k = f - theta_k (the same meaning as CORAL's logits),
  P(y = k) = sigmoid(g_{k-1}) - sigmoid(g_k) (g_{-1} = +inf, g_{K-1} = -inf) and the loss is
  -log P(y = k). For a > b, sigmoid(a) - sigmoid(b) = sigmoid(a) sigmoid(-b) (1 - exp(-(a - b))), so

      log P = log sigmoid(a) + log sigmoid(-b) + log1p(-exp(-(a - b))),

  with log sigmoid(z) = -softplus(-z): exact for scores of any size (subtracting the two
  probabilities directly rounds to 0 once both are close to 1).

Derivatives come from the ops (softplus' = sigmoid, log1p, exp), so second derivatives work too.
"""

from __future__ import annotations

from engine.ops import activation as A
from engine.ops import math as M
from engine.ops.indexing import gather
from engine.tensor import Tensor, as_tensor

__all__ = ["coral_loss", "coral_levels", "cumulative_link_loss"]


def _grades(op: str, target, like: Tensor, n_classes: int):
    t = target.data if isinstance(target, Tensor) else as_tensor(target, like=like).data
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer grades, got {t.dtype}")
    if tuple(t.shape) != (like.shape[0],):
        raise ValueError(f"{op}: target must be ({like.shape[0]},) grades for input {like.shape}, got {tuple(t.shape)}")
    if t.size and (int(t.min()) < 0 or int(t.max()) >= n_classes):
        raise ValueError(f"{op}: grades must lie in [0, {n_classes}), got [{int(t.min())}, {int(t.max())}]")
    return t


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def coral_levels(target, n_classes: int, like: Tensor) -> Tensor:
    """(N,) grades -> (N, K-1) binary levels [y > k] as a constant Tensor of ``like``'s dtype."""
    xp = like._xp
    t = _grades("coral_levels", target, like, n_classes)
    return Tensor((t[:, None] > xp.arange(n_classes - 1)[None, :]).astype(like.dtype))


def coral_loss(input: Tensor, target, importance=None, reduction: str = "mean") -> Tensor:
    """CORAL loss (module docstring). input: (N, K-1) logits g_k; target: (N,) integer grades 0..K-1;
    importance: optional (K-1,) weights of the binary questions (Cao et al.'s lambda; default 1).
    reduction "mean" averages over the N samples (the K-1 terms are summed, as in the paper)."""
    op = "coral_loss"
    if not isinstance(input, Tensor) or input.ndim != 2 or input.shape[1] < 1:
        raise ValueError(f"{op}: input must be (N, K-1) logits, got {getattr(input, 'shape', type(input))}")
    levels = coral_levels(target, input.shape[1] + 1, input)
    # -[y log s + (1 - y) log(1 - s)] with log s = -softplus(-g), log(1 - s) = -softplus(g)
    inf = float("inf")
    terms = levels * A.softplus(-input, threshold=inf) + (1.0 - levels) * A.softplus(input, threshold=inf)
    if importance is not None:
        terms = terms * as_tensor(importance, like=input)
    return _reduce(terms.sum(dim=1), reduction, op)


def _log_sigmoid(z: Tensor) -> Tensor:
    return -A.softplus(-z, threshold=float("inf"))


def cumulative_link_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the cumulative logit model (module docstring).

    input: (N, K-1) exceedance logits g_k = f - theta_k, the logit of P(y > k) (the output of
    models.ordinal.CumulativeLinkHead); they must decrease along k (ordered cut-points), which the
    head guarantees. target: (N,) integer grades 0..K-1. With P(y > -1) = 1 and P(y > K-1) = 0,
    P(y = k) = sigmoid(g_{k-1}) - sigmoid(g_k).
    """
    op = "cumulative_link_loss"
    if not isinstance(input, Tensor) or input.ndim != 2 or input.shape[1] < 1:
        raise ValueError(f"{op}: input must be (N, K-1) exceedance logits, got {getattr(input, 'shape', type(input))}")
    k = input.shape[1] + 1
    t = _grades(op, target, input, k)
    xp = input._xp
    above = gather(input, 1, xp.maximum(t - 1, 0).reshape(-1, 1)).reshape(-1)  # a = g_{y-1}
    below = gather(input, 1, xp.minimum(t, k - 2).reshape(-1, 1)).reshape(-1)  # b = g_y
    bottom, top = t == 0, t == k - 1
    # log P(y = k) = log sigmoid(a) + log sigmoid(-b) + log(1 - exp(-(a - b))), each term 0 where
    # its bound is infinite; the gap a - b is replaced by 1 where unused, so no branch is ever inf
    gap = M.where(bottom | top, 1.0, above - below)
    log_p = (M.where(bottom, 0.0, _log_sigmoid(above)) + M.where(top, 0.0, _log_sigmoid(-below))
             + M.where(bottom | top, 0.0, M.log1p(-M.exp(-gap))))
    return _reduce(-log_p, reduction, op)
