"""Metrics on continuous scores: ROC curve and AUC, precision-recall curve and average precision.

A binary classifier outputs a score s (higher = more likely positive); every threshold t gives
a decision "positive if s >= t". Sweeping t over the distinct scores, from high to low, traces

* the ROC curve: false-positive rate FP/N against true-positive rate TP/P;
* the precision-recall curve: recall TP/P against precision TP/(TP+FP).

Samples with equal scores enter the curve together (one point per distinct threshold), which
makes the trapezoidal area under the ROC curve equal to the Mann-Whitney statistic
    AUC = P(s_pos > s_neg) + 0.5 P(s_pos = s_neg)
(Hanley & McNeil, Radiology 143, 1982). Conventions follow scikit-learn's roc_curve,
roc_auc_score, precision_recall_curve and average_precision_score.

Shapes accepted by ``roc_auc`` and ``average_precision``:
  y_true (N,) labels 0/1,   y_score (N,)   -> binary;
  y_true (N,) labels 0..K-1, y_score (N, K) -> multi-class, one-vs-rest per class;
  y_true (N, L) 0/1,         y_score (N, L) -> multi-label, one binary problem per column.
"""

from __future__ import annotations

import numpy as np

from tasks.metrics import _checks as chk
from tasks.metrics._checks import UndefinedMetricError


