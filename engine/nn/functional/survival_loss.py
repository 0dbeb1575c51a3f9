"""The negative Cox partial log-likelihood: the loss of every proportional-hazards model.

Cox's model (Cox, "Regression models and life-tables", J. R. Stat. Soc. B 34, 1972) says that
patient i's hazard is a baseline hazard times exp(eta_i), where eta_i = f(x_i) is the model's
risk score (a linear predictor x . beta for the classical Cox model; a network's output for
DeepSurv, Katzman et al., BMC Med. Res. Methodol. 18:24, 2018). The baseline cancels in the
partial likelihood, which compares each patient who has the event with everyone still at risk
at that moment (the risk set R(t) = {j : t_j >= t}):

    log L = sum over events i of [ eta_i - log sum_{j in R(t_i)} exp(eta_j) ]

Censored patients never appear as "the one who had the event", but they belong to every risk
set until their censoring time: that is how censoring enters.

Tied event times. When d patients (the set D) have the event at the same time t, the exact
likelihood sums over all orders in which they might have failed; two approximations are used:

* Breslow (1974): each of the d events sees the full risk set,
      sum_{i in D} eta_i - d log S_R,                       S_R = sum_{j in R(t)} exp(eta_j);
* Efron (1977): the tied patients leave the risk set gradually, on average,
      sum_{i in D} eta_i - sum_{l=0}^{d-1} log(S_R - (l / d) S_D),   S_D = sum_{i in D} exp(eta_i).

Without ties both equal the formula above. Efron is closer to the exact likelihood and is the
default of R's survival::coxph and of lifelines; Breslow is what most deep-learning code uses.

Computation in O(N log N): sort by time, longest first; then every risk set is a prefix, so
log S_R is a running log-sum-exp (``logcumsumexp``, below), read at the last member of each tie
group. The running log-sum-exp never forms exp(eta) itself, so scores of any magnitude stay
finite (a single shift by the largest score, the usual trick, underflows to log 0 for risk sets
whose scores lie far below it). Efron's correction is written as
log(S_R - (l/d) S_D) = log S_R + log1p(-(l/d) S_D / S_R), where S_D / S_R is a sum of
exp(eta_i - log S_R) <= 1 over the tied events.

Derivative. With p_ij = exp(eta_j) / S_R(t_i) (Breslow), d(-log L)/d eta_j = sum over events i
with j in R(t_i) of p_ij, minus [j had an event]. It comes from the ops (log-add-exp, cumsum,
indexing), each differentiable, so second derivatives (Newton's method for the linear Cox
model) work too.
"""

from __future__ import annotations

import math

import numpy as np

from engine.autograd import Function, derivative_of
from engine.ops import math as M
from engine.ops import shape as S
from engine.tensor import Tensor, as_tensor

__all__ = ["cumsum", "logcumsumexp", "cox_ph_loss", "cox_ph_loss_naive"]

TIES = ("efron", "breslow")


class CumSum(Function):
    """y_k = x_0 + x_1 + ... + x_k along ``axis``.

    dL/dx_k = sum_{m >= k} dL/dy_m: the reversed cumulative sum of the upstream gradient,
    written as flip(cumsum(flip(g))) so that it is itself differentiable.
    """

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        return self.xp.cumsum(x, axis=self.axis)

    def backward(self, gy):
        return S.flip(CumSum(self.axis)(S.flip(gy, self.axis)), self.axis)


def cumsum(x: Tensor, dim: int = 0) -> Tensor:
    """Cumulative sum along ``dim`` (``torch.cumsum``)."""
    axis = dim + x.ndim if dim < 0 else dim
    if not 0 <= axis < x.ndim:
        raise ValueError(f"cumsum: dim {dim} out of range for a tensor of shape {x.shape}")
    return CumSum(axis)(x)


def _logaddexp(a: Tensor, b: Tensor) -> Tensor:
    """log(exp(a) + exp(b)) = max(a, b) + log1p(exp(-|a - b|)), finite for any a, b."""
    return M.maximum(a, b) + M.log1p(M.exp(-M.abs(a - b)))


