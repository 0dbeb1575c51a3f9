"""Benign-looking versus malignant-looking lesions whose only difference is the boundary shape.

Radiology links irregular, lobulated or spiculated margins with malignancy and round or oval,
smooth ("circumscribed") margins with benign findings (e.g. the BI-RADS mass-margin descriptors,
ACR BI-RADS Atlas, 5th ed., 2013). Here that is the whole signal: both classes share the size,
contrast, position, elongation and background distributions, so a classifier must look at the
boundary.

Shape model (a star-shaped region about the centre c). A point x belongs to the lesion when
``|x - c| <= s * g(u)`` with ``u = (x - c) / |x - c|`` its direction and

    g(u) = e(u) * (1 + sum_j a_j T_{k_j}(u . v_j) + sum_m b_m exp(-(1 - u . w_m) / omega_m^2))

* e(u) = (u^T M u)^(-1/2) is an oval (ellipse/ellipsoid with random orientation and aspect ratio
  drawn identically for both classes);
* T_k is the Chebyshev polynomial, so in 2D T_k(u . v_j) = cos(k (theta - theta_j)): the sum is a
  random Fourier series of the radius (lobulation); in 3D the same formula gives smooth lobes about
  random axes v_j;
* the last sum adds narrow radial spikes (spiculations) of height b_m and angular width ~omega_m
  about random directions w_m (1 - u . w ~ angle^2 / 2).

Benign lesions get a gentle, low-order lobulation only (one term, k in {2, 3}, a <= 0.04); malignant
ones get lobulation of order 3-7 (a_j in 0.1-0.3) and 2-7 spikes (b_m in 0.5-1.3), all multiplied by a
per-lesion irregularity strength drawn from U(0.4, 1) * ``irregularity``, so some malignant lesions
are subtle. The scale s is then solved so
that the area (2D) or volume (3D) equals that of a disc/ball of the drawn equivalent radius R:
area = (1/2) integral g^2 dtheta = pi R^2 gives s = R / mean(g^2)^(1/2) (3D: s = R / mean(g^3)^(1/3)),
so lesion size cannot tell the classes apart.

Image model: background level + smooth Gaussian random texture + lesion contrast times a soft
(partial-volume) lesion profile with a little internal texture, Gaussian blur (the imaging
point-spread function), additive white noise, clipped to [0, 1].
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._common import (
    as_rng,
    check_float,
    check_int,
    check_int_range,
    check_ndim,
    check_range,
    pixel_grid,
    random_rotations,
    random_unit_vectors,
    smooth_noise,
    unit_directions,
)

_N_LOBES = 3
_N_SPIKES = 7


def lesion_shape_parameters(labels, ndim: int = 2, irregularity: float = 1.0, seed=0) -> dict:
    """Random shape parameters for one lesion per entry of ``labels`` (N,) (0 benign, 1 malignant).

    Returns a dict of arrays: ``oval`` (N, d, d) the matrix M, ``lobe_dirs`` (N, J, d), ``lobe_amp``
    (N, J), ``lobe_order`` (N, J), ``spike_dirs`` (N, S, d), ``spike_amp`` (N, S) (0 = no spike),
    ``spike_width`` (N, S) and ``irregularity`` (N,) (0 for benign lesions). See the module docstring.
    """
    fn = "lesion_shape_parameters"
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{fn}: labels must be a 1D array of 0/1, got shape {labels.shape}")
    d = check_ndim(ndim, fn)
    irregularity = check_float(irregularity, "irregularity", fn, low=0.0)
    rng = as_rng(seed, fn)
    n = labels.shape[0]
    malignant = labels.astype(bool)

    # oval: same distribution for both classes (aspect ratio 1 to 1.6, random orientation)
    aspect = rng.uniform(1.0, 1.6, n)
    semi = np.ones((n, d))
    semi[:, 0] = aspect
    rot = random_rotations(rng, n, d)
    oval = np.einsum("nij,nj,nkj->nik", rot, 1.0 / semi**2, rot)

    strength = np.where(malignant, rng.uniform(0.4, 1.0, n) * irregularity, 0.0)
    lobe_dirs = random_unit_vectors(rng, (n, _N_LOBES), d)
    lobe_order = np.where(
        malignant[:, None], rng.integers(3, 8, (n, _N_LOBES)), rng.integers(2, 4, (n, _N_LOBES))
    )
    lobe_amp = np.where(
        malignant[:, None],
        rng.uniform(0.1, 0.3, (n, _N_LOBES)) * strength[:, None],
        rng.uniform(0.0, 0.04, (n, _N_LOBES)),
    )
    lobe_amp[~malignant, 1:] = 0.0  # benign: a single gentle low-order lobe term

    spike_dirs = random_unit_vectors(rng, (n, _N_SPIKES), d)
    n_spikes = rng.integers(2, _N_SPIKES + 1, n)
    present = (np.arange(_N_SPIKES)[None, :] < n_spikes[:, None]) & malignant[:, None]
    spike_amp = np.where(present, rng.uniform(0.5, 1.3, (n, _N_SPIKES)) * strength[:, None], 0.0)
    spike_width = rng.uniform(0.12, 0.22, (n, _N_SPIKES))
    return {
        "oval": oval,
        "lobe_dirs": lobe_dirs,
        "lobe_amp": lobe_amp,
        "lobe_order": lobe_order,
        "spike_dirs": spike_dirs,
        "spike_amp": spike_amp,
        "spike_width": spike_width,
        "irregularity": strength,
    }


def _chebyshev(order: np.ndarray, t: np.ndarray) -> np.ndarray:
    """T_order(t) elementwise by the recurrence T_{k+1} = 2 t T_k - T_{k-1} (cheaper than cos(k arccos t))."""
    prev, cur = np.ones_like(t), t
    out = np.where(order == 0, prev, t)
    for k in range(2, int(order.max(initial=1)) + 1):
        prev, cur = cur, 2.0 * t * cur - prev
        out = np.where(order == k, cur, out)
    return out


def lesion_radius_function(params: dict, u: np.ndarray) -> np.ndarray:
    """g(u) of the module docstring: relative boundary radius along unit directions ``u``.

    params: from lesion_shape_parameters (N lesions); u: (N, P, d) unit vectors -> (N, P) float32.
    """
    u = np.asarray(u, dtype=np.float32)
    f32 = {k: np.asarray(v, dtype=np.float32) for k, v in params.items() if k != "lobe_order"}
    oval = np.einsum("npi,npi->np", u @ f32["oval"], u)  # u^T M u (M symmetric)
    base = 1.0 / np.sqrt(oval)
    cos_l = np.clip(u @ f32["lobe_dirs"].transpose(0, 2, 1), -1.0, 1.0)  # (N, P, J)
    lobes = (f32["lobe_amp"][:, None, :] * _chebyshev(params["lobe_order"][:, None, :], cos_l)).sum(-1)
    cos_s = u @ f32["spike_dirs"].transpose(0, 2, 1)  # (N, P, S)
    bumps = np.exp((cos_s - 1.0) / f32["spike_width"][:, None, :] ** 2)  # ~ exp(-angle^2 / 2 w^2)
    spikes = (f32["spike_amp"][:, None, :] * bumps).sum(-1)
    return base * np.maximum(1.0 + lobes + spikes, 0.3)


def _area_scale(params: dict, radii: np.ndarray, d: int) -> np.ndarray:
    """The scale s with area/volume of {r <= s g(u)} equal to that of a ball of radius ``radii``."""
    dirs = unit_directions(d, 360 if d == 2 else 1000)
    g = lesion_radius_function(params, np.broadcast_to(dirs, (len(radii), *dirs.shape)))
    return radii / np.mean(g**d, axis=1) ** (1.0 / d)


def _subset(params: dict, sl) -> dict:
    return {k: v[sl] for k, v in params.items()}


def render_lesions(shape: tuple[int, ...], centres, radii, params: dict, edge: float = 0.5):
    """Soft profiles and masks of N lesions, each on its own canvas of ``shape``.

    centres: (N, d) pixel coordinates (array-axis order); radii: (N,) equivalent radii in pixels;
    params: lesion_shape_parameters for the N lesions. Returns ``profiles`` (N, *shape) float32 in
    [0, 1] (a logistic edge of width ``edge`` pixels, a partial-volume model) and ``masks`` (N, *shape)
    bool (``|x - c| <= s g(u)``).
    """
    centres = np.asarray(centres, dtype=np.float64)
    radii = np.asarray(radii, dtype=np.float64)
    d = len(shape)
    n = radii.shape[0]
    scale = _area_scale(params, radii, d)
    grid = np.stack(np.broadcast_arrays(*pixel_grid(shape)), axis=-1).reshape(-1, d)  # (P, d)
    profiles = np.empty((n, *shape), dtype=np.float32)
    masks = np.empty((n, *shape), dtype=bool)
    chunk = max(1, 400_000 // grid.shape[0])
    for s in range(0, n, chunk):  # memory-bounded chunks, each vectorised over lesions and pixels
        sl = slice(s, s + chunk)
        diff = grid[None] - centres[sl, None, :]  # (B, P, d)
        dist = np.linalg.norm(diff, axis=-1)
        u = diff / np.maximum(dist, 1e-6)[..., None]
        u[dist < 1e-6] = np.eye(d)[0]  # the centre pixel: any direction is inside
        boundary = scale[sl, None] * lesion_radius_function(_subset(params, sl), u)
        signed = boundary - dist  # > 0 inside
        profiles[sl] = (0.5 * (1.0 + np.tanh(signed / (2.0 * edge)))).reshape(-1, *shape)
        masks[sl] = (signed >= 0).reshape(-1, *shape)
    return profiles, masks


def render_lesion_images(
    labels,
    radii,
    image_size: int = 28,
    ndim: int = 2,
    contrast=(0.25, 0.55),
    noise: float = 0.06,
    texture: float = 0.05,
    blur: float = 0.6,
    irregularity: float = 1.0,
    centre_jitter: float = 0.08,
    seed=0,
) -> dict:
    """One lesion per image with given classes and equivalent radii (pixels): the image model.

    labels: (N,) 0/1; radii: (N,) pixels. Returns ``images`` (N, 1, *spatial) float32 in [0, 1],
    ``masks`` (N, *spatial) bool, ``centres`` (N, d) float32 pixel coordinates, ``contrasts`` (N,)
    float32 and ``irregularity`` (N,) float32 (0 for benign). See the module docstring.
    """
    fn = "render_lesion_images"
    d = check_ndim(ndim, fn)
    size = check_int(image_size, "image_size", fn, minimum=8)
    labels = np.asarray(labels)
    radii = np.asarray(radii, dtype=np.float64)
    if radii.shape != labels.shape or labels.ndim != 1:
        raise ValueError(
            f"{fn}: labels and radii must be 1D of the same length, got {labels.shape} and {radii.shape}"
        )
    if (radii <= 0).any():
        raise ValueError(f"{fn}: radii must be positive")
    c_lo, c_hi = check_range(contrast, "contrast", fn)
    noise = check_float(noise, "noise", fn, low=0.0)
    texture = check_float(texture, "texture", fn, low=0.0)
    blur = check_float(blur, "blur", fn, low=0.0)
    centre_jitter = check_float(centre_jitter, "centre_jitter", fn, low=0.0, high=0.5)
    rng = as_rng(seed, fn)
    n = labels.shape[0]
    shape = (size,) * d

    params = lesion_shape_parameters(labels, d, irregularity, seed=rng)
    centres = (size - 1) / 2.0 + rng.uniform(-centre_jitter, centre_jitter, (n, d)) * size
    profiles, masks = render_lesions(shape, centres, radii, params)
    contrasts = rng.uniform(c_lo, c_hi, n)
    background = rng.uniform(0.15, 0.3, n)
    expand = (slice(None),) + (None,) * d
    inner = 1.0 + 0.15 * smooth_noise(rng, (n, *shape), sigma=1.5)  # lesion-internal heterogeneity
    images = (
        background[expand]
        + texture * smooth_noise(rng, (n, *shape), sigma=2.0)
        + contrasts[expand] * profiles * inner
    )
    if blur > 0:
        images = ndimage.gaussian_filter(images, [0.0] + [blur] * d, mode="nearest")
    images = images + noise * rng.standard_normal(images.shape)
    return {
        "images": np.clip(images, 0.0, 1.0).astype(np.float32)[:, None],
        "masks": masks,
        "centres": centres.astype(np.float32),
        "contrasts": contrasts.astype(np.float32),
        "irregularity": params["irregularity"].astype(np.float32),
    }


def make_lesion_dataset(
    n_samples: int,
    image_size: int = 28,
    ndim: int = 2,
    malignant_fraction: float = 0.5,
    noise: float = 0.06,
    radius=(0.12, 0.22),
    contrast=(0.25, 0.55),
    irregularity: float = 1.0,
    seed=0,
) -> dict:
    """Benign vs malignant lesion classification data with exact ground truth.

    Returns a dict:
      ``images``   (N, 1, S, S) or (N, 1, S, S, S) float32 in [0, 1],
      ``labels``   (N,) int64, 0 benign (round/oval, smooth) and 1 malignant (lobulated/spiculated),
                   exactly round(N * malignant_fraction) ones, in random order,
      ``masks``    (N, S, S) or (N, S, S, S) bool lesion masks,
      ``centres``  (N, ndim) float32 lesion centres in pixels (array-axis order),
      ``radii``    (N,) float32 equivalent radii in pixels (a disc/ball of this radius has the area/volume
                   of the lesion), drawn from U(radius) * image_size for both classes,
      ``contrasts``, ``irregularity`` (N,) float32 (the lesion's contrast; 0 for benign, else the
                   shape-irregularity strength).
    ``noise`` is the std of the additive white noise; ``irregularity`` scales the malignant boundary
    perturbations (lower = harder). Defaults aim at a small CNN reaching roughly 0.85-0.97 test AUC
    with ~2000 training images at 28 x 28. Calibration run (PyTorch, one seed, 2000 train / 2000 test
    images, Adam 1e-3, batch 64): conv16-pool-conv32-pool-MLP64 reached test AUC 0.83 after 10 epochs,
    0.94 after 20 and about 0.95 after 40; a global-average-pooling CNN 0.86 after 25. Mean intensity,
    intensity spread and mask area each give AUC 0.48-0.50.
    """
    fn = "make_lesion_dataset"
    n = check_int(n_samples, "n_samples", fn)
    size = check_int(image_size, "image_size", fn, minimum=8)
    frac = check_float(malignant_fraction, "malignant_fraction", fn, low=0.0, high=1.0)
    r_lo, r_hi = check_range(radius, "radius", fn)
    if r_lo <= 0 or r_hi > 0.45:
        raise ValueError(f"{fn}: radius is a fraction of image_size in (0, 0.45], got {radius!r}")
    rng = as_rng(seed, fn)
    n_malignant = int(round(n * frac))
    labels = rng.permutation(np.arange(n) < n_malignant).astype(np.int64)
    radii = rng.uniform(r_lo, r_hi, n) * size
    out = render_lesion_images(
        labels, radii, size, ndim, contrast=contrast, noise=noise, irregularity=irregularity, seed=rng
    )
    out["labels"] = labels
    out["radii"] = radii.astype(np.float32)
    return out


def make_lesion_detection_scene(
    image_size: int = 128,
    ndim: int = 2,
    n_lesions=(2, 6),
    malignant_fraction: float = 0.5,
    radius=(4.0, 10.0),
    contrast=(0.25, 0.55),
    noise: float = 0.05,
    irregularity: float = 1.0,
    seed=0,
) -> dict:
    """One image with several non-overlapping lesions, for detection and instance segmentation.

    Returns a dict:
      ``image``       (1, S, S) or (1, S, S, S) float32 in [0, 1],
      ``centres``     (K, ndim) float32 pixel coordinates, ``radii`` (K,) float32 equivalent radii in pixels,
      ``labels``      (K,) int64 (0 benign, 1 malignant), ``boxes`` (K, 2 * ndim) float32 tight mask bounding
                      boxes (min corner, max corner, inclusive pixel indices),
      ``label_mask``  (S, S[, S]) int64 instance map (0 background, k + 1 for lesion k),
      ``class_mask``  (S, S[, S]) int64 semantic map (0 background, 1 benign, 2 malignant).
    ``n_lesions`` is an int or an inclusive (min, max) range; ``radius`` is in pixels. Lesion centres
    are drawn by rejection so that lesions (including spikes, bounded by 1.8 R) do not overlap and
    stay inside the image.
    """
    fn = "make_lesion_detection_scene"
    d = check_ndim(ndim, fn)
    size = check_int(image_size, "image_size", fn, minimum=16)
    k_lo, k_hi = check_int_range(n_lesions, "n_lesions", fn, low=0)
    frac = check_float(malignant_fraction, "malignant_fraction", fn, low=0.0, high=1.0)
    r_lo, r_hi = check_range(radius, "radius", fn)
    if r_lo <= 0:
        raise ValueError(f"{fn}: radius must be positive, got {radius!r}")
    c_lo, c_hi = check_range(contrast, "contrast", fn)
    noise = check_float(noise, "noise", fn, low=0.0)
    rng = as_rng(seed, fn)
    shape = (size,) * d

    if 2 * 1.8 * r_hi >= size - 1:
        raise ValueError(
            f"{fn}: lesions of radius up to {r_hi} px (reach 1.8 R) do not fit in a {shape} image"
        )
    k = int(rng.integers(k_lo, k_hi + 1))
    radii = rng.uniform(r_lo, r_hi, k)
    reach = 1.8 * radii  # conservative extent of the spikiest lesion
    centres = np.zeros((k, d))
    for i in range(k):  # rejection sampling: a handful of lesions, each try is O(k)
        for _ in range(1000):
            c = rng.uniform(reach[i], size - 1 - reach[i], d)
            if np.all(np.linalg.norm(centres[:i] - c, axis=1) > reach[:i] + reach[i]):
                break
        else:
            raise ValueError(
                f"{fn}: could not place {k} lesions of radius up to {r_hi} px without overlap "
                f"in a {shape} image; ask for fewer or smaller lesions"
            )
        centres[i] = c
    labels = (rng.random(k) < frac).astype(np.int64)
    params = lesion_shape_parameters(labels, d, irregularity, seed=rng)
    profiles, masks = render_lesions(shape, centres, radii, params)

    contrasts = rng.uniform(c_lo, c_hi, k)
    expand = (slice(None),) + (None,) * d
    image = 0.2 + 0.05 * smooth_noise(rng, shape, sigma=3.0, axes_from=0)
    image = image + (contrasts[expand] * profiles).sum(axis=0)
    image = ndimage.gaussian_filter(image, 0.6, mode="nearest")
    image = np.clip(image + noise * rng.standard_normal(shape), 0.0, 1.0).astype(np.float32)

    ids = np.arange(1, k + 1)[expand]
    label_mask = (masks * ids).max(axis=0) if k else np.zeros(shape, dtype=np.int64)
    class_mask = (masks * (labels + 1)[expand]).max(axis=0) if k else np.zeros(shape, dtype=np.int64)
    boxes = np.zeros((k, 2 * d), dtype=np.float32)
    for i in range(k):
        idx = np.argwhere(masks[i])
        boxes[i] = np.concatenate([idx.min(0), idx.max(0)])
    return {
        "image": image[None],
        "centres": centres.astype(np.float32),
        "radii": radii.astype(np.float32),
        "labels": labels,
        "boxes": boxes,
        "label_mask": label_mask.astype(np.int64),
        "class_mask": class_mask.astype(np.int64),
    }
