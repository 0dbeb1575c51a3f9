"""Specification of models.classical: scikit-learn-like estimators written on NumPy.

Behaviour is pinned by hand-checked cases and, where scikit-learn is importable, by
comparison with its estimators on small synthetic problems."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from models.classical import KMeans, KNeighborsClassifier, LinearSVC, LogisticRegression, StandardScaler

needs_sklearn = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                                   reason="scikit-learn not importable: reference comparison skipped")


def _blobs(n_per_class=60, n_classes=3, dim=5, spread=1.6, seed=0):
    """Gaussian classes around random centres; overlapping enough that accuracy is not 100 %."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(n_classes, dim))
    X = np.concatenate([c + spread * rng.normal(size=(n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(n_classes), n_per_class)
    perm = rng.permutation(len(y))
    return X[perm], y[perm]


def _split(X, y, n_train):
    return X[:n_train], X[n_train:], y[:n_train], y[n_train:]


# ---------------------------------------------------------------------------- StandardScaler


def test_standard_scaler_standardises_and_inverts():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=[1.0, -5.0, 3.0], scale=[2.0, 0.1, 1.0], size=(50, 3))
    X[:, 2] = 7.0  # a constant feature is centred but not scaled
    sc = StandardScaler().fit(X)
    Z = sc.transform(X)
    np.testing.assert_allclose(Z[:, :2].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :2].std(axis=0), 1.0)
    np.testing.assert_array_equal(Z[:, 2], 0.0)
    np.testing.assert_allclose(sc.inverse_transform(Z), X)
    with pytest.raises(ValueError, match="fitted with 3"):
        sc.transform(X[:, :2])
    with pytest.raises(RuntimeError, match="not fitted"):
        StandardScaler().transform(X)


# ---------------------------------------------------------------------------- kNN


def test_knn_by_hand_uniform_and_distance_weights():
    X = np.array([[0.0], [1.0], [2.0], [10.0]])
    y = np.array(["a", "a", "b", "b"])
    knn = KNeighborsClassifier(n_neighbors=3).fit(X, y)
    dist, ind = knn.kneighbors([[1.8]])
    np.testing.assert_array_equal(ind, [[2, 1, 0]])
    np.testing.assert_allclose(dist, [[0.2, 0.8, 1.8]])
    np.testing.assert_allclose(knn.predict_proba([[1.8]]), [[2 / 3, 1 / 3]])
    assert knn.predict([[1.8]])[0] == "a"
    # Distance weights 1/0.2 + for b vs 1/0.8 + 1/1.8 for a: b wins.
    wknn = KNeighborsClassifier(n_neighbors=3, weights="distance").fit(X, y)
    assert wknn.predict([[1.8]])[0] == "b"
    # A query on a training point takes that point's label only.
    np.testing.assert_allclose(wknn.predict_proba([[10.0]]), [[0.0, 1.0]])


@needs_sklearn
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_knn_equals_sklearn(metric, weights):
    from sklearn.neighbors import KNeighborsClassifier as SkKNN

    X, y = _blobs(seed=1)
    Xtr, Xte, ytr, _ = _split(X, y, 120)
    ours = KNeighborsClassifier(n_neighbors=5, metric=metric, weights=weights, chunk_size=16).fit(Xtr, ytr)
    ref = SkKNN(n_neighbors=5, metric=metric, weights=weights, algorithm="brute").fit(Xtr, ytr)
    # Continuous random data: no distance ties, so predictions must agree exactly.
    np.testing.assert_array_equal(ours.predict(Xte), ref.predict(Xte))
    np.testing.assert_allclose(ours.predict_proba(Xte), ref.predict_proba(Xte), atol=1e-12)
    d, i = ours.kneighbors(Xte)
    d_ref, i_ref = ref.kneighbors(Xte)
    np.testing.assert_array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, atol=1e-9)