def _logcumsumexp_composed(x: Tensor) -> Tensor:
    """The same scan written with differentiable ops: the reference that gives LogCumSumExp its
    (twice-differentiable) ``backward``."""
    n, offset = x.shape[0], 1
    while offset < n:
        x = S.cat([x[:offset], _logaddexp(x[offset:], x[:-offset])])
        offset *= 2
    return x


def _scan_arrays(a, xp):
    """Hillis-Steele prefix scan with log-add-exp on raw arrays (ceil(log2 N) vectorised steps)."""
    n, offset = a.shape[0], 1
    while offset < n:
        a = xp.concatenate([a[:offset], xp.logaddexp(a[offset:], a[:-offset])])
        offset *= 2
    return a


class LogCumSumExp(Function):
    """y_k = log sum_{j <= k} exp(x_j) of a vector x (N,).

    dy_k/dx_j = exp(x_j - y_k) for j <= k, so dL/dx_j = sum_{k >= j} g_k exp(x_j - y_k). The array
    path computes it without overflow: splitting g into its positive and negative parts,
    sum_{k >= j} g+_k exp(x_j - y_k) = exp(x_j + log sum_{k >= j} exp(log g+_k - y_k)), a reversed
    scan of the same kind, and every exponent is <= log sum |g| because y_k >= x_j. ``backward``
    differentiates the composed scan instead (so second derivatives work).
    """

    def forward(self, x):
        return _scan_arrays(x, self.xp)

    def backward(self, gy):
        return derivative_of(_logcumsumexp_composed, self.inputs, (gy,))

    def backward_arrays(self, gy):
        xp, x, y = self.xp, self.inputs[0].data, self.output().data
        grad = xp.zeros_like(x)
        for sign in (1.0, -1.0):
            part = sign * gy
            log_part = xp.where(part > 0, xp.log(xp.where(part > 0, part, 1.0)), -xp.inf) - y
            tail = xp.flip(_scan_arrays(xp.flip(log_part, 0), xp), 0)  # log sum_{k >= j} part_k exp(-y_k)
            grad = grad + sign * xp.exp(x + tail)
        return grad


def logcumsumexp(x: Tensor) -> Tensor:
    """y_k = log sum_{j <= k} exp(x_j) of a vector x (N,) (``torch.logcumsumexp`` along dim 0).

    A parallel prefix scan (Hillis and Steele, 1986): after the step with offset s = 1, 2, 4, ...,
    y_k holds the log-sum-exp of x_{k-2s+1..k}; ceil(log2 N) vectorised steps, each a pairwise
    log-add-exp, so no exp(x) is ever formed. One Function (LogCumSumExp) with an array backward
    for training and the composed scan's derivative for second derivatives.
    """
    if x.ndim != 1:
        raise ValueError(f"logcumsumexp: expects a vector (N,), got shape {x.shape}")
    return LogCumSumExp()(x)


def _check(op: str, input: Tensor, time, event):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor of risk scores, got {type(input).__name__}")
    if input.ndim == 2 and input.shape[1] == 1:  # a network's (N, 1) output
        input = input.reshape(-1)
    if input.ndim != 1:
        raise ValueError(f"{op}: input must be (N,) or (N, 1) risk scores, got shape {input.shape}")
    time = as_tensor(time, like=input).data
    event = as_tensor(event, like=input).data
    n = input.shape[0]
    if tuple(time.shape) != (n,) or tuple(event.shape) != (n,):
        raise ValueError(f"{op}: time {tuple(time.shape)} and event {tuple(event.shape)} must both be ({n},) "
                         f"like the risk scores")
    if n == 0:
        raise ValueError(f"{op}: empty batch")
    return input, time, event


