"""Random smooth deformations, affine transforms and image warping for registration data.

Displacement convention (pull-back, the one registration networks such as VoxelMorph use):
a displacement field ``u`` of shape (2, H, W) or (3, D, H, W) holds, for every output pixel x, the
offset in pixels, in array-axis order (u[0] along rows/axis 0, u[1] along columns/axis 1, ...), of
the point to sample, so that

    warped(x) = moving(x + u(x)).

A registration pair (fixed, moving, u) from this module satisfies fixed = moving(x + u(x)) on the
grid: u is the ground-truth field a network should predict to warp ``moving`` onto ``fixed``.
Images are interpolated linearly and label maps with nearest neighbour (so labels stay labels),
with scipy.ndimage.map_coordinates; samples outside the image take the nearest edge value.

Elastic fields: white Gaussian displacements smoothed by a Gaussian of ``smoothness`` pixels (with
periodic boundaries, computed by FFT, so the field is statistically the same everywhere) and rescaled
so that the largest displacement length is ``magnitude`` pixels (Simard et al., "Best practices for
convolutional neural networks applied to visual document analysis", ICDAR 2003).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._common import as_rng, check_float, check_int, check_shape, gaussian_smooth_periodic, pixel_grid


def _check_field(field, fn: str, spatial: tuple[int, ...] | None = None) -> np.ndarray:
    field = np.asarray(field)
    if field.ndim not in (3, 4) or field.shape[0] != field.ndim - 1:
        raise ValueError(f"{fn}: field must have shape (2, H, W) or (3, D, H, W), got {field.shape}")
    if spatial is not None and tuple(field.shape[1:]) != tuple(spatial):
        raise ValueError(f"{fn}: field spatial shape {field.shape[1:]} does not match image {spatial}")
    return field


def random_displacement_field(
    shape: tuple[int, ...], magnitude: float = 3.0, smoothness: float = 6.0, seed=0
) -> np.ndarray:
    """Smooth random displacement field (d, *shape) float32, max displacement length = ``magnitude`` px.

    Model: u = magnitude * (G_s * n) / max_x |G_s * n|(x), n white Gaussian noise per component and
    G_s a Gaussian of std ``smoothness`` pixels (larger = smoother, more global deformation).
    """
    fn = "random_displacement_field"
    shape = check_shape(shape, fn)
    magnitude = check_float(magnitude, "magnitude", fn, low=0.0)
    smoothness = check_float(smoothness, "smoothness", fn, low=0.0)
    return _random_fields(as_rng(seed, fn), 1, shape, magnitude, smoothness)[0]


def _random_fields(rng, n: int, shape: tuple[int, ...], magnitude: float, smoothness: float) -> np.ndarray:
    """(n, d, *shape) elastic fields, one Gaussian filtering call for the whole batch."""
    d = len(shape)
    field = gaussian_smooth_periodic(
        rng.standard_normal((n, d, *shape), dtype=np.float32), smoothness, axes_from=2
    )
    peak = np.sqrt((field**2).sum(axis=1)).reshape(n, -1).max(axis=1)
    return (field * (magnitude / np.maximum(peak, 1e-12)).reshape((n,) + (1,) * (d + 1))).astype(np.float32)


def random_affine(
    ndim: int = 2,
    rotation: float = 10.0,
    scale: float = 0.1,
    shear: float = 0.05,
    translation: float = 3.0,
    seed=0,
) -> tuple[np.ndarray, np.ndarray]:
    """Random affine transform (matrix (d, d), translation (d,)) in pixel units, array-axis order.

    A = R S H: R a rotation by U(-rotation, rotation) degrees (in 3D about a random axis, Rodrigues'
    formula), S = diag(exp(U(-scale, scale))) and H = I + strictly upper-triangular U(-shear, shear);
    translation ~ U(-translation, translation) pixels per axis. Use with affine_displacement_field,
    which applies it about the image centre.
    """
    fn = "random_affine"
    if ndim not in (2, 3):
        raise ValueError(f"{fn}: ndim must be 2 or 3, got {ndim!r}")
    rotation = check_float(rotation, "rotation", fn, low=0.0)
    scale = check_float(scale, "scale", fn, low=0.0)
    shear = check_float(shear, "shear", fn, low=0.0)
    translation = check_float(translation, "translation", fn, low=0.0)
    rng = as_rng(seed, fn)
    angle = np.deg2rad(rng.uniform(-rotation, rotation))
    if ndim == 2:
        c, s = np.cos(angle), np.sin(angle)
        rot = np.array([[c, -s], [s, c]])
    else:
        axis = rng.standard_normal(3)
        axis /= np.linalg.norm(axis)
        k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        rot = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
    stretch = np.diag(np.exp(rng.uniform(-scale, scale, ndim)))
    skew = np.eye(ndim) + np.triu(rng.uniform(-shear, shear, (ndim, ndim)), k=1)
    return rot @ stretch @ skew, rng.uniform(-translation, translation, ndim)


def affine_displacement_field(matrix, translation, shape: tuple[int, ...]) -> np.ndarray:
    """The displacement (d, *shape) float32 of x -> A (x - c) + c + t, c the image centre.

    So that warp(image, field) equals scipy.ndimage.affine_transform(image, A, offset=c + t - A c).
    A batch of transforms, matrix (N, d, d) and translation (N, d), gives fields (N, d, *shape).
    """
    fn = "affine_displacement_field"
    shape = check_shape(shape, fn)
    d = len(shape)
    matrix = np.asarray(matrix, dtype=np.float64)
    translation = np.asarray(translation, dtype=np.float64)
    batched = matrix.ndim == 3
    if (
        matrix.shape[-2:] != (d, d)
        or translation.shape[-1:] != (d,)
        or matrix.shape[:-2] != translation.shape[:-1]
        or matrix.ndim not in (2, 3)
    ):
        raise ValueError(
            f"{fn}: expected matrix ({d}, {d}) and translation ({d},) (or batches of them) for "
            f"shape {shape}, got {matrix.shape} and {translation.shape}"
        )
    matrix, translation = matrix.reshape(-1, d, d), translation.reshape(-1, d)
    centre = (np.asarray(shape) - 1) / 2.0
    grid = pixel_grid(shape)
    rel = [g - c for g, c in zip(grid, centre)]
    n = matrix.shape[0]
    expand = (slice(None),) + (None,) * d
    field = np.empty((n, d, *shape), dtype=np.float32)
    for i in range(d):  # d output components, each vectorised over transforms and pixels
        mapped = (
            sum(matrix[expand + (i, j)] * rel[j] for j in range(d)) + (centre[i] + translation[:, i])[expand]
        )
        field[:, i] = mapped - grid[i]
    return field if batched else field[0]


def _sample_points(field: np.ndarray) -> np.ndarray:
    """x + u(x): the sampling coordinates (d, *shape) for map_coordinates."""
    grid = pixel_grid(field.shape[1:])
    return np.stack([g + u for g, u in zip(grid, field)])


def warp(image, field, order: int = 1, mode: str = "nearest") -> np.ndarray:
    """warped(x) = image(x + u(x)): pull-back warping, linear interpolation by default.

    image: (*spatial) or (C, *spatial); field: (d, *spatial). Returns the image's shape and dtype
    (float images; use warp_labels for label maps).
    """
    fn = "warp"
    image = np.asarray(image)
    field = _check_field(field, fn)
    d = field.shape[0]
    if image.ndim not in (d, d + 1) or tuple(image.shape[-d:]) != tuple(field.shape[1:]):
        raise ValueError(
            f"{fn}: image {image.shape} must be (*spatial) or (C, *spatial) with spatial "
            f"{field.shape[1:]} of the field {field.shape}"
        )
    coords = _sample_points(field)
    if image.ndim == d:
        return ndimage.map_coordinates(image, coords, order=order, mode=mode).astype(image.dtype, copy=False)
    return np.stack([ndimage.map_coordinates(ch, coords, order=order, mode=mode) for ch in image]).astype(
        image.dtype, copy=False
    )


def _warp_batch(images: np.ndarray, fields: np.ndarray, order: int) -> np.ndarray:
    """warp for a batch in one call: images (N, *spatial), fields (N, d, *spatial), order 0 or 1.

    The sample index is an extra, integer-valued coordinate, which interpolation of order <= 1 reproduces
    exactly (higher orders would prefilter across samples and mix them).
    """
    n = images.shape[0]
    spatial = images.shape[1:]
    points = fields + np.stack(np.broadcast_arrays(*pixel_grid(spatial)))[None]  # (N, d, *spatial)
    index = np.broadcast_to(np.arange(n, dtype=np.float32).reshape((n,) + (1,) * len(spatial)), (n, *spatial))
    coords = np.concatenate([index[None], np.moveaxis(points, 1, 0)])
    return ndimage.map_coordinates(images, coords, order=order, mode="nearest").astype(
        images.dtype, copy=False
    )


def warp_labels(labels, field) -> np.ndarray:
    """Nearest-neighbour pull-back warping of an integer label map: labels(round(x + u(x)))."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer) and labels.dtype != bool:
        raise TypeError(f"warp_labels: labels must be an integer or bool array, got dtype {labels.dtype}")
    return warp(labels, field, order=0)


