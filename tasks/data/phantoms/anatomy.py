"""Anatomy phantoms: the Shepp-Logan head and random-ellipse bodies with tissue classes.

Coordinates. Phantoms live on the square [-1, 1]^d. A 2D image (H, W) has x along columns (left to
right) and y along rows pointing *up* (row 0 is y close to +1), so the pictures look like the
published ones. A 3D volume (D, H, W) adds z along axis 0 (slice index increasing with z). Pixel
centres sit at ``(2 i + 1) / n - 1``.

Shepp-Logan. Each ellipse/ellipsoid adds its grey level A to every point inside it; a point p lies
inside the ellipsoid with centre c, semi-axes (a, b, c) and rotation R when
``|| diag(1/a, 1/b, 1/c) R^T (p - c) || <= 1``. In 2D R is the rotation by phi (counter-clockwise);
in 3D R = Rz(phi) Rx(theta) Rz(psi) (z-x-z Euler angles), applied about the ellipsoid's centre.

References
----------
L. A. Shepp and B. F. Logan, "The Fourier reconstruction of a head section", IEEE Trans. Nucl.
Sci. 21(3):21-43, 1974 (the 2D ellipse table and original grey levels).
P. Toft, "The Radon Transform: Theory and Implementation", PhD thesis, Technical University of
Denmark, 1996, pp. 199-200 (the "modified" grey levels with better visual contrast, and the 3D
ellipsoid table that extends the 2D one, as also distributed in M. Schabel's ``phantom3d``).
"""

from __future__ import annotations

import numpy as np

from ._common import (
    as_rng,
    check_float,
    check_int,
    check_int_range,
    check_shape,
    inside_ellipsoids,
    normalized_grid,
    random_rotations,
    smooth_noise,
)

# ------------------------------------------------------------------------------------------ tables
# 2D: columns A (grey level), a (x semi-axis), b (y semi-axis), x0, y0, phi (degrees).
# Grey levels here are the *modified* ones (Toft 1996); SHEPP_LOGAN_ORIGINAL_LEVELS are the 1974 ones.
MODIFIED_SHEPP_LOGAN_2D = np.array(
    [
        [1.0, 0.69, 0.92, 0.0, 0.0, 0.0],
        [-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0],
        [-0.2, 0.11, 0.31, 0.22, 0.0, -18.0],
        [-0.2, 0.16, 0.41, -0.22, 0.0, 18.0],
        [0.1, 0.21, 0.25, 0.0, 0.35, 0.0],
        [0.1, 0.046, 0.046, 0.0, 0.1, 0.0],
        [0.1, 0.046, 0.046, 0.0, -0.1, 0.0],
        [0.1, 0.046, 0.023, -0.08, -0.605, 0.0],
        [0.1, 0.023, 0.023, 0.0, -0.606, 0.0],
        [0.1, 0.023, 0.046, 0.06, -0.605, 0.0],
    ]
)
SHEPP_LOGAN_ORIGINAL_LEVELS = np.array([2.0, -0.98, -0.02, -0.02, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01])

