"""Harrell's concordance index (C-index) for survival predictions with right censoring.

Among all pairs of patients whose order of events is known, the C-index is the fraction that
the model orders correctly: the patient with the higher predicted risk should have the
event first (Harrell et al., "Evaluating the yield of medical tests", JAMA 247, 1982;
Harrell et al., Stat. Med. 15, 1996).

A pair (i, j) is usable ("comparable") when the earlier time is an observed event:
    event_i = 1  and  ( t_i < t_j  or  (t_i = t_j and event_j = 0) ).
A censored time only says the event happens later, so two censored patients, or a patient
censored before the other's event, cannot be ordered. At tied times a patient censored at t_i
is assumed to outlive one who had the event at t_i; two events at the same time are not
comparable. The usable pair scores 1 if risk_i > risk_j, 0.5 if the risks tie, 0 otherwise.
These are the rules of lifelines' concordance_index and scikit-survival's
concordance_index_censored. C = 0.5 is random ordering, 1 perfect.
"""

from __future__ import annotations

import numpy as np

from tasks.metrics import _checks as chk
from tasks.metrics._checks import UndefinedMetricError


def concordance_index(time, risk, event=None, chunk_size: int = 1024) -> float:
    """Harrell's C-index. time: (N,) follow-up times; risk: (N,) predicted risk (higher =
    earlier event; pass minus a predicted survival time); event: (N,) 1 = event observed,
    0 = censored (default: all events).

    Raises UndefinedMetricError when no pair is comparable (e.g. everyone censored).
    Cost O(N^2) comparisons, done in (chunk_size, N) blocks to bound memory.
    """
    fn = "concordance_index"
    t = chk.finite(fn, "time", chk.vector(fn, "time", time)).astype(np.float64)
    r = chk.finite(fn, "risk", chk.vector(fn, "risk", risk)).astype(np.float64)
    e = np.ones_like(t, dtype=bool) if event is None else chk.vector(fn, "event", event)
    chk.same_length(fn, time=t, risk=r, event=e)
    chk.nonempty(fn, time=t)
    e = chk.binary_labels(fn, "event", e).astype(bool)

    # Only patients with an observed event can be the "earlier" member of a usable pair.
    idx_event = np.flatnonzero(e)
    concordant = 0.0
    tied = 0.0
    usable = 0
    for start in range(0, idx_event.size, chunk_size):  # blocks of rows, each fully vectorised
        rows = idx_event[start:start + chunk_size]
        ti, ri = t[rows, None], r[rows, None]
        comparable = (t[None, :] > ti) | ((t[None, :] == ti) & ~e[None, :])
        usable += int(comparable.sum())
        concordant += float(np.sum(comparable & (ri > r[None, :])))
        tied += float(np.sum(comparable & (ri == r[None, :])))
    if usable == 0:
        raise UndefinedMetricError(f"{fn}: no comparable pair (needs an event before another time)")
    return (concordant + 0.5 * tied) / usable


# ----------------------------------------------------------------------------- Kaplan-Meier
def _survival_inputs(fn: str, time, event):
    t = chk.finite(fn, "time", chk.vector(fn, "time", time)).astype(np.float64)
    e = np.ones_like(t, dtype=bool) if event is None else chk.vector(fn, "event", event)
    chk.same_length(fn, time=t, event=e)
    chk.nonempty(fn, time=t)
    return t, chk.binary_labels(fn, "event", e).astype(bool)


def kaplan_meier(time, event=None) -> dict:
    """The Kaplan-Meier estimate of the survival function S(t) = P(T > t).

        S(t) = prod over event times t_m <= t of (1 - d_m / n_m),

    d_m the events at t_m and n_m the patients still at risk (time >= t_m) just before it
    (Kaplan & Meier, J. Am. Stat. Assoc. 53, 1958). Censored patients leave the risk set after
    their time without making S drop. Greenwood's formula gives the variance,
    Var S(t) = S(t)^2 sum_{t_m <= t} d_m / (n_m (n_m - d_m)).

    time: (N,); event: (N,) 1 = event, 0 = censored (default: all events). Returns a dict of
    (M + 1,) arrays on the timeline 0 followed by every distinct observed time (event or
    censoring), as lifelines' KaplanMeierFitter tabulates it: ``time``, ``survival`` (S just
    after each time; a step function, right-continuous), ``at_risk``, ``events``, ``censored``,
    ``variance`` (Greenwood; 0 once S reaches 0).
    """
    fn = "kaplan_meier"
    t, e = _survival_inputs(fn, time, event)
    if (t < 0).any():
        raise ValueError(f"{fn}: times must be non-negative, got min {t.min()}")
    timeline = np.unique(t)
    idx = np.searchsorted(timeline, t)
    events = np.bincount(idx, weights=e, minlength=timeline.size)
    removed = np.bincount(idx, minlength=timeline.size)
    at_risk = t.size - np.r_[0, np.cumsum(removed)[:-1]]  # n_m: not yet removed before t_m
    factor = 1.0 - events / at_risk
    survival = np.cumprod(factor)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(events > 0, events / (at_risk * (at_risk - events)), 0.0)
        # once everyone left has the event, S = 0 exactly and its variance is 0 (the sum diverges)
        variance = np.where(survival > 0, survival**2 * np.cumsum(terms), 0.0)
    start = 0.0 if timeline[0] > 0 else None
    out = {
        "time": timeline,
        "survival": survival,
        "at_risk": at_risk.astype(np.int64),
        "events": events.astype(np.int64),
        "censored": (removed - events).astype(np.int64),
        "variance": variance,
    }
    if start is not None:  # prepend t = 0, where S = 1 and everyone is at risk
        out = {
            "time": np.r_[0.0, timeline],
            "survival": np.r_[1.0, survival],
            "at_risk": np.r_[t.size, out["at_risk"]],
            "events": np.r_[0, out["events"]],
            "censored": np.r_[0, out["censored"]],
            "variance": np.r_[0.0, variance],
        }
    return out