def compose_displacements(first, second) -> np.ndarray:
    """The field w with warp(warp(I, first), second) == warp(I, w) (up to interpolation):

    w(x) = second(x) + first(x + second(x)), ``first`` sampled linearly at the displaced points.
    """
    fn = "compose_displacements"
    first = _check_field(first, fn)
    second = _check_field(second, fn, first.shape[1:])
    return (second + warp(first, second)).astype(np.float32)


def jacobian_determinant(field) -> np.ndarray:
    """det(I + grad u) of the map x -> x + u(x), shape (*spatial) float32 (central differences).

    Values <= 0 mark folding (the map is not locally invertible); 1 means volume preserving.
    """
    field = _check_field(np.asarray(field, dtype=np.float64), "jacobian_determinant")
    d = field.shape[0]
    jac = np.empty((*field.shape[1:], d, d))
    for i in range(d):
        grads = np.gradient(field[i], axis=tuple(range(d)))
        for j in range(d):
            jac[..., i, j] = grads[j] + (1.0 if i == j else 0.0)
    return np.linalg.det(jac).astype(np.float32)


def make_registration_pairs(
    n_samples: int,
    shape: tuple[int, ...] = (64, 64),
    magnitude: float = 3.0,
    smoothness: float = 6.0,
    affine: bool = False,
    noise: float = 0.0,
    seed=0,
) -> dict:
    """Moving/fixed image pairs with their exact deformation, from random-ellipse anatomy (T1-like MRI).

    Returns a dict:
      ``moving``, ``fixed``  (N, 1, *shape) float32 images,
      ``moving_labels``, ``fixed_labels``  (N, *shape) int64 tissue labels (anatomy.TISSUE_CLASSES),
      ``field``  (N, d, *shape) float32 displacement with fixed = warp(moving, field) and
                 fixed_labels = warp_labels(moving_labels, field) (pull-back, see the module docstring).
    With ``affine=True`` the field is a random affine displacement (random_affine defaults) plus the
    elastic one. ``noise`` adds independent Gaussian noise to both images after warping (then
    fixed matches warp(moving, field) only up to that noise).
    """
    from .anatomy import labels_to_mri, random_ellipse_phantoms

    fn = "make_registration_pairs"
    n = check_int(n_samples, "n_samples", fn)
    shape = check_shape(shape, fn)
    magnitude = check_float(magnitude, "magnitude", fn, low=0.0)
    smoothness = check_float(smoothness, "smoothness", fn, low=0.0)
    noise = check_float(noise, "noise", fn, low=0.0)
    rng = as_rng(seed, fn)
    d = len(shape)
    moving_labels = random_ellipse_phantoms(n, shape, seed=rng)
    moving = labels_to_mri(moving_labels, "T1", bias_field=0.1, batch_axes=1, seed=rng)
    moving = ndimage.gaussian_filter(moving, [0.0] + [0.7] * d)  # band-limit: fairer to linear interpolation
    fields = _random_fields(rng, n, shape, magnitude, smoothness)
    if affine:
        drawn = [random_affine(d, seed=rng) for _ in range(n)]  # a few scalars per sample, no pixel work
        fields += affine_displacement_field(
            np.stack([a for a, _ in drawn]), np.stack([t for _, t in drawn]), shape
        )
    fixed = _warp_batch(moving, fields, order=1)
    fixed_labels = _warp_batch(moving_labels, fields, order=0)
    if noise > 0:
        moving = moving + noise * rng.standard_normal(moving.shape)
        fixed = fixed + noise * rng.standard_normal(fixed.shape)
    return {
        "moving": moving[:, None].astype(np.float32),
        "fixed": fixed[:, None].astype(np.float32),
        "moving_labels": moving_labels,
        "fixed_labels": fixed_labels,
        "field": fields,
    }
