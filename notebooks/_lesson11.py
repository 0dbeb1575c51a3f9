"""Exercise checkers of lesson 11 (prediction: grades, survival, connectomes). Each prints "Correct" or a
hint and returns True/False; an unanswered exercise (a function returning None or raising
NotImplementedError) never stops the notebook."""

from __future__ import annotations

import numpy as np

from _checking import attempt as _call
from _checking import report as _report


def check_c_index(fn) -> bool:
    """fn(time, risk, event) -> Harrell's C-index; compared with tasks.metrics.concordance_index on
    data with censoring, tied times and tied risks."""
    from tasks.metrics import concordance_index

    rng = np.random.default_rng(0)
    t = rng.integers(1, 10, 40).astype(float)  # tied times
    e = rng.random(40) < 0.6
    r = np.round(rng.normal(size=40), 1)  # tied risks
    out, err = _call(fn, t, r, e)
    if err:
        return _report(False, err)
    want = concordance_index(t, r, e)
    if abs(float(out) - want) < 1e-9:
        return _report(True, "")
    no_ties = concordance_index(t, r + 1e-9 * np.arange(40), e)
    hint = (f"got {float(out):.4f}, expected {want:.4f}. Usable pairs: the earlier time must be an event; at equal "
            f"times a censored patient counts as outliving an event; tied risks score 1/2")
    if abs(float(out) - no_ties) < 0.02:
        hint += " (are tied risks scored 1/2?)"
    return _report(False, hint)


def check_kaplan_meier(fn) -> bool:
    """fn(time, event) -> (times, survival): S just after each distinct event time, ascending."""
    from tasks.metrics.survival import kaplan_meier, survival_at

    rng = np.random.default_rng(1)
    t = rng.integers(1, 15, 50).astype(float)
    e = rng.random(50) < 0.7
    out, err = _call(fn, t, e)
    if err:
        return _report(False, err)
    try:
        times, surv = (np.asarray(a, dtype=float) for a in out)
    except (TypeError, ValueError):
        return _report(False, "return a pair (times, survival) of arrays")
    want_times = np.unique(t[e])
    if times.shape != want_times.shape or not np.allclose(times, want_times):
        return _report(False, f"times must be the {want_times.size} distinct event times in increasing order")
    want = survival_at(kaplan_meier(t, e), want_times)
    if np.allclose(surv, want, atol=1e-9):
        return _report(True, "")
    return _report(False, "S(t) = product over event times t_m <= t of (1 - d_m / n_m), with n_m the patients whose "
                          "time is >= t_m (censored ones stay at risk until their own time)")


def check_edge_to_node(fn) -> bool:
    """fn(A (N, C, R, R), W (O, C, R), b (O,)) -> (N, O, R): BrainNetCNN's edge-to-node sums."""
    import engine
    from models.brainnetcnn import EdgeToNode

    rng = np.random.default_rng(2)
    layer = EdgeToNode(3, 4, 6).double()
    a = rng.normal(size=(2, 3, 6, 6))
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    out, err = _call(fn, a, w, b)
    if err:
        return _report(False, err)
    want = layer(engine.tensor(a)).detach().numpy()[..., 0]
    out = np.asarray(out, dtype=float)
    if out.shape == want.shape and np.allclose(out, want, atol=1e-9):
        return _report(True, "")
    if out.shape == want.shape and np.allclose(out, np.einsum("ock,ncki->noi", w, a) + b[None, :, None], atol=1e-9):
        return _report(False, "you summed over the column of region i; E2N sums its row: A[n, c, i, k] over c and k")
    return _report(False, f"expected shape {want.shape}: out[n, o, i] = sum_c sum_k W[o, c, k] A[n, c, i, k] + b[o]")
