"""Hand-crafted (radiomics-style) image features for classical machine-learning baselines.

Before deep learning, medical image classifiers were fed engineered descriptors of a region
of interest (ROI): first-order intensity statistics, texture (grey-level co-occurrence
matrices, Haralick et al., IEEE Trans. SMC 3, 1973), edge strength and shape. The same
families, standardised, make up "radiomics" (Zwanenburg et al., "The Image Biomarker
Standardization Initiative", Radiology 295, 2020; van Griethuysen et al., "Computational
radiomics system to decode the radiographic phenotype" (PyRadiomics), Cancer Res. 77, 2017).

``extract_features(images, masks=None)`` computes, for images (N, C, H, W):

per channel (names prefixed ``c{k}_`` when C > 1), over the ROI (the mask, or the whole image):
  intensity  mean, std, skewness, kurtosis (excess), min, max, p10, p25, p50, p75, p90 and the
             Shannon entropy (bits) of a ``bins``-bin histogram
  texture    GLCM contrast, dissimilarity, homogeneity, energy, correlation for each distance
             in ``distances``, averaged over the angles 0, 45, 90 and 135 degrees (rotation
             invariance); grey levels are quantised to ``levels`` bins
  gradient   mean, std and p90 of the Sobel gradient magnitude
once per image, from the mask or, without one, from an Otsu threshold of the channel mean
(foreground = the brighter of the two classes; Otsu, IEEE Trans. SMC 9, 1979):
  shape      area (pixels), perimeter (Crofton estimate), circularity 4 pi A / P^2
             (about 1 for a disc), eccentricity sqrt(1 - l2/l1) from the eigenvalues l1 >= l2 of the
             second central moments of the pixel coordinates (0 for a disc, -> 1 for a line)

Quantisation range: ``value_range=(lo, hi)`` fixes it for all images (the IBSI "fixed bin
size" style; intensities are then comparable across images); by default each image uses its
own ROI min and max ("fixed bin number"), which makes texture invariant to contrast.
Everything is vectorised over the batch (np.bincount over image-indexed bins; no loop over
pixels or images).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from engine.backend import asnumpy

ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
GLCM_PROPS = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation")
_INTENSITY = ("mean", "std", "skewness", "kurtosis", "min", "max",
              "p10", "p25", "p50", "p75", "p90", "entropy")
_PERCENTILES = (10.0, 25.0, 50.0, 75.0, 90.0)


# ------------------------------------------------------------------------- masked statistics


def masked_percentiles(x: np.ndarray, roi: np.ndarray, q) -> np.ndarray:
    """Per-image percentiles of x over roi, with NumPy's default linear interpolation.

    x, roi: (N, ...) values and boolean region (each image's region must be non-empty);
    q: percentiles in [0, 100]. Returns (N, len(q)). Pixels outside the region are sorted to
    the end as +inf, so one sort serves every image whatever its region size.
    """
    n = x.shape[0]
    flat = np.where(roi, x, np.inf).reshape(n, -1)
    flat.sort(axis=1)
    count = roi.reshape(n, -1).sum(axis=1)
    pos = (np.asarray(q, dtype=np.float64)[None, :] / 100.0) * (count[:, None] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, count[:, None] - 1)
    frac = pos - lo
    v_lo = np.take_along_axis(flat, lo, axis=1)
    v_hi = np.take_along_axis(flat, hi, axis=1)
    return v_lo + frac * (v_hi - v_lo)


def _masked_moments(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mean, std, skewness and excess kurtosis (population / biased moments, as scipy.stats'
    skew and kurtosis defaults) of x over weights w; both (N, H, W). A constant region gets
    skewness 0 and kurtosis 0 instead of 0/0."""
    axes = (1, 2)
    n = w.sum(axis=axes)
    mean = (w * x).sum(axis=axes) / n
    d = x - mean[:, None, None]
    wd2 = w * d * d
    m2 = wd2.sum(axis=axes) / n
    m3 = (wd2 * d).sum(axis=axes) / n
    m4 = (wd2 * d * d).sum(axis=axes) / n
    std = np.sqrt(m2)
    flat = m2 <= 1e-12 * np.maximum(mean**2, 1e-300)
    safe = np.where(flat, 1.0, m2)
    skew = np.where(flat, 0.0, m3 / safe**1.5)
    kurt = np.where(flat, 0.0, m4 / safe**2 - 3.0)
    return mean, std, skew, kurt


def _unit_range(x: np.ndarray, roi: np.ndarray, value_range) -> np.ndarray:
    """x mapped to [0, 1] by value_range, or by each image's ROI min/max (constant -> 0)."""
    if value_range is None:
        lo = np.where(roi, x, np.inf).min(axis=(1, 2))
        hi = np.where(roi, x, -np.inf).max(axis=(1, 2))
    else:
        lo, hi = (np.full(x.shape[0], float(v)) for v in value_range)
    span = hi - lo
    u = (x - lo[:, None, None]) / np.where(span > 0, span, 1.0)[:, None, None]
    return np.clip(u, 0.0, 1.0)


def _histogram(u: np.ndarray, roi: np.ndarray, bins: int) -> np.ndarray:
    """(N, bins) ROI counts of values in [0, 1]; one bincount over (image, bin) pairs."""
    n = u.shape[0]
    b = np.minimum((u * bins).astype(np.int64), bins - 1)
    key = np.arange(n)[:, None, None] * bins + b
    counts = np.bincount(key.ravel(), weights=roi.ravel().astype(np.float64), minlength=n * bins)
    return counts.reshape(n, bins)


def histogram_entropy(u: np.ndarray, roi: np.ndarray, bins: int) -> np.ndarray:
    """Shannon entropy in bits, -sum p log2 p, of each image's ROI histogram; (N,)."""
    h = _histogram(u, roi, bins)
    p = h / h.sum(axis=1, keepdims=True)
    logp = np.log2(np.where(p > 0, p, 1.0))
    return -(p * logp).sum(axis=1)


# ------------------------------------------------------------------------- co-occurrence texture


def glcm_offsets(distances=(1,), angles=ANGLES) -> list[tuple[int, int]]:
    """(row, col) pixel offsets for each (distance, angle), distance-major.

    Same convention as skimage.feature.graycomatrix: the neighbour of (r, c) is
    (r + round(d sin a), c + round(d cos a)), so 0 is "to the right", pi/2 "below".
    """
    return [(round(d * np.sin(a)), round(d * np.cos(a))) for d in distances for a in angles]


def glcm(q: np.ndarray, levels: int, offsets, roi: np.ndarray | None = None, symmetric: bool = True,
         normed: bool = True) -> np.ndarray:
    """Grey-level co-occurrence matrices of a batch of quantised images.

    q: (N, H, W) integers in [0, levels). offsets: list of (dr, dc) pairs. roi: optional
    (N, H, W) bool; a pair counts only if both pixels lie in it.
    Returns P: (N, levels, levels, len(offsets)), P[n, i, j, o] = (fraction of) pixel pairs
    with q[n, r, c] = i and q[n, r + dr, c + dc] = j; symmetric adds the transposed counts
    (pairs in both directions), normed divides each matrix by its sum (an empty one stays 0).
    """
    q = np.asarray(q)
    if q.ndim != 3 or q.dtype.kind not in "iu":
        raise ValueError(f"glcm: q must be (N, H, W) integers, got {q.shape} {q.dtype}")
    if q.size and (q.min() < 0 or q.max() >= levels):
        raise ValueError(f"glcm: grey levels must lie in [0, {levels}), got range [{q.min()}, {q.max()}]")
    n, h, w = q.shape
    # Flattened cell index image * L^2 + i * L + j, so that one bincount fills all N matrices.
    qa = (q.astype(np.int64) * levels + (np.arange(n) * levels * levels)[:, None, None])
    qb = q.astype(np.int64)
    roi = None if roi is None else np.asarray(roi, bool)
    out = np.empty((n, levels, levels, len(offsets)))
    for o, (dr, dc) in enumerate(offsets):  # a few offsets; each one is one bincount over the batch
        r0, r1 = max(0, -dr), min(h, h - dr)
        c0, c1 = max(0, -dc), min(w, w - dc)
        if r1 <= r0 or c1 <= c0:
            out[..., o] = 0.0
            continue
        key = qa[:, r0:r1, c0:c1] + qb[:, r0 + dr:r1 + dr, c0 + dc:c1 + dc]
        if roi is None:
            counts = np.bincount(key.ravel(), minlength=n * levels * levels)
        else:
            valid = roi[:, r0:r1, c0:c1] & roi[:, r0 + dr:r1 + dr, c0 + dc:c1 + dc]
            counts = np.bincount(key[valid], minlength=n * levels * levels)
        out[..., o] = counts.reshape(n, levels, levels)
    if symmetric:
        out = out + out.transpose(0, 2, 1, 3)
    if normed:
        total = out.sum(axis=(1, 2), keepdims=True)
        out = out / np.where(total > 0, total, 1.0)
    return out


def glcm_props(P: np.ndarray) -> dict[str, np.ndarray]:
    """Haralick-style properties of normalised GLCMs P (N, L, L, O) -> {name: (N, O)}.

    contrast sum P (i-j)^2; dissimilarity sum P |i-j|; homogeneity sum P / (1 + (i-j)^2);
    energy sqrt(sum P^2); correlation sum P (i-mu_i)(j-mu_j) / (sigma_i sigma_j), defined as 1
    when a standard deviation vanishes (skimage.feature.graycoprops' conventions).
    """
    L = P.shape[1]
    i = np.arange(L, dtype=np.float64)[None, :, None, None]
    j = np.arange(L, dtype=np.float64)[None, None, :, None]
    diff = i - j
    mu_i = (P * i).sum(axis=(1, 2))
    mu_j = (P * j).sum(axis=(1, 2))
    di = i - mu_i[:, None, None, :]
    dj = j - mu_j[:, None, None, :]
    sd_i = np.sqrt((P * di**2).sum(axis=(1, 2)))
    sd_j = np.sqrt((P * dj**2).sum(axis=(1, 2)))
    cov = (P * di * dj).sum(axis=(1, 2))
    degenerate = (sd_i < 1e-15) | (sd_j < 1e-15)
    corr = np.where(degenerate, 1.0, cov / np.where(degenerate, 1.0, sd_i * sd_j))
    return {
        "contrast": (P * diff**2).sum(axis=(1, 2)),
        "dissimilarity": (P * np.abs(diff)).sum(axis=(1, 2)),
        "homogeneity": (P / (1.0 + diff**2)).sum(axis=(1, 2)),
        "energy": np.sqrt((P**2).sum(axis=(1, 2))),
        "correlation": corr,
    }


# ------------------------------------------------------------------------- gradient


def sobel_magnitude(x: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of each image in x (N, H, W), borders replicated.

    Built from 1-D passes along the two image axes only (scipy.ndimage.sobel would also
    smooth across the batch axis).
    """
    smooth, deriv = [1.0, 2.0, 1.0], [-1.0, 0.0, 1.0]
    def sep(v, deriv_axis, smooth_axis):
        v = ndimage.correlate1d(v, deriv, axis=deriv_axis, mode="nearest")
        return ndimage.correlate1d(v, smooth, axis=smooth_axis, mode="nearest")

    gx = sep(x, 2, 1)
    gy = sep(x, 1, 2)
    return np.hypot(gx, gy)


# ------------------------------------------------------------------------- shape


def _otsu_split(x: np.ndarray, nbins: int):
    """Per-image histogram bin of every pixel, the best split bin and the bin centres."""
    lo = x.min(axis=(1, 2))
    hi = x.max(axis=(1, 2))
    width = (hi - lo) / nbins
    everywhere = np.ones(x.shape, bool)
    u = _unit_range(x, everywhere, None)
    counts = _histogram(u, everywhere, nbins)
    centers = lo[:, None] + (np.arange(nbins)[None, :] + 0.5) * width[:, None]
    w0 = np.cumsum(counts, axis=1)
    w1 = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    m0 = np.cumsum(counts * centers, axis=1) / np.maximum(w0, 1e-300)
    m1 = (np.cumsum((counts * centers)[:, ::-1], axis=1) / np.maximum(w1[:, ::-1], 1e-300))[:, ::-1]
    # Split between bin k and k+1: class 0 = bins <= k, class 1 = bins > k.
    between = w0[:, :-1] * w1[:, 1:] * (m0[:, :-1] - m1[:, 1:]) ** 2
    best = np.argmax(between, axis=1)
    bin_of_pixel = np.minimum((u * nbins).astype(np.int64), nbins - 1)
    return bin_of_pixel, best, centers


def otsu_threshold(x: np.ndarray, nbins: int = 256) -> np.ndarray:
    """Otsu's threshold of each image in x (N, H, W) -> (N,), like skimage's threshold_otsu.

    The histogram has ``nbins`` bins over each image's range; the threshold is the centre of
    the last bin of the darker class, for the split that maximises the between-class variance
    w0 w1 (mu0 - mu1)^2.
    """
    _, best, centers = _otsu_split(x, nbins)
    return centers[np.arange(x.shape[0]), best]


def otsu_mask(x: np.ndarray, nbins: int = 256) -> np.ndarray:
    """Foreground (N, H, W) bool of Otsu's split: the pixels in the brighter class's bins.

    Unlike ``x > otsu_threshold(x)``, pixels of the threshold's own bin that lie above its
    centre stay in the background, so noise in a dark background does not leak into the mask.
    A constant image has no foreground.
    """
    bin_of_pixel, best, _ = _otsu_split(x, nbins)
    return bin_of_pixel > best[:, None, None]


def crofton_perimeter(mask: np.ndarray) -> np.ndarray:
    """Perimeter of binary masks (N, H, W) -> (N,) by the Cauchy-Crofton formula.

    The perimeter of a planar set equals (1/2) x the integral, over all lines, of the number of
    times a line crosses its boundary. Discretised with lines through pixel centres in four
    directions (0 and 90 degrees, spacing 1; 45 and 135 degrees, spacing 1/sqrt 2), with
    N_d the number of in/out transitions along direction d (the mask padded with background):
        P = (pi / 8) (N_0 + N_90 + (N_45 + N_135) / sqrt 2)
    This is unbiased for randomly oriented boundaries, so a digital disc of radius r gives
    close to 2 pi r, where counting pixel edges would give 8r. An axis-aligned s x s square
    gives (pi / 8)(4s + 4(2s - 1)/sqrt 2), about 5 % short of 4s.
    (Serra, Image Analysis and Mathematical Morphology, 1982; Lehmann & Legland, Insight
    Journal, 2012.)
    """
    m = np.pad(np.asarray(mask, bool), ((0, 0), (1, 1), (1, 1)))
    axes = (1, 2)
    n0 = (m[:, :, 1:] != m[:, :, :-1]).sum(axis=axes)
    n90 = (m[:, 1:, :] != m[:, :-1, :]).sum(axis=axes)
    n45 = (m[:, 1:, 1:] != m[:, :-1, :-1]).sum(axis=axes)
    n135 = (m[:, 1:, :-1] != m[:, :-1, 1:]).sum(axis=axes)
    return (np.pi / 8.0) * (n0 + n90 + (n45 + n135) / np.sqrt(2.0))


def shape_features(mask: np.ndarray) -> dict[str, np.ndarray]:
    """Area, perimeter, circularity and eccentricity of binary masks (N, H, W) -> {name: (N,)}.

    area: number of pixels; perimeter: Crofton estimate (crofton_perimeter); circularity:
    4 pi area / perimeter^2 (about 1 for a disc, lower for elongated or ragged shapes; unreliable
    for objects of a few pixels); eccentricity: sqrt(1 - l2/l1) from the eigenvalues l1 >= l2
    of the covariance of the pixel coordinates (0 for a disc or square, -> 1 for a line; as
    skimage's regionprops).
    An empty mask gets 0 for everything.
    """
    perimeter = crofton_perimeter(mask)
    w = np.asarray(mask, bool).astype(np.float64)
    n_pix = w.sum(axis=(1, 2))
    area = n_pix
    safe_p = np.where(perimeter > 0, perimeter, 1.0)
    circularity = np.where(perimeter > 0, 4.0 * np.pi * area / safe_p**2, 0.0)
    rows = np.arange(w.shape[1], dtype=np.float64)[None, :, None]
    cols = np.arange(w.shape[2], dtype=np.float64)[None, None, :]
    safe_n = np.maximum(n_pix, 1.0)
    r_mean = (w * rows).sum(axis=(1, 2)) / safe_n
    c_mean = (w * cols).sum(axis=(1, 2)) / safe_n
    dr = rows - r_mean[:, None, None]
    dc = cols - c_mean[:, None, None]
    a = (w * dr**2).sum(axis=(1, 2)) / safe_n
    c = (w * dc**2).sum(axis=(1, 2)) / safe_n
    b = (w * dr * dc).sum(axis=(1, 2)) / safe_n
    # Eigenvalues of the 2x2 covariance [[a, b], [b, c]] in closed form.
    root = np.sqrt(((a - c) / 2.0) ** 2 + b**2)
    l1 = (a + c) / 2.0 + root
    l2 = (a + c) / 2.0 - root
    ecc = np.where(l1 > 0, np.sqrt(np.clip(1.0 - l2 / np.maximum(l1, 1e-300), 0.0, 1.0)), 0.0)
    return {"area": area, "perimeter": perimeter, "circularity": circularity, "eccentricity": ecc}


# ------------------------------------------------------------------------- the extractor


def _check_inputs(images, masks):
    x = asnumpy(images)
    if x.ndim != 4:
        raise ValueError(f"extract_features: images must be (N, C, H, W), got shape {x.shape}")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"extract_features: images must be numeric, got dtype {x.dtype}")
    if min(x.shape) == 0:
        raise ValueError(f"extract_features: images has an empty dimension, shape {x.shape}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("extract_features: images contain NaN or infinite values")
    if masks is None:
        return x, None
    m = asnumpy(masks)
    if m.ndim == 4 and m.shape[1] == 1:
        m = m[:, 0]
    n, _, h, w = x.shape
    if m.shape != (n, h, w):
        raise ValueError(f"extract_features: masks must be (N, H, W) or (N, 1, H, W) = ({n}, {h}, {w}), "
                         f"got {asnumpy(masks).shape}")
    if m.dtype.kind != "b" and not np.isin(m, (0, 1)).all():
        raise ValueError("extract_features: masks must be binary (bool or 0/1)")
    m = m.astype(bool)
    empty = np.flatnonzero(~m.any(axis=(1, 2)))
    if empty.size:
        raise ValueError(f"extract_features: masks of images {empty[:10].tolist()} are empty; "
                         f"intensity and texture features need a non-empty ROI")
    return x, m


def extract_features(images, masks=None, *, levels: int = 16, distances=(1, 2), bins: int = 32,
                     value_range: tuple[float, float] | None = None) -> tuple[np.ndarray, list[str]]:
    """Radiomics-style features of a batch of images (see the module docstring for the list).

    images: (N, C, H, W) numeric (any device; copied to the host). masks: optional (N, H, W) or
    (N, 1, H, W) binary ROIs, non-empty, shared by all channels.
    levels: GLCM grey levels; distances: GLCM pixel distances; bins: entropy histogram bins;
    value_range: fixed (lo, hi) intensity range for quantisation (default: per image ROI range).
    Returns (features (N, F) float32, names: F strings).
    """
    if levels < 2 or bins < 2:
        raise ValueError(f"extract_features: levels and bins must be >= 2, got {levels}, {bins}")
    if value_range is not None and not value_range[1] > value_range[0]:
        raise ValueError(f"extract_features: value_range must be (lo, hi) with hi > lo, got {value_range!r}")
    x, m = _check_inputs(images, masks)
    n, n_ch = x.shape[:2]
    roi = np.ones((n, x.shape[2], x.shape[3]), bool) if m is None else m
    w = roi.astype(np.float64)
    offsets = glcm_offsets(distances, ANGLES)

    columns: list[np.ndarray] = []
    names: list[str] = []
    for c in range(n_ch):  # a few channels; everything inside is vectorised over the batch
        prefix = f"c{c}_" if n_ch > 1 else ""
        xc = x[:, c]
        mean, std, skew, kurt = _masked_moments(xc, w)
        vmin = np.where(roi, xc, np.inf).min(axis=(1, 2))
        vmax = np.where(roi, xc, -np.inf).max(axis=(1, 2))
        pct = masked_percentiles(xc, roi, _PERCENTILES)
        u = _unit_range(xc, roi, value_range)
        entropy = histogram_entropy(u, roi, bins)
        columns += [mean, std, skew, kurt, vmin, vmax, *pct.T, entropy]
        names += [f"{prefix}intensity_{k}" for k in _INTENSITY]

        q = np.minimum((u * levels).astype(np.int64), levels - 1)
        props = glcm_props(glcm(q, levels, offsets, roi=m))
        for di, d in enumerate(distances):
            sl = slice(di * len(ANGLES), (di + 1) * len(ANGLES))
            for p in GLCM_PROPS:
                columns.append(props[p][:, sl].mean(axis=1))
                names.append(f"{prefix}glcm_{p}_d{d}")

        g = sobel_magnitude(xc)
        g_mean, g_std, _, _ = _masked_moments(g, w)
        g_p90 = masked_percentiles(g, roi, (90.0,))[:, 0]
        columns += [g_mean, g_std, g_p90]
        names += [f"{prefix}gradient_{k}" for k in ("mean", "std", "p90")]

    if m is None:
        shape_mask = otsu_mask(x.mean(axis=1))
    else:
        shape_mask = m
    for k, v in shape_features(shape_mask).items():
        columns.append(v)
        names.append(f"shape_{k}")
    return np.stack(columns, axis=1).astype(np.float32), names
