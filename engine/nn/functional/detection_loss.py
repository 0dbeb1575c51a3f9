"""Losses for centre-point (heatmap) detection, composed from differentiable engine ops.

A heatmap detector (CornerNet, Law & Deng 2018; CenterNet, Zhou et al., "Objects as Points", 2019)
predicts, at every pixel, the logit x of "an object's centre is here". The target Y is 1 at each
centre and falls off as a Gaussian around it, so that near-misses are penalised less than far ones.
The penalty-reduced focal loss (CenterNet eq. 1), with p = sigmoid(x):

    L = -(1 / N_pos) * sum over pixels of
          (1 - p)^alpha * log(p)                   where Y = 1   (the centres)
          (1 - Y)^beta * p^alpha * log(1 - p)      elsewhere

* (1 - p)^alpha and p^alpha are the focal terms (Lin et al. 2017): easy pixels (background far from
  any object, already near p = 0) contribute little, so the millions of background pixels do not
  swamp the few centres;
* (1 - Y)^beta reduces the penalty for predicting an object next to a true centre;
* normalising by the number of centres N_pos (not of pixels) keeps the loss scale independent of the
  image size.

Numerics: log p = -softplus(-x) and log(1 - p) = -softplus(x), finite for any logit, and
1 - p = sigmoid(-x) (no cancellation when p is near 1). Derivatives come from the ops (softplus' = sigmoid,
sigmoid' = sigmoid (1 - sigmoid)), so second derivatives work too.
"""

from __future__ import annotations

from engine.ops import activation as A
from engine.ops import math as M
from engine.tensor import Tensor, as_tensor

__all__ = ["heatmap_focal_loss", "masked_l1_loss"]


def heatmap_focal_loss(input: Tensor, target, alpha: float = 2.0, beta: float = 4.0,
                       reduction: str = "mean") -> Tensor:
    """Penalty-reduced pixel-wise focal loss on heatmap logits (CenterNet).

    input: (N, C, *spatial) logits; target: same shape, values in [0, 1], exactly 1 at object centres.
    reduction: "mean" divides the sum by the number of centres (CenterNet's normalisation; by 1 when
    there is none, so images without objects still teach "nothing here"), "sum", or "none" (per pixel).
    Differences from CenterNet's code: none in the formula; the logit form replaces its clamped
    sigmoid (which clamps p to [1e-4, 1 - 1e-4] and so zeroes gradients of confident pixels).
    """
    op = "heatmap_focal_loss"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor of logits, got {type(input).__name__}")
    target = as_tensor(target, like=input)
    if input.shape != target.shape:
        raise ValueError(f"{op}: input shape {input.shape} and target shape {target.shape} differ")
    if alpha < 0 or beta < 0:
        raise ValueError(f"{op}: alpha and beta must be non-negative, got {alpha}, {beta}")
    xp = input._xp
    t = target.data
    if t.size and (float(t.min()) < 0 or float(t.max()) > 1):
        raise ValueError(f"{op}: target values must lie in [0, 1], got [{float(t.min())}, {float(t.max())}]")
    centre = t == 1
    log_p = -A.softplus(-input, threshold=float("inf"))  # log sigmoid(x), exact for every logit
    log_q = -A.softplus(input, threshold=float("inf"))  # log (1 - sigmoid(x))
    pos = A.sigmoid(-input) ** alpha * log_p
    neg_weight = Tensor(xp.where(centre, 0.0, (1.0 - t) ** beta).astype(input.dtype, copy=False))
    neg = neg_weight * A.sigmoid(input) ** alpha * log_q
    loss = -M.where(centre, pos, neg)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / max(int(centre.sum()), 1)
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def masked_l1_loss(input: Tensor, target, mask) -> Tensor:
    """sum(mask * |input - target|) / max(sum(mask), 1): an L1 regression read only where mask is 1.

    CenterNet trains its size head this way: the size is only defined at object centres. input and
    target: same shape; mask: broadcastable 0/1 array or tensor (a constant).
    """
    op = "masked_l1_loss"
    target = as_tensor(target, like=input)
    if input.shape != target.shape:
        raise ValueError(f"{op}: input shape {input.shape} and target shape {target.shape} differ")
    m = as_tensor(mask, like=input).data.astype(input.dtype, copy=False)
    return (M.abs(input - target) * Tensor(m)).sum() / max(float(m.sum()), 1.0)