def cox_ph_loss(input: Tensor, time, event, ties: str = "efron", reduction: str = "mean") -> Tensor:
    """Negative Cox partial log-likelihood of risk scores (module docstring).

    input: (N,) or (N, 1) risk scores eta (higher = earlier event); time: (N,) follow-up times;
    event: (N,) 1 = event observed, 0 = censored. ties: "efron" (default) or "breslow".
    reduction: "mean" divides the sum by the number of events (so the scale does not grow with
    the cohort), "sum" is -log L itself, "none" gives each patient's term (N,) (0 for censored).
    A batch without any event carries no information: the loss is 0 (with a zero gradient) rather
    than an error, because small mini-batches of a censored cohort can hold none.
    The risk sets are those of the batch: with mini-batches this is the usual stochastic
    approximation (Katzman et al. 2018 train DeepSurv this way).
    """
    op = "cox_ph_loss"
    if ties not in TIES:
        raise ValueError(f"{op}: ties must be one of {TIES}, got {ties!r}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    eta, t, e = _check(op, input, time, event)
    xp = eta._xp
    n = eta.shape[0]
    e = e.astype(bool)

    order = xp.argsort(-t.astype("float64"), kind="stable")  # longest first: risk sets are prefixes
    ts, es = t[order], e[order]
    new_group = xp.concatenate([xp.ones(1, dtype=bool), ts[1:] != ts[:-1]])
    is_last = xp.concatenate([ts[1:] != ts[:-1], xp.ones(1, dtype=bool)])
    group = xp.cumsum(new_group) - 1  # tie group of each sorted position
    last_of = xp.flatnonzero(is_last)[group]  # the group's last position: its risk set ends there
    first_of = xp.flatnonzero(new_group)[group]

    eta_s = eta[order]
    log_risk = logcumsumexp(eta_s)[last_of]  # log S_R(t) for the group of each position
    if ties == "efron":
        # S_D / S_R of each group: the group's events' shares exp(eta_i - log S_R), summed with a
        # cumulative sum read at the group's ends
        share = M.exp(eta_s - log_risk) * Tensor(es.astype(eta.dtype))
        cum = S.cat([Tensor(xp.zeros(1, dtype=eta.dtype)), cumsum(share)])
        ratio = cum[last_of + 1] - cum[first_of]
        ce = xp.concatenate([xp.zeros(1, dtype="int64"), xp.cumsum(es.astype("int64"))])
        d = ce[last_of + 1] - ce[first_of]  # events in the group
        rank = ce[:n] - ce[first_of]  # l = 0, ..., d - 1 among the group's events
        frac = xp.where(es, rank / xp.maximum(d, 1), 0.0).astype(eta.dtype)
        log_risk = log_risk + M.log1p(-Tensor(frac) * ratio)
    terms = (log_risk - eta_s) * Tensor(es.astype(eta.dtype))

    if reduction == "none":
        inverse = xp.empty_like(order)
        inverse[order] = xp.arange(n)
        return terms[inverse]
    total = terms.sum()
    if reduction == "sum":
        return total
    n_events = int(e.sum())
    return total / float(max(n_events, 1))


def cox_ph_loss_naive(risk, time, event, ties: str = "efron") -> float:
    """The same -log L summed over events, from the textbook formula with a loop over event
    times (host NumPy, float64; a readable reference for tests and the lesson, no gradient).
    It forms exp(eta) directly, so keep |eta| below ~700."""
    if ties not in TIES:
        raise ValueError(f"cox_ph_loss_naive: ties must be one of {TIES}, got {ties!r}")
    eta = np.asarray(risk, dtype=np.float64).reshape(-1)
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event).astype(bool)
    total = 0.0
    for s in np.unique(t[e]):  # each distinct event time once
        tied = e & (t == s)
        d = int(tied.sum())
        s_r = np.exp(eta[t >= s]).sum()
        s_d = np.exp(eta[tied]).sum()
        total += eta[tied].sum()
        if ties == "breslow":
            total -= d * math.log(s_r)
        else:
            total -= sum(math.log(s_r - (l / d) * s_d) for l in range(d))
    return -total
