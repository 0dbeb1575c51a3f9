"""Specification of tasks.metrics: reference libraries on random inputs (with ties), hand-computed
cases, and the error contract. Comparisons skip, with the reason shown, when the reference
library is not importable."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tasks import metrics as M
from tasks.metrics import UndefinedMetricError


def _skip_without(module: str):
    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f"{module} not importable: comparison with the reference skipped")


needs_sklearn = _skip_without("sklearn")
needs_skimage = _skip_without("skimage")
needs_scipy_stats = _skip_without("scipy")


def _tied_scores(rng, n):
    """Scores on a coarse grid, so that many samples tie (the case AUC conventions differ on)."""
    return rng.integers(0, 6, n) / 5.0


# ============================================================================ classification


def test_confusion_matrix_rows_are_truth_columns_are_predictions():
    cm = M.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2])
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert cm.dtype == np.int64
    assert M.confusion_matrix([0, 1], [1, 1], n_classes=4).shape == (4, 4)


@needs_sklearn
@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_label_metrics_match_sklearn_on_random_labels():
    from sklearn import metrics as skm

    rng = np.random.default_rng(0)
    for trial in range(5):
        k = int(rng.integers(2, 6))
        n = int(rng.integers(5, 60))
        t = rng.integers(0, k, n)
        p = np.where(rng.random(n) < 0.5, t, rng.integers(0, k, n))  # correlated with the truth
        labels = np.arange(k)
        np.testing.assert_array_equal(M.confusion_matrix(t, p, k), skm.confusion_matrix(t, p, labels=labels))
        assert M.accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
        assert M.balanced_accuracy(t, p) == pytest.approx(skm.balanced_accuracy_score(t, p))
        for average in ("macro", "micro", "weighted"):
            ref = skm.precision_recall_fscore_support(t, p, average=average, zero_division=0)[:3]
            assert M.precision_recall_f1(t, p, average=average) == pytest.approx(ref), (trial, average)
            ref_k = skm.precision_recall_fscore_support(t, p, average=average, labels=labels,
                                                        zero_division=0)[:3]
            assert M.precision_recall_f1(t, p, average=average, n_classes=k) == pytest.approx(ref_k)
        per_class = M.precision_recall_f1(t, p, average=None, n_classes=k)
        ref_pc = skm.precision_recall_fscore_support(t, p, average=None, labels=labels, zero_division=0)[:3]
        for mine, ref in zip(per_class, ref_pc):
            np.testing.assert_allclose(mine, ref)
        for weights in (None, "linear", "quadratic"):
            if len(np.unique(np.r_[t, p])) > 1:
                ref = skm.cohen_kappa_score(t, p, weights=weights, labels=labels)
                got = M.cohen_kappa(t, p, weights=weights, n_classes=k)
                assert got == pytest.approx(ref), (trial, weights)


@needs_sklearn
def test_binary_precision_recall_f1_match_sklearn_including_zero_division():
    from sklearn import metrics as skm

    rng = np.random.default_rng(1)
    cases = [(rng.integers(0, 2, 30), rng.integers(0, 2, 30)) for _ in range(10)]
    cases.append((np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0])))  # no positive prediction
    cases.append((np.array([0, 0, 0]), np.array([0, 1, 0])))  # no positive truth
    for t, p in cases:
        ref = skm.precision_recall_fscore_support(t, p, average="binary", zero_division=0)[:3]
        assert M.precision_recall_f1(t, p) == pytest.approx(ref)
        assert M.precision(t, p) == pytest.approx(ref[0])
        assert M.recall(t, p) == pytest.approx(ref[1])
        assert M.f1_score(t, p) == pytest.approx(ref[2])


def test_sensitivity_specificity_by_hand():
    t = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([1, 1, 1, 0, 0, 0, 0, 0, 1, 1])
    sens, spec = M.sensitivity_specificity(t, p)
    assert sens == pytest.approx(3 / 4)
    assert spec == pytest.approx(4 / 6)
    with pytest.raises(UndefinedMetricError, match="0 positives"):
        M.sensitivity_specificity([0, 0], [0, 1])


def test_balanced_accuracy_is_not_fooled_by_the_majority_class():
    t = np.r_[np.zeros(95, int), np.ones(5, int)]
    p = np.zeros(100, int)
    assert M.accuracy(t, p) == pytest.approx(0.95)
    assert M.balanced_accuracy(t, p) == pytest.approx(0.5)


def test_quadratic_kappa_by_hand_and_its_undefined_case():
    # Two raters, grades 0..2. O = [[1,1,0],[0,1,0],[0,0,1]] / 4; marginals rows (2,1,1)/4,
    # columns (1,2,1)/4; quadratic weights (i-j)^2.
    t, p = [0, 0, 1, 2], [0, 1, 1, 2]
    observed = 1 / 4  # one disagreement at distance 1
    rows, cols = np.array([2, 1, 1]) / 4, np.array([1, 2, 1]) / 4
    w = (np.arange(3)[:, None] - np.arange(3)[None, :]) ** 2
    expected = float(np.sum(w * np.outer(rows, cols)))
    assert M.quadratic_weighted_kappa(t, p) == pytest.approx(1 - observed / expected)
    assert M.cohen_kappa([0, 1, 2], [0, 1, 2]) == pytest.approx(1.0)
    with pytest.raises(UndefinedMetricError):
        M.cohen_kappa([1, 1, 1], [1, 1, 1])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: M.accuracy([0, 1, 1], [0, 1]), "same number of samples"),
        (lambda: M.accuracy([], []), "empty"),
        (lambda: M.accuracy([0, -1], [0, 1]), "negative class index"),
        (lambda: M.confusion_matrix([0, 3], [0, 1], n_classes=3), "class index 3"),
        (lambda: M.accuracy([0.5, 1.0], [0, 1]), "integer class indices"),
        (lambda: M.precision_recall_f1([0, 2], [0, 1]), "binary"),
        (lambda: M.precision_recall_f1([0, 1], [0, 1], average="samples"), "average"),
        (lambda: M.accuracy(np.zeros((3, 2)), np.zeros((3, 2))), "1-D"),
        (lambda: M.roc_auc([0, 1, 1], [0.1, 0.2]), "same number of samples"),
        (lambda: M.roc_auc([0, 1], [0.1, np.nan]), "NaN"),
        (lambda: M.mean_squared_error([1.0, 2.0], [1.0]), "same shape"),
    ],
)
def test_bad_inputs_raise_value_errors_naming_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_metrics_accept_device_arrays_by_copying_them_to_the_host():
    from engine.backend import to_device

    t = np.array([0, 1, 1, 0, 1])
    s = np.array([0.1, 0.8, 0.6, 0.3, 0.2])
    on_device = to_device(t, "strict"), to_device(s, "strict")  # the CI stand-in for a GPU
    assert M.roc_auc(*on_device) == M.roc_auc(t, s)
    assert M.accuracy(on_device[0], to_device(s > 0.5, "strict")) == M.accuracy(t, s > 0.5)
    assert M.dice(to_device(t, "strict"), to_device(s > 0.5, "strict")) == M.dice(t, s > 0.5)


# ============================================================================ ranking


def test_auc_by_hand_with_ties_counts_half():
    # positives 0.35, 0.8; negatives 0.1, 0.4: pairs (0.35 > 0.1), (0.35 < 0.4), (0.8 > both) -> 3/4.
    assert M.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # One positive and one negative at the same score: the pair is a coin flip.
    assert M.roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert M.roc_auc([0, 0, 1], [0.1, 0.2, 0.9]) == 1.0
    assert M.roc_auc([0, 0, 1], [0.9, 0.8, 0.1]) == 0.0


@needs_sklearn
def test_roc_and_pr_curves_auc_and_ap_match_sklearn_with_ties():
    from sklearn import metrics as skm

    rng = np.random.default_rng(2)
    for _ in range(30):
        n = int(rng.integers(4, 80))
        t = rng.integers(0, 2, n)
        t[:2] = [0, 1]
        s = _tied_scores(rng, n) + 0.3 * t * rng.random(n)
        assert M.roc_auc(t, s) == pytest.approx(skm.roc_auc_score(t, s), abs=1e-12)
        assert M.average_precision(t, s) == pytest.approx(skm.average_precision_score(t, s), abs=1e-12)
        for mine, ref in zip(M.roc_curve(t, s), skm.roc_curve(t, s, drop_intermediate=False)):
            np.testing.assert_allclose(mine, ref)
        for mine, ref in zip(M.precision_recall_curve(t, s), skm.precision_recall_curve(t, s)):
            np.testing.assert_allclose(mine, ref)


@needs_scipy_stats
def test_auc_equals_the_mann_whitney_statistic():
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(3)
    for _ in range(10):
        t = np.r_[0, 1, rng.integers(0, 2, 50)]
        s = _tied_scores(rng, t.size)
        u = mannwhitneyu(s[t == 1], s[t == 0]).statistic  # pairs won, ties counted 1/2
        assert M.roc_auc(t, s) == pytest.approx(u / (np.sum(t == 1) * np.sum(t == 0)))


@needs_sklearn
def test_multiclass_auc_is_one_vs_rest_macro_mean_like_sklearn():
    from sklearn import metrics as skm

    rng = np.random.default_rng(4)
    for _ in range(10):
        k = int(rng.integers(3, 6))
        t = np.r_[np.arange(k), rng.integers(0, k, 40)]
        logits = rng.normal(size=(t.size, k)) + 1.5 * np.eye(k)[t]
        prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        assert M.roc_auc(t, prob) == pytest.approx(skm.roc_auc_score(t, prob, multi_class="ovr"))
        per_class = M.roc_auc(t, prob, average=None)
        assert per_class.shape == (k,)
        np.testing.assert_allclose(per_class, [skm.roc_auc_score(t == c, prob[:, c]) for c in range(k)])
        ap = M.average_precision(t, prob, average=None)
        np.testing.assert_allclose(ap, [skm.average_precision_score(t == c, prob[:, c]) for c in range(k)])


@needs_sklearn
def test_multilabel_auc_is_the_mean_over_label_columns():
    from sklearn import metrics as skm

    rng = np.random.default_rng(5)
    t = rng.integers(0, 2, (50, 4))
    t[:2] = [[0, 0, 0, 0], [1, 1, 1, 1]]
    s = rng.random((50, 4)) + 0.5 * t
    assert M.roc_auc(t, s) == pytest.approx(skm.roc_auc_score(t, s, average="macro"))
    assert M.roc_auc(t[:, :1], s[:, :1]) == pytest.approx(skm.roc_auc_score(t[:, 0], s[:, 0]))
    assert M.average_precision(t, s) == pytest.approx(skm.average_precision_score(t, s, average="macro"))


def test_auc_with_a_single_class_is_undefined_and_says_which_column():
    with pytest.raises(UndefinedMetricError, match="both classes"):
        M.roc_auc([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(ValueError):  # UndefinedMetricError is a ValueError for ordinary callers
        M.roc_auc([0, 0], [0.2, 0.5])
    with pytest.raises(UndefinedMetricError, match="class 2"):
        M.roc_auc([0, 1, 0, 1], np.random.default_rng(0).random((4, 3)))
    with pytest.raises(UndefinedMetricError, match="positive"):
        M.average_precision([0, 0, 0], [0.1, 0.2, 0.3])


# ============================================================================ regression & correlation


@needs_sklearn
def test_mae_mse_match_sklearn():
    from sklearn import metrics as skm

    rng = np.random.default_rng(6)
    t, p = rng.normal(size=40), rng.normal(size=40)
    assert M.mean_absolute_error(t, p) == pytest.approx(skm.mean_absolute_error(t, p))
    assert M.mean_squared_error(t, p) == pytest.approx(skm.mean_squared_error(t, p))
    assert M.mean_absolute_error(np.ones((2, 3)), np.zeros((2, 3))) == 1.0


@needs_scipy_stats
def test_correlations_and_ranks_match_scipy_with_ties():
    from scipy import stats

    rng = np.random.default_rng(7)
    for _ in range(20):
        x = rng.integers(0, 8, 30).astype(float)  # many ties
        y = x + rng.integers(-3, 4, 30)
        np.testing.assert_allclose(M.rankdata(x), stats.rankdata(x, method="average"))
        assert M.pearson_r(x, y) == pytest.approx(stats.pearsonr(x, y)[0])
        assert M.spearman_r(x, y) == pytest.approx(stats.spearmanr(x, y)[0])


def test_correlation_of_a_constant_is_undefined():
    with pytest.raises(UndefinedMetricError, match="constant"):
        M.pearson_r([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(UndefinedMetricError, match="spearman_r"):
        M.spearman_r([2, 2, 2], [1, 2, 3])
    assert M.spearman_r([1, 2, 3, 4], [10, 20, 30, 1000]) == pytest.approx(1.0)


# ============================================================================ bootstrap


def test_bootstrap_is_deterministic_and_brackets_the_point_estimate():
    rng = np.random.default_rng(8)
    t = rng.integers(0, 2, 200)
    s = rng.random(200) + 0.5 * t
    a = M.bootstrap_ci(M.roc_auc, t, s, n_boot=200, seed=3)
    b = M.bootstrap_ci(M.roc_auc, t, s, n_boot=200, seed=3)
    c = M.bootstrap_ci(M.roc_auc, t, s, n_boot=200, seed=4)
    assert tuple(a) == tuple(b)
    assert tuple(a) != tuple(c)
    point, low, high = a
    assert point == M.roc_auc(t, s)
    assert low < point < high
    assert (a.point, a.low, a.high, a.n_undefined) == (point, low, high, 0)


def test_bootstrap_interval_width_matches_the_binomial_standard_error():
    # Accuracy of 400 independent predictions with p = 0.8: SE = sqrt(p(1-p)/n) = 0.02, so the
    # 95 % interval is about 2 * 1.96 * 0.02 = 0.078 wide.
    correct = np.r_[np.ones(320), np.zeros(80)]
    point, low, high = M.bootstrap_ci(lambda c: c.mean(), correct, n_boot=2000, seed=0)
    assert point == pytest.approx(0.8)
    assert 0.066 < high - low < 0.090
    assert low < 0.8 < high


def test_batched_bootstrap_equals_the_per_resample_loop():
    rng = np.random.default_rng(9)
    t, p = rng.integers(0, 3, 150), rng.integers(0, 3, 150)
    looped = M.bootstrap_ci(M.accuracy, t, p, n_boot=300, seed=1)
    batched = M.bootstrap_ci(lambda a, b: (a == b).mean(axis=1), t, p, n_boot=300, seed=1, batched=True)
    np.testing.assert_allclose(tuple(batched), tuple(looped))


def test_stratified_resamples_keep_the_class_counts():
    y = np.r_[np.zeros(17, int), np.ones(3, int)]
    idx = M.resample_indices(20, 50, np.random.default_rng(0), stratify=y)
    assert idx.shape == (50, 20)
    np.testing.assert_array_equal(y[idx].sum(axis=1), np.full(50, 3))


def test_bootstrap_skips_and_counts_undefined_resamples_and_refuses_too_many():
    # 2 positives in 40: about 1 - (1 - 2/40)^40 ~ 13 % of resamples hold no positive.
    t = np.r_[np.zeros(38, int), np.ones(2, int)]
    s = np.linspace(0, 1, 40)
    ci = M.bootstrap_ci(M.roc_auc, t, s, n_boot=500, seed=0, max_undefined=0.5)
    assert 0.05 * 500 < ci.n_undefined < 0.25 * 500
    with pytest.raises(ValueError, match="undefined on"):
        M.bootstrap_ci(M.roc_auc, t, s, n_boot=500, seed=0, max_undefined=0.01)
    stratified = M.bootstrap_ci(M.roc_auc, t, s, n_boot=500, seed=0, stratify=t, max_undefined=0.0)
    assert stratified.n_undefined == 0


def test_bootstrap_argument_errors():
    with pytest.raises(ValueError, match="same number of samples"):
        M.bootstrap_ci(M.accuracy, [0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="alpha"):
        M.bootstrap_ci(M.accuracy, [0, 1], [0, 1], alpha=1.5)
    with pytest.raises(TypeError, match="callable"):
        M.bootstrap_ci("auc", [0, 1], [0, 1])


# ============================================================================ MedMNIST evaluator


def _official_medmnist(task, y_true, y_score):
    """The official evaluator's getACC/getAUC logic (medmnist v2/v3), restated with sklearn."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    y_true, y_score = y_true.squeeze(), y_score.squeeze()
    if task == "multi-label, binary-class":
        acc = np.mean([accuracy_score(y_true[:, i], y_score[:, i] > 0.5) for i in range(y_true.shape[1])])
        auc = np.mean([roc_auc_score(y_true[:, i], y_score[:, i]) for i in range(y_score.shape[1])])
    elif task == "binary-class":
        s = y_score[:, -1] if y_score.ndim == 2 else y_score
        acc, auc = accuracy_score(y_true, s > 0.5), roc_auc_score(y_true, s)
    else:
        acc = accuracy_score(y_true, np.argmax(y_score, axis=-1))
        auc = np.mean([roc_auc_score(y_true == i, y_score[:, i]) for i in range(y_score.shape[1])])
    return {"acc": acc, "auc": auc}


