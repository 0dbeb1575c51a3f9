"""Classical lesion candidates: multi-scale Laplacian-of-Gaussian (LoG) / difference-of-Gaussians (DoG)
blob detection (Lindeberg 1998), and the patches around candidates that a false-positive-reduction
network classifies in a two-stage CADe system (Setio et al., IEEE TMI 35(5), 2016).

Scale space. Smoothing an image with a Gaussian of std sigma and taking the Laplacian gives the
strongest (negative) response at the centre of a bright disc of radius r when sigma = r / sqrt(d)
(d = 2 for images, 3 for volumes). Responses at different sigma compare only after scale
normalisation, so the blob measure is

    B(x, sigma) = -sigma^2 * (Laplacian of G_sigma * I)(x)        (positive for bright blobs)

and a blob is a point where B is maximal over space and scale. Here the maximum over scales is taken
first (B*(x) = max_sigma B(x, sigma), with the maximising sigma kept as the size estimate r = sqrt(d) sigma)
and candidates are the spatial local maxima of B* within ``min_distance`` pixels: a simpler,
fully vectorised variant of the scale-space maximum. The DoG approximates sigma^2 times the Laplacian by
(G_{k sigma} - G_sigma) * I / (k - 1) (Lowe 2004), cheaper for many scales.

All filters run on the whole batch at once (``scipy.ndimage`` with a zero-width Gaussian on the batch
axis); the loops are over scales and axes, never over pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["blob_response", "detect_blobs", "extract_patches", "top_per_image"]


def _check_batch(images, fn: str) -> np.ndarray:
    x = np.asarray(images, dtype=np.float32)
    if x.ndim not in (3, 4):
        raise ValueError(f"{fn}: expected a batch (N, H, W) or (N, D, H, W), got shape {x.shape}")
    return x


def blob_response(images, sigmas, method: str = "log") -> np.ndarray:
    """Scale-normalised blob measure B (N, S, *spatial) float32 for bright blobs, one slice per sigma.

    images: (N, H, W) or (N, D, H, W); sigmas: (S,) scales in pixels; method: "log" or "dog".
    """
    fn = "blob_response"
    x = _check_batch(images, fn)
    d = x.ndim - 1
    sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if sigmas.size == 0 or (sigmas <= 0).any():
        raise ValueError(f"{fn}: sigmas must be positive, got {sigmas}")
    if method not in ("log", "dog"):
        raise ValueError(f"{fn}: method must be 'log' or 'dog', got {method!r}")
    out = np.empty((x.shape[0], sigmas.size, *x.shape[1:]), dtype=np.float32)
    for j, s in enumerate(sigmas):  # a loop over scales; each filter covers the batch
        sig = (0.0,) + (s,) * d
        if method == "log":
            lap = sum(ndimage.gaussian_filter(x, sig, order=(0,) + tuple(int(a == b) * 2 for b in range(d)),
                                              mode="nearest") for a in range(d))
            out[:, j] = -(s * s) * lap
        else:
            k = 1.6  # Lowe's ratio; DoG / (k - 1) ~ sigma^2 Laplacian
            g1 = ndimage.gaussian_filter(x, sig, mode="nearest")
            g2 = ndimage.gaussian_filter(x, (0.0,) + (k * s,) * d, mode="nearest")
            out[:, j] = -(g2 - g1) / (k - 1.0)
    return out


def detect_blobs(images, sigmas=None, min_distance: int = 2, threshold: float = 0.0, max_candidates: int = 50,
                 method: str = "log"):
    """Blob candidates of a batch: (batch (P,), points (P, d) int64, scores (P,), radii (P,)), host arrays.

    sigmas: scales (default 1 .. 8 pixels, 10 geometric steps: generic, not tuned to any data set);
    a candidate is a spatial local maximum of B* = max over scales (window 2 * min_distance + 1) with
    B* > threshold; the ``max_candidates`` strongest per image are kept. radii = sqrt(d) * best sigma.
    """
    x = _check_batch(images, "detect_blobs")
    d = x.ndim - 1
    sigmas = np.geomspace(1.0, 8.0, 10) if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    b = blob_response(x, sigmas, method)
    best = b.max(axis=1)  # (N, *spatial)
    scale = np.asarray(sigmas)[b.argmax(axis=1)]
    local = ndimage.maximum_filter(best, size=(1,) + (2 * min_distance + 1,) * d, mode="nearest")
    keep = (best == local) & (best > threshold)
    idx = np.argwhere(keep)  # (P, 1 + d), ordered by image
    scores = best[keep]
    radii = np.sqrt(d) * scale[keep]
    sel = top_per_image(idx[:, 0], scores, max_candidates)
    return idx[sel, 0].astype(np.int64), idx[sel, 1:].astype(np.int64), scores[sel].astype(np.float32), \
        radii[sel].astype(np.float32)


def top_per_image(batch, scores, k: int) -> np.ndarray:
    """Indices of the ``k`` highest-scoring candidates of each image, ordered by image then score
    (descending). A stable sort on (image, -score) and the rank within each image: no loop."""
    batch, scores = np.asarray(batch), np.asarray(scores)
    order = np.lexsort((-scores, batch))
    b = batch[order]
    rank = np.arange(b.size) - np.searchsorted(b, b, side="left")
    return order[rank < k]


def extract_patches(images, batch, points, size: int) -> np.ndarray:
    """Patches (P, C, size, ...) centred on integer ``points`` (P, d) of images[batch] (N, C, *spatial).

    Images are padded by edge replication, so candidates near the border get full patches. One
    gather with broadcast index arrays: no loop over candidates.
    """
    x = np.asarray(images)
    d = x.ndim - 2
    pts = np.asarray(points, dtype=np.int64).reshape(-1, d)
    half = size // 2
    padded = np.pad(x, [(0, 0), (0, 0)] + [(half, size - half)] * d, mode="edge")
    offsets = np.arange(size)
    # index arrays broadcast to (P, C, size, ..., size)
    p = len(pts)
    expand = lambda a, axis: a.reshape([-1 if i == axis else 1 for i in range(2 + d)])  # noqa: E731
    index = [expand(np.asarray(batch, dtype=np.int64), 0), expand(np.arange(x.shape[1]), 1)]
    for a in range(d):
        index.append(expand(pts[:, a], 0) + expand(offsets, 2 + a))
    return padded[tuple(index)].reshape(p, x.shape[1], *(size,) * d)
