"""MRI k-space: centred orthonormal FFTs, undersampling masks, cine k-space and zero-filled recon.

An MR image x is measured through its Fourier transform, k-space y = F x. With the centred,
orthonormal transform used here (``fft2c``: ifftshift, FFT with norm='ortho', fftshift) the DC term
sits in the middle of the array and F is unitary, so ||F x|| = ||x|| (Parseval) and F^-1 = F^H.

Undersampling keeps a subset of k-space, y_u = M * F x, with a binary mask M. Reconstructing
x_zf = F^H (M * F x) ("zero-filled") gives aliasing: coherent copies for regular sampling, noise-like
for random sampling, which compressed sensing and learned reconstructions remove (Lustig, Donoho and
Pauly, "Sparse MRI", MRM 58:1182-1195, 2007). Cartesian masks pick whole phase-encoding lines
(columns here: the readout runs along rows, axis -2, and is always fully sampled) and keep a fully
sampled centre, as in the fastMRI challenge (Zbontar et al., arXiv:1811.08839, 2018).
"""

from __future__ import annotations

import numpy as np

from ._common import as_rng, check_float, check_int, check_shape


def _axes(x, axes, fn: str) -> tuple[int, ...]:
    axes = tuple(axes)
    if len(axes) == 0 or any(not -x.ndim <= a < x.ndim for a in axes):
        raise ValueError(f"{fn}: axes {axes} invalid for an array of shape {x.shape}")
    return axes


def fftnc(x, axes=(-2, -1)) -> np.ndarray:
    """Centred orthonormal n-D FFT over ``axes``: fftshift(fftn(ifftshift(x), norm='ortho'))."""
    x = np.asarray(x)
    axes = _axes(x, axes, "fftnc")
    return np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


def ifftnc(k, axes=(-2, -1)) -> np.ndarray:
    """Inverse of fftnc: fftshift(ifftn(ifftshift(k), norm='ortho'))."""
    k = np.asarray(k)
    axes = _axes(k, axes, "ifftnc")
    return np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(k, axes=axes), axes=axes, norm="ortho"), axes=axes)


def fft2c(x) -> np.ndarray:
    """Centred orthonormal 2D FFT over the last two axes: (..., H, W) image -> (..., H, W) k-space."""
    return fftnc(x, (-2, -1))


def ifft2c(k) -> np.ndarray:
    """Centred orthonormal inverse 2D FFT over the last two axes: k-space -> complex image."""
    return ifftnc(k, (-2, -1))


def _centre_lines(width: int, center_fraction: float) -> np.ndarray:
    """Indices of the fully sampled central phase-encoding lines (at least 1, around width // 2)."""
    n_centre = max(1, int(round(width * center_fraction)))
    start = width // 2 - n_centre // 2  # width // 2 is the DC line after fftshift
    return np.arange(start, start + n_centre)