@needs_sklearn
@pytest.mark.parametrize("task", M.medmnist.TASKS)
def test_medmnist_evaluate_follows_the_official_evaluator(task):
    rng = np.random.default_rng(10)
    n = 60
    if task == "multi-label, binary-class":
        y = rng.integers(0, 2, (n, 5))
        y[:2] = [[0] * 5, [1] * 5]
        score = np.clip(0.5 * y + rng.random((n, 5)) * 0.6, 0, 1)
        score[0, 0] = 0.5  # exactly at the threshold: the official rule predicts 0
    else:
        k = 2 if task == "binary-class" else 5
        y = np.r_[np.arange(k), rng.integers(0, k, n - k)][:, None]  # (N, 1) as stored in the .npz
        logits = rng.normal(size=(n, k)) + np.eye(k)[y[:, 0]]
        score = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        if k == 2:
            score[0] = [0.5, 0.5]
    got = M.medmnist_evaluate(task, y, score)
    ref = _official_medmnist(task, y, score)
    assert set(got) == {"acc", "auc"}
    assert got["acc"] == pytest.approx(ref["acc"])
    assert got["auc"] == pytest.approx(ref["auc"])
    if task == "binary-class":  # the positive-class column alone gives the same numbers
        assert M.medmnist_evaluate("binary-class", y, score[:, 1]) == got