def survival_at(km: dict, times) -> np.ndarray:
    """S(t) of a kaplan_meier result at the given times (the step function read to the left of
    the next jump, i.e. right-continuous)."""
    times = np.asarray(times, dtype=np.float64)
    idx = np.searchsorted(km["time"], times, side="right") - 1
    return np.where(idx >= 0, km["survival"][np.maximum(idx, 0)], 1.0)


def median_survival(km: dict) -> float:
    """The first time at which S(t) <= 0.5 (inf when the curve never gets there)."""
    below = np.flatnonzero(km["survival"] <= 0.5)
    return float(km["time"][below[0]]) if below.size else float("inf")


# ----------------------------------------------------------------------------- log-rank test
def logrank_test(time, event, group) -> dict:
    """The log-rank test of equal survival in K groups (Mantel 1966; Peto & Peto 1972).

    At each distinct event time t_m, with n_m at risk and d_m events overall and n_km at risk in
    group k, the hypergeometric model of "no difference" expects E_km = d_m n_km / n_m of the
    events in group k, with covariance
        V_kl,m = d_m (n_km / n_m) (delta_kl - n_lm / n_m) (n_m - d_m) / (n_m - 1).
    Summing over times, O - E and V (K x K) give the statistic chi2 = (O - E)^T V^+ (O - E), on
    K - 1 degrees of freedom (V has rank K - 1; the last group is dropped). With two groups this is
    (O_1 - E_1)^2 / V_11. Returns {"statistic", "p_value", "df", "observed" (K,), "expected" (K,),
    "groups" (K,)}; agrees with lifelines' logrank_test / multivariate_logrank_test.
    """
    from scipy import stats

    fn = "logrank_test"
    t, e = _survival_inputs(fn, time, event)
    g = chk.vector(fn, "group", group)
    chk.same_length(fn, time=t, group=g)
    groups, gi = np.unique(g, return_inverse=True)
    k = groups.size
    if k < 2:
        raise UndefinedMetricError(f"{fn}: needs at least two groups, got {k}")
    if not e.any():
        raise UndefinedMetricError(f"{fn}: no events, the test has no information")
    event_times = np.unique(t[e])
    # n_km: patients of group k with time >= t_m; d_km: events of group k at t_m. (M, K) tables,
    # from sorted times per group (K is small; the work per group is vectorised over times).
    n_km = np.empty((event_times.size, k))
    d_km = np.empty((event_times.size, k))
    for j in range(k):
        tj = np.sort(t[gi == j])
        n_km[:, j] = tj.size - np.searchsorted(tj, event_times, side="left")
        te = np.sort(t[(gi == j) & e])
        d_km[:, j] = np.searchsorted(te, event_times, side="right") - np.searchsorted(te, event_times, side="left")
    n_m = n_km.sum(1)
    d_m = d_km.sum(1)
    share = n_km / n_m[:, None]
    expected = (d_m[:, None] * share).sum(0)
    observed = d_km.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ties = np.where(n_m > 1, (n_m - d_m) / (n_m - 1), 0.0)  # a single patient at risk: no variance
    weight = d_m * ties
    cov = np.einsum("m,mk,kl->kl", weight, share, np.eye(k)) - np.einsum("m,mk,ml->kl", weight, share, share)
    diff = (observed - expected)[:-1]
    v = cov[:-1, :-1]
    statistic = float(diff @ np.linalg.pinv(v) @ diff)
    df = k - 1
    return {
        "statistic": statistic,
        "p_value": float(stats.chi2.sf(statistic, df)),
        "df": df,
        "observed": observed,
        "expected": expected,
        "groups": groups,
    }


