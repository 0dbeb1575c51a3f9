"""Segmentation losses on logits (N, C, *spatial): soft Dice, Dice + cross-entropy, focal, Tversky.

Composed from differentiable engine ops (softmax, log_softmax, softplus, sums), so their gradients
(and second derivatives) come from the ops' backward.

Inputs and targets
  input:  (N, C, *spatial) logits. ``activation`` turns them into probabilities p: "softmax" over
          the C classes (mutually exclusive labels), "sigmoid" per channel (binary or multi-label),
          or "none" (input already holds probabilities; Dice and Tversky only). Default: softmax
          when C > 1, sigmoid when C == 1 (a single foreground channel).
  target: class indices, integer (N, *spatial) or (N, 1, *spatial), one-hot encoded here; or a
          float one-hot / soft target of the input's shape. With C == 1 the indices must be 0/1.

Soft Dice (Milletari et al. 2016, "V-Net"; Sudre et al. 2017), per sample n and class c:

    D_nc = 1 - (2 sum_x p g + s_nr) / (sum_x p + sum_x g + s_dr)        (squared_pred: p^2, g^2)

    dD/dp_x = -(2 g_x (P + G + s_dr) - (2 I + s_nr)) / (P + G + s_dr)^2  (I, P, G the three sums)

These follow MONAI's DiceLoss (smooth_nr = smooth_dr = 1e-5, ``batch=True`` sums over the batch
before the ratio, ``include_background=False`` drops channel 0; with one channel it is ignored, as in
MONAI), and ``reduction`` averages the (N, C) values ("mean"), sums them ("sum") or returns them
("none", shape (N, C), or (C,) with batch=True).

Tversky (Salehi et al. 2017): 1 - (TP + s_nr) / (TP + alpha FP + beta FN + s_dr) with soft counts
TP = sum p g, FP = sum p (1 - g), FN = sum (1 - p) g; alpha = beta = 0.5 is the Dice loss.

Focal (Lin et al. 2017): softmax: -sum_c alpha_c g_c (1 - p_c)^gamma log p_c per voxel, averaged
over voxels (gamma = 0 and no alpha is the cross-entropy). MONAI's softmax focal loss averages over
the C channels as well (it is ours divided by C). sigmoid: per element
-[alpha g (1 - p)^gamma log p + (1 - alpha)(1 - g) p^gamma log(1 - p)], averaged over all elements
(torchvision.ops.sigmoid_focal_loss; alpha=None means no weighting).

Dice + CE (MONAI's DiceCELoss): lambda_dice * Dice + lambda_ce * cross-entropy (softmax) or
binary cross-entropy with logits (sigmoid); the cross-entropy always includes the background.
"""

from __future__ import annotations

from engine import backend
from engine.nn.functional.loss import binary_cross_entropy_with_logits, cross_entropy
from engine.ops import activation as A
from engine.ops import math as M
from engine.tensor import Tensor

__all__ = ["dice_loss", "dice_ce_loss", "focal_loss", "tversky_loss", "one_hot"]

_ACTIVATIONS = ("softmax", "sigmoid", "none")


def one_hot(labels, num_classes: int, dtype=None):
    """Integer labels (N, *spatial) -> one-hot array (N, num_classes, *spatial) (raw arrays, no grad).

    Like torch.nn.functional.one_hot followed by moving the class axis to position 1.
    """
    xp = backend.get_array_module(labels)
    shape = (1, num_classes) + (1,) * (labels.ndim - 1)
    out = labels[:, None] == xp.arange(num_classes).reshape(shape)
    return out.astype(dtype) if dtype is not None else out