def _binary_inputs(fn: str, y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    t = chk.vector(fn, "y_true", y_true)
    s = chk.finite(fn, "y_score", chk.vector(fn, "y_score", y_score))
    chk.same_length(fn, y_true=t, y_score=s)
    chk.nonempty(fn, y_true=t)
    return chk.binary_labels(fn, "y_true", t), s


def _counts_at_thresholds(t: np.ndarray, s: np.ndarray):
    """Cumulative FP and TP counts at each distinct score, thresholds in decreasing order."""
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    t_sorted = t[order]
    # The last index of each run of equal scores is where that threshold's counts are read.
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(t_sorted)[last_of_run]
    fps = (last_of_run + 1) - tps
    return fps, tps, s_sorted[last_of_run]


def roc_curve(y_true, y_score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve of a binary problem: (fpr, tpr, thresholds), each (M + 1,).

    y_true: (N,) 0/1 labels; y_score: (N,) scores, higher = positive. One point per distinct
    score, preceded by the point (0, 0) at threshold +inf (scikit-learn's
    ``roc_curve(..., drop_intermediate=False)``). Raises UndefinedMetricError if y_true holds a
    single class (one of the two rates has no denominator).
    """
    fn = "roc_curve"
    t, s = _binary_inputs(fn, y_true, y_score)
    n_pos = int(t.sum())
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise UndefinedMetricError(
            f"{fn}: ROC needs both classes in y_true, got {n_pos} positives and {n_neg} negatives"
        )
    fps, tps, thr = _counts_at_thresholds(t, s)
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    return fpr, tpr, np.r_[np.inf, thr]


def _binary_auc(t: np.ndarray, s: np.ndarray, fn: str) -> float:
    n_pos = int(t.sum())
    if n_pos == 0 or n_pos == t.size:
        raise UndefinedMetricError(
            f"{fn}: AUC needs both classes in y_true, got {n_pos} positives and {t.size - n_pos} negatives"
        )
    fpr, tpr, _ = roc_curve(t, s)
    # Trapezoids between consecutive distinct thresholds: a block of tied scores mixing
    # positives and negatives becomes one diagonal segment, i.e. each tied pair counts 1/2.
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def _binary_ap(t: np.ndarray, s: np.ndarray, fn: str) -> float:
    n_pos = int(t.sum())
    if n_pos == 0:
        raise UndefinedMetricError(f"{fn}: average precision needs at least one positive in y_true")
    fps, tps, _ = _counts_at_thresholds(t, s)
    prec = tps / (tps + fps)
    rec = tps / n_pos
    # AP = sum_n (R_n - R_{n-1}) P_n: a step-wise (not interpolated) area under the PR curve.
    return float(np.sum(np.diff(np.r_[0.0, rec]) * prec))


def _per_column(fn: str, y_true, y_score, binary_metric) -> np.ndarray:
    """Apply a binary metric to each column (one-vs-rest or multi-label); returns (K,)."""
    s = chk.finite(fn, "y_score", chk.host(fn, "y_score", y_score))
    t = chk.host(fn, "y_true", y_true)
    if s.ndim != 2:
        raise ValueError(f"{fn}: y_score must be (N,) or (N, K), got shape {s.shape}")
    if t.ndim == 2 and t.shape[1] == 1 and s.shape[1] != 1:  # MedMNIST's (N, 1) label column
        t = t[:, 0]
    chk.same_length(fn, y_true=t, y_score=s)
    chk.nonempty(fn, y_true=t)
    if t.ndim == 1:  # multi-class: column k scores "class k versus the rest"
        t = chk.labels(fn, "y_true", t, n_classes=s.shape[1])
        onehot = t[:, None] == np.arange(s.shape[1])[None, :]
    elif t.shape == s.shape:  # multi-label indicator matrix
        onehot = chk.binary_labels(fn, "y_true", t).astype(bool)
    else:
        raise ValueError(f"{fn}: y_true {t.shape} does not match y_score {s.shape}; expected (N,) or (N, K)")
    out = np.empty(s.shape[1])
    for k in range(s.shape[1]):  # K binary problems (a handful), not a loop over samples
        try:
            out[k] = binary_metric(onehot[:, k].astype(np.int64), s[:, k], fn)
        except UndefinedMetricError as err:
            raise UndefinedMetricError(f"{err} (column/class {k})") from None
    return out


def roc_auc(y_true, y_score, average: str | None = "macro"):
    """Area under the ROC curve (trapezoidal, ties count 1/2 as in the Mann-Whitney statistic).

    Binary (y_score (N,)): a float. Multi-class (y_true (N,) labels 0..K-1, y_score (N, K)):
    one-vs-rest AUC of each class; multi-label (y_true (N, L)): AUC of each column.
    average="macro" returns their unweighted mean, None the (K,) array.
    Raises UndefinedMetricError when a binary problem has a single class.
    """
    fn = "roc_auc"
    if average not in ("macro", None):
        raise ValueError(f"{fn}: average must be 'macro' or None, got {average!r}")
    s = chk.host(fn, "y_score", y_score)
    if s.ndim == 1:
        t, s = _binary_inputs(fn, y_true, s)
        return _binary_auc(t, s, fn)
    per_class = _per_column(fn, y_true, s, _binary_auc)
    return float(per_class.mean()) if average == "macro" else per_class


def precision_recall_curve(y_true, y_score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) of a binary problem, as scikit-learn returns them.

    thresholds: (M,) distinct scores in increasing order; precision and recall are (M + 1,):
    entry m is the operating point "positive if score >= thresholds[m]", and the last entry is
    the conventional end point (precision 1, recall 0). Needs at least one positive.
    """
    fn = "precision_recall_curve"
    t, s = _binary_inputs(fn, y_true, y_score)
    n_pos = int(t.sum())
    if n_pos == 0:
        raise UndefinedMetricError(f"{fn}: recall is undefined without positives in y_true")
    fps, tps, thr = _counts_at_thresholds(t, s)
    prec = tps / (tps + fps)
    rec = tps / n_pos
    return np.r_[prec[::-1], 1.0], np.r_[rec[::-1], 0.0], thr[::-1]


def average_precision(y_true, y_score, average: str | None = "macro"):
    """Average precision AP = sum_n (R_n - R_{n-1}) P_n over decreasing thresholds.

    This is scikit-learn's average_precision_score (no interpolation of the PR curve).
    Shapes and ``average`` as in roc_auc. Raises UndefinedMetricError without positives.
    """
    fn = "average_precision"
    if average not in ("macro", None):
        raise ValueError(f"{fn}: average must be 'macro' or None, got {average!r}")
    s = chk.host(fn, "y_score", y_score)
    if s.ndim == 1:
        t, s = _binary_inputs(fn, y_true, s)
        return _binary_ap(t, s, fn)
    per_class = _per_column(fn, y_true, s, _binary_ap)
    return float(per_class.mean()) if average == "macro" else per_class