def test_knn_argument_errors():
    X, y = _blobs(n_per_class=3)
    with pytest.raises(ValueError, match="metric"):
        KNeighborsClassifier(metric="manhattan").fit(X, y)
    with pytest.raises(ValueError, match="n_neighbors"):
        KNeighborsClassifier(n_neighbors=100).fit(X, y)
    with pytest.raises(ValueError, match="2-D"):
        KNeighborsClassifier().fit(np.zeros((9, 2, 2)), y)


# ---------------------------------------------------------------------------- linear SVM


def test_linear_svc_separates_a_separable_problem_and_is_deterministic():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 2))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] > 0.2, "tumour", "healthy")
    a = LinearSVC(C=10.0, max_iter=100, seed=0).fit(X, y)
    b = LinearSVC(C=10.0, max_iter=100, seed=0).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.score(X, y) >= 0.97
    scores = a.decision_function(X)
    assert scores.shape == (200,)
    np.testing.assert_array_equal(a.predict(X), np.where(scores > 0, a.classes_[1], a.classes_[0]))
    # The learned direction is close to the true normal (1, 0.5).
    w = a.coef_[0] / np.linalg.norm(a.coef_[0])
    assert w @ (np.array([1.0, 0.5]) / np.hypot(1.0, 0.5)) > 0.98


@needs_sklearn
@pytest.mark.parametrize("n_classes", [2, 4])
def test_linear_svc_accuracy_is_comparable_to_sklearn(n_classes):
    from sklearn.svm import LinearSVC as SkSVC

    X, y = _blobs(n_per_class=80, n_classes=n_classes, dim=8, spread=2.5, seed=3)
    X = StandardScaler().fit_transform(X)
    Xtr, Xte, ytr, yte = _split(X, y, len(y) // 2)
    ours = LinearSVC(C=1.0, max_iter=100, seed=0).fit(Xtr, ytr).score(Xte, yte)
    ref = SkSVC(C=1.0, loss="hinge", max_iter=20000).fit(Xtr, ytr).score(Xte, yte)
    assert ours >= ref - 0.04
    assert ours > 1.5 / n_classes  # well above chance


def test_linear_svc_reaches_the_hinge_objective_of_a_reference_solution():
    """Pegasos should get close to the optimum of 0.5|w|^2 + C sum hinge; the optimum is
    checked through its optimality condition at the returned weights."""
    X, y = _blobs(n_per_class=100, n_classes=2, dim=4, spread=2.0, seed=4)
    X = StandardScaler().fit_transform(X)
    C = 0.1
    svc = LinearSVC(C=C, max_iter=300, seed=0).fit(X, y)
    s = 2.0 * y - 1.0

    def objective(w, b):
        return 0.5 * (w @ w + b * b) + C * np.maximum(0.0, 1.0 - s * (X @ w + b)).sum()

    f = objective(svc.coef_[0], svc.intercept_[0])
    # No small random perturbation of the solution improves the objective by more than 1 %.
    rng = np.random.default_rng(0)
    for _ in range(20):
        dw, db = 0.05 * rng.normal(size=4), 0.05 * rng.normal()
        assert objective(svc.coef_[0] + dw, svc.intercept_[0] + db) > 0.99 * f


# ---------------------------------------------------------------------------- logistic regression


@needs_sklearn
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("C", [0.1, 1.0])
def test_logistic_regression_coefficients_match_sklearn_lbfgs(n_classes, C):
    from sklearn.linear_model import LogisticRegression as SkLR

    X, y = _blobs(n_per_class=50, n_classes=n_classes, dim=4, spread=2.0, seed=5)
    X = StandardScaler().fit_transform(X)
    ours = LogisticRegression(C=C, max_iter=500, tol=1e-8).fit(X, y)
    ref = SkLR(C=C, max_iter=5000, tol=1e-10).fit(X, y)
    assert ours.coef_.shape == ref.coef_.shape
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-4)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(ours.decision_function(X), ref.decision_function(X), atol=1e-4)


