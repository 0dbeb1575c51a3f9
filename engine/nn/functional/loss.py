"""Loss functions (torch.nn.functional names and semantics), composed from differentiable ops.

Every loss takes ``reduction`` = "mean" (default), "sum" or "none". Losses on logits are
written with log-sum-exp / log1p(exp(-|x|)) forms, so they stay finite for logits of
magnitude 1e4 where the naive formulas overflow.
"""

from __future__ import annotations

from engine.autograd import Function, derivative_of
from engine.ops import activation as A
from engine.ops import math as M
from engine.ops.indexing import gather
from engine.tensor import Tensor, as_tensor

__all__ = [
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "smooth_l1_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "nll_loss",
    "kl_div",
]


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    _check_reduction(reduction, op)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _same_shape(input: Tensor, target: Tensor, op: str):
    if input.shape != target.shape:
        raise ValueError(
            f"{op}: input shape {input.shape} and target shape {target.shape} differ "
            f"(broadcasting a target is almost always a bug, so it is refused)"
        )


def _target(target, like: Tensor) -> Tensor:
    return as_tensor(target, like=like)


def mse_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean squared error: (input - target)^2, averaged."""
    target = _target(target, input)
    _same_shape(input, target, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


def l1_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean absolute error: |input - target|, averaged."""
    target = _target(target, input)
    _same_shape(input, target, "l1_loss")
    return _reduce(M.abs(input - target), reduction, "l1_loss")


