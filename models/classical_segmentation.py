"""Classical segmentation baselines: Otsu thresholding with morphological clean-up, and a
nearest-class-mean intensity classifier for label maps. Every segmentation table has this floor.

Otsu (IEEE Trans. SMC 9, 1979) picks the grey level t that maximises the between-class variance of
the two groups it separates, over the image's histogram (bin centres v_i, probabilities p_i):

    w0(t) = sum_{i<=t} p_i,  mu0(t) = sum_{i<=t} p_i v_i / w0,   (w1, mu1 likewise above t)
    t* = argmax_t  w0(t) w1(t) (mu0(t) - mu1(t))^2

computed for every t at once with cumulative sums. The binary baseline (``otsu_segment``) needs no
training data: Gaussian smoothing, Otsu's threshold, the smaller side as foreground (structures are
usually smaller than the background; or ``polarity`` says which side), a binary opening to remove
specks, hole filling, and optionally the largest connected component only (one lesion per image).

For label maps with several classes, thresholding alone cannot name the classes; the multi-class
floor (``NearestMeanSegmenter``) learns one mean intensity vector per class from the training
images and labels each (smoothed) voxel with the nearest class mean: K numbers per channel, no
spatial context. Its gap to a network is what spatial context and learned features add.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def otsu_threshold(values, bins: int = 256) -> float:
    """Otsu's threshold of an array of grey values (any shape): voxels > t form the upper class.

    Agrees with skimage.filters.threshold_otsu up to the histogram's bin width.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise ValueError("otsu_threshold: empty input")
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        return lo
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    centres = 0.5 * (edges[:-1] + edges[1:])
    p = counts / counts.sum()
    w0 = np.cumsum(p)
    w1 = 1.0 - w0
    m0 = np.cumsum(p * centres)
    mu0 = m0 / np.maximum(w0, 1e-300)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1e-300)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(centres[int(np.argmax(between[:-1]))])


def largest_component(mask) -> np.ndarray:
    """The largest face-connected component of a binary mask (2-D or 3-D); empty stays empty."""
    mask = np.asarray(mask, dtype=bool)
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.reshape(-1))[1:]
    return labels == (1 + int(np.argmax(sizes)))


def largest_component_per_class(labels, num_classes: int) -> np.ndarray:
    """Keep, for each foreground class of a label map, only its largest component (the rest -> 0)."""
    labels = np.asarray(labels)
    out = np.zeros_like(labels)
    for c in range(1, num_classes):  # a loop over classes; each step is vectorised over voxels
        out[largest_component(labels == c)] = c
    return out


def _grey(image) -> np.ndarray:
    """(C, *S) -> (*S) mean over channels; (*S) unchanged."""
    image = np.asarray(image, dtype=np.float64)
    return image.mean(0) if image.ndim >= 3 and image.shape[0] <= 4 else image


def otsu_segment(image, polarity: str = "auto", smooth: float = 1.0, opening: int = 1, fill_holes: bool = True,
                 keep_largest: bool = True) -> np.ndarray:
    """Binary mask of one image (C, *S) or (*S) by Otsu thresholding and morphology (module doc).

    polarity: 'bright' (foreground above the threshold), 'dark', or 'auto' (the smaller side).
    smooth: Gaussian sigma in voxels before thresholding (0: none). opening: radius (voxels) of the
    binary opening. keep_largest: keep only the largest connected component.
    """
    if polarity not in ("auto", "bright", "dark"):
        raise ValueError(f"otsu_segment: polarity must be 'auto', 'bright' or 'dark', got {polarity!r}")
    g = _grey(image)
    if smooth > 0:
        g = ndimage.gaussian_filter(g, smooth)
    t = otsu_threshold(g)
    above = g > t
    if polarity == "dark" or (polarity == "auto" and above.mean() > 0.5):
        above = ~above
    structure = ndimage.generate_binary_structure(g.ndim, 1)
    if opening > 0:
        above = ndimage.binary_opening(above, structure=structure, iterations=opening)
    if fill_holes:
        above = ndimage.binary_fill_holes(above)
    if keep_largest:
        above = largest_component(above)
    return above


