"""1-NN with Euclidean and DTW distances: the vectorised recursion equals the textbook double loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from models.classical_sequence import (
    NearestNeighborSeries,
    dtw_distances,
    dtw_reference,
    euclidean_distances,
)


def test_dtw_of_a_hand_worked_pair():
    # a lags b by one sample: warping matches every value exactly except the repeated first/last ones
    a, b = [0.0, 0.0, 1.0, 2.0], [0.0, 1.0, 2.0, 2.0]
    assert dtw_reference(a, b, window=1) == 0.0
    assert dtw_reference(a, b, window=0) == pytest.approx(np.sqrt(1 + 1 + 0 + 0))  # Euclidean
    np.testing.assert_allclose(dtw_distances([a], [b], window=1), [[0.0]])
    np.testing.assert_allclose(dtw_distances([a], [b], window=0), [[np.sqrt(2.0)]])


@pytest.mark.parametrize("length,window", [(30, 4), (30, 0.5), (12, 1), (20, 30), (25, 0.1)])
def test_vectorised_dtw_equals_the_double_loop(length, window):
    rng = np.random.default_rng(length)
    a, b = rng.normal(size=(5, length)), rng.normal(size=(7, length))
    expected = np.array([[dtw_reference(x, y, window) for y in b] for x in a])
    np.testing.assert_allclose(dtw_distances(a, b, window=window, block=2), expected, rtol=1e-12)


series = arrays(np.float64, st.tuples(st.integers(2, 5), st.integers(3, 16)),
                elements=st.floats(-10, 10, allow_nan=False))


@settings(max_examples=40, deadline=None)
@given(series, st.integers(0, 16))
def test_dtw_is_symmetric_below_euclidean_and_shrinks_with_the_window(x, w):
    d = dtw_distances(x, x[::-1], window=w)
    np.testing.assert_allclose(d, dtw_distances(x[::-1], x, window=w).T, atol=1e-9)
    assert np.all(d <= euclidean_distances(x, x[::-1]) + 1e-9)
    assert np.all(dtw_distances(x, x[::-1], window=w + 1) <= d + 1e-9)
    np.testing.assert_allclose(np.diag(dtw_distances(x, x, window=w)), 0.0, atol=1e-6)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"dtw_distances: .*\(3, 5\) and \(2, 4\)"):
        dtw_distances(np.zeros((3, 5)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="fractional window"):
        dtw_distances(np.zeros((1, 5)), np.zeros((1, 5)), window=1.5)
    with pytest.raises(ValueError, match="metric"):
        NearestNeighborSeries("cosine")


def test_dtw_1nn_recognises_shifted_patterns_that_euclidean_confuses():
    # class 0: one bump, class 1: two bumps; positions jitter, so bumps rarely overlap in time
    rng = np.random.default_rng(0)
    t = np.arange(60)

    def bumps(k, n):
        out = []
        for _ in range(n):
            starts = rng.integers(5, 50, size=k) if k == 1 else np.sort(rng.integers(5, 50, size=1)) + [0, 10]
            out.append(sum(np.exp(-(t - s) ** 2 / 4.0) for s in starts))
        return np.array(out)

    x_tr = np.concatenate([bumps(1, 20), bumps(2, 20)])
    y_tr = np.repeat([0, 1], 20)
    x_te = np.concatenate([bumps(1, 30), bumps(2, 30)])
    y_te = np.repeat([0, 1], 30)
    acc = {m: (NearestNeighborSeries(m, window=0.5).fit(x_tr, y_tr).predict(x_te) == y_te).mean()
           for m in ("euclidean", "dtw")}
    assert acc["dtw"] >= 0.9 and acc["dtw"] > acc["euclidean"] + 0.15, acc


def test_scores_rank_by_the_nearest_distance_of_each_class():
    x_tr = np.array([[0.0, 0.0], [10.0, 10.0], [11.0, 11.0]])
    nn = NearestNeighborSeries("euclidean").fit(x_tr, [0, 1, 1], n_classes=3)
    p = nn.predict_proba([[1.0, 1.0], [9.0, 9.0]])
    d0, d1 = np.sqrt(2), np.sqrt(2 * 81)  # first query: to class 0 and class 1
    np.testing.assert_allclose(p[0, :2], np.array([1 / d0, 1 / d1]) / (1 / d0 + 1 / d1))
    assert p[:, 2].tolist() == [0.0, 0.0]  # class 2 has no training series
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert nn.predict([[1.0, 1.0], [9.0, 9.0]]).tolist() == [0, 1]