def _target_array(op: str, input: Tensor, target, activation: str):
    """The target as a float array of input's shape (one-hot for class indices)."""
    data = target.data if isinstance(target, Tensor) else target
    xp = input._xp
    if not hasattr(data, "dtype"):
        data = xp.asarray(data)
    n, c = input.shape[0], input.shape[1]
    spatial = tuple(input.shape[2:])
    if data.dtype.kind == "f":
        if tuple(data.shape) != tuple(input.shape):
            raise ValueError(f"{op}: a float (one-hot) target must have the input's shape {tuple(input.shape)}, "
                             f"got {tuple(data.shape)}")
        return data.astype(input.dtype)
    if data.dtype.kind not in "iub":
        raise TypeError(f"{op}: target must hold integer class indices or floats, got {data.dtype}")
    if tuple(data.shape) == (n, 1) + spatial:
        data = data[:, 0]
    if tuple(data.shape) != (n,) + spatial:
        raise ValueError(f"{op}: target shape {tuple(data.shape)} does not match input {tuple(input.shape)} "
                         f"(expected {(n,) + spatial} or {(n, 1) + spatial} class indices)")
    n_classes = 2 if c == 1 else c
    if data.size and (bool((data < 0).any()) or bool((data >= n_classes).any())):
        raise ValueError(f"{op}: target holds labels in [{int(data.min())}, {int(data.max())}] outside "
                         f"[0, {n_classes}) for an input with {c} channel(s)")
    if c == 1:
        return data[:, None].astype(input.dtype)
    return one_hot(data, c, input.dtype)


def _activation(op: str, input: Tensor, activation):
    if input.ndim < 3:
        raise ValueError(f"{op}: input must be (N, C, *spatial) logits, got shape {tuple(input.shape)}")
    if activation is None:
        activation = "softmax" if input.shape[1] > 1 else "sigmoid"
    if activation not in _ACTIVATIONS:
        raise ValueError(f"{op}: activation must be one of {_ACTIVATIONS} or None, got {activation!r}")
    if activation == "softmax" and input.shape[1] == 1:
        raise ValueError(f"{op}: softmax over a single channel is constant 1; use activation='sigmoid' "
                         f"(input shape {tuple(input.shape)})")
    return activation


def _probs(input: Tensor, activation: str) -> Tensor:
    if activation == "softmax":
        return A.softmax(input, dim=1)
    if activation == "sigmoid":
        return A.sigmoid(input)
    return input


