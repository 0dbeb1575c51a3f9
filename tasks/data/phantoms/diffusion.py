"""Diffusion MRI (DTI) q-space signals from known diffusion tensors, with Rician noise.

Diffusion tensor model (Basser, Mattiello and LeBihan, "MR diffusion tensor spectroscopy and
imaging", Biophys. J. 66:259-267, 1994): with b-value b (s/mm^2) and unit gradient direction g,

    S(b, g) = S0 exp(-b g^T D g),

D a symmetric positive-definite 3 x 3 tensor (mm^2/s) with eigenvalues l1 >= l2 >= l3. Scalar maps:

    MD = (l1 + l2 + l3) / 3,
    FA = sqrt(3/2) ||l - MD|| / ||l||  (0 isotropic, -> 1 for diffusion along one axis only).

A cylindrically symmetric tensor l1 = MD (1 + 2a), l2 = l3 = MD (1 - a) has FA = 3a / sqrt(3 + 6a^2),
i.e. a = FA / sqrt(3 - 2 FA^2): ``tensors_from_fa_md`` uses this to hit a requested FA and MD exactly.
Magnitude images carry Rician noise: |S + sigma (n1 + i n2)| (Gudbjartsson and Patz, MRM 34:910-914,
1995), biased upwards at low SNR. ``fit_tensor`` is the log-linear least-squares estimator
ln S = ln S0 - sum_ij b g_i g_j D_ij.
"""

from __future__ import annotations

import numpy as np

from ._common import as_rng, check_float, check_int, random_unit_vectors


def gradient_table(
    n_directions: int = 30, b_values=(1000.0,), n_b0: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """b-values (M,) and unit gradient directions (M, 3): n_b0 b = 0 volumes, then every b-value with
    ``n_directions`` directions spread evenly over a hemisphere (a Fibonacci spiral; the signal is
    symmetric under g -> -g, so a hemisphere suffices)."""
    fn = "gradient_table"
    n = check_int(n_directions, "n_directions", fn, minimum=6)
    n_b0 = check_int(n_b0, "n_b0", fn, minimum=0)
    k = np.arange(n) + 0.5
    z = 1.0 - k / n  # uniform in z on (0, 1): uniform area on the upper hemisphere
    phi = np.pi * (1.0 + 5**0.5) * k
    rho = np.sqrt(1.0 - z * z)
    dirs = np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)
    b_values = np.atleast_1d(np.asarray(b_values, dtype=np.float64))
    bvals = np.concatenate([np.zeros(n_b0), np.repeat(b_values, n)])
    bvecs = np.concatenate([np.tile([[1.0, 0.0, 0.0]], (n_b0, 1)), np.tile(dirs, (b_values.size, 1))])
    return bvals, bvecs


def tensor_from_eigen(evals, evecs) -> np.ndarray:
    """D = V diag(l) V^T: evals (..., 3), evecs (..., 3, 3) with eigenvectors as columns -> (..., 3, 3)."""
    evals = np.asarray(evals, dtype=np.float64)
    evecs = np.asarray(evecs, dtype=np.float64)
    return np.einsum("...ik,...k,...jk->...ij", evecs, evals, evecs)


def mean_diffusivity(evals) -> np.ndarray:
    """MD = mean of the eigenvalues (..., 3) -> (...)."""
    return np.asarray(evals).mean(axis=-1)