def test_logistic_regression_gradient_is_the_analytic_one():
    """At the optimum the penalised gradient vanishes: X^T (p - onehot) C + W = 0."""
    X, y = _blobs(n_per_class=40, n_classes=3, dim=3, seed=6)
    C = 0.5
    lr = LogisticRegression(C=C, max_iter=500, tol=1e-10).fit(X, y)
    P = lr.predict_proba(X)
    onehot = np.eye(3)[y]
    grad_W = C * (P - onehot).T @ X + lr.coef_
    grad_b = C * (P - onehot).sum(axis=0)
    np.testing.assert_allclose(grad_W, 0.0, atol=1e-5 * len(y))
    np.testing.assert_allclose(grad_b, 0.0, atol=1e-5 * len(y))
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(lr.predict_log_proba(X)), P)


def test_logistic_regression_binary_probabilities_and_labels():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 2))
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=300) > 0).astype(int)
    lr = LogisticRegression(C=10.0).fit(X, y)
    p = lr.predict_proba(X)
    assert p.shape == (300, 2)
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-lr.decision_function(X))))
    assert lr.score(X, y) > 0.9
    with pytest.raises(ValueError, match="at least 2 classes"):
        LogisticRegression().fit(X, np.zeros(300))


# ---------------------------------------------------------------------------- k-means


def test_kmeans_recovers_well_separated_clusters_deterministically():
    rng = np.random.default_rng(8)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = np.concatenate([c + rng.normal(size=(50, 2)) for c in centres])
    km = KMeans(n_clusters=3, n_init=3, seed=0).fit(X)
    # Each true cluster maps to one label.
    for g in range(3):
        assert len(np.unique(km.labels_[g * 50:(g + 1) * 50])) == 1
    assert len(np.unique(km.labels_)) == 3
    found = km.cluster_centers_[np.argsort(km.cluster_centers_[:, 0] * 3 + km.cluster_centers_[:, 1])]
    np.testing.assert_allclose(found, centres[[0, 2, 1]], atol=0.5)
    d = km.transform(X)
    assert km.inertia_ == pytest.approx(np.sum(d.min(axis=1) ** 2))
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    again = KMeans(n_clusters=3, n_init=3, seed=0).fit(X)
    np.testing.assert_array_equal(again.cluster_centers_, km.cluster_centers_)


@needs_sklearn
def test_kmeans_inertia_is_close_to_sklearn():
    from sklearn.cluster import KMeans as SkKMeans
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    X, _ = _blobs(n_per_class=80, n_classes=5, dim=3, spread=1.5, seed=9)
    ours = KMeans(n_clusters=5, n_init=10, seed=0).fit(X).inertia_
    with threadpool_limits(limits=1):  # sklearn's OpenMP threads thrash on small CI machines
        ref = SkKMeans(n_clusters=5, n_init=10, random_state=0).fit(X).inertia_
    assert ours == pytest.approx(ref, rel=0.02)


def test_kmeans_with_as_many_clusters_as_points_has_zero_inertia():
    X = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
    assert KMeans(n_clusters=3, n_init=1).fit(X).inertia_ == pytest.approx(0.0)
    with pytest.raises(ValueError, match="n_clusters"):
        KMeans(n_clusters=4).fit(X)


def test_pca_matches_scikit_learn_and_reconstructs_best_at_full_rank():
    from models.classical import PCA

    sk = pytest.importorskip("sklearn.decomposition")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6)) + 3.0
    ours, theirs = PCA(3).fit(X), sk.PCA(3, svd_solver="full").fit(X)
    np.testing.assert_allclose(ours.components_, theirs.components_, atol=1e-10)
    np.testing.assert_allclose(ours.explained_variance_ratio_, theirs.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), atol=1e-9)
    full = PCA(6).fit(X)
    np.testing.assert_allclose(full.inverse_transform(full.transform(X)), X, atol=1e-9)
    assert full.explained_variance_ratio_.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"PCA: n_components=7 exceeds min\(n_samples, n_features\) = 6"):
        PCA(7).fit(X)
