"""The time-series baselines of the UCR archive: 1-nearest-neighbour with Euclidean distance and with
dynamic time warping (DTW) under a Sakoe-Chiba window.

DTW (Sakoe & Chiba, "Dynamic programming algorithm optimization for spoken word recognition", 1978)
aligns two series a (length T) and b (length T') by the cheapest monotone path through the grid of
squared differences c(i, j) = (a_i - b_j)^2::

    D(0, 0) = 0,  D(i, 0) = D(0, j) = inf,
    D(i, j) = c(i, j) + min(D(i-1, j-1), D(i-1, j), D(i, j-1)),     DTW(a, b) = sqrt(D(T, T'))

and the Sakoe-Chiba window allows only cells with |i - j| <= w. w = 0 is the Euclidean distance; the
UCR archive's reference results ("DTW, learned window") choose w on training data, as ``fit`` does
here on a validation split. Dau et al., "The UCR time series archive" (2019), list both baselines.

``dtw_distances`` runs the recursion once for every pair of a block at the same time: the loops are
over the (i, j) cells of the window, each step a vectorised NumPy update of all pairs, so the Python
work is T x (2w + 1) steps whatever the number of series. ``dtw_reference`` is the readable twin, one
pair at a time, used by the tests.
"""

from __future__ import annotations

import numpy as np


def _window(w, length: int) -> int:
    if isinstance(w, float):
        if not 0.0 <= w <= 1.0:
            raise ValueError(f"dtw: a fractional window must be in [0, 1], got {w}")
        return int(round(w * length))
    if w < 0:
        raise ValueError(f"dtw: window must be >= 0, got {w}")
    return int(w)


def dtw_reference(a, b, window=None) -> float:
    """DTW distance of two 1D series by the textbook double loop (window: samples, or None for none)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n, m = len(a), len(b)
    w = max(n, m) if window is None else max(_window(window, max(n, m)), abs(n - m))
    d = np.full((n + 1, m + 1), np.inf)
    d[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(max(1, i - w), min(m, i + w) + 1):
            d[i, j] = (a[i - 1] - b[j - 1]) ** 2 + min(d[i - 1, j - 1], d[i - 1, j], d[i, j - 1])
    return float(np.sqrt(d[n, m]))


def dtw_distances(a, b, window=0.1, block: int = 64) -> np.ndarray:
    """DTW distances between every series of ``a`` (M, T) and of ``b`` (N, T): (M, N) float64.

    window: the Sakoe-Chiba half-width, in samples (int) or as a fraction of T (float); 0 gives the
    Euclidean distance. ``block`` rows of ``a`` are processed at once (memory ~ block x N x T x 8 bytes).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"dtw_distances: expected (M, T) and (N, T) series of one length, got shapes "
                         f"{a.shape} and {b.shape}")
    length = a.shape[1]
    w = _window(window, length)
    if w == 0:
        return euclidean_distances(a, b)
    out = np.empty((len(a), len(b)))
    for start in range(0, len(a), block):
        out[start:start + block] = _dtw_block(a[start:start + block], b, w)
    return out


def _dtw_block(a: np.ndarray, b: np.ndarray, w: int) -> np.ndarray:
    """The DTW recursion for all (M, N) pairs at once; rows of D are kept two at a time."""
    length = a.shape[1]
    shape = (length + 1, len(a), len(b))
    prev = np.full(shape, np.inf)  # prev[j] = D(i - 1, j) for every pair
    prev[0] = 0.0
    cur = np.full(shape, np.inf)
    best = np.empty(shape[1:])
    for i in range(1, length + 1):
        lo, hi = max(1, i - w), min(length, i + w)
        # only the cells next to the band are read outside it: keep them at infinity
        cur[lo - 1] = np.inf
        if hi < length:
            cur[hi + 1] = np.inf
        ai = a[:, i - 1, None]
        for j in range(lo, hi + 1):
            np.minimum(prev[j - 1], prev[j], out=best)
            np.minimum(best, cur[j - 1], out=best)
            np.subtract(ai, b[None, :, j - 1], out=cur[j])
            np.square(cur[j], out=cur[j])
            cur[j] += best
        prev, cur = cur, prev
    return np.sqrt(prev[length])


def euclidean_distances(a, b) -> np.ndarray:
    """||a_i - b_j|| for (M, T) and (N, T) arrays, by |a|^2 + |b|^2 - 2 a.b (clipped at 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


class NearestNeighborSeries:
    """1-nearest-neighbour classifier of series under Euclidean or DTW distance.

    ``predict_proba`` turns the distance d_k to the nearest series of each class k into scores
    p_k = (1 / d_k) / sum_j (1 / d_j): the argmax is the 1-NN decision, and ranking by p gives the ROC
    and PR curves a 1-NN classifier otherwise lacks. (A class absent from training scores 0.)
    """

    def __init__(self, metric: str = "dtw", window=0.1):
        if metric not in ("euclidean", "dtw"):
            raise ValueError(f"NearestNeighborSeries: metric must be 'euclidean' or 'dtw', got {metric!r}")
        self.metric, self.window = metric, window

    def fit(self, x, y, n_classes: int | None = None):
        self.x_ = np.asarray(x, np.float64)
        self.y_ = np.asarray(y, np.int64)
        self.n_classes_ = int(n_classes if n_classes is not None else self.y_.max() + 1)
        return self

    def distances(self, x) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.metric == "euclidean":
            return euclidean_distances(x, self.x_)
        return dtw_distances(x, self.x_, self.window)

    def predict_proba(self, x) -> np.ndarray:
        d = self.distances(x)
        per_class = np.full((len(d), self.n_classes_), np.inf)
        for k in range(self.n_classes_):
            members = self.y_ == k
            if members.any():
                per_class[:, k] = d[:, members].min(1)
        inv = 1.0 / np.maximum(per_class, 1e-12)
        return inv / inv.sum(1, keepdims=True)

    def predict(self, x) -> np.ndarray:
        return self.predict_proba(x).argmax(1)
