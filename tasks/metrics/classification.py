"""Metrics on predicted class labels: confusion matrix, accuracy, precision/recall/F1, kappa.

Labels are integer class indices 0..K-1 (shape (N,) or (N, 1)); for the binary metrics 1 is
the positive class (the disease) and 0 the negative one. Everything is derived from the
confusion matrix C, with C[i, j] = number of samples of true class i predicted as class j
(rows = truth, columns = prediction, as in scikit-learn).

References: Sokolova & Lapalme, "A systematic analysis of performance measures for
classification tasks", Inf. Process. Manag. 45 (2009); Cohen, Educ. Psychol. Meas. 20 (1960)
for kappa and Cohen, Psychol. Bull. 70 (1968) for the weighted kappa.
"""

from __future__ import annotations

import numpy as np

from tasks.metrics import _checks as chk
from tasks.metrics._checks import UndefinedMetricError

_AVERAGES = ("binary", "macro", "micro", "weighted", None)


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """(K, K) int64 counts, C[i, j] = #(true class i, predicted class j).

    n_classes: K; by default 1 + the largest label seen in either input.
    """
    t, p, k = chk.label_pair("confusion_matrix", y_true, y_pred, n_classes)
    # Each (true, pred) pair is one cell of a flattened K*K table: one bincount counts them all.
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted label equals the true label."""
    t, p, _ = chk.label_pair("accuracy", y_true, y_pred, None)
    return float(np.mean(t == p))


def balanced_accuracy(y_true, y_pred, n_classes: int | None = None) -> float:
    """Mean per-class recall over the classes present in y_true (scikit-learn's definition).

    Unlike accuracy it is not inflated by a majority class: always predicting the majority of
    a 95 / 5 split scores 0.95 accuracy but 0.5 balanced accuracy.
    """
    cm = confusion_matrix(y_true, y_pred, n_classes)
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def _safe_ratio(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, float(zero_division))
    np.divide(num, den, out=out, where=den > 0)
    return out


def precision_recall_f1(
    y_true, y_pred, average: str | None = "binary", n_classes: int | None = None, zero_division: float = 0.0
):
    """Precision TP/(TP+FP), recall TP/(TP+FN) and F1 = 2TP/(2TP+FP+FN), per class or averaged.

    average:
      "binary"   -- the scores of the positive class 1 (labels must be 0/1);
      "macro"    -- unweighted mean over classes;
      "weighted" -- mean over classes weighted by their support (number of true samples);
      "micro"    -- from the pooled TP/FP/FN counts (equals accuracy for single-label data);
      None       -- three (K,) arrays, one value per class.
    The classes averaged over are those present in y_true or y_pred, or all of 0..n_classes-1
    when n_classes is given (scikit-learn's ``labels=range(n_classes)``).
    zero_division: value used where a ratio has a zero denominator (scikit-learn's default
    behaviour gives 0 with a warning). Returns (precision, recall, f1) as floats or arrays.
    """
    fn = "precision_recall_f1"
    if average not in _AVERAGES:
        raise ValueError(f"{fn}: average must be one of {_AVERAGES}, got {average!r}")
    if average == "binary":
        t, p, _ = chk.label_pair(fn, y_true, y_pred, None)
        chk.binary_labels(fn, "y_true", t)
        chk.binary_labels(fn, "y_pred", p)
        y_true, y_pred, n_classes = t, p, 2
    cm = confusion_matrix(y_true, y_pred, n_classes).astype(np.float64)
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn_ = cm.sum(axis=1) - tp
    support = cm.sum(axis=1)
    if average == "binary":
        tp, fp, fn_ = tp[1:], fp[1:], fn_[1:]
    elif average == "micro":
        tp, fp, fn_ = tp.sum(keepdims=True), fp.sum(keepdims=True), fn_.sum(keepdims=True)
    prec = _safe_ratio(tp, tp + fp, zero_division)
    rec = _safe_ratio(tp, tp + fn_, zero_division)
    f1 = _safe_ratio(2 * tp, 2 * tp + fp + fn_, zero_division)
    if average in ("binary", "micro"):
        return float(prec[0]), float(rec[0]), float(f1[0])
    if average is None:
        return prec, rec, f1
    # Macro/weighted: classes absent from both inputs carry no information unless the caller
    # fixed the label set with n_classes.
    keep = np.ones_like(support, dtype=bool) if n_classes is not None else (cm.sum(0) + support) > 0
    if average == "macro":
        return float(prec[keep].mean()), float(rec[keep].mean()), float(f1[keep].mean())
    w = support[keep]
    if w.sum() == 0:
        return float(zero_division), float(zero_division), float(zero_division)
    return tuple(float(np.average(m[keep], weights=w)) for m in (prec, rec, f1))


def precision(y_true, y_pred, average: str | None = "binary", n_classes: int | None = None,
              zero_division: float = 0.0):
    """Precision (positive predictive value); see precision_recall_f1 for ``average``."""
    return precision_recall_f1(y_true, y_pred, average, n_classes, zero_division)[0]


def recall(y_true, y_pred, average: str | None = "binary", n_classes: int | None = None,
           zero_division: float = 0.0):
    """Recall (sensitivity, true-positive rate); see precision_recall_f1 for ``average``."""
    return precision_recall_f1(y_true, y_pred, average, n_classes, zero_division)[1]


def f1_score(y_true, y_pred, average: str | None = "binary", n_classes: int | None = None,
             zero_division: float = 0.0):
    """F1, the harmonic mean of precision and recall; see precision_recall_f1 for ``average``."""
    return precision_recall_f1(y_true, y_pred, average, n_classes, zero_division)[2]


def sensitivity_specificity(y_true, y_pred) -> tuple[float, float]:
    """(sensitivity, specificity) of binary predictions: TP/(TP+FN) and TN/(TN+FP).

    Raises UndefinedMetricError when y_true lacks positives (sensitivity undefined) or
    negatives (specificity undefined).
    """
    fn = "sensitivity_specificity"
    t, p, _ = chk.label_pair(fn, y_true, y_pred, None)
    chk.binary_labels(fn, "y_true", t)
    chk.binary_labels(fn, "y_pred", p)
    n_pos = int(t.sum())
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise UndefinedMetricError(
            f"{fn}: y_true has {n_pos} positives and {n_neg} negatives; both classes are needed"
        )
    tp = int(np.sum((t == 1) & (p == 1)))
    tn = int(np.sum((t == 0) & (p == 0)))
    return tp / n_pos, tn / n_neg


def cohen_kappa(y_true, y_pred, weights: str | None = None, n_classes: int | None = None) -> float:
    """Cohen's kappa, agreement corrected for chance: kappa = 1 - sum(W*O) / sum(W*E).

    O is the observed confusion matrix (as proportions), E = outer(row marginals, column
    marginals) is the matrix expected if the two raters were independent, and W the
    disagreement weights: 1 off the diagonal (weights=None), |i - j| ("linear") or (i - j)^2
    ("quadratic", for ordinal grades such as diabetic-retinopathy severity).
    Weights use the class values 0..K-1, so a skipped grade still counts as a distance of 2
    (scikit-learn weighs by position in the list of classes present; pass it
    ``labels=range(K)`` to get the same numbers). Raises UndefinedMetricError when the
    expected disagreement is zero (e.g. both raters always give the same single class).
    """
    fn = "cohen_kappa"
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"{fn}: weights must be None, 'linear' or 'quadratic', got {weights!r}")
    cm = confusion_matrix(y_true, y_pred, n_classes).astype(np.float64)
    k = cm.shape[0]
    observed = cm / cm.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    i, j = np.indices((k, k))
    if weights is None:
        w = (i != j).astype(np.float64)
    elif weights == "linear":
        w = np.abs(i - j).astype(np.float64)
    else:
        w = ((i - j) ** 2).astype(np.float64)
    denom = float(np.sum(w * expected))
    if denom == 0.0:
        raise UndefinedMetricError(f"{fn}: chance disagreement is zero (a single class in both inputs)")
    return 1.0 - float(np.sum(w * observed)) / denom


def quadratic_weighted_kappa(y_true, y_pred, n_classes: int | None = None) -> float:
    """Cohen's kappa with quadratic weights (the Kaggle/EyePACS retinopathy grading metric)."""
    return cohen_kappa(y_true, y_pred, weights="quadratic", n_classes=n_classes)
