"""Geometric transforms: flips, 90-degree rotations, affine, elastic deformation, resizing.

Each moves the image, the mask (nearest-neighbour, order 0) and the landmarks (``points``) by the
same geometric map; see ``engine.data.transforms.base`` for the sample convention.

Coordinates: array-index coordinates of the spatial axes, pixel centres at integers, so an axis
of n pixels spans [-0.5, n - 0.5] and its centre is (n - 1) / 2. A spatial transform is described
by its *forward* map ``p_out = M p_in + t`` (where a landmark goes); resampling the image needs the
*inverse* (for each output pixel, where to read the input), which ``scipy.ndimage.affine_transform``
takes as ``(matrix, offset)``.
"""

from __future__ import annotations

import math

import numpy as np

from engine import backend
from engine.data.transforms._util import draw, like, parse_size, spatial_shape, to_range
from engine.data.transforms.base import Transform

__all__ = [
    "RandomFlip", "RandomRot90", "RandomAffine", "RandomElastic", "Resize", "resize_sample",
    "warp_affine", "map_points",
]


# ------------------------------------------------------------------------------------------ helpers
def warp_affine(array, inverse: np.ndarray, offset, out_spatial, order: int, mode: str = "constant",
                cval: float = 0.0):
    """Resample ``array`` (leading non-spatial axes, e.g. channels, then d spatial axes) so that
    output pixel ``o`` reads the input at ``inverse @ o + offset``.

    inverse: (d, d) host matrix; offset: (d,) host vector; out_spatial: output spatial shape.
    One d-dimensional ``affine_transform`` call per channel (a single call on the whole array,
    with an identity row for the channel axis, would also interpolate along channels: 2x the
    work for linear and 4x for cubic interpolation). Boolean arrays (label maps) are warped as
    uint8 and returned as bool.
    """
    xp = backend.get_array_module(array)
    ndi = backend.scipy_module(xp, "ndimage")
    d = inverse.shape[0]
    lead_shape = tuple(array.shape[: array.ndim - d])
    is_bool = array.dtype == bool
    src = array.astype(xp.uint8) if is_bool else array
    matrix = like(np.ascontiguousarray(inverse, dtype=np.float64), src)
    offset = [float(v) for v in offset]

    def warp(channel):
        return ndi.affine_transform(channel, matrix, offset=offset, output_shape=tuple(out_spatial),
                                    order=order, mode=mode, cval=cval)

    if not lead_shape:
        out = warp(src)
    else:
        flat = src.reshape((-1,) + tuple(src.shape[len(lead_shape):]))
        out = xp.stack([warp(flat[c]) for c in range(flat.shape[0])])  # a loop over channels
        out = out.reshape(lead_shape + tuple(out_spatial))
    return out.astype(bool) if is_bool else out


def map_points(points, matrix: np.ndarray, shift):
    """Landmarks under the forward map: ``p_out = matrix @ p_in + shift``; points: (K, d).

    Integer points become float32; float points keep their dtype.
    """
    xp = backend.get_array_module(points)
    pts = points if points.dtype.kind == "f" else points.astype(xp.float32)
    out = pts @ like(np.ascontiguousarray(matrix.T), pts) + like(np.asarray(shift, dtype=np.float64), pts)
    return out.astype(pts.dtype)


def _forward_about_centre(matrix: np.ndarray, translation, spatial) -> tuple[np.ndarray, np.ndarray]:
    """Shift t of the forward map p -> M (p - c) + c + translation, c the array centre."""
    c = (np.asarray(spatial, dtype=np.float64) - 1.0) / 2.0
    return matrix, c + np.asarray(translation, dtype=np.float64) - matrix @ c


