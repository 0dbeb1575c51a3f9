"""Full-reference image quality: PSNR and SSIM, for denoising, super-resolution, reconstruction.

Both need the dynamic range of the images (``data_range``: 1 for images in [0, 1], 255 for
8-bit, the window width for CT in HU). It is an explicit argument because guessing it from the
data makes the numbers depend on the content of each image.

PSNR = 10 log10(data_range^2 / MSE) in dB.

SSIM (Wang et al., "Image quality assessment: from error visibility to structural
similarity", IEEE TIP 13, 2004) compares local means, variances and covariance in a sliding
window:
    SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))
with C1 = (K1 L)^2, C2 = (K2 L)^2, L = data_range, averaged over all window positions. The
defaults reproduce skimage.metrics.structural_similarity: a uniform 7x7 window, sample
(N-1) covariance normalisation, reflected borders, and a border of (win_size-1)/2 pixels left
out of the mean; gaussian_weights=True uses a Gaussian window (sigma 1.5, truncated at 3.5
sigma, 11x11) as in the paper.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tasks.metrics import _checks as chk


def _images(fn: str, x, y, data_range) -> tuple[np.ndarray, np.ndarray, float]:
    a = chk.finite(fn, "x", chk.host(fn, "x", x)).astype(np.float64)
    b = chk.finite(fn, "y", chk.host(fn, "y", y)).astype(np.float64)
    chk.same_shape(fn, x=a, y=b)
    chk.nonempty(fn, x=a)
    if data_range is None or not np.isfinite(data_range) or data_range <= 0:
        raise ValueError(f"{fn}: data_range must be a positive number (e.g. 1.0 or 255), got {data_range!r}")
    return a, b, float(data_range)


def psnr(reference, test, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB over all elements; +inf for identical images."""
    a, b, L = _images("psnr", reference, test, data_range)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(L * L / mse))


def ssim(
    x,
    y,
    data_range: float,
    *,
    spatial_dims: int = 2,
    gaussian_weights: bool = False,
    win_size: int | None = None,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    use_sample_covariance: bool = True,
    per_image: bool = False,
):
    """Mean structural similarity of two images or batches of images.

    x, y: arrays of the same shape (..., *spatial) whose last ``spatial_dims`` axes (2 for
    (H, W), 3 for volumes) are filtered; leading axes (batch, channels) are independent
    images. Returns the mean SSIM over all of them as a float, or with per_image=True an array
    of the leading shape with one mean per image.
    win_size: odd window side (default 7, or 11 with Gaussian weights).
    """
    fn = "ssim"
    a, b, L = _images(fn, x, y, data_range)
    if spatial_dims not in (1, 2, 3) or a.ndim < spatial_dims:
        raise ValueError(f"{fn}: spatial_dims must be 1, 2 or 3 and at most x.ndim={a.ndim}, "
                         f"got {spatial_dims}")
    truncate = 3.5
    if win_size is None:
        win_size = 2 * int(truncate * sigma + 0.5) + 1 if gaussian_weights else 7
    if win_size < 3 or win_size % 2 == 0:
        raise ValueError(f"{fn}: win_size must be odd and >= 3, got {win_size}")
    spatial = a.shape[a.ndim - spatial_dims:]
    if min(spatial) < win_size:
        raise ValueError(f"{fn}: images of spatial shape {spatial} are smaller than the "
                         f"{win_size}-pixel window")

    lead = a.ndim - spatial_dims
    if gaussian_weights:
        sig = (0.0,) * lead + (sigma,) * spatial_dims  # sigma 0 leaves batch/channel axes alone

        def local_mean(v):
            return ndimage.gaussian_filter(v, sigma=sig, truncate=truncate, mode="reflect")
    else:
        size = (1,) * lead + (win_size,) * spatial_dims

        def local_mean(v):
            return ndimage.uniform_filter(v, size=size, mode="reflect")

    n_pix = win_size**spatial_dims
    # Unbiased local (co)variances: E[xy] - E[x]E[y], scaled by N/(N-1) like a sample covariance.
    cov_norm = n_pix / (n_pix - 1.0) if use_sample_covariance else 1.0
    mu_x, mu_y = local_mean(a), local_mean(b)
    var_x = cov_norm * (local_mean(a * a) - mu_x * mu_x)
    var_y = cov_norm * (local_mean(b * b) - mu_y * mu_y)
    cov_xy = cov_norm * (local_mean(a * b) - mu_x * mu_y)
    c1, c2 = (k1 * L) ** 2, (k2 * L) ** 2
    s_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    # Window positions that reach past the border see reflected data; leave them out.
    pad = (win_size - 1) // 2
    crop = (slice(None),) * lead + (slice(pad, -pad),) * spatial_dims
    s_map = s_map[crop]
    if per_image:
        return s_map.mean(axis=tuple(range(lead, a.ndim)))
    return float(s_map.mean())