def _reduce(values: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _counts(op, input, target, activation, include_background, batch):
    """Soft counts per (N, C) (or (C,) with batch): probabilities p, target g and reduced axes."""
    activation = _activation(op, input, activation)
    g = _target_array(op, input, target, activation)
    p = _probs(input, activation)
    if not include_background and input.shape[1] > 1:
        p = p[:, 1:]
        g = g[:, 1:]
    axes = tuple(range(2, input.ndim))
    if batch:
        axes = (0,) + axes
    return p, Tensor(g), axes


def dice_loss(input: Tensor, target, include_background: bool = True, activation: str | None = None,
              squared_pred: bool = False, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5, batch: bool = False,
              reduction: str = "mean") -> Tensor:
    """Soft Dice loss 1 - (2 sum p g + s_nr) / (sum p + sum g + s_dr), per sample and class (module doc).

    input: (N, C, *spatial) logits; target: indices (N, *spatial) or one-hot (N, C, *spatial).
    """
    op = "dice_loss"
    p, g, axes = _counts(op, input, target, activation, include_background, batch)
    inter = (p * g).sum(dim=axes)
    if squared_pred:
        denom = (p * p).sum(dim=axes) + (g * g).sum(dim=axes)
    else:
        denom = p.sum(dim=axes) + g.sum(dim=axes)
    loss = 1.0 - (inter * 2.0 + smooth_nr) / (denom + smooth_dr)
    return _reduce(loss, reduction, op)


def tversky_loss(input: Tensor, target, alpha: float = 0.5, beta: float = 0.5, include_background: bool = True,
                 activation: str | None = None, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5,
                 batch: bool = False, reduction: str = "mean") -> Tensor:
    """Tversky loss 1 - (TP + s_nr) / (TP + alpha FP + beta FN + s_dr): alpha weighs false positives,
    beta false negatives (beta > alpha favours recall, for small lesions). Shapes as dice_loss."""
    op = "tversky_loss"
    if alpha < 0 or beta < 0:
        raise ValueError(f"{op}: alpha and beta must be >= 0, got {alpha}, {beta}")
    p, g, axes = _counts(op, input, target, activation, include_background, batch)
    tp = (p * g).sum(dim=axes)
    fp = (p * (1.0 - g)).sum(dim=axes)
    fn = ((1.0 - p) * g).sum(dim=axes)
    loss = 1.0 - (tp + smooth_nr) / (tp + fp * alpha + fn * beta + smooth_dr)
    return _reduce(loss, reduction, op)


def _focal_factor(q: Tensor, gamma: float) -> Tensor:
    """q^gamma, with q^0 = 1 exactly (no 0^0 or 0 * inf in the gradient where q = 0)."""
    return q * 0.0 + 1.0 if gamma == 0 else q**gamma


def focal_loss(input: Tensor, target, gamma: float = 2.0, alpha=None, include_background: bool = True,
               activation: str | None = None, reduction: str = "mean") -> Tensor:
    """Focal loss: cross-entropy down-weighted by (1 - p_true)^gamma on easy voxels (module doc).

    softmax: alpha is None or one weight per class (C,); reduction "none" gives (N, *spatial).
    sigmoid: alpha is None or a float in [0, 1] (positives' weight); "none" gives (N, C, *spatial).
    """
    op = "focal_loss"
    activation = _activation(op, input, activation)
    if activation == "none":
        raise ValueError(f"{op}: needs logits (activation 'softmax' or 'sigmoid'), got activation='none'")
    if gamma < 0:
        raise ValueError(f"{op}: gamma must be >= 0, got {gamma}")
    g = Tensor(_target_array(op, input, target, activation))
    if activation == "sigmoid":
        log_p = -A.softplus(-input, threshold=float("inf"))  # log sigmoid(x), exact for large |x|
        log_q = -A.softplus(input, threshold=float("inf"))  # log (1 - sigmoid(x))
        p = A.sigmoid(input)
        pos = g * _focal_factor(1.0 - p, gamma) * log_p
        neg = (1.0 - g) * _focal_factor(p, gamma) * log_q
        if alpha is not None:
            if not 0.0 <= float(alpha) <= 1.0:
                raise ValueError(f"{op}: with sigmoid, alpha must be a float in [0, 1], got {alpha!r}")
            pos, neg = pos * float(alpha), neg * (1.0 - float(alpha))
        loss = -(pos + neg)
        if not include_background and input.shape[1] > 1:
            loss = loss[:, 1:]
        return _reduce(loss, reduction, op)
    log_p = A.log_softmax(input, dim=1)
    terms = g * _focal_factor(1.0 - M.exp(log_p), gamma) * log_p
    c = input.shape[1]
    if alpha is not None:
        xp = input._xp
        w = alpha.data if isinstance(alpha, Tensor) else xp.asarray(alpha, dtype=input.dtype)
        if tuple(w.shape) != (c,):
            raise ValueError(f"{op}: with softmax, alpha must hold one weight per class ({c},), got shape "
                             f"{tuple(w.shape)}")
        terms = terms * Tensor(w.reshape((1, c) + (1,) * (input.ndim - 2)))
    if not include_background:
        terms = terms[:, 1:]
    return _reduce(-terms.sum(dim=1), reduction, op)


def dice_ce_loss(input: Tensor, target, include_background: bool = True, activation: str | None = None,
                 lambda_dice: float = 1.0, lambda_ce: float = 1.0, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5,
                 batch: bool = False, ce_weight=None) -> Tensor:
    """lambda_dice * dice_loss + lambda_ce * cross-entropy (a scalar; shapes as dice_loss).

    The Dice term handles class imbalance (it is a ratio per class); the cross-entropy term gives
    well-behaved gradients early in training, when the Dice ratio is flat. ``ce_weight``: optional
    class weights (C,) for the cross-entropy (softmax only).
    """
    op = "dice_ce_loss"
    activation = _activation(op, input, activation)
    if activation == "none":
        raise ValueError(f"{op}: needs logits (activation 'softmax' or 'sigmoid'), got activation='none'")
    dice = dice_loss(input, target, include_background, activation, False, smooth_nr, smooth_dr, batch, "mean")
    data = target.data if isinstance(target, Tensor) else target
    if activation == "sigmoid":
        ce = binary_cross_entropy_with_logits(input, Tensor(_target_array(op, input, target, activation)))
    elif data.dtype.kind == "f":
        ce = cross_entropy(input, Tensor(data.astype(input.dtype)), weight=ce_weight)
    else:
        if tuple(data.shape) == (input.shape[0], 1) + tuple(input.shape[2:]):
            data = data[:, 0]
        _target_array(op, input, data, activation)  # validates shape and label range
        ce = cross_entropy(input, Tensor(data.astype("int64")), weight=ce_weight)
    return dice * lambda_dice + ce * lambda_ce
