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
