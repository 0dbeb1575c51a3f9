"""Every metric refuses bad input with one line that names the metric and the argument.

A user who passes scores of the wrong length, NaNs, None or nothing learns which call and which
argument is wrong. (Metrics built on another say the one that checked: balanced accuracy and the
kappas are computed from ``confusion_matrix``, precision/recall/F1 by ``precision_recall_f1``.)
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import tasks.metrics as M

Y = np.array([0, 1, 1, 0, 1])
S = np.array([0.1, 0.8, 0.6, 0.3, 0.9])
NAN = np.array([0.1, 0.8, np.nan, 0.3, 0.9])

# metric -> (the name its messages carry, its two argument names, whether the second is a score)
METRICS = {
    "accuracy": ("accuracy", "y_true", "y_pred", False),
    "balanced_accuracy": ("confusion_matrix", "y_true", "y_pred", False),
    "cohen_kappa": ("confusion_matrix", "y_true", "y_pred", False),
    "quadratic_weighted_kappa": ("confusion_matrix", "y_true", "y_pred", False),
    "confusion_matrix": ("confusion_matrix", "y_true", "y_pred", False),
    "precision": ("precision_recall_f1", "y_true", "y_pred", False),
    "recall": ("precision_recall_f1", "y_true", "y_pred", False),
    "f1_score": ("precision_recall_f1", "y_true", "y_pred", False),
    "precision_recall_f1": ("precision_recall_f1", "y_true", "y_pred", False),
    "sensitivity_specificity": ("sensitivity_specificity", "y_true", "y_pred", False),
    "mean_absolute_error": ("mean_absolute_error", "y_true", "y_pred", True),
    "mean_squared_error": ("mean_squared_error", "y_true", "y_pred", True),
    "pearson_r": ("pearson_r", "x", "y", True),
    "spearman_r": ("spearman_r", "x", "y", True),
    "roc_auc": ("roc_auc", "y_true", "y_score", True),
    "roc_curve": ("roc_curve", "y_true", "y_score", True),
    "average_precision": ("average_precision", "y_true", "y_score", True),
    "precision_recall_curve": ("precision_recall_curve", "y_true", "y_score", True),
}
SAME_SHAPE = {"mean_absolute_error", "mean_squared_error", "pearson_r"}  # element-wise: any shape, same for both


def _raises(exc, message, fn, *args):
    with pytest.raises(exc) as info:
        fn(*args)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_bad_input_names_the_metric_and_the_argument(metric):
    fn = getattr(M, metric)
    name, a, b, scored = METRICS[metric]
    second = S if scored else Y
    if metric in SAME_SHAPE:
        _raises(ValueError, f"{name}: inputs must have the same shape, got {a} (5,), {b} (4,)", fn, Y, second[:4])
    else:
        _raises(ValueError, f"{name}: inputs must have the same number of samples, got {a} (5,), {b} (4,)",
                fn, Y, second[:4])
    _raises(TypeError, f"{name}: {a} is None", fn, None, second)
    _raises(TypeError, f"{name}: {b} is None", fn, Y, None)
    _raises(ValueError, f"{name}: {a} is empty (shape (0,))", fn, Y[:0], second[:0])
    if scored:
        _raises(ValueError, f"{name}: {b} contains NaN or infinite values", fn, Y, NAN)
    else:
        _raises(ValueError, f"{name}: {b} must hold integer class indices, got non-integer values", fn, Y, NAN)
        _raises(ValueError, f"{name}: {a} has negative class index -1; classes are 0..K-1", fn, Y - 1, Y)


def test_medmnist_evaluator_messages():
    ev = M.medmnist_evaluate
    _raises(ValueError, "medmnist_evaluate: inputs must have the same number of samples, got y_true (5,), "
                        "y_score (4,)", ev, "binary-class", Y, S[:4])
    _raises(ValueError, "medmnist_evaluate: y_score contains NaN or infinite values", ev, "binary-class", Y, NAN)
    _raises(TypeError, "medmnist_evaluate: y_true is None", ev, "binary-class", None, S)
    _raises(ValueError, "medmnist_evaluate: y_true is empty (shape (0,))", ev, "binary-class", Y[:0], S[:0])
    both = np.stack([S, S], 1)
    _raises(ValueError, "medmnist_evaluate: multi-label needs y_true and y_score of the same shape (N, L), got (5,) "
                        "and (5, 2)", ev, "multi-label, binary-class", Y, both)
    _raises(ValueError, "medmnist_evaluate: multi-label needs y_true and y_score of the same shape (N, L), got (5, 2) "
                        "and (5, 3)", ev, "multi-label, binary-class", np.stack([Y, Y], 1), np.stack([S, S, S], 1))
    with pytest.raises(ValueError, match=re.escape("medmnist_evaluate: binary-class y_score must be (N,) or (N, 2)")):
        ev("binary-class", Y, np.stack([S, S, S], 1))
    # the official alias of ordinal regression scores like multi-class
    probs = np.eye(3)[[0, 1, 2, 1, 0]] * 0.8 + 0.1
    assert ev("ordinal-regression", np.array([0, 1, 2, 1, 0]), probs) == ev("multi-class", np.array([0, 1, 2, 1, 0]),
                                                                             probs)


def test_concordance_index_messages():
    _raises(ValueError, "concordance_index: inputs must have the same number of samples, got time (5,), risk (4,), "
                        "event (5,)", M.concordance_index, S, S[:4])
    _raises(ValueError, "concordance_index: risk contains NaN or infinite values", M.concordance_index, S, NAN)


def test_binary_scores_may_be_a_column_or_two_class_probabilities_but_not_three():
    ev = M.medmnist_evaluate
    flat = ev("binary-class", Y, S)
    assert ev("binary-class", Y, S[:, None]) == flat == ev("binary-class", Y, np.stack([1 - S, S], 1))
    assert ev("binary-class", Y, np.stack([S, 1 - S], 1))["auc"] == pytest.approx(1 - flat["auc"])