# 3D: columns A, a, b, c (x, y, z semi-axes), x0, y0, z0, phi, theta, psi (degrees), Toft's table.
MODIFIED_SHEPP_LOGAN_3D = np.array(
    [
        [1.0, 0.69, 0.92, 0.81, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [-0.8, 0.6624, 0.874, 0.78, 0.0, -0.0184, 0.0, 0.0, 0.0, 0.0],
        [-0.2, 0.11, 0.31, 0.22, 0.22, 0.0, 0.0, -18.0, 0.0, 10.0],
        [-0.2, 0.16, 0.41, 0.28, -0.22, 0.0, 0.0, 18.0, 0.0, 10.0],
        [0.1, 0.21, 0.25, 0.41, 0.0, 0.35, -0.15, 0.0, 0.0, 0.0],
        [0.1, 0.046, 0.046, 0.05, 0.0, 0.1, 0.25, 0.0, 0.0, 0.0],
        [0.1, 0.046, 0.046, 0.05, 0.0, -0.1, 0.25, 0.0, 0.0, 0.0],
        [0.1, 0.046, 0.023, 0.05, -0.08, -0.605, 0.0, 0.0, 0.0, 0.0],
        [0.1, 0.023, 0.023, 0.02, 0.0, -0.606, 0.0, 0.0, 0.0, 0.0],
        [0.1, 0.023, 0.046, 0.02, 0.06, -0.605, 0.0, 0.0, 0.0, 0.0],
    ]
)


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _physical_grid(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Open grids of (x, y[, z]) in physical order: x along the last axis, y up the rows, z along axis 0."""
    g = normalized_grid(shape)
    if len(shape) == 2:
        return [g[1], -g[0]]
    return [g[2], -g[1], g[0]]


def shepp_logan(shape: int | tuple[int, ...] = (256, 256), modified: bool = True) -> np.ndarray:
    """The Shepp-Logan head phantom, 2D ``(H, W)`` or 3D ``(D, H, W)``, float32.

    ``shape``: an int n gives (n, n); a 2- or 3-tuple picks the dimension. ``modified=True`` uses
    Toft's higher-contrast grey levels (values in [0, 1]: skull 1.0, brain 0.2 to 0.3, ventricles
    0.0); ``False`` the original 1974 levels (skull 2.0, brain ~1.02, tiny 1% features).
    """
    fn = "shepp_logan"
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape, shape)
    shape = check_shape(shape, fn)
    if len(shape) == 2:
        table = MODIFIED_SHEPP_LOGAN_2D.copy()
        if not modified:
            table[:, 0] = SHEPP_LOGAN_ORIGINAL_LEVELS
        x, y = _physical_grid(shape)
        image = np.zeros(shape, dtype=np.float32)
        for level, a, b, x0, y0, phi in table:  # 10 ellipses, each vectorised over all pixels
            c, s = np.cos(np.deg2rad(phi)), np.sin(np.deg2rad(phi))
            u = (x - x0) * c + (y - y0) * s
            v = -(x - x0) * s + (y - y0) * c
            image[(u / a) ** 2 + (v / b) ** 2 <= 1.0] += level
        return image
    table = MODIFIED_SHEPP_LOGAN_3D.copy()
    if not modified:
        table[:, 0] = SHEPP_LOGAN_ORIGINAL_LEVELS
    grid = _physical_grid(shape)
    image = np.zeros(shape, dtype=np.float32)
    for row in table:
        level, axes, centre, angles = row[0], row[1:4], row[4:7], np.deg2rad(row[7:10])
        rot = _rot_z(angles[0]) @ _rot_x(angles[1]) @ _rot_z(angles[2])
        d = [grid[i] - centre[i] for i in range(3)]
        # body coordinates q = R^T d, scaled by the semi-axes
        q2 = sum(((rot[0, j] * d[0] + rot[1, j] * d[1] + rot[2, j] * d[2]) / axes[j]) ** 2 for j in range(3))
        image[q2 <= 1.0] += level
    return image


# ------------------------------------------------------------------------- tissue classes and maps
TISSUE_CLASSES = ("background", "fat", "soft_tissue", "bone", "fluid", "lesion")
"""Integer tissue labels of the random-ellipse phantoms: index = label value."""

CT_HU = np.array([-1000.0, -100.0, 40.0, 700.0, 5.0, 70.0], dtype=np.float32)
"""Typical Hounsfield units per tissue class (air, fat, muscle-like soft tissue, bone, water-like
fluid, enhancing lesion). HU = 1000 (mu - mu_water) / mu_water, so water is 0 and air -1000."""

# Proton density (relative), T1 and T2 (ms): rounded, illustrative values of the right order at 1.5 T
# (cortical bone has almost no mobile protons and T2 well under a millisecond, so it is dark).
MRI_TISSUE_PARAMETERS = np.array(
    [
        # PD,  T1,    T2
        [0.0, 1.0, 1.0],  # background (air): no signal
        [0.9, 260.0, 80.0],  # fat
        [0.7, 870.0, 47.0],  # soft tissue (muscle-like)
        [0.05, 1000.0, 1.0],  # cortical bone
        [1.0, 3000.0, 2000.0],  # fluid (CSF-like)
        [0.85, 1200.0, 100.0],  # lesion (oedematous tumour-like)
    ],
    dtype=np.float64,
)
MRI_SEQUENCES = {"T1": (500.0, 15.0), "T2": (4000.0, 100.0), "PD": (4000.0, 15.0)}
"""Spin-echo (TR, TE) in ms for T1-, T2- and proton-density-weighted contrast."""


def spin_echo_signal(pd, t1, t2, tr: float, te: float):
    """Spin-echo signal equation S = PD (1 - exp(-TR/T1)) exp(-TE/T2) (e.g. Haacke et al.,
    "Magnetic Resonance Imaging: Physical Principles and Sequence Design", 1999)."""
    return pd * (1.0 - np.exp(-tr / t1)) * np.exp(-te / t2)


def mri_class_intensities(weighting: str = "T1") -> np.ndarray:
    """Per-class MRI intensity (len(TISSUE_CLASSES),), scaled so the brightest tissue is 1."""
    if weighting not in MRI_SEQUENCES:
        raise ValueError(
            f"mri_class_intensities: weighting must be one of {sorted(MRI_SEQUENCES)}, got {weighting!r}"
        )
    tr, te = MRI_SEQUENCES[weighting]
    pd, t1, t2 = MRI_TISSUE_PARAMETERS.T
    s = spin_echo_signal(pd, t1, t2, tr, te)
    return (s / s.max()).astype(np.float32)


def _check_labels(labels, fn: str) -> np.ndarray:
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{fn}: labels must be an integer array, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(TISSUE_CLASSES)):
        raise ValueError(
            f"{fn}: labels must lie in [0, {len(TISSUE_CLASSES) - 1}], "
            f"got range [{labels.min()}, {labels.max()}]"
        )
    return labels


def labels_to_ct(labels, noise_hu: float = 0.0, seed=0) -> np.ndarray:
    """CT-like image in Hounsfield units from a tissue label map: ``CT_HU[labels]`` + Gaussian noise.

    labels: integer array of any shape with values in TISSUE_CLASSES -> float32 of the same shape.
    """
    fn = "labels_to_ct"
    labels = _check_labels(labels, fn)
    noise_hu = check_float(noise_hu, "noise_hu", fn, low=0.0)
    image = CT_HU[labels]
    if noise_hu > 0:
        image = image + noise_hu * as_rng(seed, fn).standard_normal(labels.shape).astype(np.float32)
    return image.astype(np.float32)


def labels_to_mri(
    labels,
    weighting: str = "T1",
    noise: float = 0.0,
    bias_field: float = 0.0,
    batch_axes: int | None = None,
    seed=0,
) -> np.ndarray:
    """MRI-like magnitude image from a tissue label map, float32 of the label map's shape.

    Intensity = spin-echo signal of the class's (PD, T1, T2) for the sequence ``weighting`` ('T1',
    'T2', 'PD'), times a smooth multiplicative bias field ``exp(bias_field * g(x))`` (g a smooth
    unit-variance random field, independent per image), plus Rician noise of std ``noise``
    (magnitude of a complex signal with Gaussian noise in both channels). ``batch_axes`` leading axes
    of ``labels`` are a batch (one bias field per image); None means 0 for a 2D map and 1 otherwise
    (pass 0 for a single 3D volume).
    """
    fn = "labels_to_mri"
    labels = _check_labels(labels, fn)
    noise = check_float(noise, "noise", fn, low=0.0)
    bias_field = check_float(bias_field, "bias_field", fn, low=0.0)
    if batch_axes is None:
        batch_axes = 0 if labels.ndim == 2 else 1
    batch_axes = check_int(batch_axes, "batch_axes", fn, minimum=0)
    image = mri_class_intensities(weighting)[labels]
    rng = as_rng(seed, fn)
    if bias_field > 0:
        spatial = labels.shape[batch_axes:]
        g = smooth_noise(rng, labels.shape, sigma=max(spatial) / 4.0, axes_from=batch_axes)
        image = image * np.exp(bias_field * g)
    if noise > 0:
        real = image + noise * rng.standard_normal(labels.shape)
        imag = noise * rng.standard_normal(labels.shape)
        image = np.sqrt(real**2 + imag**2)
    return image.astype(np.float32)


# ---------------------------------------------------------------------------- random-ellipse bodies
def random_ellipse_phantoms(
    n_samples: int, shape: tuple[int, ...] = (64, 64), n_structures: int | tuple[int, int] = (3, 6), seed=0
) -> np.ndarray:
    """Random body-like label maps (N, *shape) int64, 2D or 3D, classes from TISSUE_CLASSES.

    Model: a body ellipse(oid) (semi-axes 0.65-0.9 of the field of view, random rotation) whose
    outer shell (10-18 % of its radius) is fat (1) and interior soft tissue (2); inside, a random
    number of smaller ellipsoids (semi-axes 0.08-0.3) of bone (3), fluid (4) or lesion (5) are
    painted one after another (later ones on top), clipped to the interior.
    """
    fn = "random_ellipse_phantoms"
    n = check_int(n_samples, "n_samples", fn)
    shape = check_shape(shape, fn)
    k_lo, k_hi = check_int_range(n_structures, "n_structures", fn, low=0)
    rng = as_rng(seed, fn)
    d = len(shape)

    body_axes = rng.uniform(0.65, 0.9, (n, 1, d))
    body_centre = rng.uniform(-0.05, 0.05, (n, 1, d))
    body_rot = random_rotations(rng, n, d)[:, None]
    fat_fraction = rng.uniform(0.82, 0.9, (n, 1, 1))
    k_max = max(k_hi, 1)
    counts = rng.integers(k_lo, k_hi + 1, n)
    # inner structures: centre within the inner body (in its own frame), sizes, classes
    local = rng.uniform(-0.55, 0.55, (n, k_max, d)) * body_axes * fat_fraction
    centres = body_centre + np.einsum("nkij,nkj->nki", np.broadcast_to(body_rot, (n, k_max, d, d)), local)
    axes = rng.uniform(0.08, 0.3, (n, k_max, d))
    rots = random_rotations(rng, n * k_max, d).reshape(n, k_max, d, d)
    classes = rng.integers(3, 6, (n, k_max))

    grid = normalized_grid(shape)
    labels = np.zeros((n, *shape), dtype=np.int64)
    chunk = max(1, 2_000_000 // (int(np.prod(shape)) * (k_max + 2)))
    for s in range(0, n, chunk):  # chunks bound memory; each chunk is vectorised over samples and pixels
        sl = slice(s, s + chunk)
        body = inside_ellipsoids(grid, body_centre[sl], body_axes[sl], body_rot[sl])[:, 0]
        inner = inside_ellipsoids(grid, body_centre[sl], body_axes[sl] * fat_fraction[sl], body_rot[sl])[:, 0]
        lab = np.where(body, 1, 0)
        lab = np.where(inner, 2, lab)
        inside = inside_ellipsoids(grid, centres[sl], axes[sl], rots[sl]) & inner[:, None]
        active = np.arange(k_max)[None, :] < counts[sl, None]
        for k in range(k_max):  # painting order matters; K is small
            paint = inside[:, k] & active[:, k].reshape((-1,) + (1,) * d)
            lab = np.where(paint, classes[sl, k].reshape((-1,) + (1,) * d), lab)
        labels[sl] = lab
    return labels


def make_modality_pairs(
    n_samples: int,
    shape: tuple[int, ...] = (64, 64),
    noise: float = 0.02,
    bias_field: float = 0.1,
    ct_noise_hu: float = 10.0,
    seed=0,
) -> dict:
    """Paired CT-like and MRI-like images of the same random anatomy, for modality synthesis.

    Returns a dict with
      ``labels``  (N, *shape) int64 tissue classes (TISSUE_CLASSES),
      ``ct_hu``   (N, 1, *shape) float32 Hounsfield units (with Gaussian noise ``ct_noise_hu``),
      ``ct``      (N, 1, *shape) float32, HU windowed from [-1000, 1000] to [0, 1],
      ``t1``, ``t2`` (N, 1, *shape) float32 spin-echo MRI contrasts in about [0, 1] with a smooth bias
                  field and Rician noise ``noise``.
    """
    fn = "make_modality_pairs"
    rng = as_rng(seed, fn)
    labels = random_ellipse_phantoms(n_samples, shape, seed=rng)
    ct_hu = labels_to_ct(labels, noise_hu=ct_noise_hu, seed=rng)
    t1 = labels_to_mri(labels, "T1", noise=noise, bias_field=bias_field, seed=rng)
    t2 = labels_to_mri(labels, "T2", noise=noise, bias_field=bias_field, seed=rng)
    ct = np.clip((ct_hu + 1000.0) / 2000.0, 0.0, 1.0)
    return {
        "labels": labels,
        "ct_hu": ct_hu[:, None],
        "ct": ct[:, None].astype(np.float32),
        "t1": t1[:, None],
        "t2": t2[:, None],
    }
