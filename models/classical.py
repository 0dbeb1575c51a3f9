"""Classical machine learning on NumPy: the baselines a deep network has to beat.

Estimators follow scikit-learn's interface (``fit(X, y)`` returns self; ``predict``,
``predict_proba``, ``decision_function``, ``score``; fitted attributes end in ``_``) so that
code and notebooks written for one run with the other, but nothing here imports scikit-learn.
X is a (N, D) float matrix of samples (images are flattened or turned into features first,
see tasks.features); y is (N,) class labels of any sortable type (``classes_`` holds them).
These models run on the host: pass NumPy arrays (engine.backend.asnumpy copies device arrays).

  StandardScaler        -- zero mean, unit variance per feature
  KNeighborsClassifier  -- k nearest neighbours, Euclidean or cosine distance
  LinearSVC             -- linear support vector machine (hinge loss + L2), Pegasos SGD
  LogisticRegression    -- binary / multinomial (softmax) logistic regression, L2, L-BFGS
  KMeans                -- k-means clustering with k-means++ initialisation

All computation is in float64 and vectorised over samples; random parts take a ``seed``.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize, special

__all__ = ["KMeans", "KNeighborsClassifier", "LinearSVC", "LogisticRegression", "PCA", "StandardScaler",
           "probabilities"]


# ---------------------------------------------------------------------------- input checks


def _check_X(est, X, n_features: int | None = None) -> np.ndarray:
    name = type(est).__name__
    X = np.asarray(X)
    if X.dtype == object or X.dtype.kind not in "biuf":
        raise TypeError(f"{name}: X must be a numeric array, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name}: X must be 2-D (n_samples, n_features), got shape {X.shape} "
                         f"(flatten images with X.reshape(len(X), -1))")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: X has no samples (shape {X.shape})")
    X = X.astype(np.float64)
    if not np.isfinite(X).all():
        raise ValueError(f"{name}: X contains NaN or infinite values")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name}: X has {X.shape[1]} features but the estimator was fitted with "
                         f"{n_features}")
    return X


def _check_Xy(est, X, y) -> tuple[np.ndarray, np.ndarray]:
    X = _check_X(est, X)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{type(est).__name__}: y must be (n_samples,) = ({X.shape[0]},), "
                         f"got shape {y.shape}")
    return X, y


def _check_fitted(est, attr: str) -> None:
    if not hasattr(est, attr):
        raise RuntimeError(f"{type(est).__name__} is not fitted yet; call fit(X, y) first")


def _encode(est, y: np.ndarray, min_classes: int = 2) -> np.ndarray:
    """Store classes_ (sorted unique labels) and return y as indices into it."""
    classes, y_idx = np.unique(y, return_inverse=True)
    if classes.size < min_classes:
        raise ValueError(f"{type(est).__name__}: needs at least {min_classes} classes in y, "
                         f"got {classes.tolist()}")
    est.classes_ = classes
    return y_idx.reshape(-1)


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _sq_distances(A: np.ndarray, B: np.ndarray, B_sq: np.ndarray | None = None) -> np.ndarray:
    """(len(A), len(B)) squared Euclidean distances via |a|^2 - 2 a.b + |b|^2 (one matmul)."""
    if B_sq is None:
        B_sq = np.einsum("ij,ij->i", B, B)
    d = np.einsum("ij,ij->i", A, A)[:, None] - 2.0 * (A @ B.T) + B_sq[None, :]
    return np.maximum(d, 0.0)  # cancellation can leave tiny negatives


class _ClassifierMixin:
    def score(self, X, y) -> float:
        """Mean accuracy of predict(X) against y."""
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        return float(np.mean(self.predict(X) == y))


# ---------------------------------------------------------------------------- StandardScaler


class StandardScaler:
    """Standardise features: z = (x - mean) / std, statistics learned on the training set.

    Features with zero variance keep scale 1 (they are only centred). std is the population
    standard deviation (ddof = 0), as in scikit-learn.
    """

    def __init__(self, with_mean: bool = True, with_std: bool = True):
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X, y=None) -> StandardScaler:
        X = _check_X(self, X)
        self.n_features_in_ = X.shape[1]
        self.mean_ = X.mean(axis=0) if self.with_mean else np.zeros(X.shape[1])
        std = X.std(axis=0) if self.with_std else np.ones(X.shape[1])
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X) -> np.ndarray:
        _check_fitted(self, "scale_")
        X = _check_X(self, X, self.n_features_in_)
        return (X - self.mean_) / self.scale_

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, Z) -> np.ndarray:
        _check_fitted(self, "scale_")
        Z = _check_X(self, Z, self.n_features_in_)
        return Z * self.scale_ + self.mean_


class PCA:
    """Principal component analysis by the singular value decomposition of the centred data.

    With X - mean = U S V^T, the components are the first ``n_components`` rows of V^T (unit vectors
    of decreasing variance), the codes z = (x - mean) V_k, and the reconstruction x_hat = z V_k^T +
    mean is the best rank-k linear one in squared error (Eckart-Young). explained_variance_ =
    S^2 / (N - 1), as scikit-learn. Signs follow scikit-learn's convention: in each component the
    entry of largest magnitude is positive, so results are deterministic.
    """

    def __init__(self, n_components: int):
        if int(n_components) < 1:
            raise ValueError(f"PCA: n_components must be >= 1, got {n_components}")
        self.n_components = int(n_components)

    def fit(self, X, y=None) -> PCA:
        X = _check_X(self, X)
        if self.n_components > min(X.shape):
            raise ValueError(f"PCA: n_components={self.n_components} exceeds min(n_samples, n_features) = "
                             f"{min(X.shape)} for X of shape {X.shape}")
        self.n_features_in_ = X.shape[1]
        self.mean_ = X.mean(axis=0)
        _, s, vt = np.linalg.svd(X - self.mean_, full_matrices=False)
        vt = vt[: self.n_components]
        signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
        self.components_ = vt * signs[:, None]
        self.explained_variance_ = s[: self.n_components] ** 2 / max(len(X) - 1, 1)
        self.explained_variance_ratio_ = self.explained_variance_ / ((s ** 2).sum() / max(len(X) - 1, 1))
        return self

    def transform(self, X) -> np.ndarray:
        _check_fitted(self, "components_")
        return (_check_X(self, X, self.n_features_in_) - self.mean_) @ self.components_.T

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, Z) -> np.ndarray:
        _check_fitted(self, "components_")
        return np.asarray(Z, dtype=np.float64) @ self.components_ + self.mean_


# ---------------------------------------------------------------------------- k nearest neighbours


class KNeighborsClassifier(_ClassifierMixin):
    """k-nearest-neighbour vote (Cover & Hart, IEEE Trans. Inf. Theory 13, 1967).

    metric: "euclidean" or "cosine" (1 - cosine similarity; a zero vector is at distance 1
    from everything). weights: "uniform" (each neighbour one vote) or "distance" (vote 1/d; a
    query that coincides with training points takes the vote of those points only).
    chunk_size: queries per block; the (chunk_size, n_train) distance block bounds memory.
    Ties in distance are broken by training-set order.
    """

    def __init__(self, n_neighbors: int = 5, metric: str = "euclidean", weights: str = "uniform",
                 chunk_size: int = 1024):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.weights = weights
        self.chunk_size = chunk_size

    def fit(self, X, y) -> KNeighborsClassifier:
        if self.metric not in ("euclidean", "cosine"):
            raise ValueError(f"KNeighborsClassifier: metric must be 'euclidean' or 'cosine', "
                             f"got {self.metric!r}")
        if self.weights not in ("uniform", "distance"):
            raise ValueError(f"KNeighborsClassifier: weights must be 'uniform' or 'distance', "
                             f"got {self.weights!r}")
        X, y = _check_Xy(self, X, y)
        if not 1 <= self.n_neighbors <= X.shape[0]:
            raise ValueError(f"KNeighborsClassifier: n_neighbors={self.n_neighbors} must lie in "
                             f"[1, n_samples={X.shape[0]}]")
        self._y = _encode(self, y, min_classes=1)
        self._X = self._prepare(X)
        self._X_sq = np.einsum("ij,ij->i", self._X, self._X)
        self.n_features_in_ = X.shape[1]
        return self

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        if self.metric == "cosine":  # on unit vectors, cosine distance is 1 - a.b
            norm = np.linalg.norm(X, axis=1, keepdims=True)
            return X / np.where(norm > 0, norm, 1.0)
        return X

    def _distances(self, Q: np.ndarray) -> np.ndarray:
        if self.metric == "cosine":
            return np.maximum(1.0 - Q @ self._X.T, 0.0)
        return np.sqrt(_sq_distances(Q, self._X, self._X_sq))

    def kneighbors(self, X, n_neighbors: int | None = None, return_distance: bool = True):
        """Distances (N, k) and indices (N, k) of the k nearest training samples, nearest first."""
        _check_fitted(self, "_X")
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if not 1 <= k <= self._X.shape[0]:
            raise ValueError(f"KNeighborsClassifier: n_neighbors={k} must lie in [1, {self._X.shape[0]}]")
        Q = self._prepare(_check_X(self, X, self.n_features_in_))
        dist = np.empty((Q.shape[0], k))
        ind = np.empty((Q.shape[0], k), dtype=np.int64)
        for start in range(0, Q.shape[0], self.chunk_size):  # blocks of queries, not single ones
            d = self._distances(Q[start:start + self.chunk_size])
            # A stable full argsort would cost O(n log n) per query; partition first, then sort
            # only the k candidates (by distance, then by index for reproducible ties).
            if k < d.shape[1]:
                cand = np.argpartition(d, k - 1, axis=1)[:, :k]
            else:
                cand = np.broadcast_to(np.arange(d.shape[1]), d.shape).copy()
            cd = np.take_along_axis(d, cand, axis=1)
            order = np.lexsort((cand, cd), axis=1)
            ind[start:start + d.shape[0]] = np.take_along_axis(cand, order, axis=1)
            dist[start:start + d.shape[0]] = np.take_along_axis(cd, order, axis=1)
        return (dist, ind) if return_distance else ind

    def predict_proba(self, X) -> np.ndarray:
        """(N, n_classes) fraction of the (weighted) neighbour vote for each class."""
        dist, ind = self.kneighbors(X)
        if self.weights == "uniform":
            w = np.ones_like(dist)
        else:
            exact = dist == 0.0
            with np.errstate(divide="ignore"):
                w = np.where(exact.any(axis=1, keepdims=True), exact.astype(np.float64), 1.0 / dist)
        n_classes = self.classes_.size
        votes = np.zeros((dist.shape[0], n_classes))
        rows = np.broadcast_to(np.arange(dist.shape[0])[:, None], ind.shape)
        np.add.at(votes, (rows, self._y[ind]), w)
        return votes / votes.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """Majority (weighted) vote; ties go to the class that sorts first."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