def _apply_affine(sample: dict, matrix: np.ndarray, shift: np.ndarray, out_spatial, order: int,
                  mode: str, cval: float) -> dict:
    """Apply the forward map ``p -> matrix @ p + shift`` to image, mask and points."""
    inverse = np.linalg.inv(matrix)
    offset = -inverse @ shift
    out = dict(sample)
    out["image"] = warp_affine(sample["image"], inverse, offset, out_spatial, order, mode, cval)
    if sample.get("mask") is not None:
        out["mask"] = warp_affine(sample["mask"], inverse, offset, out_spatial, 0, mode, 0.0)
    if sample.get("points") is not None:
        out["points"] = map_points(sample["points"], matrix, shift)
    return out


def _check_axes(axes, d: int, who: str) -> tuple[int, ...]:
    axes = tuple(range(d)) if axes is None else tuple(int(a) for a in axes)
    if any(not 0 <= a < d for a in axes):
        raise ValueError(f"{who}: spatial axes must lie in [0, {d}) for a {d}D image, got {axes}")
    return axes


def _check_order(order, who: str) -> int:
    if order not in range(6):
        raise ValueError(f"{who}: interpolation order must be an int in 0..5, got {order!r}")
    return int(order)


# -------------------------------------------------------------------------------------------- flips
class RandomFlip(Transform):
    """Flip each spatial axis in ``axes`` independently with probability ``p``.

    axes: spatial axis numbers (0 = first spatial axis, i.e. H in 2D and D in 3D); None: all.
    Beware of anatomy: a left-right flip is harmless for many tasks but not for those where the
    side matters (e.g. the heart is on the left). MONAI: RandFlip; torchio: RandomFlip.
    """

    random = True

    def __init__(self, axes=None, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomFlip: p must be in [0, 1], got {p}")
        self.axes = None if axes is None else tuple(axes)
        self.p = float(p)

    def apply(self, sample: dict, rng) -> dict:
        image = sample["image"]
        spatial = spatial_shape(image)
        d = len(spatial)
        axes = _check_axes(self.axes, d, "RandomFlip")
        flipped = [a for a in axes if rng.random() < self.p]
        if not flipped:
            return sample
        xp = backend.get_array_module(image)
        neg = tuple(a - d for a in flipped)  # counted from the end: works with or without a channel axis
        out = dict(sample)
        out["image"] = xp.flip(image, axis=neg)
        if sample.get("mask") is not None:
            out["mask"] = backend.get_array_module(sample["mask"]).flip(sample["mask"], axis=neg)
        if sample.get("points") is not None:
            sign = np.ones(d)
            shift = np.zeros(d)
            for a in flipped:
                sign[a], shift[a] = -1.0, spatial[a] - 1.0  # p -> (n - 1) - p
            out["points"] = map_points(sample["points"], np.diag(sign), shift)
        return out


class RandomRot90(Transform):
    """Rotate by k * 90 degrees in the plane of two spatial axes, k drawn from ``ks``.

    axes: the plane (spatial axis numbers), rotating from the first axis towards the second
    (``numpy.rot90``). Exact (no interpolation); non-square planes change shape.
    MONAI: RandRotate90.
    """

    random = True

    def __init__(self, axes=(0, 1), ks=(0, 1, 2, 3)):
        self.axes = tuple(int(a) for a in axes)
        if len(self.axes) != 2 or self.axes[0] == self.axes[1]:
            raise ValueError(f"RandomRot90: axes must be two different spatial axes, got {axes}")
        self.ks = tuple(int(k) for k in ks)
        if not self.ks:
            raise ValueError("RandomRot90: ks must not be empty")

    def apply(self, sample: dict, rng) -> dict:
        image = sample["image"]
        spatial = list(spatial_shape(image))
        d = len(spatial)
        a, b = _check_axes(self.axes, d, "RandomRot90")
        k = self.ks[int(rng.integers(len(self.ks)))] % 4
        if k == 0:
            return sample
        out = dict(sample)
        for key in ("image", "mask"):
            arr = sample.get(key)
            if arr is not None:
                lead = arr.ndim - d
                out[key] = backend.get_array_module(arr).rot90(arr, k, axes=(a + lead, b + lead))
        if sample.get("points") is not None:
            # One quarter turn: (p_a, p_b) -> (n_b - 1 - p_b, p_a), then the plane's sizes swap.
            matrix, shift = np.eye(d), np.zeros(d)
            for _ in range(k):
                step, step_shift = np.eye(d), np.zeros(d)
                step[a, a], step[a, b], step[b, b], step[b, a] = 0.0, -1.0, 0.0, 1.0
                step_shift[a] = spatial[b] - 1.0
                matrix, shift = step @ matrix, step @ shift + step_shift
                spatial[a], spatial[b] = spatial[b], spatial[a]
            out["points"] = map_points(sample["points"], matrix, shift)
        return out


# ------------------------------------------------------------------------------------------- affine
def _rotation(angles_deg, d: int) -> np.ndarray:
    """2D: one angle in the (0, 1) plane; 3D: angles in the planes (1, 2), (0, 2), (0, 1),
    composed in that order. A positive angle turns axis a towards axis b in plane (a, b)."""
    planes = [(0, 1)] if d == 2 else [(1, 2), (0, 2), (0, 1)]
    r = np.eye(d)
    for (a, b), deg in zip(planes, angles_deg):
        c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
        step = np.eye(d)
        step[a, a], step[a, b], step[b, a], step[b, b] = c, -s, s, c
        r = step @ r
    return r


class RandomAffine(Transform):
    """Random rotation, scaling, shear and translation about the array centre, in one resampling.

    Forward map ``p -> A (p - c) + c + t`` with ``A = R @ H @ S``: S scaling, H shear
    (``I`` plus off-diagonal factors), R rotation, c = (shape - 1) / 2, t a translation (pixels).
    The image is resampled once with the composed inverse (interpolating once blurs less than
    chaining rotate/zoom/shift).

    degrees: a (max angle) or (low, high), per rotation plane (2D: 1 plane; 3D: 3 planes).
    scale: s meaning (1 - s, 1 + s), or (low, high); isotropic: one factor for all axes.
    shear: h meaning (-h, h), or (low, high): each off-diagonal entry of H.
    translate: t pixels meaning (-t, t), or (low, high), per axis.
    order: interpolation order for the image (0 nearest, 1 linear, 3 cubic); masks always use 0.
    mode, cval: how the image is filled outside its bounds (``scipy.ndimage`` modes); masks are
    filled with 0 (background) in the same mode.
    MONAI: RandAffine; torchio: RandomAffine (which uses mm, not pixels).
    """

    random = True

    def __init__(self, degrees=0.0, scale=0.0, shear=0.0, translate=0.0, isotropic: bool = True,
                 order: int = 1, mode: str = "constant", cval: float = 0.0):
        who = "RandomAffine"
        self.degrees = to_range(degrees, "degrees", who)
        self.scale = to_range(scale, "scale", who, around=1.0)
        if self.scale[0] <= 0:
            raise ValueError(f"RandomAffine: scale factors must be positive, got range {self.scale}")
        self.shear = to_range(shear, "shear", who)
        self.translate = to_range(translate, "translate", who)
        self.isotropic = bool(isotropic)
        self.order = _check_order(order, who)
        self.mode = mode
        self.cval = float(cval)

    def sample_matrix(self, spatial, rng) -> tuple[np.ndarray, np.ndarray]:
        """Draw the forward map ``(M, t)`` of one sample (for a spatial shape)."""
        d = len(spatial)
        angles = draw(rng, self.degrees, size=1 if d == 2 else 3)
        scales = draw(rng, self.scale, size=1 if self.isotropic else d)
        scales = scales * d if self.isotropic else scales
        shears = draw(rng, self.shear, size=d * (d - 1))
        shift = draw(rng, self.translate, size=d)
        h = np.eye(d)
        h[~np.eye(d, dtype=bool)] = shears
        matrix = _rotation(angles, d) @ h @ np.diag(scales)
        return _forward_about_centre(matrix, shift, spatial)

    def apply(self, sample: dict, rng) -> dict:
        spatial = spatial_shape(sample["image"])
        matrix, shift = self.sample_matrix(spatial, rng)
        return _apply_affine(sample, matrix, shift, spatial, self.order, self.mode, self.cval)


# ------------------------------------------------------------------------------------------ elastic
def _spline_weights(g: int, n: int) -> np.ndarray:
    """(n, g) float32 matrix W with W @ v = the cubic B-spline interpolant of the g values v
    (at 0..g-1) evaluated at n points spread evenly from the first to the last control point.
    Column j is the interpolant of the j-th unit vector (computed on the host; it is tiny)."""
    from scipy import ndimage  # host SciPy on purpose: the weights are built on the CPU

    at = np.linspace(0.0, g - 1.0, n)[None]
    unit = np.eye(g)
    columns = [ndimage.map_coordinates(unit[j], at, order=3, mode="mirror") for j in range(g)]
    return np.stack(columns, axis=1).astype(np.float32)


class RandomElastic(Transform):
    """Elastic deformation: a smooth random displacement field u, the image resampled at p + u(p).

    After Simard et al., "Best practices for convolutional neural networks applied to visual
    document analysis", ICDAR 2003, who smooth per-pixel random noise with a Gaussian. Here the
    randomness is drawn on a coarse grid of control points and interpolated with cubic splines
    (like torchio's RandomElasticDeformation), which gives an equally smooth field at a fraction
    of the cost in 3D, and a displacement bounded by (about) ``max_displacement``.

    num_control_points: control points per spatial axis (int or one per axis, >= 4); fewer points
        give smoother, larger-scale deformations.
    max_displacement: largest displacement at a control point, in pixels (number or one per axis);
        each control point's displacement is uniform in [-max, max] per axis.
    lock_borders: zero displacement at the outermost control points, so the image border stays.
    order, mode, cval: image interpolation, as in RandomAffine; masks use order 0.
    Landmarks are moved by inverting the field: the output position o of a landmark q solves
    o + u(o) = q, found by the fixed-point iteration o <- q - u(o) (it converges when the field
    has no folds, i.e. its gradient is below one).
    """

    random = True

    def __init__(self, num_control_points=7, max_displacement=5.0, lock_borders: bool = True,
                 order: int = 1, mode: str = "constant", cval: float = 0.0):
        self.num_control_points = num_control_points
        self.max_displacement = max_displacement
        self.lock_borders = bool(lock_borders)
        self.order = _check_order(order, "RandomElastic")
        self.mode = mode
        self.cval = float(cval)

    def _grid(self, d: int) -> tuple[tuple[int, ...], np.ndarray]:
        g = parse_size(self.num_control_points, d, "RandomElastic")
        if min(g) < 4:
            raise ValueError(f"RandomElastic: num_control_points must be >= 4 per axis, got {g}")
        m = np.broadcast_to(np.asarray(self.max_displacement, dtype=np.float64), (d,))
        if np.any(m < 0):
            raise ValueError(f"RandomElastic: max_displacement must be >= 0, got {self.max_displacement}")
        return g, m

    def displacement(self, image, rng):
        """Draw the displacement field for ``image``: (d, *spatial) on the image's device."""
        xp = backend.get_array_module(image)
        spatial = spatial_shape(image)
        d = len(spatial)
        grid, max_disp = self._grid(d)
        coarse = rng.uniform(-1.0, 1.0, size=(d, *grid)) * max_disp.reshape((d,) + (1,) * d)
        if self.lock_borders:
            for axis in range(1, d + 1):
                edge = [slice(None)] * (d + 1)
                edge[axis] = [0, -1]
                coarse[tuple(edge)] = 0.0
        # Upsample the control grid with cubic splines, corner-aligned (control point 0 at pixel 0,
        # the last at pixel n - 1). Spline interpolation is linear in the control values and
        # separable, so it is one small matrix product per axis: W_k (n_k, g_k) @ values.
        field = like(coarse.astype(np.float32), image)
        for axis, (g, n) in enumerate(zip(grid, spatial), start=1):
            w = like(_spline_weights(g, n), image)
            field = xp.moveaxis(xp.tensordot(field, w, axes=([axis], [1])), -1, axis)
        return field

    def apply(self, sample: dict, rng) -> dict:
        image = sample["image"]
        xp = backend.get_array_module(image)
        ndi = backend.scipy_module(xp, "ndimage")
        spatial = spatial_shape(image)
        d = len(spatial)
        field = self.displacement(image, rng)
        coords = xp.indices(spatial, dtype=xp.float32) + field  # where each output pixel reads

        def resample(arr, order, cval):
            lead = arr.ndim - d
            is_bool = arr.dtype == bool
            src = arr.astype(xp.uint8) if is_bool else arr
            if lead == 0:
                res = ndi.map_coordinates(src, coords, order=order, mode=self.mode, cval=cval)
            else:  # a loop over channels (few), each a whole-image call
                res = xp.stack([ndi.map_coordinates(src[c], coords, order=order, mode=self.mode, cval=cval)
                                for c in range(src.shape[0])])
            return res.astype(bool) if is_bool else res

        out = dict(sample)
        out["image"] = resample(image, self.order, self.cval)
        if sample.get("mask") is not None:
            out["mask"] = resample(sample["mask"], 0, 0.0)
        if sample.get("points") is not None:
            out["points"] = self._move_points(sample["points"], field, ndi, iterations=20)
        return out

    @staticmethod
    def _move_points(points, field, ndi, iterations: int):
        device = backend.device_of(points)
        q = backend.to_device(points, backend.device_of(field))
        q = q if q.dtype.kind == "f" else q.astype(backend.get_array_module(q).float32)
        xp = backend.get_array_module(q)
        o = q
        for _ in range(iterations):
            u = xp.stack([ndi.map_coordinates(field[a], o.T, order=1, mode="nearest")
                          for a in range(field.shape[0])], axis=1)
            o = q - u
        return backend.to_device(o.astype(q.dtype), device)


# ------------------------------------------------------------------------------------------- resize
class Resize(Transform):
    """Resample to a spatial ``size`` (int or one per axis).

    Pixel areas are aligned (a pixel edge maps to a pixel edge; PyTorch ``align_corners=False``):
    input coordinate = (o + 0.5) * n_in / n_out - 0.5.
    order: image interpolation (masks use 0). anti_alias: when shrinking an axis by s > 1, blur it
    first with a Gaussian of sigma (s - 1) / 2 (the choice of scikit-image's ``resize``) so that
    fine detail does not alias into false patterns.
    """

    def __init__(self, size, order: int = 1, anti_alias: bool = True, mode: str = "nearest"):
        self.size = size
        self.order = _check_order(order, "Resize")
        self.anti_alias = bool(anti_alias)
        self.mode = mode

    def apply(self, sample: dict, rng) -> dict:
        return resize_sample(sample, parse_size(self.size, sample["image"].ndim - 1, "Resize"), self.order,
                             self.anti_alias, self.mode)


def resize_sample(sample: dict, size, order: int, anti_alias: bool, mode: str = "nearest") -> dict:
    """Resize image, mask and points of a sample to the spatial ``size`` (see ``Resize``)."""
    image = sample["image"]
    spatial = spatial_shape(image)
    step = np.array([n / m for n, m in zip(spatial, size)], dtype=np.float64)  # input pixels per output pixel
    if anti_alias and order > 0 and np.any(step > 1):
        xp = backend.get_array_module(image)
        ndi = backend.scipy_module(xp, "ndimage")
        sigma = (0.0,) + tuple(float(max(0.0, (s - 1.0) / 2.0)) for s in step)
        image = ndi.gaussian_filter(image, sigma=sigma, mode="nearest")
        sample = dict(sample, image=image)
    matrix = np.diag(1.0 / step)  # forward map: p_out = (p_in + 0.5) / step - 0.5
    shift = 0.5 / step - 0.5
    return _apply_affine(sample, matrix, shift, size, order, mode, 0.0)
