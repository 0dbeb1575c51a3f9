"""Metric contracts: bad input refused with one line naming the metric and argument; edge cases pinned.

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
    binary_shapes = "medmnist_evaluate: binary-class y_score must be (N,), (N, 1) or (N, 2)"
    with pytest.raises(ValueError, match=re.escape(binary_shapes)):
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


def test_overlap_metrics_score_a_single_stray_pixel_as_a_miss_and_return_floats():
    empty, one = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    one[1, 2] = True
    for metric in (M.dice, M.iou):
        assert metric(one, empty) == 0.0 and metric(empty, one) == 0.0  # one pixel against none: no overlap
        assert metric(empty, empty) == 1.0 and metric(one, one) == 1.0  # both empty: agreement (MONAI's rule)
        assert type(metric(one, one)) is float
        per = metric(np.stack([one, empty]), np.stack([one, one]), per_sample=True)
        assert per.tolist() == [1.0, 0.0]


def test_sensitivity_and_specificity_need_one_case_of_each_class_and_no_more():
    assert M.sensitivity_specificity([1, 1, 0], [1, 0, 0]) == (0.5, 1.0)  # a single negative is enough
    assert M.sensitivity_specificity([0, 0, 1], [1, 0, 1]) == (1.0, 0.5)
    with pytest.raises(M.UndefinedMetricError, match="0 positives and 3 negatives"):
        M.sensitivity_specificity([0, 0, 0], [1, 0, 0])


def test_a_medmnist_label_column_scores_like_a_label_vector():
    y = np.array([0, 2, 1, 2, 0, 1])
    probs = np.random.default_rng(0).dirichlet(np.ones(3), size=6)
    assert M.roc_auc(y[:, None], probs) == M.roc_auc(y, probs)
    assert M.average_precision(y[:, None], probs) == M.average_precision(y, probs)
