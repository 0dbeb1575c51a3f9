"""LoG/DoG blob detection: scale selection by theory, planted blobs found, patches against a loop."""

from __future__ import annotations

import numpy as np
import pytest

from models.classical_detection import blob_response, detect_blobs, extract_patches


def gaussian_blob(shape, centre, s):
    grid = np.indices(shape).astype(float)
    r2 = sum((g - c) ** 2 for g, c in zip(grid, centre))
    return np.exp(-r2 / (2 * s * s))


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("method", ["log", "dog"])
def test_scale_selection_picks_the_blob_size(d, method):
    """For a Gaussian blob of std s0 the normalised LoG at its centre is proportional to
    sigma^2 / (s0^2 + sigma^2)^(1 + d/2), which peaks at sigma = s0 sqrt(2 / d) (Lindeberg)."""
    s0 = 3.0
    shape = (41,) * d
    img = gaussian_blob(shape, (20,) * d, s0)[None]
    sigmas = np.linspace(1.5, 6.0, 46)
    b = blob_response(img, sigmas, method)[(0, slice(None)) + (20,) * d]
    best = sigmas[b.argmax()]
    theory = s0 * np.sqrt(2 / d)
    # the DoG's effective scale sits between sigma and 1.6 sigma, so its optimum is lower
    assert best == pytest.approx(theory, rel=0.04) if method == "log" else 0.6 * theory < best < theory


def test_detects_planted_blobs_with_their_sizes():
    rng = np.random.default_rng(0)
    shape = (64, 64)
    centres = np.array([[15, 15], [45, 20], [30, 50]])
    sizes = np.array([2.0, 3.0, 4.0])
    img = sum(gaussian_blob(shape, c, s) for c, s in zip(centres, sizes)) + 0.02 * rng.standard_normal(shape)
    b, pts, scores, radii = detect_blobs(img[None], threshold=0.1)
    assert (b == 0).all() and len(pts) == 3
    order = np.argsort(pts[:, 0] * 100 + pts[:, 1])
    np.testing.assert_array_equal(pts[order], centres[np.argsort(centres[:, 0] * 100 + centres[:, 1])])
    # a Gaussian blob of std s "is" a disc of radius sqrt(2) s for the detector
    est = radii[order] / np.sqrt(2)
    np.testing.assert_allclose(est, sizes[np.argsort(centres[:, 0] * 100 + centres[:, 1])], rtol=0.25)


def test_max_candidates_keeps_the_strongest_per_image():
    rng = np.random.default_rng(1)
    imgs = rng.random((3, 32, 32)).astype(np.float32)
    b_all, _, s_all, _ = detect_blobs(imgs, max_candidates=1000)
    b, _, s, _ = detect_blobs(imgs, max_candidates=5)
    for i in range(3):
        assert (b == i).sum() == 5
        np.testing.assert_allclose(np.sort(s[b == i]), np.sort(s_all[b_all == i])[-5:])


@pytest.mark.parametrize("d", [2, 3])
def test_extract_patches_matches_a_loop(d):
    rng = np.random.default_rng(2)
    imgs = rng.random((2, 2) + (12,) * d)
    batch = np.array([0, 1, 1, 0])
    pts = rng.integers(0, 12, (4, d))
    pts[0] = 0  # at the border: edge replication
    size = 5
    got = extract_patches(imgs, batch, pts, size)
    assert got.shape == (4, 2) + (size,) * d
    padded = np.pad(imgs, [(0, 0), (0, 0)] + [(2, 3)] * d, mode="edge")
    for k in range(4):  # reference: slice each patch
        sl = tuple(slice(p, p + size) for p in pts[k])
        np.testing.assert_array_equal(got[k], padded[(batch[k], slice(None)) + sl])
    assert got[1][(slice(None),) + (2,) * d].tolist() == imgs[(1, slice(None)) + tuple(pts[1])].tolist()


def test_errors():
    with pytest.raises(ValueError, match="batch"):
        blob_response(np.zeros(10), [1.0])
    with pytest.raises(ValueError, match="positive"):
        blob_response(np.zeros((1, 8, 8)), [0.0])
    with pytest.raises(ValueError, match="method"):
        blob_response(np.zeros((1, 8, 8)), [1.0], method="hessian")