def test_medmnist_evaluate_rejects_unknown_tasks_and_wrong_shapes():
    with pytest.raises(ValueError, match="unknown task"):
        M.medmnist_evaluate("segmentation", [0, 1], [0.2, 0.8])
    with pytest.raises(ValueError, match="y_score must be"):
        M.medmnist_evaluate("multi-class", [0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="class index"):
        M.medmnist_evaluate("multi-class", [0, 3], np.full((2, 3), 1 / 3))


# ============================================================================ segmentation


def test_dice_and_iou_by_hand_and_the_empty_mask_rule():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[0, :4] = True  # 4 pixels
    b[0, 2:4] = True
    b[1, 0:2] = True  # 4 pixels, 2 shared
    assert M.dice(a, b) == pytest.approx(2 * 2 / 8)
    assert M.iou(a, b) == pytest.approx(2 / 6)
    empty = np.zeros((4, 4), bool)
    assert M.dice(empty, empty) == 1.0  # nothing to find, nothing found
    assert M.iou(empty, empty) == 1.0
    assert M.dice(a, empty) == 0.0
    assert M.iou(empty, a) == 0.0


def test_per_sample_dice_and_the_dice_iou_relation():
    rng = np.random.default_rng(11)
    p = rng.random((6, 10, 10)) > 0.5
    t = rng.random((6, 10, 10)) > 0.5
    p[5] = t[5] = False
    d = M.dice(p, t, per_sample=True)
    j = M.iou(p, t, per_sample=True)
    assert d.shape == (6,)
    assert d[5] == 1.0
    np.testing.assert_allclose(d[0], M.dice(p[0], t[0]))
    np.testing.assert_allclose(d, 2 * j / (1 + j))


def test_dice_rejects_non_binary_masks():
    with pytest.raises(ValueError, match="binary mask"):
        M.dice(np.array([0, 1, 2]), np.array([0, 1, 1]))


def test_hausdorff_by_hand_with_spacing():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[1, 1] = True
    b[4, 5] = True  # 3 rows and 4 columns apart
    assert M.hausdorff_distance(a, b) == pytest.approx(5.0)
    assert M.hausdorff_distance(a, b, spacing=(2.0, 1.0)) == pytest.approx(np.hypot(6.0, 4.0))
    # A square shifted by 2 columns: every boundary point is within 2 of the other boundary.
    sq1 = np.zeros((20, 20), bool)
    sq1[5:12, 5:12] = True
    sq2 = np.roll(sq1, 2, axis=1)
    assert M.hausdorff_distance(sq1, sq2) == pytest.approx(2.0)


def test_hd95_ignores_a_single_outlier_that_hd_reports():
    target = np.zeros((40, 40), bool)
    target[5:15, 5:15] = True  # 36 boundary pixels
    pred = target.copy()
    pred[35, 35] = True  # one stray pixel far away
    far = np.hypot(35 - 14, 35 - 14)
    assert M.hausdorff_distance(pred, target) == pytest.approx(far)
    # pred -> target distances: 36 zeros and one outlier; the 95th percentile is 0.
    assert M.hd95(pred, target) == 0.0


@needs_scipy_stats
def test_boundary_distances_equal_brute_force_pairwise_distances_in_3d():
    from scipy import ndimage
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(12)
    p = ndimage.binary_opening(rng.random((12, 14, 10)) > 0.4)
    t = ndimage.binary_opening(rng.random((12, 14, 10)) > 0.4)
    spacing = (2.5, 1.0, 0.7)

    def boundary_points(m):
        inner = ndimage.binary_erosion(m, ndimage.generate_binary_structure(3, 1))
        return np.argwhere(m & ~inner) * np.array(spacing)

    d = cdist(boundary_points(p), boundary_points(t))
    d_pt, d_tp = d.min(axis=1), d.min(axis=0)
    got_pt, got_tp = M.surface_distances(p, t, spacing)
    np.testing.assert_allclose(np.sort(got_pt), np.sort(d_pt))
    np.testing.assert_allclose(np.sort(got_tp), np.sort(d_tp))
    ref95 = max(np.percentile(d_pt, 95), np.percentile(d_tp, 95))
    assert M.hd95(p, t, spacing) == pytest.approx(ref95)
    assert M.hausdorff_distance(p, t, spacing) == pytest.approx(max(d_pt.max(), d_tp.max()))


def test_hausdorff_empty_mask_rules():
    empty = np.zeros((5, 5), bool)
    one = empty.copy()
    one[2, 2] = True
    assert M.hausdorff_distance(empty, empty) == 0.0
    assert M.hd95(one, empty) == float("inf")
    with pytest.raises(ValueError, match="percentile"):
        M.hausdorff_distance(one, one, percentile=120)


# ============================================================================ image quality


@needs_skimage
def test_psnr_matches_skimage():
    from skimage.metrics import peak_signal_noise_ratio

    rng = np.random.default_rng(13)
    x = rng.random((16, 16))
    y = x + 0.05 * rng.normal(size=x.shape)
    assert M.psnr(x, y, data_range=1.0) == pytest.approx(peak_signal_noise_ratio(x, y, data_range=1.0))
    assert M.psnr(x * 255, y * 255, data_range=255) == pytest.approx(M.psnr(x, y, data_range=1.0))
    assert M.psnr(x, x, data_range=1.0) == float("inf")


@needs_skimage
@pytest.mark.parametrize("gaussian", [False, True])
def test_ssim_matches_skimage_default_within_1e_4(gaussian):
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(14)
    for shape in [(24, 24), (31, 17)]:
        x = rng.random(shape)
        y = np.clip(x + 0.2 * rng.normal(size=shape), 0, 1)
        ref = structural_similarity(x, y, data_range=1.0, gaussian_weights=gaussian)
        assert abs(M.ssim(x, y, data_range=1.0, gaussian_weights=gaussian) - ref) < 1e-4
    assert M.ssim(x, x, data_range=1.0) == pytest.approx(1.0)


@needs_skimage
def test_ssim_of_a_batch_and_a_volume_match_skimage_image_by_image():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(15)
    x = rng.random((3, 2, 16, 16))
    y = np.clip(x + 0.1 * rng.normal(size=x.shape), 0, 1)
    per = M.ssim(x, y, data_range=1.0, per_image=True)
    assert per.shape == (3, 2)
    ref = [[structural_similarity(x[n, c], y[n, c], data_range=1.0) for c in range(2)] for n in range(3)]
    np.testing.assert_allclose(per, ref, atol=1e-10)
    assert M.ssim(x, y, data_range=1.0) == pytest.approx(np.mean(ref))
    vol_x = rng.random((9, 10, 11))
    vol_y = np.clip(vol_x + 0.1 * rng.normal(size=vol_x.shape), 0, 1)
    assert M.ssim(vol_x, vol_y, 1.0, spatial_dims=3) == pytest.approx(
        structural_similarity(vol_x, vol_y, data_range=1.0), abs=1e-10)


def test_ssim_requires_data_range_and_a_big_enough_image():
    x = np.zeros((10, 10))
    with pytest.raises(ValueError, match="data_range"):
        M.ssim(x, x, data_range=None)
    with pytest.raises(ValueError, match="window"):
        M.ssim(np.zeros((5, 5)), np.zeros((5, 5)), data_range=1.0)


# ============================================================================ survival


def test_c_index_by_hand_with_censoring_and_ties():
    # Perfect, reversed and uninformative risk orderings (all events observed).
    t = [1, 2, 3, 4]
    assert M.concordance_index(t, [4, 3, 2, 1]) == 1.0
    assert M.concordance_index(t, [1, 2, 3, 4]) == 0.0
    assert M.concordance_index(t, [5, 5, 5, 5]) == 0.5
    # Censoring: patient 1 (t=2) is censored, so only pairs starting at an event count:
    # (0,1) risk 2 > 1 concordant, (0,2) risk 2 < 3 discordant; patient 2 has no later time.
    assert M.concordance_index([1, 2, 3], [2, 1, 3], event=[1, 0, 1]) == pytest.approx(0.5)
    # Tied times: an event and a censoring at t=2 are comparable (the censored one outlives);
    # two events at t=2 are not. Usable pairs (0,1): tied risk -> 0.5; (2,1): 1 < 2 -> 0.
    assert M.concordance_index([2, 2, 2], [2, 2, 1], event=[1, 0, 1]) == pytest.approx(0.25)


def _c_index_pairwise(time, risk, event):
    """Lifelines' rules, pair by pair (slow and obviously correct)."""
    num = den = 0.0
    for i in range(len(time)):
        for j in range(len(time)):
            if not event[i]:
                continue
            if time[i] < time[j] or (time[i] == time[j] and not event[j]):
                den += 1
                num += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return num / den


def test_c_index_equals_the_pairwise_definition_on_random_tied_data():
    rng = np.random.default_rng(16)
    for _ in range(10):
        n = 40
        time = rng.integers(1, 10, n).astype(float)
        risk = rng.integers(0, 5, n).astype(float)
        event = rng.random(n) < 0.6
        got = M.concordance_index(time, risk, event, chunk_size=7)
        assert got == pytest.approx(_c_index_pairwise(time, risk, event))


@_skip_without("lifelines")
def test_c_index_matches_lifelines():
    from lifelines.utils import concordance_index as lifelines_cindex

    rng = np.random.default_rng(17)
    time = rng.integers(1, 10, 50).astype(float)
    risk = rng.integers(0, 5, 50).astype(float)
    event = rng.random(50) < 0.6
    # lifelines takes predicted survival times: higher = later event, i.e. minus the risk.
    assert M.concordance_index(time, risk, event) == pytest.approx(lifelines_cindex(time, -risk, event))


def test_c_index_undefined_without_comparable_pairs():
    with pytest.raises(UndefinedMetricError, match="comparable"):
        M.concordance_index([1, 2, 3], [0.1, 0.2, 0.3], event=[0, 0, 0])


# ============================================================================ detection (FROC)


def _froc_case():
    # 2 scans, 5 lesions (lesion 4 is never hit). Candidates sorted by score:
    #   0.9 lesion 0 | 0.8 FP | 0.7 lesion 1 | 0.6 lesion 0 again (ignored: lesion 0 keeps 0.9)
    #   0.5 FP | 0.4 FP and 0.4 lesion 3 (tie) | 0.3 lesion 2
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.4, 0.3])
    lesion = np.array([0, -1, 1, 0, -1, -1, 3, 2])
    return scores, lesion