# ----------------------------------------------------------------------------- Brier score
def breslow_cumulative_hazard(time, event, risk) -> tuple[np.ndarray, np.ndarray]:
    """Breslow's estimate of the baseline cumulative hazard of a Cox model with scores ``risk``:

        H0(t) = sum over event times t_m <= t of d_m / sum_{j: t_j >= t_m} exp(eta_j).

    Returns (event_times (M,), H0 at them (M,)); S(t | x) = exp(-H0(t) exp(eta(x))).
    """
    fn = "breslow_cumulative_hazard"
    t, e = _survival_inputs(fn, time, event)
    r = chk.finite(fn, "risk", chk.vector(fn, "risk", risk)).astype(np.float64)
    chk.same_length(fn, time=t, risk=r)
    times = np.unique(t[e])
    order = np.argsort(t)
    w = np.exp(r[order] - r.max())  # shifted for overflow; the shift is undone below
    tail = np.cumsum(w[::-1])[::-1]  # sum of w over t_j >= t_(k) in sorted order
    first = np.searchsorted(t[order], times, side="left")
    deaths = np.searchsorted(np.sort(t[e]), times, side="right") - np.searchsorted(np.sort(t[e]), times, side="left")
    return times, np.cumsum(deaths / (tail[first] * np.exp(r.max())))


def cox_survival(h0_times, h0, risk, times) -> np.ndarray:
    """S(t | x_i) = exp(-H0(t) exp(eta_i)) at ``times`` (T,) for scores ``risk`` (N,): (N, T)."""
    idx = np.searchsorted(np.asarray(h0_times), np.asarray(times, dtype=np.float64), side="right") - 1
    h = np.where(idx >= 0, np.asarray(h0)[np.maximum(idx, 0)], 0.0)
    return np.exp(-h[None, :] * np.exp(np.asarray(risk, dtype=np.float64))[:, None])


def brier_scores(time, event, survival, times, censor_time=None, censor_event=None) -> np.ndarray:
    """The censoring-weighted Brier score at each of ``times`` (Graf et al., Stat. Med. 18, 1999):

        BS(t) = mean_i [ S_i(t)^2 [t_i <= t, event_i] / G(t_i-) + (1 - S_i(t))^2 [t_i > t] / G(t) ],

    the squared error of the predicted survival probability S_i(t) against "alive at t", with each
    patient whose status at t is known weighted by the inverse probability G of not being censored
    by then (Kaplan-Meier of the censoring times: ``censor_time``/``censor_event``, by default the
    evaluated patients themselves, censoring being the "event"). survival: (N, T). Returns (T,).
    """
    fn = "brier_scores"
    t, e = _survival_inputs(fn, time, event)
    s = np.asarray(survival, dtype=np.float64)
    grid = np.asarray(times, dtype=np.float64)
    if s.shape != (t.size, grid.size):
        raise ValueError(f"{fn}: survival must be (N, T) = ({t.size}, {grid.size}), got {s.shape}")
    ct, ce = (t, e) if censor_time is None else _survival_inputs(fn, censor_time, censor_event)
    g = kaplan_meier(ct, ~ce)  # the censoring distribution
    g_at = survival_at(g, grid)
    # G(t_i-): the censoring survival just before t_i (the step function read left of t_i)
    idx = np.searchsorted(g["time"], t, side="left") - 1
    g_before = np.where(idx >= 0, g["survival"][np.maximum(idx, 0)], 1.0)
    if (g_at <= 0).any():
        raise UndefinedMetricError(f"{fn}: times reach beyond the last censoring-free follow-up (G(t) = 0)")
    died = (t[:, None] <= grid[None, :]) & e[:, None]
    alive = t[:, None] > grid[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(died, s**2 / g_before[:, None], 0.0) + np.where(alive, (1 - s) ** 2 / g_at[None, :], 0.0)
    return terms.mean(0)


def integrated_brier_score(time, event, survival, times, censor_time=None, censor_event=None) -> float:
    """The Brier score integrated over ``times`` (trapezoids) and divided by their span: 0 is perfect,
    0.25 is what the constant prediction S = 0.5 scores."""
    grid = np.asarray(times, dtype=np.float64)
    if grid.size < 2 or np.any(np.diff(grid) <= 0):
        raise ValueError("integrated_brier_score: times must be at least 2 increasing values")
    bs = brier_scores(time, event, survival, grid, censor_time, censor_event)
    return float(np.sum(np.diff(grid) * (bs[1:] + bs[:-1]) / 2) / (grid[-1] - grid[0]))