def huber_loss(input: Tensor, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber loss: d^2/2 for |d| <= delta, delta (|d| - delta/2) beyond (d = input - target)."""
    target = _target(target, input)
    _same_shape(input, target, "huber_loss")
    d = input - target
    a = M.abs(d)
    quadratic = d * d * 0.5
    linear = (a - 0.5 * delta) * delta
    return _reduce(M.where(a.data <= delta, quadratic, linear), reduction, "huber_loss")


def smooth_l1_loss(input: Tensor, target, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Smooth L1 = Huber / beta (PyTorch's definition)."""
    return huber_loss(input, target, reduction, delta=beta) / beta if beta > 0 else l1_loss(input, target, reduction)


def _clamped_log(p: Tensor) -> Tensor:
    """max(log p, -100), with log 0 = -100 and a zero gradient there (no inf, no warning)."""
    positive = p.data > 0
    return M.clip(M.where(positive, M.log(M.where(positive, p, 1.0)), -100.0), min=-100.0)


def binary_cross_entropy(input: Tensor, target, weight=None, reduction: str = "mean") -> Tensor:
    """-[y log p + (1 - y) log(1 - p)] for probabilities p = input in [0, 1].

    As in PyTorch, each log is clamped at -100 so that p = 0 or 1 gives a large finite loss
    instead of inf. Prefer binary_cross_entropy_with_logits, which is exact for any logit.
    """
    target = _target(target, input)
    _same_shape(input, target, "binary_cross_entropy")
    xp = input._xp
    if bool(xp.any((input.data < 0) | (input.data > 1))):
        raise ValueError(
            "binary_cross_entropy: input must hold probabilities in [0, 1]; use the _with_logits version for logits"
        )
    log_p = _clamped_log(input)
    log_q = _clamped_log(1.0 - input)
    loss = -(target * log_p + (1.0 - target) * log_q)
    if weight is not None:
        loss = loss * _target(weight, input)
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Tensor, target, weight=None, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """Binary cross-entropy on logits x with p = sigmoid(x):

        loss = -[w_pos y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))]

    using log sigmoid(x) = -softplus(-x) and log(1 - sigmoid(x)) = -softplus(x), where
    softplus(z) = max(z, 0) + log1p(exp(-|z|)) never overflows. pos_weight (one value per
    class, broadcast over the last dimension) up-weights positives, for class imbalance.
    """
    target = _target(target, input)
    _same_shape(input, target, "binary_cross_entropy_with_logits")
    softplus_neg = A.softplus(-input, threshold=float("inf"))  # -log sigmoid(x)
    softplus_pos = A.softplus(input, threshold=float("inf"))  # -log(1 - sigmoid(x))
    if pos_weight is not None:
        pw = _target(pos_weight, input)
        loss = target * pw * softplus_neg + (1.0 - target) * softplus_pos
    else:
        loss = target * softplus_neg + (1.0 - target) * softplus_pos
    if weight is not None:
        loss = loss * _target(weight, input)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def _class_last(x: Tensor) -> Tensor:
    """(N, C, d1, ..., dk) -> (N * d1 * ... * dk, C): one row of class scores per prediction."""
    if x.ndim == 2:
        return x
    perm = (0,) + tuple(range(2, x.ndim)) + (1,)
    return x.permute(*perm).reshape(-1, x.shape[1])


def _index_target(input: Tensor, target, ignore_index: int, op: str):
    """Check class-index targets against input (N, C, d1, ...) and return (target array, flat
    target with ignored entries replaced by class 0, flat mask of the entries that count)."""
    target = target.data if isinstance(target, Tensor) else target
    xp = input._xp
    if not hasattr(target, "dtype"):
        target = xp.asarray(target)
    expected = (input.shape[0],) + input.shape[2:]
    if tuple(target.shape) != expected:
        raise ValueError(
            f"{op}: target shape {tuple(target.shape)} does not match input {input.shape} (expected {expected})"
        )
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got {target.dtype}")
    n_classes = input.shape[1]
    flat_target = target.reshape(-1)
    valid = flat_target != ignore_index
    if bool(xp.any(valid & ((flat_target < 0) | (flat_target >= n_classes)))):
        bad = flat_target[valid & ((flat_target < 0) | (flat_target >= n_classes))]
        raise ValueError(f"{op}: target holds class {int(bad[0])} outside [0, {n_classes}) (input {input.shape})")
    safe = xp.where(valid, flat_target, 0).astype("int64")
    return target, safe, valid


def _target_weights(input: Tensor, weight, safe, valid):
    """w_n = weight[y_n] for the counted targets, 0 for the ignored ones (flat)."""
    w = valid.astype(input.dtype)
    if weight is not None:
        wdata = weight.data if isinstance(weight, Tensor) else input._xp.asarray(weight, dtype=input.dtype)
        w = w * wdata[safe]
    return w


def nll_loss(input: Tensor, target, weight=None, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: -w[y] * input[y] for log-probabilities ``input``.

    input: (N, C) or (N, C, d1, ...); target: (N,) or (N, d1, ...) class indices.
    With reduction="mean" the sum is divided by the total weight of the non-ignored targets
    (PyTorch's weighted mean), not by N.
    """
    if input.ndim < 2:
        raise ValueError(f"nll_loss: input must be (N, C, ...), got shape {input.shape}")
    target, safe, valid = _index_target(input, target, ignore_index, "nll_loss")
    logp = _class_last(input)
    picked = gather(logp, 1, safe.reshape(-1, 1)).reshape(-1)
    w = _target_weights(input, weight, safe, valid)
    loss = -picked * w
    if reduction == "mean":
        total = float(w.sum())
        return loss.sum() / total if total > 0 else loss.sum() * 0.0
    if reduction == "none":
        return loss.reshape(target.shape)
    return _reduce(loss, reduction, "nll_loss")


class CrossEntropyFunction(Function):
    """Cross-entropy of logits against class indices, log-softmax and the pick fused into one op.

    x: (N, C, d1, ...) logits; the target y (N, d1, ...) and the per-target weights w (0 where
    ignored) are constants given at construction. With p = softmax(x) over the class axis,

        loss_n = -w_n log p_{n, y_n} = w_n (log sum_c e^{x_nc} - x_{n y_n})
        d loss_n / d x_nc = w_n (p_nc - [c = y_n])

    reduced like ``reduction`` (the mean divides by sum_n w_n, as PyTorch). The composed
    version, ``nll_loss(log_softmax(x))``, records seven graph nodes (log_softmax, gather, reshape,
    negation, weighting, sum, division) for what this op does in one, and their backward passes:
    with the fast paths of the other ops, an MLP training step went from 29 Function calls to 6.
    ``backward`` differentiates that composed version (so second derivatives work);
    ``backward_arrays`` is the formula above.
    """

    def __init__(self, target, safe, w, weight, ignore_index: int, reduction: str):
        self.target, self.safe, self.w = target, safe, w
        self.weight, self.ignore_index, self.reduction = weight, ignore_index, reduction

    def _picked_shape(self, x):
        return (x.shape[0], 1) + x.shape[2:]

    def forward(self, x):
        xp = self.xp
        shifted = x - x.max(axis=1, keepdims=True)  # log-sum-exp trick: no overflow
        e = xp.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        picked = xp.take_along_axis(shifted, self.safe.reshape(self._picked_shape(x)), axis=1)
        loss = (xp.log(total) - picked).reshape(-1) * self.w
        e /= total
        self.p = e  # softmax, kept for backward
        if self.reduction == "none":
            return loss.reshape(self.target.shape)
        self.denominator = float(self.w.sum()) if self.reduction == "mean" else 1.0
        if self.denominator == 0:  # every target ignored: a loss of 0 with a zero gradient
            return loss.sum() * 0.0
        return loss.sum() / loss.dtype.type(self.denominator)

    def backward_arrays(self, gy):
        xp = self.xp
        g = self.p.copy()
        classes = xp.arange(g.shape[1]).reshape((1, -1) + (1,) * (g.ndim - 2))
        g -= classes == self.safe.reshape(self._picked_shape(g))  # p - onehot(y)
        if self.reduction == "none":
            scale = self.w * gy.reshape(-1)
        elif self.denominator == 0:
            scale = self.w * 0
        else:
            scale = self.w * (gy / g.dtype.type(self.denominator))
        g *= scale.reshape(self._picked_shape(g))
        return g

    def _composed(self, x):
        return nll_loss(A.log_softmax(x, dim=1), self.target, self.weight, self.ignore_index, self.reduction)

    def backward(self, gy):
        return derivative_of(self._composed, self.inputs, (gy,))


def cross_entropy(input: Tensor, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits ``input`` against class indices or class probabilities.

    input: (N, C) or (N, C, d1, ...) raw scores (logits).
    target: class indices (N,) / (N, d1, ...), or probabilities of input's shape.
    loss_n = -sum_c w_c q_nc log softmax(x_n)_c, where q is the one-hot target mixed with the
    uniform distribution by ``label_smoothing`` (q = (1 - e) onehot + e / C).
    For index targets with reduction="mean", the sum is divided by the total weight of the
    targets (w[y_n]), as PyTorch does; ``ignore_index`` targets contribute nothing.
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if input.ndim < 2:
        raise ValueError(f"cross_entropy: input must be (N, C, ...) logits, got shape {input.shape}")
    tdata = target.data if isinstance(target, Tensor) else target
    if hasattr(tdata, "dtype") and tdata.dtype.kind == "f":
        # probability targets
        target = _target(target, input)
        _same_shape(input, target, "cross_entropy")
        q = target
        n_classes = input.shape[1]
        logp = A.log_softmax(input, dim=1)
        if label_smoothing > 0:
            q = q * (1.0 - label_smoothing) + label_smoothing / n_classes
        terms = logp * q
        if weight is not None:
            w = _target(weight, input).reshape((1, n_classes) + (1,) * (input.ndim - 2))
            terms = terms * w
        loss = -terms.sum(dim=1)
        return _reduce(loss, reduction, "cross_entropy")
    if label_smoothing == 0:
        _check_reduction(reduction, "cross_entropy")
        target, safe, valid = _index_target(input, target, ignore_index, "cross_entropy")
        w = _target_weights(input, weight, safe, valid)
        return CrossEntropyFunction(target, safe, w, weight, ignore_index, reduction)(input)
    logp = A.log_softmax(input, dim=1)
    nll = nll_loss(logp, target, weight=weight, ignore_index=ignore_index, reduction=reduction)
    # smoothing term: -sum_c w_c log p_c / C, averaged like the nll term
    xp = input._xp
    tdata = tdata if hasattr(tdata, "dtype") else xp.asarray(tdata)
    n_classes = input.shape[1]
    flat = _class_last(logp)
    valid = (tdata.reshape(-1) != ignore_index).astype(input.dtype)
    if weight is not None:
        wvec = weight.data if isinstance(weight, Tensor) else xp.asarray(weight, dtype=input.dtype)
        smooth = -(flat * wvec).sum(dim=1) * valid
        safe = xp.where(tdata.reshape(-1) != ignore_index, tdata.reshape(-1), 0)
        denom = float((wvec[safe] * valid).sum())
    else:
        smooth = -flat.sum(dim=1) * valid
        denom = float(valid.sum())
    if reduction == "mean":
        smooth_red = smooth.sum() / denom if denom > 0 else smooth.sum() * 0.0
    elif reduction == "sum":
        smooth_red = smooth.sum()
    else:
        smooth_red = smooth.reshape(tdata.shape)
    return nll * (1.0 - label_smoothing) + smooth_red * (label_smoothing / n_classes)


def kl_div(input: Tensor, target, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence sum q (log q - input) with input = log-probabilities.

    reduction="batchmean" divides by the batch size (the mathematically correct KL);
    "mean" divides by the number of elements, as PyTorch does (with a warning there).
    """
    target = _target(target, input)
    _same_shape(input, target, "kl_div")
    if log_target:
        terms = M.exp(target) * (target - input)
    else:
        # q log q is 0 where q = 0 (the limit), not nan
        q = target
        safe_log = M.log(M.where(q.data > 0, q, 1.0))
        terms = q * (safe_log - input)
    if reduction == "batchmean":
        return terms.sum() / float(input.shape[0])
    return _reduce(terms, reduction, "kl_div")