class NearestMeanSegmenter:
    """Label each voxel with the class whose mean (smoothed) intensity vector is nearest.

    fit(images, labels): images (N, C, *S) float, labels (N, *S) int -> one mean per class and channel.
    predict(images) -> (N, *S) int64. Classes absent from the training labels are never predicted.
    """

    def __init__(self, num_classes: int, smooth: float = 1.0):
        self.num_classes, self.smooth = int(num_classes), float(smooth)
        self.means = None

    def _features(self, images) -> np.ndarray:
        x = np.asarray(images, dtype=np.float64)
        if self.smooth > 0:
            x = ndimage.gaussian_filter(x, [0, 0] + [self.smooth] * (x.ndim - 2))
        return x

    def fit(self, images, labels) -> NearestMeanSegmenter:
        """images: (N, C, *S) array or a list of (C, *S_i) arrays; labels: (N, *S) or a list of (*S_i)."""
        k = self.num_classes
        counts = np.zeros(k)
        sums = None
        for im, lab in zip(images, labels):  # a loop over cases (sizes may differ), vectorised inside
            x = self._features(np.asarray(im)[None])[0]
            flat = np.asarray(lab).reshape(-1)
            if flat.size and (flat.min() < 0 or flat.max() >= k):
                raise ValueError(f"NearestMeanSegmenter.fit: labels in [{flat.min()}, {flat.max()}] outside [0, {k})")
            chans = x.reshape(x.shape[0], -1)  # (C, voxels)
            if sums is None:
                sums = np.zeros((k, x.shape[0]))
            counts += np.bincount(flat, minlength=k)
            sums += np.stack([np.bincount(flat, weights=ch, minlength=k) for ch in chans], axis=1)
        if sums is None:
            raise ValueError("NearestMeanSegmenter.fit: no training images")
        means = sums / np.maximum(counts, 1)[:, None]
        means[counts == 0] = np.inf  # never the nearest
        self.means = means
        return self

    def predict(self, images) -> np.ndarray:
        if self.means is None:
            raise RuntimeError("NearestMeanSegmenter.predict: call fit first")
        x = np.moveaxis(self._features(images), 1, -1)  # (N, *S, C)
        d = ((x[..., None, :] - self.means) ** 2).sum(-1)  # (N, *S, K)
        d = np.where(np.isfinite(d), d, np.inf)
        return d.argmin(-1).astype(np.int64)


def slic(image: np.ndarray, n_segments: int = 25, compactness: float = 0.1, iterations: int = 10) -> np.ndarray:
    """Superpixels of one image (C, H, W) by SLIC (Achanta et al., IEEE TPAMI 34(11), 2012): k-means on
    (intensity, position) with centres on a grid of step S = sqrt(HW / n_segments) and each pixel compared
    only with centres within 2S. Distance: sqrt(d_intensity^2 + (compactness * d_space / S)^2), intensities
    as given (for images in [0, 1], compactness ~0.1 balances the two). Returns (H, W) labels 0..K-1;
    a segment split in pieces by the assignment becomes several segments (connected components)."""
    from scipy import ndimage

    c, h, w = image.shape
    step = max(1.0, np.sqrt(h * w / n_segments))
    gy, gx = np.meshgrid(np.arange(step / 2, h, step), np.arange(step / 2, w, step), indexing="ij")
    centres_pos = np.stack([gy.ravel(), gx.ravel()], 1)  # (K, 2)
    rows, cols = np.mgrid[:h, :w]
    pos = np.stack([rows.ravel(), cols.ravel()], 1).astype(np.float64)  # (P, 2)
    values = image.reshape(c, -1).T.astype(np.float64)  # (P, C)
    centres_val = values[(np.round(centres_pos[:, 0]).astype(int).clip(0, h - 1) * w
                          + np.round(centres_pos[:, 1]).astype(int).clip(0, w - 1))]
    for _ in range(iterations):
        d_space = np.abs(pos[:, None, :] - centres_pos[None, :, :])  # (P, K, 2)
        near = (d_space <= 2 * step).all(-1)
        dist = ((values[:, None, :] - centres_val[None]) ** 2).sum(-1) + \
            (compactness / step) ** 2 * (d_space ** 2).sum(-1)
        labels = np.where(near, dist, np.inf).argmin(1)
        counts = np.bincount(labels, minlength=len(centres_pos))
        keep = counts > 0
        sums_pos = np.stack([np.bincount(labels, pos[:, a], len(centres_pos)) for a in range(2)], 1)
        sums_val = np.stack([np.bincount(labels, values[:, a], len(centres_pos)) for a in range(c)], 1)
        centres_pos = sums_pos[keep] / counts[keep, None]
        centres_val = sums_val[keep] / counts[keep, None]
    out = np.zeros(h * w, dtype=np.int64)
    next_label = 0
    for k in np.unique(labels):  # split disconnected pieces: one component each
        pieces, n = ndimage.label((labels == k).reshape(h, w))
        out[pieces.ravel() > 0] = pieces.ravel()[pieces.ravel() > 0] - 1 + next_label
        next_label += n
    return out.reshape(h, w)
