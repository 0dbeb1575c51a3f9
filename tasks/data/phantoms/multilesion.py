"""Images and volumes with zero to several lesions each, for detection (CADe) and FROC analysis.

A detector must say where lesions are, and must also stay silent where there are none, so a data set
mixes scans with 1 .. ``max_lesions`` lesions and lesion-free scans (``empty_fraction``). Lesions are
those of ``lesions.py`` (smooth or irregular boundaries, drawn by ``lesion_shape_parameters`` and
``render_lesions``) with sizes and contrasts varied over a wide range, so some are faint and small.

Lesions are not the only bright structures: thin, vessel-like tubes (``vessels`` per scan on average,
Poisson) cross the field with contrasts like the lesions'. A blob detector answers to them where they
cross or bend and at its smallest scales along their length, so they are realistic false-positive
bait, the kind that the false-positive-reduction stage of a two-stage CADe system exists to remove
(Setio et al. 2016 list vessels as the main source of false nodule candidates in chest CT).

Image model, per scan: background 0.2 + smooth texture (std 0.05) + sum of lesion profiles times their
contrasts + tubes (Gaussian cross-section), Gaussian blur 0.6 px (the point-spread function), white noise
of std ``noise``, clipped to [0, 1].
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._common import as_rng, check_float, check_int, check_ndim, check_range, pixel_grid, smooth_noise
from .lesions import lesion_shape_parameters, render_lesions

__all__ = ["make_multilesion_dataset", "render_tubes"]


def render_tubes(shape: tuple[int, ...], starts, ends, widths, contrasts) -> np.ndarray:
    """Sum of straight tubes (segments from ``starts`` to ``ends``, (T, d) pixels) with Gaussian cross-
    sections of std ``widths`` (T,) and peak ``contrasts`` (T,): (*shape) float32, vectorised over pixels."""
    grid = np.stack(np.broadcast_arrays(*pixel_grid(shape)), axis=-1).reshape(-1, len(shape))  # (P, d)
    out = np.zeros(grid.shape[0], dtype=np.float32)
    for a, b, w, c in zip(np.asarray(starts, np.float32), np.asarray(ends, np.float32), widths, contrasts):
        ab = b - a
        t = np.clip(((grid - a) @ ab) / max(float(ab @ ab), 1e-6), 0.0, 1.0)  # nearest point on the segment
        dist2 = ((grid - (a + t[:, None] * ab)) ** 2).sum(axis=1)
        out += c * np.exp(-dist2 / (2 * w * w))
    return out.reshape(shape)


def _place(rng, k, radii, size, d, fn):
    """Centres of k lesions that neither overlap (reach 1.8 R, spikes included) nor leave the image.

    Rejection sampling, lesion after lesion; when an unlucky early placement leaves no room for a later
    lesion, the whole layout is drawn again (up to 50 times) rather than giving up.
    """
    reach = 1.8 * radii
    for _ in range(50):
        centres = np.zeros((k, d))
        for i in range(k):  # a handful of lesions
            for _ in range(200):
                c = rng.uniform(reach[i], size - 1 - reach[i], d)
                if np.all(np.linalg.norm(centres[:i] - c, axis=1) > reach[:i] + reach[i]):
                    centres[i] = c
                    break
            else:
                break
        else:
            return centres
    raise ValueError(f"{fn}: could not place {k} lesions of radius up to {radii.max():.1f} px in a "
                     f"{size}-pixel image; ask for fewer or smaller lesions")


def make_multilesion_dataset(
    n_images: int,
    image_size: int = 64,
    ndim: int = 2,
    max_lesions: int = 4,
    empty_fraction: float = 0.25,
    radius=(2.5, 6.0),
    contrast=(0.12, 0.4),
    noise: float = 0.05,
    vessels: float = 2.0,
    seed=0,
) -> dict:
    """Scans with 0 .. ``max_lesions`` lesions each and exact lesion positions.

    Returns a dict:
      ``images``    (N, 1, S, S) or (N, 1, S, S, S) float32 in [0, 1],
      ``scan``      (L,) int64 the scan holding each lesion (lesions of all scans in one table),
      ``centres``   (L, ndim) float32 lesion centres in pixels (array-axis order),
      ``radii``     (L,) float32 equivalent radii in pixels, drawn from U(radius),
      ``contrasts`` (L,) float32, drawn from U(contrast), ``labels`` (L,) int64 (0 smooth, 1 irregular),
      ``n_lesions`` (N,) int64 lesions per scan.
    A scan is lesion-free with probability ``empty_fraction``, otherwise it holds U{1..max_lesions} lesions.
    """
    fn = "make_multilesion_dataset"
    n = check_int(n_images, "n_images", fn)
    d = check_ndim(ndim, fn)
    size = check_int(image_size, "image_size", fn, minimum=16)
    k_max = check_int(max_lesions, "max_lesions", fn, minimum=0)
    empty = check_float(empty_fraction, "empty_fraction", fn, low=0.0, high=1.0)
    r_lo, r_hi = check_range(radius, "radius", fn)
    c_lo, c_hi = check_range(contrast, "contrast", fn)
    noise = check_float(noise, "noise", fn, low=0.0)
    vessels = check_float(vessels, "vessels", fn, low=0.0)
    if r_lo <= 0 or 2 * 1.8 * r_hi >= size - 1:
        raise ValueError(f"{fn}: radius {radius!r} px must be positive and fit (reach 1.8 R) in {size} px")
    rng = as_rng(seed, fn)
    shape = (size,) * d

    counts = np.where(rng.random(n) < empty, 0, rng.integers(1, k_max + 1, n) if k_max else 0).astype(np.int64)
    images = np.empty((n, 1, *shape), dtype=np.float32)
    table = {"scan": [], "centres": [], "radii": [], "contrasts": [], "labels": []}
    for i, k in enumerate(counts):  # one scan at a time: each is vectorised over its pixels
        radii = rng.uniform(r_lo, r_hi, k)
        centres = _place(rng, k, radii, size, d, fn)
        labels = rng.integers(0, 2, k)
        contrasts = rng.uniform(c_lo, c_hi, k)
        image = 0.2 + 0.05 * smooth_noise(rng, shape, sigma=3.0, axes_from=0)
        if k:
            profiles, _ = render_lesions(shape, centres, radii, lesion_shape_parameters(labels, d, seed=rng))
            image = image + np.tensordot(contrasts, profiles, axes=1)
        n_tubes = rng.poisson(vessels)
        if n_tubes:
            image = image + render_tubes(shape, rng.uniform(0, size - 1, (n_tubes, d)),
                                         rng.uniform(0, size - 1, (n_tubes, d)), rng.uniform(0.7, 1.3, n_tubes),
                                         rng.uniform(c_lo, c_hi, n_tubes))
        image = ndimage.gaussian_filter(image, 0.6, mode="nearest") + noise * rng.standard_normal(shape)
        images[i, 0] = np.clip(image, 0.0, 1.0)
        for key, value in zip(table, (np.full(k, i), centres, radii, contrasts, labels)):
            table[key].append(value)
    out = {"images": images, "n_lesions": counts}
    dtypes = {"scan": np.int64, "centres": np.float32, "radii": np.float32, "contrasts": np.float32,
              "labels": np.int64}
    for key, parts in table.items():
        out[key] = np.concatenate(parts).astype(dtypes[key]) if parts else np.zeros(0, dtypes[key])
    out["centres"] = out["centres"].reshape(-1, d)
    return out