def fractional_anisotropy(evals) -> np.ndarray:
    """FA = sqrt(3/2) ||l - MD|| / ||l|| of eigenvalues (..., 3) -> (...), 0 where l = 0."""
    evals = np.asarray(evals, dtype=np.float64)
    md = evals.mean(axis=-1, keepdims=True)
    num = np.sqrt(1.5) * np.linalg.norm(evals - md, axis=-1)
    den = np.linalg.norm(evals, axis=-1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def tensors_from_fa_md(fa, md, directions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cylindrically symmetric tensors with exact FA and MD and principal axis ``directions`` (..., 3).

    Returns (tensors (..., 3, 3), evals (..., 3) descending, evecs (..., 3, 3) columns, the first the
    principal direction).
    """
    fn = "tensors_from_fa_md"
    fa = np.asarray(fa, dtype=np.float64)
    md = np.asarray(md, dtype=np.float64)
    if (fa < 0).any() or (fa >= 1).any() or (md <= 0).any():
        raise ValueError(f"{fn}: need 0 <= FA < 1 and MD > 0")
    v1 = np.asarray(directions, dtype=np.float64)
    v1 = v1 / np.linalg.norm(v1, axis=-1, keepdims=True)
    a = fa / np.sqrt(3.0 - 2.0 * fa**2)
    evals = np.stack([md * (1 + 2 * a), md * (1 - a), md * (1 - a)], axis=-1)
    # any orthonormal completion of v1: the two minor eigenvalues are equal
    helper = np.where(np.abs(v1[..., :1]) < 0.9, np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    v2 = np.cross(v1, helper)
    v2 /= np.linalg.norm(v2, axis=-1, keepdims=True)
    v3 = np.cross(v1, v2)
    evecs = np.stack([v1, v2, v3], axis=-1)
    return tensor_from_eigen(evals, evecs), evals, evecs


def dti_signal(tensors, bvals, bvecs, s0=1.0) -> np.ndarray:
    """S = S0 exp(-b g^T D g): tensors (..., 3, 3), bvals (M,), bvecs (M, 3) -> (..., M) float64."""
    bvals = np.asarray(bvals, dtype=np.float64)
    bvecs = np.asarray(bvecs, dtype=np.float64)
    if bvecs.shape != (bvals.size, 3):
        raise ValueError(
            f"dti_signal: bvecs must be ({bvals.size}, 3) for {bvals.size} b-values, got {bvecs.shape}"
        )
    quad = np.einsum("mi,...ij,mj->...m", bvecs, np.asarray(tensors, dtype=np.float64), bvecs)
    return np.asarray(s0, dtype=np.float64)[..., None] * np.exp(-bvals * quad)


def add_rician_noise(signal, sigma: float, seed=0) -> np.ndarray:
    """|S + sigma (n1 + i n2)|, n1, n2 independent standard normal (magnitude MRI noise), float64."""
    fn = "add_rician_noise"
    sigma = check_float(sigma, "sigma", fn, low=0.0)
    s = np.asarray(signal, dtype=np.float64)
    rng = as_rng(seed, fn)
    return np.hypot(s + sigma * rng.standard_normal(s.shape), sigma * rng.standard_normal(s.shape))


def _design_matrix(bvals, bvecs) -> np.ndarray:
    """Rows [1, -b gx^2, -b gy^2, -b gz^2, -2b gx gy, -2b gx gz, -2b gy gz] for ln S."""
    g = np.asarray(bvecs, dtype=np.float64)
    b = np.asarray(bvals, dtype=np.float64)[:, None]
    cols = [
        g[:, 0] ** 2,
        g[:, 1] ** 2,
        g[:, 2] ** 2,
        2 * g[:, 0] * g[:, 1],
        2 * g[:, 0] * g[:, 2],
        2 * g[:, 1] * g[:, 2],
    ]
    return np.concatenate([np.ones((b.shape[0], 1)), -b * np.stack(cols, axis=1)], axis=1)


def fit_tensor(signals, bvals, bvecs, min_signal: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Log-linear least-squares tensor fit: signals (..., M) -> (tensors (..., 3, 3), S0 (...))."""
    fn = "fit_tensor"
    signals = np.asarray(signals, dtype=np.float64)
    design = _design_matrix(bvals, bvecs)
    if signals.shape[-1] != design.shape[0]:
        raise ValueError(f"{fn}: signals have {signals.shape[-1]} measurements, the table {design.shape[0]}")
    if np.linalg.matrix_rank(design) < 7:
        raise ValueError(
            f"{fn}: the gradient table cannot determine a tensor (needs >= 6 non-collinear "
            f"directions and a b = 0 or second shell)"
        )
    coef = np.log(np.maximum(signals, min_signal)) @ np.linalg.pinv(design).T  # (..., 7)
    dxx, dyy, dzz, dxy, dxz, dyz = (coef[..., i] for i in range(1, 7))
    tensors = np.stack(
        [np.stack([dxx, dxy, dxz], -1), np.stack([dxy, dyy, dyz], -1), np.stack([dxz, dyz, dzz], -1)], axis=-2
    )
    return tensors, np.exp(coef[..., 0])


def make_diffusion_dataset(
    n_voxels: int = 1000,
    n_directions: int = 30,
    b_value: float = 1000.0,
    snr: float = 20.0,
    fa_range=(0.05, 0.9),
    md_range=(0.6e-3, 1.2e-3),
    seed=0,
) -> dict:
    """Voxel-wise DTI signals with known tensors (FA, MD and orientation uniform in their ranges).

    Returns ``signals`` (N, M) float32 with Rician noise (sigma = S0 / snr, S0 = 1; snr = inf for none),
    ``clean`` (N, M) float32, ``tensors`` (N, 3, 3) float64 (mm^2/s), ``evals`` (N, 3), ``evecs``
    (N, 3, 3), ``fa`` (N,), ``md`` (N,), ``bvals`` (M,), ``bvecs`` (M, 3).
    """
    fn = "make_diffusion_dataset"
    n = check_int(n_voxels, "n_voxels", fn)
    b_value = check_float(b_value, "b_value", fn, low=0.0)
    snr = float(snr)
    if not snr > 0:
        raise ValueError(f"{fn}: snr must be positive (inf for noise-free), got {snr}")
    rng = as_rng(seed, fn)
    fa = rng.uniform(*fa_range, n)
    md = rng.uniform(*md_range, n)
    tensors, evals, evecs = tensors_from_fa_md(fa, md, random_unit_vectors(rng, (n,), 3))
    bvals, bvecs = gradient_table(n_directions, (b_value,), n_b0=1)
    clean = dti_signal(tensors, bvals, bvecs)
    signals = clean if np.isinf(snr) else add_rician_noise(clean, 1.0 / snr, seed=rng)
    return {
        "signals": signals.astype(np.float32),
        "clean": clean.astype(np.float32),
        "tensors": tensors,
        "evals": evals,
        "evecs": evecs,
        "fa": fa,
        "md": md,
        "bvals": bvals,
        "bvecs": bvecs,
    }


def dti_phantom_slice(
    image_size: int = 32, n_directions: int = 30, b_value: float = 1000.0, snr: float = 30.0, seed=0
) -> dict:
    """A 2D DTI slice: fluid surround, a ring of white matter whose fibres run around it, a straight
    bundle across the middle, grey-matter-like tissue elsewhere.

    Returns ``signals`` (M, S, S) float32 diffusion-weighted images (Rician noise, S0 = 1), ``tensors``
    (S, S, 3, 3), ``fa``, ``md`` (S, S) float64 ground truth, ``direction`` (S, S, 3) principal axes,
    ``labels`` (S, S) int64 (0 fluid, 1 grey matter, 2 white-matter ring, 3 straight bundle), ``bvals``,
    ``bvecs``.
    """
    fn = "dti_phantom_slice"
    size = check_int(image_size, "image_size", fn, minimum=8)
    rng = as_rng(seed, fn)
    g = (np.arange(size) - (size - 1) / 2.0) / (size / 2.0)
    y, x = -g[:, None], g[None, :]
    r = np.hypot(x, y)
    labels = np.where(r < 0.9, 1, 0)
    labels = np.where((r > 0.5) & (r < 0.75), 2, labels)
    labels = np.where((np.abs(y) < 0.12) & (np.abs(x) < 0.5), 3, labels)
    # directions in physical (x right, y up, z through-plane) axes, like bvecs: tangential in the ring,
    # along x in the bundle, through-plane elsewhere (isotropic or nearly so there)
    tangent = np.stack([-y / np.maximum(r, 1e-9), x / np.maximum(r, 1e-9), np.zeros_like(r)], axis=-1)
    along = np.broadcast_to(np.array([1.0, 0.0, 0.0]), tangent.shape)
    through = np.broadcast_to(np.array([0.0, 0.0, 1.0]), tangent.shape)
    direction = np.where(
        (labels == 2)[..., None], tangent, np.where((labels == 3)[..., None], along, through)
    )
    fa = np.array([0.0, 0.15, 0.7, 0.8])[labels]
    md = np.array([3.0e-3, 0.8e-3, 0.7e-3, 0.7e-3])[labels]
    tensors, evals, _ = tensors_from_fa_md(fa, md, direction)
    bvals, bvecs = gradient_table(n_directions, (b_value,), n_b0=1)
    clean = dti_signal(tensors, bvals, bvecs)
    signals = add_rician_noise(clean, 1.0 / snr, seed=rng) if np.isfinite(snr) else clean
    return {
        "signals": np.moveaxis(signals, -1, 0).astype(np.float32),
        "tensors": tensors,
        "fa": fractional_anisotropy(evals),
        "md": mean_diffusivity(evals),
        "direction": direction,
        "labels": labels.astype(np.int64),
        "bvals": bvals,
        "bvecs": bvecs,
    }