def _top_k(keys: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the k largest keys along the last axis (ties impossible for continuous keys)."""
    out = np.zeros(keys.shape, dtype=bool)
    if k > 0:
        idx = np.argpartition(-keys, k - 1, axis=-1)[..., :k]
        np.put_along_axis(out, idx, True, axis=-1)
    return out


def cartesian_mask(
    shape: tuple[int, int],
    acceleration: float = 4.0,
    center_fraction: float = 0.08,
    seed=0,
    n_masks: int | None = None,
) -> np.ndarray:
    """Random Cartesian line mask (H, W) bool: whole columns (phase-encoding lines) kept or dropped.

    Keeps exactly round(W / acceleration) columns: the round(W * center_fraction) central ones (the
    low frequencies, DC at column W // 2) plus others drawn uniformly without replacement. Raises if
    the centre alone exceeds the budget. ``n_masks`` = n gives n independent masks (n, H, W) at once.
    """
    fn = "cartesian_mask"
    h, w = check_shape(shape, fn, ndims=(2,), minimum=1)
    acceleration = check_float(acceleration, "acceleration", fn, low=1.0)
    center_fraction = check_float(center_fraction, "center_fraction", fn, low=0.0, high=1.0)
    n = 1 if n_masks is None else check_int(n_masks, "n_masks", fn)
    rng = as_rng(seed, fn)
    n_keep = max(1, int(round(w / acceleration)))
    centre = np.zeros(w, dtype=bool)
    centre[_centre_lines(w, center_fraction)] = True
    if centre.sum() > n_keep:
        raise ValueError(
            f"{fn}: the centre ({centre.sum()} lines) exceeds the {n_keep} lines allowed by "
            f"acceleration {acceleration} for width {w}"
        )
    keys = np.where(centre, -1.0, rng.random((n, w)))  # uniform keys: a random subset of the others
    lines = _top_k(keys, n_keep - int(centre.sum())) | centre
    masks = np.broadcast_to(lines[:, None, :], (n, h, w)).copy()
    return masks[0] if n_masks is None else masks


def variable_density_mask(
    shape: tuple[int, int],
    acceleration: float = 4.0,
    center_radius: float = 0.08,
    power: float = 3.0,
    seed=0,
    n_masks: int | None = None,
) -> np.ndarray:
    """Random 2D variable-density point mask (H, W) bool (for 2D phase encoding / 3D Cartesian MRI).

    Keeps exactly round(H W / acceleration) k-space points: all points within ``center_radius`` of the
    centre (normalised radius r: 1 at the edge midpoints of k-space), plus points drawn without
    replacement with probability proportional to (1 - r / r_max)^power, denser near the centre where the
    image energy is (Lustig et al. 2007). Weighted sampling without replacement uses the keys
    u^(1 / weight), u ~ U(0, 1), keeping the largest (Efraimidis and Spirakis, Inf. Process. Lett.
    97:181-185, 2006). ``n_masks`` = n gives n independent masks (n, H, W).
    """
    fn = "variable_density_mask"
    h, w = check_shape(shape, fn, ndims=(2,), minimum=1)
    acceleration = check_float(acceleration, "acceleration", fn, low=1.0)
    center_radius = check_float(center_radius, "center_radius", fn, low=0.0)
    power = check_float(power, "power", fn, low=0.0)
    n = 1 if n_masks is None else check_int(n_masks, "n_masks", fn)
    rng = as_rng(seed, fn)
    ky = (np.arange(h) - h // 2) / (h / 2.0)
    kx = (np.arange(w) - w // 2) / (w / 2.0)
    r = np.hypot(ky[:, None], kx[None, :]).ravel()
    n_keep = max(1, int(round(h * w / acceleration)))
    centre = r <= center_radius
    if centre.sum() > n_keep:
        raise ValueError(
            f"{fn}: the centre ({centre.sum()} points) exceeds the {n_keep} points allowed by "
            f"acceleration {acceleration}"
        )
    weights = np.maximum(1.0 - r / (r.max() * (1 + 1e-6)), 1e-12) ** power
    keys = np.log(rng.random((n, h * w))) / np.maximum(weights, 1e-300)  # log(u^(1/w)), monotone
    keys = np.where(centre, -np.inf, keys)
    masks = (_top_k(keys, n_keep - int(centre.sum())) | centre).reshape(n, h, w)
    return masks[0] if n_masks is None else masks


def undersample(image, mask, noise: float = 0.0, seed=0) -> np.ndarray:
    """Masked k-space M * (F x + n), complex64, of an image (..., H, W); n complex Gaussian with std
    ``noise`` per real/imaginary part (the same everywhere, as thermal noise in k-space)."""
    fn = "undersample"
    image = np.asarray(image)
    mask = np.asarray(mask, dtype=bool)
    if image.shape[-2:] != mask.shape[-2:]:
        raise ValueError(f"{fn}: image {image.shape} and mask {mask.shape} differ in (H, W)")
    noise = check_float(noise, "noise", fn, low=0.0)
    k = fft2c(image)
    if noise > 0:
        rng = as_rng(seed, fn)
        k = k + noise * (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape))
    return (k * mask).astype(np.complex64)


def zero_filled(kspace, mask=None) -> np.ndarray:
    """Zero-filled reconstruction F^H (M * y), complex64 (..., H, W); take np.abs for a magnitude image."""
    k = np.asarray(kspace)
    if mask is not None:
        k = k * np.asarray(mask, dtype=bool)
    return ifft2c(k).astype(np.complex64)


def make_cine_kspace(
    n_frames: int = 20,
    image_size: int = 64,
    acceleration: float = 4.0,
    center_fraction: float = 0.08,
    noise: float = 0.0,
    seed=0,
    **heart_kwargs,
) -> dict:
    """Undersampled multi-frame (cine) k-space of the beating-heart phantom (cine.beating_heart).

    Each frame gets its own random Cartesian line mask (k-t sampling: different lines in different
    frames, so that a reconstruction can share information across time). Returns a dict:
      ``images``      (T, H, W) float32 ground-truth frames,
      ``kspace``      (T, H, W) complex64 fully sampled k-space (with noise if ``noise`` > 0),
      ``masks``       (T, H, W) bool,
      ``undersampled``(T, H, W) complex64 = masks * kspace,
      ``zero_filled`` (T, H, W) complex64 zero-filled reconstructions,
      plus the heart phantom's ``blood_pool`` masks and ``ejection_fraction``.
    """
    from .cine import beating_heart

    fn = "make_cine_kspace"
    n_frames = check_int(n_frames, "n_frames", fn)
    rng = as_rng(seed, fn)
    heart = beating_heart(n_frames=n_frames, image_size=image_size, noise=0.0, seed=rng, **heart_kwargs)
    frames = heart["images"]
    masks = cartesian_mask(frames.shape[1:], acceleration, center_fraction, seed=rng, n_masks=n_frames)
    kspace = fft2c(frames)
    if noise > 0:
        kspace = kspace + noise * (rng.standard_normal(kspace.shape) + 1j * rng.standard_normal(kspace.shape))
    kspace = kspace.astype(np.complex64)
    under = (kspace * masks).astype(np.complex64)
    return {
        "images": frames,
        "kspace": kspace,
        "masks": masks,
        "undersampled": under,
        "zero_filled": zero_filled(under),
        "blood_pool": heart["blood_pool"],
        "ejection_fraction": heart["ejection_fraction"],
    }


def make_kspace_dataset(
    n_samples: int,
    image_size: int = 64,
    acceleration: float = 4.0,
    center_fraction: float = 0.08,
    mask_kind: str = "cartesian",
    noise: float = 0.0,
    seed=0,
) -> dict:
    """Single-coil undersampled MRI from random anatomy (T1-like images of anatomy.random_ellipse_phantoms).

    Returns ``images`` (N, 1, S, S) float32 targets, ``masks`` (N, S, S) bool (one random mask per image;
    'cartesian' lines or 'variable_density' points), ``kspace`` (N, S, S) complex64 undersampled k-space
    and ``zero_filled`` (N, 1, S, S) float32 magnitude of the zero-filled reconstruction (the usual
    network input).
    """
    from .anatomy import labels_to_mri, random_ellipse_phantoms

    fn = "make_kspace_dataset"
    n = check_int(n_samples, "n_samples", fn)
    size = check_int(image_size, "image_size", fn, minimum=8)
    if mask_kind not in ("cartesian", "variable_density"):
        raise ValueError(f"{fn}: mask_kind must be 'cartesian' or 'variable_density', got {mask_kind!r}")
    rng = as_rng(seed, fn)
    labels = random_ellipse_phantoms(n, (size, size), seed=rng)
    images = labels_to_mri(labels, "T1", bias_field=0.1, batch_axes=1, seed=rng)
    if mask_kind == "cartesian":
        masks = cartesian_mask((size, size), acceleration, center_fraction, seed=rng, n_masks=n)
    else:
        masks = variable_density_mask((size, size), acceleration, center_fraction, seed=rng, n_masks=n)
    kspace = undersample(images, masks, noise=noise, seed=rng)
    return {
        "images": images[:, None],
        "masks": masks,
        "kspace": kspace,
        "zero_filled": np.abs(zero_filled(kspace))[:, None].astype(np.float32),
    }