# ---------------------------------------------------------------------------- linear SVM


class LinearSVC(_ClassifierMixin):
    """Linear support vector machine trained by mini-batch Pegasos (stochastic sub-gradient).

    Minimises, for each class k against the rest (labels y_ik = +-1),
        0.5 |w_k|^2 + C sum_i max(0, 1 - y_ik (w_k . x_i + b_k))
    i.e. Pegasos' objective lambda/2 |w|^2 + mean hinge with lambda = 1 / (C N)
    (Shalev-Shwartz et al., "Pegasos: primal estimated sub-gradient solver for SVM", Math.
    Program. 127, 2011). The intercept is learned as the weight of a constant feature (as
    liblinear, the solver behind scikit-learn's LinearSVC, does), so it is mildly regularised.
    Step size eta_t = lr / (1 + lr lambda t); lr=None gives lr = 1/lambda, Pegasos' 1/(lambda t).
    Iterates are projected on the ball |w| <= 1/sqrt(lambda) that holds the optimum, and the
    returned weights average the second half of the iterates (Polyak-Ruppert averaging),
    which removes most of the SGD noise.
    max_iter: number of epochs (passes over the data). Deterministic for a given seed.
    Standardise X first (StandardScaler): SGD step sizes assume comparable feature scales.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 200, lr: float | None = None, batch_size: int = 32,
                 fit_intercept: bool = True, seed: int | np.random.Generator = 0):
        self.C = C
        self.max_iter = max_iter
        self.lr = lr
        self.batch_size = batch_size
        self.fit_intercept = fit_intercept
        self.seed = seed

    def _augment(self, X: np.ndarray) -> np.ndarray:
        return np.hstack([X, np.ones((X.shape[0], 1))]) if self.fit_intercept else X

    def fit(self, X, y) -> LinearSVC:
        if self.C <= 0 or self.max_iter < 1 or self.batch_size < 1:
            raise ValueError(f"LinearSVC: need C > 0, max_iter >= 1, batch_size >= 1; got C={self.C}, "
                             f"max_iter={self.max_iter}, batch_size={self.batch_size}")
        X, y = _check_Xy(self, X, y)
        y_idx = _encode(self, y)
        n, self.n_features_in_ = X.shape
        Xa = self._augment(X)
        n_classes = self.classes_.size
        # Binary problems need one weight vector (class 1 = +1); K > 2 classes need K (one-vs-rest).
        if n_classes == 2:
            Y = (2.0 * (y_idx == 1) - 1.0)[:, None]
        else:
            Y = 2.0 * (y_idx[:, None] == np.arange(n_classes)[None, :]) - 1.0
        lam = 1.0 / (self.C * n)
        lr = 1.0 / lam if self.lr is None else float(self.lr)
        radius = 1.0 / np.sqrt(lam)
        rng = _rng(self.seed)
        W = np.zeros((Xa.shape[1], Y.shape[1]))
        W_avg = np.zeros_like(W)
        n_avg = 0
        t = 0
        bs = min(self.batch_size, n)
        for epoch in range(self.max_iter):
            perm = rng.permutation(n)
            for start in range(0, n, bs):  # mini-batches: each step is a matrix product
                idx = perm[start:start + bs]
                t += 1
                eta = lr / (1.0 + lr * lam * t)
                margins = Y[idx] * (Xa[idx] @ W)
                active = (margins < 1.0) * Y[idx]  # sub-gradient of the hinge: -y x where margin < 1
                grad = lam * W - Xa[idx].T @ active / idx.size
                W -= eta * grad
                norms = np.linalg.norm(W, axis=0)
                W *= np.minimum(1.0, radius / np.maximum(norms, 1e-300))
                if epoch >= self.max_iter // 2:
                    n_avg += 1
                    W_avg += (W - W_avg) / n_avg
        W = W_avg if n_avg else W
        if self.fit_intercept:
            self.coef_, self.intercept_ = W[:-1].T.copy(), W[-1].copy()
        else:
            self.coef_, self.intercept_ = W.T.copy(), np.zeros(W.shape[1])
        self.n_iter_ = self.max_iter
        return self

    def decision_function(self, X) -> np.ndarray:
        """Signed distances to the hyperplanes (times |w|): (N,) for two classes (positive =
        classes_[1]), (N, K) for K > 2 classes."""
        _check_fitted(self, "coef_")
        X = _check_X(self, X, self.n_features_in_)
        scores = X @ self.coef_.T + self.intercept_
        return scores[:, 0] if self.classes_.size == 2 else scores

    def predict(self, X) -> np.ndarray:
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(np.int64)]
        return self.classes_[np.argmax(scores, axis=1)]


# ---------------------------------------------------------------------------- logistic regression


class LogisticRegression(_ClassifierMixin):
    """L2-regularised logistic regression, fitted by L-BFGS with an analytic gradient.

    Two classes: P(y = classes_[1] | x) = sigmoid(w . x + b). K > 2 classes: multinomial
    P(y = k | x) = softmax_k(W x + b). Minimises (the intercept is not penalised)
        C sum_i -log P(y_i | x_i) + 0.5 |W|^2,
    the same objective as scikit-learn's LogisticRegression(solver="lbfgs"), so coefficients
    agree for the same C. The objective is divided by C N for the optimiser, which changes
    nothing but makes the gradient tolerance ``tol`` independent of the data-set size.
    (Reference: Bishop, Pattern Recognition and Machine Learning, 2006, sections 4.3.2-4.3.4;
    Liu & Nocedal, Math. Program. 45, 1989, for L-BFGS.)
    """

    def __init__(self, C: float = 1.0, max_iter: int = 100, tol: float = 1e-6, fit_intercept: bool = True):
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept

    def _unpack(self, theta: np.ndarray, d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        theta = theta.reshape(k, d + int(self.fit_intercept))
        if self.fit_intercept:
            return theta[:, :d], theta[:, d]
        return theta, np.zeros(k)

    def fit(self, X, y) -> LogisticRegression:
        if self.C <= 0 or self.max_iter < 1:
            raise ValueError(f"LogisticRegression: need C > 0 and max_iter >= 1, got C={self.C}, "
                             f"max_iter={self.max_iter}")
        X, y = _check_Xy(self, X, y)
        y_idx = _encode(self, y)
        n, d = X.shape
        self.n_features_in_ = d
        n_classes = self.classes_.size
        k = 1 if n_classes == 2 else n_classes
        onehot = (y_idx[:, None] == np.arange(n_classes)[None, :]).astype(np.float64)

        def objective(theta):
            W, b = self._unpack(theta, d, k)
            Z = X @ W.T + b  # (N, k) logits
            if k == 1:
                z = Z[:, 0]
                t = onehot[:, 1]
                # -log sigmoid(z) = logaddexp(0, -z): stable for large |z|.
                loss = np.sum(np.logaddexp(0.0, z) - t * z)
                dZ = (special.expit(z) - t)[:, None]
            else:
                lse = special.logsumexp(Z, axis=1)
                loss = np.sum(lse - np.sum(onehot * Z, axis=1))
                dZ = np.exp(Z - lse[:, None]) - onehot  # softmax - one-hot
            gW = dZ.T @ X + W * (1.0 / self.C)
            f = loss + 0.5 / self.C * np.sum(W * W)
            g = np.hstack([gW, dZ.sum(axis=0)[:, None]]) if self.fit_intercept else gW
            # (loss + |W|^2 / 2C) / N = (C loss + |W|^2 / 2) / (C N): same minimiser as sklearn's.
            return f / n, g.ravel() / n
        theta0 = np.zeros(k * (d + int(self.fit_intercept)))
        res = optimize.minimize(objective, theta0, jac=True, method="L-BFGS-B",
                                options={"maxiter": self.max_iter, "gtol": self.tol, "ftol": 1e-3 * self.tol})
        if not res.success:
            warnings.warn(f"LogisticRegression: L-BFGS did not converge in {self.max_iter} iterations "
                          f"({res.message}); increase max_iter or standardise X", stacklevel=2)
        self.coef_, self.intercept_ = self._unpack(res.x, d, k)
        self.n_iter_ = int(res.nit)
        return self

    def decision_function(self, X) -> np.ndarray:
        """Logits: (N,) for two classes (log-odds of classes_[1]), (N, K) otherwise."""
        _check_fitted(self, "coef_")
        X = _check_X(self, X, self.n_features_in_)
        Z = X @ self.coef_.T + self.intercept_
        return Z[:, 0] if self.classes_.size == 2 else Z

    def predict_proba(self, X) -> np.ndarray:
        """(N, n_classes) class probabilities."""
        Z = self.decision_function(X)
        if Z.ndim == 1:
            p = special.expit(Z)
            return np.stack([1.0 - p, p], axis=1)
        return special.softmax(Z, axis=1)

    def predict_log_proba(self, X) -> np.ndarray:
        Z = self.decision_function(X)
        if Z.ndim == 1:
            return np.stack([-np.logaddexp(0.0, Z), -np.logaddexp(0.0, -Z)], axis=1)
        return special.log_softmax(Z, axis=1)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


# ---------------------------------------------------------------------------- k-means


class KMeans:
    """k-means clustering (Lloyd's algorithm) with greedy k-means++ seeding.

    Minimises the inertia sum_i min_k |x_i - mu_k|^2. Seeding: k-means++ (Arthur &
    Vassilvitskii, SODA 2007) picks each new centre with probability proportional to the
    squared distance to the nearest chosen centre; the greedy variant tries 2 + ln(k)
    candidates and keeps the one that lowers the inertia most. The best of ``n_init`` runs is
    kept. Convergence: centres move by less than tol * (mean feature variance) in total
    squared distance. An empty cluster is re-seeded at the point farthest from its centre.
    """

    def __init__(self, n_clusters: int = 8, n_init: int = 10, max_iter: int = 300, tol: float = 1e-4,
                 seed: int | np.random.Generator = 0):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed

    def _init_centers(self, X: np.ndarray, x_sq: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, k = X.shape[0], self.n_clusters
        n_trials = 2 + int(np.log(k))
        centers = np.empty((k, X.shape[1]))
        centers[0] = X[rng.integers(n)]
        closest = _sq_distances(centers[:1], X, x_sq)[0]
        for c in range(1, k):  # k sequential choices; each is vectorised over the samples
            total = closest.sum()
            if total <= 0:  # fewer distinct points than clusters: any point will do
                cand = rng.integers(n, size=n_trials)
            else:
                cand = np.searchsorted(np.cumsum(closest), rng.random(n_trials) * total)
                cand = np.minimum(cand, n - 1)
            d_cand = np.minimum(closest[None, :], _sq_distances(X[cand], X, x_sq))
            best = int(np.argmin(d_cand.sum(axis=1)))
            centers[c] = X[cand[best]]
            closest = d_cand[best]
        return centers

    def _lloyd(self, X: np.ndarray, centers: np.ndarray, tol: float):
        k = self.n_clusters
        n_iter = 0
        while n_iter < self.max_iter:
            n_iter += 1
            d = _sq_distances(X, centers)
            labels = np.argmin(d, axis=1)
            counts = np.bincount(labels, minlength=k)
            onehot = (labels[:, None] == np.arange(k)[None, :]).astype(np.float64)
            new = (onehot.T @ X) / np.maximum(counts, 1)[:, None]
            empty = np.flatnonzero(counts == 0)
            if empty.size:  # re-seed empty clusters at the worst-fitted points
                far = np.argsort(-d[np.arange(X.shape[0]), labels])[: empty.size]
                new[empty] = X[far]
            shift = float(np.sum((new - centers) ** 2))
            centers = new
            if shift <= tol:
                break
        # Final assignment so that labels_ and inertia_ agree with the returned centres.
        d = _sq_distances(X, centers)
        labels = np.argmin(d, axis=1)
        inertia = float(d[np.arange(X.shape[0]), labels].sum())
        return centers, labels, inertia, n_iter

    def fit(self, X, y=None) -> KMeans:
        X = _check_X(self, X)
        if not 1 <= self.n_clusters <= X.shape[0]:
            raise ValueError(f"KMeans: n_clusters={self.n_clusters} must lie in [1, n_samples={X.shape[0]}]")
        if self.n_init < 1 or self.max_iter < 1:
            raise ValueError(f"KMeans: n_init and max_iter must be >= 1, got {self.n_init}, {self.max_iter}")
        self.n_features_in_ = X.shape[1]
        rng = _rng(self.seed)
        tol = self.tol * float(np.mean(X.var(axis=0)))
        x_sq = np.einsum("ij,ij->i", X, X)
        best = None
        for _ in range(self.n_init):
            run = self._lloyd(X, self._init_centers(X, x_sq, rng), tol)
            if best is None or run[2] < best[2]:
                best = run
        self.cluster_centers_, self.labels_, self.inertia_, self.n_iter_ = best
        return self

    def transform(self, X) -> np.ndarray:
        """(N, n_clusters) Euclidean distances to the cluster centres."""
        _check_fitted(self, "cluster_centers_")
        X = _check_X(self, X, self.n_features_in_)
        return np.sqrt(_sq_distances(X, self.cluster_centers_))

    def predict(self, X) -> np.ndarray:
        """Index of the nearest centre for each sample."""
        return np.argmin(self.transform(X), axis=1)

    def fit_predict(self, X, y=None) -> np.ndarray:
        return self.fit(X).labels_

    def score(self, X, y=None) -> float:
        """Minus the inertia of X with respect to the fitted centres (higher is better)."""
        return -float(np.sum(np.min(self.transform(X), axis=1) ** 2))


def probabilities(model, X) -> np.ndarray:
    """(N, K) class probabilities from any classifier here.

    Models with ``predict_proba`` give theirs; a margin classifier's decision values go through a
    sigmoid (binary) or softmax (multi-class), which keeps their ranking (so the AUC is unchanged)
    and puts the decision threshold of two classes at 0.5.
    """
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X), dtype=np.float64)
    d = np.asarray(model.decision_function(X), dtype=np.float64)
    if d.ndim == 1:
        p = 1 / (1 + np.exp(-d))
        return np.stack([1 - p, p], 1)
    e = np.exp(d - d.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)
