"""Lesions with an ordinal severity grade, and baseline/follow-up pairs with a treatment response.

Graded lesions. Grade 0 is a benign-looking lesion (smooth, round or oval); grades 1..K-1 are
malignant-looking with a boundary irregularity (lobulation and spiculation, see lesions.py) that
grows with the grade: irregularity = ``max_irregularity`` * g / (K - 1). Each lesion then draws its
own strength U(0.4, 1) times that value (lesions.lesion_shape_parameters), so neighbouring grades
overlap, as real gradings do, while distant ones do not. Size and contrast share one
distribution across grades: only the boundary carries the grade. A continuous target comes
with it: the lesion's equivalent radius, for regression.

Response pairs. A baseline image and a follow-up image of the same lesion (same shape
parameters, centre and texture seed): responders shrink by a factor U(0.75, 0.97) of the radius and
keep U(0.8, 1.0) of their contrast; non-responders change size by U(0.85, 1.1) and contrast by
U(0.9, 1.1). The ranges overlap, so no measurement separates the groups perfectly, and both images
get independent noise, so a model must compare the pair rather than read either image alone.
(RECIST 1.1 calls a >= 30% decrease of the longest diameter a partial response; Eisenhauer et
al., Eur. J. Cancer 45, 2009; the phantom's responders are milder on purpose.)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._common import as_rng, check_float, check_int, smooth_noise
from .lesions import lesion_shape_parameters, render_lesion_images, render_lesions


def make_graded_lesion_dataset(
    n_samples: int,
    n_grades: int = 4,
    image_size: int = 28,
    max_irregularity: float = 1.2,
    radius=(0.12, 0.22),
    noise: float = 0.06,
    seed=0,
) -> dict:
    """Lesion images with severity grades 0..n_grades-1 (module docstring).

    Returns ``images`` (N, 1, S, S) float32 in [0, 1], ``grades`` (N,) int64 (balanced: each grade
    within one sample of N / K, in random order), ``radii`` (N,) float32 equivalent radii in pixels,
    ``masks`` (N, S, S) bool and ``irregularity`` (N,) float32 (the drawn strength, 0 for grade 0).
    """
    fn = "make_graded_lesion_dataset"
    n = check_int(n_samples, "n_samples", fn)
    k = check_int(n_grades, "n_grades", fn, minimum=2)
    size = check_int(image_size, "image_size", fn, minimum=8)
    max_irregularity = check_float(max_irregularity, "max_irregularity", fn, low=0.0)
    rng = as_rng(seed, fn)
    grades = rng.permutation(np.arange(n) % k).astype(np.int64)
    radii = rng.uniform(radius[0], radius[1], n) * size
    images = np.empty((n, 1, size, size), dtype=np.float32)
    masks = np.empty((n, size, size), dtype=bool)
    irregularity = np.zeros(n, dtype=np.float32)
    for g in range(k):  # one rendering call per grade (K is small); each vectorised over its lesions
        idx = np.flatnonzero(grades == g)
        if idx.size == 0:
            continue
        strength = max_irregularity * g / (k - 1)
        labels = np.full(idx.size, int(g > 0))
        out = render_lesion_images(labels, radii[idx], size, 2, noise=noise, irregularity=max(strength, 1e-6),
                                   seed=rng)
        images[idx], masks[idx], irregularity[idx] = out["images"], out["masks"], out["irregularity"]
    return {"images": images, "grades": grades, "radii": radii.astype(np.float32), "masks": masks,
            "irregularity": irregularity}


def make_response_pairs(
    n_pairs: int,
    image_size: int = 32,
    responder_fraction: float = 0.5,
    noise: float = 0.05,
    seed=0,
) -> dict:
    """Baseline/follow-up lesion image pairs with a known response label (module docstring).

    Returns ``baseline`` and ``followup`` (N, 1, S, S) float32 in [0, 1], ``response`` (N,) int64
    (1 responder, 0 non-responder; round(N * responder_fraction) ones, in random order),
    ``radius_ratio`` and ``contrast_ratio`` (N,) float32 (follow-up / baseline), ``radii`` (N,) float32
    baseline equivalent radii in pixels.
    """
    fn = "make_response_pairs"
    n = check_int(n_pairs, "n_pairs", fn)
    size = check_int(image_size, "image_size", fn, minimum=16)
    frac = check_float(responder_fraction, "responder_fraction", fn, low=0.0, high=1.0)
    noise = check_float(noise, "noise", fn, low=0.0)
    rng = as_rng(seed, fn)
    response = rng.permutation(np.arange(n) < int(round(n * frac))).astype(np.int64)
    looks = rng.integers(0, 2, n)  # benign- or malignant-looking boundary, independent of the response
    params = lesion_shape_parameters(looks, 2, 1.0, seed=rng)
    radii = rng.uniform(0.14, 0.24, n) * size
    centres = (size - 1) / 2.0 + rng.uniform(-0.06, 0.06, (n, 2)) * size
    contrast = rng.uniform(0.3, 0.55, n)
    radius_ratio = np.where(response == 1, rng.uniform(0.75, 0.97, n), rng.uniform(0.85, 1.1, n))
    contrast_ratio = np.where(response == 1, rng.uniform(0.8, 1.0, n), rng.uniform(0.9, 1.1, n))
    background = rng.uniform(0.15, 0.3, n)
    texture = 0.05 * smooth_noise(rng, (n, size, size), sigma=2.0)  # the same anatomy at both visits
    inner = 1.0 + 0.15 * smooth_noise(rng, (n, size, size), sigma=1.5)

    def draw(r, c):
        profiles, _ = render_lesions((size, size), centres, r, params)
        img = background[:, None, None] + texture + c[:, None, None] * profiles * inner
        img = ndimage.gaussian_filter(img, [0.0, 0.6, 0.6], mode="nearest")
        return np.clip(img + noise * rng.standard_normal(img.shape), 0.0, 1.0).astype(np.float32)[:, None]

    return {
        "baseline": draw(radii, contrast),
        "followup": draw(radii * radius_ratio, contrast * contrast_ratio),
        "response": response,
        "radius_ratio": radius_ratio.astype(np.float32),
        "contrast_ratio": contrast_ratio.astype(np.float32),
        "radii": radii.astype(np.float32),
    }