def test_froc_curve_by_hand():
    fps, sens, thr = M.froc_curve(*_froc_case(), n_lesions=5, n_scans=2)
    np.testing.assert_allclose(fps, [0, 0, 0.5, 0.5, 1.0, 1.5, 1.5])
    np.testing.assert_allclose(sens, [0, 0.2, 0.2, 0.4, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(thr, [np.inf, 0.9, 0.8, 0.7, 0.5, 0.4, 0.3])


def test_cpm_by_hand():
    cpm, at = M.froc_cpm(*_froc_case(), n_lesions=5, n_scans=2)
    # 1/8 and 1/4: on the flat part at 0.2; 1/2: top of the vertical step (0.4); 1: 0.4;
    # 2, 4, 8: past the last point, the final sensitivity 0.8.
    np.testing.assert_allclose(at, [0.2, 0.2, 0.4, 0.4, 0.8, 0.8, 0.8])
    assert cpm == pytest.approx(3.6 / 7)
    # Halfway along the diagonal made by the tied FP/TP pair at score 0.4: (1.0, 0.4) -> (1.5, 0.6).
    _, mid = M.froc_cpm(*_froc_case(), n_lesions=5, n_scans=2, fp_rates=[1.25])
    assert mid[0] == pytest.approx(0.5)


@needs_sklearn
def test_froc_matches_the_luna16_script_computation():
    """The official script: sklearn roc_curve on (detected lesions + FPs), rescaled, np.interp."""
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(18)
    for _ in range(10):
        n_lesions, n_scans = 30, 10
        lesion = np.r_[rng.integers(0, n_lesions, 40), -np.ones(120, int)]
        scores = rng.integers(0, 50, lesion.size) / 50.0 + 0.3 * (lesion >= 0)
        best = {}
        for s, l in zip(scores, lesion):
            if l >= 0:
                best[l] = max(best.get(l, -1.0), s)
        gt = np.r_[np.ones(len(best)), np.zeros(np.sum(lesion < 0))]
        prob = np.r_[list(best.values()), scores[lesion < 0]]
        fpr, tpr, _ = roc_curve(gt, prob)
        fps = fpr * np.sum(lesion < 0) / n_scans
        sens = tpr * len(best) / n_lesions
        ref = np.interp(M.LUNA16_FP_RATES, fps, sens)
        cpm, at = M.froc_cpm(scores, lesion, n_lesions, n_scans)
        np.testing.assert_allclose(at, ref)
        assert cpm == pytest.approx(ref.mean())


def test_froc_input_errors():
    with pytest.raises(ValueError, match="lesion_ids must lie"):
        M.froc_curve([0.5], [7], n_lesions=3, n_scans=1)
    with pytest.raises(TypeError, match="integers"):
        M.froc_curve([0.5], [0.0], n_lesions=3, n_scans=1)


@needs_skimage
def test_ssim_in_hounsfield_units_window_sizes_and_population_covariance_match_skimage():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(16)
    x = rng.random((20, 20)) * 2000 - 1000  # a CT-like range: the constants scale with data_range
    y = x + 150 * rng.normal(size=x.shape)
    for kwargs in (dict(), dict(win_size=3), dict(use_sample_covariance=False), dict(win_size=5, gaussian_weights=True,
                                                                                     sigma=0.8)):
        ref = structural_similarity(x, y, data_range=2000.0, **kwargs)
        assert M.ssim(x, y, data_range=2000.0, **kwargs) == pytest.approx(ref, abs=1e-10), kwargs
    assert M.ssim(x[:7, :7], y[:7, :7], 2000.0) == pytest.approx(
        structural_similarity(x[:7, :7], y[:7, :7], data_range=2000.0), abs=1e-10)  # the window just fits
    for bad, match in ((dict(win_size=4), "win_size"), (dict(win_size=1), "win_size"), (dict(win_size=9), "smaller"),
                       (dict(spatial_dims=4), "spatial_dims")):
        with pytest.raises(ValueError, match=match):
            M.ssim(x[:8, :8], y[:8, :8], 2000.0, **bad)
    for data_range in (0.0, -1.0, float("nan"), None):
        with pytest.raises(ValueError, match="data_range"):
            M.psnr(x, y, data_range=data_range)


def test_resamples_draw_every_case_and_stratified_ones_stay_within_their_class():
    idx = M.resample_indices(5, 400, np.random.default_rng(0))
    assert idx.shape == (400, 5) and set(np.unique(idx)) == {0, 1, 2, 3, 4}  # the first case too
    y = np.array([0, 1, 1, 0, 1, 1, 1])
    strat = M.resample_indices(7, 300, np.random.default_rng(1), stratify=y)
    assert (y[strat] == y[None, :]).all()  # each position redrawn from its own class
    assert set(np.unique(strat[:, y == 0])) == {0, 3} and set(np.unique(strat[:, y == 1])) == {1, 2, 4, 5, 6}


def test_bootstrap_interval_is_the_percentile_interval_of_the_resampled_metric():
    rng = np.random.default_rng(2)
    x = rng.normal(size=30)
    r = M.bootstrap_ci(np.mean, x, n_boot=200, seed=7, alpha=0.3)
    idx = M.resample_indices(30, 200, np.random.default_rng(7))
    assert (r.low, r.high) == pytest.approx(tuple(np.quantile(x[idx].mean(1), [0.15, 0.85])))
    assert r.point == pytest.approx(x.mean()) and r.n_boot == 200 and r.n_undefined == 0
    assert M.bootstrap_ci(np.mean, x, n_boot=1, seed=0).n_boot == 1  # one resample is allowed
    for bad in (dict(alpha=0.0), dict(alpha=1.0), dict(max_undefined=1.0), dict(n_boot=0), dict(n_boot=2.5)):
        with pytest.raises(ValueError, match="bootstrap_ci"):
            M.bootstrap_ci(np.mean, x, **bad)
