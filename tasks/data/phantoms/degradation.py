"""Image degradations with a known clean target: CT projection and low dose, resolution, noise, blur.

Parallel-beam CT. The Radon transform of an image f is the set of its line integrals

    p(theta, s) = integral f(s e_theta + t r_theta) dt,   e_theta = (cos theta, sin theta),
                                                          r_theta = (-sin theta, cos theta),

in physical coordinates x (columns, rightwards) and y (rows, upwards) centred on the image centre,
in pixel units. ``radon`` samples each ray every pixel with bilinear interpolation and sums (a
rotate-and-sum, or the same weights as a sparse matrix). ``fbp`` inverts it by filtered back-projection:

    f(x) ~ (pi / n_angles) sum_theta (p_theta * h)(x . e_theta),

h the ramp filter |f| in its band-limited discrete form (h[0] = 1/4, h[n odd] = -1/(pi n)^2, 0 for
even n; Kak & Slaney, "Principles of Computerized Tomographic Imaging", IEEE Press 1988, ch. 3),
applied by zero-padded FFT, optionally apodised (Shepp-Logan, cosine, Hann windows).

Low-dose CT. A detector bin behind the line integral p (attenuation mu in 1/pixel) receives
N ~ Poisson(I0 exp(-p)) photons (Beer-Lambert); the measured p_hat = -log(N / I0). Fewer incident
photons I0 means more noise, mostly along highly attenuating rays.

The other degradations are x_low = D(G_sigma * x) + n: Gaussian blur (point-spread function),
block-average downsampling D by an integer factor (a larger voxel), and additive noise n.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import fft, ndimage, sparse

from ._common import as_rng, check_float, check_int, check_ndim

# ------------------------------------------------------------------------------------- Radon / FBP
FILTERS = ("ramp", "shepp-logan", "cosine", "hann")


def _check_image2d(image, fn: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim not in (2, 3) or not np.issubdtype(image.dtype, np.number):
        raise ValueError(
            f"{fn}: image must be a real (H, W) array or an (N, H, W) batch, got shape "
            f"{image.shape} and dtype {image.dtype}"
        )
    return image


def _angles(angles, fn: str) -> np.ndarray:
    if angles is None:
        return np.arange(180, dtype=np.float64)
    if isinstance(angles, int | np.integer) and not isinstance(angles, bool):
        check_int(angles, "angles", fn)
        return np.arange(angles) * (180.0 / angles)
    angles = np.asarray(angles, dtype=np.float64)
    if angles.ndim != 1 or angles.size == 0:
        raise ValueError(
            f"{fn}: angles must be an int (count over [0, 180)) or a 1D array of degrees, "
            f"got shape {angles.shape}"
        )
    return angles


_MATRIX_LIMIT = 8_000_000  # ray samples up to which the sparse projector is built (~100-200 MB)
_MATRIX_MIN_BATCH = 4  # building the matrix costs about as much as projecting a few images directly


def _span(h: int, w: int, parity_of: int) -> int:
    """Samples covering the image diagonal, with the parity of ``parity_of``: then at 0 degrees the
    detector bins (parity of W) and ray steps (parity of H) fall on pixel centres, not between them,
    so the projection does not pick up a half-pixel interpolation blur."""
    n = int(np.ceil(np.hypot(h, w)))
    return n + (n - parity_of) % 2


@functools.lru_cache(maxsize=8)
def _projector(shape: tuple[int, int], angles: tuple[float, ...], n_det: int) -> sparse.csr_matrix:
    """The Radon transform as a sparse matrix (n_angles * n_det, H * W) of bilinear sampling weights.

    Row (a, j) holds, for ray a (angle) / j (detector bin), the weights with which each pixel enters the
    sum of the ray's samples; pixels outside the image count as 0. Cached per geometry, so a batch of
    images is projected by one sparse matrix product.
    """
    h, w = shape
    theta = np.deg2rad(np.asarray(angles))
    t_len = _span(h, w, h)
    s = np.arange(n_det) - (n_det - 1) / 2.0
    t = np.arange(t_len) - (t_len - 1) / 2.0
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    rows, cols, vals = [], [], []
    chunk = max(1, 2_000_000 // (n_det * t_len))
    for a0 in range(0, theta.size, chunk):
        th = theta[a0 : a0 + chunk, None, None]
        r = cy - (s[:, None] * np.sin(th) + t * np.cos(th))  # (A, n_det, t_len) row of each sample
        c = cx + (s[:, None] * np.cos(th) - t * np.sin(th))
        r0, c0 = np.floor(r), np.floor(c)
        fr, fc = r - r0, c - c0
        ray = np.broadcast_to(
            (a0 + np.arange(th.shape[0]))[:, None, None] * n_det + np.arange(n_det)[None, :, None], r.shape
        )
        for dr, dc, weight in (
            (0, 0, (1 - fr) * (1 - fc)),
            (0, 1, (1 - fr) * fc),
            (1, 0, fr * (1 - fc)),
            (1, 1, fr * fc),
        ):
            rr, cc = r0 + dr, c0 + dc
            ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w) & (weight > 0)
            rows.append(ray[ok])
            cols.append((rr[ok] * w + cc[ok]).astype(np.int64))
            vals.append(weight[ok])
    matrix = sparse.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(theta.size * n_det, h * w),
    )
    return matrix.tocsr()  # duplicate (ray, pixel) entries are summed


@functools.lru_cache(maxsize=8)
def _backprojector(shape: tuple[int, int], angles: tuple[float, ...], n_det: int) -> sparse.csr_matrix:
    """Back-projection as a sparse matrix (H * W, n_angles * n_det): for each pixel and angle, the linear
    interpolation weights of the detector position s = x cos(theta) + y sin(theta)."""
    h, w = shape
    theta = np.deg2rad(np.asarray(angles))
    y = ((h - 1) / 2.0 - np.arange(h))[:, None]
    x = (np.arange(w) - (w - 1) / 2.0)[None, :]
    det = x[None] * np.cos(theta)[:, None, None] + y[None] * np.sin(theta)[:, None, None] + (n_det - 1) / 2.0
    k0 = np.floor(det)
    frac = det - k0
    pixel = np.broadcast_to(np.arange(h * w).reshape(1, h, w), det.shape)
    column0 = np.arange(theta.size)[:, None, None] * n_det
    rows, cols, vals = [], [], []
    for dk, weight in ((0, 1.0 - frac), (1, frac)):
        k = k0 + dk
        ok = (k >= 0) & (k < n_det) & (weight > 0)
        rows.append(pixel[ok])
        cols.append((column0 + k).astype(np.int64)[ok])
        vals.append(weight[ok])
    return sparse.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(h * w, theta.size * n_det),
    ).tocsr()


def radon(image, angles=None, n_detectors: int | None = None) -> np.ndarray:
    """Parallel-beam forward projection (sinogram) of an image, float32.

    image: (H, W) or a batch (N, H, W); angles: degrees (1D array), or an int n for n equally spaced
    angles in [0, 180); default 180 one-degree steps. n_detectors: detector bins of one pixel, centred;
    default ceil(sqrt(H^2 + W^2)) (plus one if needed to match the parity of W, so that bins line up
    with pixel centres) so every ray through the image is recorded. Returns
    (n_angles, n_detectors) or (N, n_angles, n_detectors): line integrals in pixel units.

    Every ray is sampled once per pixel along its length with bilinear interpolation (zero outside the
    image) and the samples are summed. Batches in small geometries use a cached sparse matrix of those
    weights (one product for the whole batch); single images and large geometries resample the image
    once per angle with scipy.ndimage.affine_transform onto a (ray position, detector position) grid
    (rotate-and-sum).
    """
    fn = "radon"
    image = _check_image2d(image, fn)
    batch = image if image.ndim == 3 else image[None]
    n, h, w = batch.shape
    theta_deg = _angles(angles, fn)
    n_det = _span(h, w, w) if n_detectors is None else check_int(n_detectors, "n_detectors", fn)
    t_len = _span(h, w, h)
    data = batch.astype(np.float64, copy=False)
    if n >= _MATRIX_MIN_BATCH and theta_deg.size * n_det * t_len <= _MATRIX_LIMIT:
        matrix = _projector((h, w), tuple(theta_deg.tolist()), n_det)
        out = (matrix @ data.reshape(n, h * w).T).T.reshape(n, theta_deg.size, n_det).astype(np.float32)
        return out if image.ndim == 3 else out[0]
    theta = np.deg2rad(theta_deg)
    sc, tc = (n_det - 1) / 2.0, (t_len - 1) / 2.0
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    out = np.empty((n, theta.size, n_det), dtype=np.float32)
    for a, th in enumerate(theta):
        c, s = np.cos(th), np.sin(th)
        # output index (k, i, j) = (image, ray step t + tc, detector s + sc) samples the point
        # x = s cos - t sin, y = s sin + t cos, i.e. (row, col) = (cy - y, cx + x)
        matrix = np.array([[1.0, 0.0, 0.0], [0.0, -c, -s], [0.0, -s, c]])
        offset = np.array([0.0, cy + c * tc + s * sc, cx + s * tc - c * sc])
        samples = ndimage.affine_transform(
            data, matrix, offset, output_shape=(n, t_len, n_det), order=1, mode="grid-constant", cval=0.0
        )
        out[:, a] = samples.sum(axis=1)  # step dt = 1 pixel
    return out if image.ndim == 3 else out[0]


def ramp_filter(n_detectors: int, window: str = "ramp") -> np.ndarray:
    """Frequency response (n_fft,) of the FBP filter for zero-padded projections of n_detectors bins.

    The discrete band-limited ramp (h[0] = 1/4, h[odd n] = -1/(pi n)^2) is transformed with the FFT, so
    the filter has the right (non-zero) DC term; ``window`` apodises high frequencies.
    """
    if window not in FILTERS:
        raise ValueError(f"ramp_filter: window must be one of {FILTERS}, got {window!r}")
    n_fft = max(64, int(2 ** np.ceil(np.log2(2 * n_detectors))))
    n = np.concatenate([np.arange(0, n_fft // 2 + 1), np.arange(-n_fft // 2 + 1, 0)])
    h = np.zeros(n_fft)
    h[0] = 0.25
    odd = n % 2 == 1
    h[odd] = -1.0 / (np.pi * n[odd]) ** 2
    response = np.real(fft.fft(h))  # ~ |f| for |f| <= 1/2
    f = fft.fftfreq(n_fft)  # cycles per pixel, |f| <= 1/2
    if window == "shepp-logan":
        response *= np.sinc(f)
    elif window == "cosine":
        response *= np.cos(np.pi * f)
    elif window == "hann":
        response *= 0.5 * (1.0 + np.cos(2.0 * np.pi * f))
    return response


def fbp(
    sinogram, angles=None, output_shape: tuple[int, int] | None = None, window: str = "ramp"
) -> np.ndarray:
    """Filtered back-projection: image (H, W) float32 from a parallel-beam sinogram (n_angles, n_det).

    angles: as in ``radon`` (they must match the sinogram rows); output_shape defaults to the largest
    square whose diagonal fits the detector. A batch (N, n_angles, n_det) gives (N, H, W).
    """
    fn = "fbp"
    sinogram = np.asarray(sinogram)
    if sinogram.ndim not in (2, 3):
        raise ValueError(
            f"{fn}: sinogram must be (n_angles, n_detectors) or a batch of them, got {sinogram.shape}"
        )
    batch = sinogram if sinogram.ndim == 3 else sinogram[None]
    n, n_angles, n_det = batch.shape
    theta_deg = _angles(angles, fn)
    if theta_deg.size != n_angles:
        raise ValueError(
            f"{fn}: {theta_deg.size} angles for a sinogram with {n_angles} rows {sinogram.shape}"
        )
    if output_shape is None:
        side = int(np.floor(n_det / np.sqrt(2.0)))
        output_shape = (side, side)
    h, w = (check_int(v, "output_shape", fn) for v in output_shape)
    response = ramp_filter(n_det, window)
    n_fft = response.size  # the response is real and even: filter with the real FFT
    filtered = fft.irfft(fft.rfft(batch, n=n_fft, axis=-1) * response[: n_fft // 2 + 1], n=n_fft, axis=-1)[
        ..., :n_det
    ]

    if n >= _MATRIX_MIN_BATCH and n_angles * h * w <= _MATRIX_LIMIT:
        back = _backprojector((h, w), tuple(theta_deg.tolist()), n_det)
        image = (back @ filtered.reshape(n, -1).T).T.reshape(n, h, w)
    else:
        theta = np.deg2rad(theta_deg)
        y = ((h - 1) / 2.0 - np.arange(h))[:, None]
        x = (np.arange(w) - (w - 1) / 2.0)[None, :]
        image = np.zeros((n, h, w))
        for a, th in enumerate(theta):  # one angle at a time, vectorised over the batch and pixels
            det = x * np.cos(th) + y * np.sin(th) + (n_det - 1) / 2.0
            for i in range(n):
                image[i] += np.interp(det, np.arange(n_det), filtered[i, a], left=0.0, right=0.0)
    image = (image * np.pi / n_angles).astype(np.float32)
    return image if sinogram.ndim == 3 else image[0]


def low_dose_sinogram(sinogram, i0: float = 1e4, seed=0) -> np.ndarray:
    """Poisson-noisy line integrals: -log(max(N, 0.5) / I0), N ~ Poisson(I0 exp(-p)), float32.

    sinogram: line integrals p (attenuation units, any shape). Zero counts are clamped to 0.5
    photons so the log stays finite (a common convention for photon starvation).
    """
    fn = "low_dose_sinogram"
    i0 = check_float(i0, "i0", fn, low=1.0)
    p = np.asarray(sinogram, dtype=np.float64)
    counts = as_rng(seed, fn).poisson(i0 * np.exp(-p))
    return (-np.log(np.maximum(counts, 0.5) / i0)).astype(np.float32)


MU_WATER_PER_MM = 0.019
"""Linear attenuation of water near 70 keV, about 0.19 / cm (NIST XCOM), per millimetre."""


def make_low_dose_ct_pairs(
    n_samples: int,
    image_size: int = 64,
    n_angles: int = 120,
    i0_low: float = 2e4,
    i0_full: float | None = 1e6,
    fov_mm: float = 320.0,
    seed=0,
) -> dict:
    """Low-dose / full-dose CT reconstructions of the same random anatomy (anatomy.random_ellipse_phantoms).

    Attenuation mu = mu_water (1 + HU / 1000) per pixel of fov_mm / image_size millimetres, so line
    integrals are those of a body of that field of view. Both sinograms get Poisson noise in the
    transmission domain with I0 = i0_low and i0_full photons per detector bin (None = noise-free),
    and both are reconstructed by ramp-filtered FBP. Returns a dict:
      ``phantom_hu`` (N, 1, S, S) float32 ground-truth HU,
      ``full_dose_hu``, ``low_dose_hu`` (N, 1, S, S) float32 FBP reconstructions in HU,
      ``full_dose``, ``low_dose`` the same windowed from [-1000, 1000] HU to [0, 1],
      ``labels`` (N, S, S) int64, ``sinogram`` (N, n_angles, n_det) float32 noise-free line integrals,
      ``angles`` (n_angles,) degrees.
    """
    from .anatomy import labels_to_ct, random_ellipse_phantoms

    fn = "make_low_dose_ct_pairs"
    n = check_int(n_samples, "n_samples", fn)
    size = check_int(image_size, "image_size", fn, minimum=8)
    n_angles = check_int(n_angles, "n_angles", fn)
    fov_mm = check_float(fov_mm, "fov_mm", fn, low=1e-3)
    rng = as_rng(seed, fn)
    labels = random_ellipse_phantoms(n, (size, size), seed=rng)
    hu = labels_to_ct(labels)
    mu = MU_WATER_PER_MM * (fov_mm / size) * np.maximum(1.0 + hu / 1000.0, 0.0)  # per pixel
    angles = np.arange(n_angles) * (180.0 / n_angles)
    sino = radon(mu, angles)
    low = low_dose_sinogram(sino, i0_low, seed=rng)
    full = sino if i0_full is None else low_dose_sinogram(sino, i0_full, seed=rng)
    to_hu = 1000.0 / (MU_WATER_PER_MM * fov_mm / size)

    def recon(s):
        return fbp(s, angles, (size, size)) * to_hu - 1000.0

    full_hu, low_hu = recon(full), recon(low)

    def window(x):
        return np.clip((x + 1000.0) / 2000.0, 0.0, 1.0).astype(np.float32)

    return {
        "phantom_hu": hu[:, None],
        "full_dose_hu": full_hu[:, None],
        "low_dose_hu": low_hu[:, None],
        "full_dose": window(full_hu)[:, None],
        "low_dose": window(low_hu)[:, None],
        "labels": labels,
        "sinogram": sino,
        "angles": angles,
    }


# ----------------------------------------------------------------------- blur, downsampling, noise
NOISE_MODELS = ("gaussian", "rician", "poisson")


def blur(images, sigma: float, batch_axes: int = 1) -> np.ndarray:
    """Gaussian blur (std ``sigma`` pixels) over the spatial axes (those after ``batch_axes``), float32."""
    images = np.asarray(images, dtype=np.float32)
    sigma = check_float(sigma, "sigma", "blur", low=0.0)
    if sigma == 0:
        return images.copy()
    return ndimage.gaussian_filter(
        images, [0.0] * batch_axes + [sigma] * (images.ndim - batch_axes), mode="nearest"
    )


def downsample(images, factor: int, batch_axes: int = 1) -> np.ndarray:
    """Block-average downsampling by an integer factor over the spatial axes (sizes must divide)."""
    fn = "downsample"
    images = np.asarray(images, dtype=np.float32)
    factor = check_int(factor, "factor", fn)
    spatial = images.shape[batch_axes:]
    if any(s % factor for s in spatial):
        raise ValueError(f"{fn}: spatial shape {spatial} is not divisible by factor {factor}")
    new_shape = list(images.shape[:batch_axes])
    for s in spatial:
        new_shape += [s // factor, factor]
    blocks = images.reshape(new_shape)
    return blocks.mean(axis=tuple(range(batch_axes + 1, len(new_shape), 2)))


def add_noise(images, sigma: float, model: str = "gaussian", seed=0) -> np.ndarray:
    """Noisy copy of images, float32.

    gaussian: x + sigma n; rician: |x + sigma (n1 + i n2)| (MRI magnitude); poisson: Poisson counts
    with mean x / sigma^2, rescaled by sigma^2 (so the noise std is sigma sqrt(x), sigma the std at x = 1).
    """
    fn = "add_noise"
    if model not in NOISE_MODELS:
        raise ValueError(f"{fn}: model must be one of {NOISE_MODELS}, got {model!r}")
    x = np.asarray(images, dtype=np.float64)
    sigma = check_float(sigma, "sigma", fn, low=0.0)
    rng = as_rng(seed, fn)
    if sigma == 0:
        return x.astype(np.float32)
    if model == "gaussian":
        y = x + sigma * rng.standard_normal(x.shape)
    elif model == "rician":
        y = np.hypot(x + sigma * rng.standard_normal(x.shape), sigma * rng.standard_normal(x.shape))
    else:
        if (x < 0).any():
            raise ValueError(f"{fn}: Poisson noise needs non-negative images")
        y = rng.poisson(x / sigma**2) * sigma**2
    return y.astype(np.float32)


def _mri_batch(rng, n: int, size: int, ndim: int) -> np.ndarray:
    """Clean T1-like MRI images (N, *spatial) of random anatomy, lightly smoothed (band-limited)."""
    from .anatomy import labels_to_mri, random_ellipse_phantoms

    labels = random_ellipse_phantoms(n, (size,) * ndim, seed=rng)
    return blur(labels_to_mri(labels, "T1", bias_field=0.1, batch_axes=1, seed=rng), 0.5)


def make_resolution_pairs(
    n_samples: int,
    image_size: int = 64,
    ndim: int = 2,
    factor: int = 2,
    blur_sigma: float | None = None,
    noise_low: float = 0.03,
    noise_high: float = 0.01,
    seed=0,
) -> dict:
    """Low-resolution / high-resolution pairs (a 3T-like vs 7T-like acquisition of the same anatomy).

    high = x + noise_high n (the high-field image: smaller voxels, higher SNR);
    low = downsample(G_sigma * x, factor) + noise_low n' (larger voxels, lower SNR), sigma defaulting
    to factor / 2 pixels (a Gaussian stand-in for the wider point-spread function). Rician noise
    (magnitude images). Returns ``high`` (N, 1, *S) float32, ``low`` (N, 1, *S / factor),
    ``low_upsampled`` (N, 1, *S) (cubic spline interpolation of ``low``, the usual super-resolution
    input) and ``clean`` (N, 1, *S) noise-free x.
    """
    fn = "make_resolution_pairs"
    n = check_int(n_samples, "n_samples", fn)
    size = check_int(image_size, "image_size", fn, minimum=8)
    d = check_ndim(ndim, fn)
    factor = check_int(factor, "factor", fn)
    if size % factor:
        raise ValueError(f"{fn}: image_size {size} must be divisible by factor {factor}")
    sigma = factor / 2.0 if blur_sigma is None else check_float(blur_sigma, "blur_sigma", fn, low=0.0)
    rng = as_rng(seed, fn)
    clean = _mri_batch(rng, n, size, d)
    high = add_noise(clean, noise_high, "rician", seed=rng)
    low = add_noise(downsample(blur(clean, sigma), factor), noise_low, "rician", seed=rng)
    up = ndimage.zoom(low, [1.0] + [float(factor)] * d, order=3, mode="nearest", grid_mode=True)
    return {
        "high": high[:, None],
        "low": low[:, None],
        "low_upsampled": up[:, None].astype(np.float32),
        "clean": clean[:, None],
    }


def make_restoration_pairs(
    n_samples: int,
    image_size: int = 64,
    ndim: int = 2,
    blur_sigma: float = 0.0,
    noise_sigma: float = 0.05,
    noise_model: str = "gaussian",
    seed=0,
) -> dict:
    """Clean / degraded pairs for denoising (blur_sigma = 0) and deblurring (blur_sigma > 0).

    degraded = noise(G_sigma * clean) with ``noise_model`` in NOISE_MODELS. Returns ``clean`` and
    ``degraded``, both (N, 1, *S) float32.
    """
    fn = "make_restoration_pairs"
    n = check_int(n_samples, "n_samples", fn)
    size = check_int(image_size, "image_size", fn, minimum=8)
    d = check_ndim(ndim, fn)
    rng = as_rng(seed, fn)
    clean = _mri_batch(rng, n, size, d)
    degraded = add_noise(blur(clean, blur_sigma), noise_sigma, noise_model, seed=rng)
    return {"clean": clean[:, None], "degraded": degraded[:, None]}
