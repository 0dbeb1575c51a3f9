"""OCT-like retinal B-scans: smooth layered retina, foveal pit, speckle, exact layer boundaries.

A B-scan is an image (depth z along rows, lateral position x along columns). The retina is a stack
of layers between boundary curves z_0(x) < z_1(x) < ... < z_{B-1}(x) (row coordinates, pixels):

    ILM | NFL | GCL+IPL | INL | OPL | ONL | ellipsoid zone | RPE | Bruch's membrane -> choroid

Model: Bruch's membrane z_{B-1}(x) = centre + curvature (x - W/2)^2 + a smooth random curve; each layer
above it has a thickness t_l(x) = mean_l (1 + 0.15 g_l(x)) (g_l a smooth random curve of unit std),
and the inner layers thin towards a foveal pit, t_l(x) *= 1 - depth_l exp(-(x - x_f)^2 / (2 w^2));
boundaries are cumulative sums upwards, so they never cross. Pixel (i, x) belongs to layer
label(i, x) = #{b : z_b(x) <= i} (0 = vitreous above the ILM, B = choroid below Bruch's membrane).

Intensity: per-layer reflectivity (hyper-reflective NFL, plexiform layers, ellipsoid zone and RPE;
hypo-reflective nuclear layers; dark vitreous) times an exponential decay with depth below the ILM
(attenuation; three times faster in the choroid), times multiplicative unit-mean Rayleigh speckle
(cine.rayleigh_speckle), plus a small additive noise floor, then log-compressed for display as OCT
scanners do. Layer naming follows the
consensus OCT nomenclature (Staurenghi et al., Ophthalmology 121:1572-1578, 2014).
"""

from __future__ import annotations

import numpy as np

from ._common import as_rng, check_float, check_int, check_shape, smooth_noise
from .cine import rayleigh_speckle

LAYERS = ("vitreous", "NFL", "GCL+IPL", "INL", "OPL", "ONL", "EZ", "RPE", "choroid")
"""Layer label values (index) of the B-scans, top to bottom."""

BOUNDARIES = ("ILM", "NFL/GCL", "IPL/INL", "INL/OPL", "OPL/ONL", "ELM", "EZ/RPE", "BM")
"""Boundary b separates LAYERS[b] (above) from LAYERS[b + 1] (below)."""

REFLECTIVITY = np.array([0.01, 0.8, 0.5, 0.22, 0.55, 0.18, 0.75, 1.0, 0.45], dtype=np.float32)

# mean thickness of NFL .. RPE as a fraction of the image height, and how much each thins at the fovea
_THICKNESS = np.array([0.035, 0.075, 0.04, 0.03, 0.08, 0.025, 0.03])
_FOVEA_DEPTH = np.array([0.95, 0.9, 0.8, 0.6, -0.3, 0.0, 0.0])  # negative: the ONL thickens


def make_oct_bscans(
    n_samples: int,
    shape: tuple[int, int] = (128, 128),
    speckle: bool = True,
    noise: float = 0.01,
    attenuation: float = 0.01,
    seed=0,
) -> dict:
    """Random retinal B-scans with their layer boundaries (module docstring).

    shape: (depth H, width W). Returns a dict:
      ``images``      (N, 1, H, W) float32 in [0, 1]: log-compressed when ``speckle`` is True; without
                      speckle and noise, exactly REFLECTIVITY[labels] * exp(-attenuation * (d_ILM + 3 d_BM)),
                      d_ILM and d_BM the depths (rows) below the ILM and Bruch's membrane (0 above),
      ``boundaries``  (N, B, W) float32 row position of each boundary (BOUNDARIES order), per column,
      ``labels``      (N, H, W) int64 layer index (LAYERS),
      ``fovea``       (N,) float32 column of the foveal pit centre.
    """
    fn = "make_oct_bscans"
    n = check_int(n_samples, "n_samples", fn)
    h, w = check_shape(shape, fn, ndims=(2,), minimum=16)
    noise = check_float(noise, "noise", fn, low=0.0)
    attenuation = check_float(attenuation, "attenuation", fn, low=0.0)
    rng = as_rng(seed, fn)
    x = np.arange(w, dtype=np.float64)

    n_layers = _THICKNESS.size
    fovea = rng.uniform(0.35, 0.65, n) * w
    pit_width = rng.uniform(0.06, 0.1, n) * w
    pit = np.exp(-((x[None, :] - fovea[:, None]) ** 2) / (2 * pit_width[:, None] ** 2))  # (N, W)
    variation = smooth_noise(rng, (n, n_layers, w), sigma=w / 10.0, axes_from=2)
    scale = rng.uniform(0.85, 1.15, (n, n_layers, 1))
    thickness = (
        _THICKNESS[None, :, None]
        * h
        * scale
        * (1.0 + 0.15 * variation)
        * (1.0 - _FOVEA_DEPTH[None, :, None] * pit[:, None, :])
    )
    thickness = np.maximum(thickness, 0.2)  # layers never vanish completely or invert

    centre = rng.uniform(0.6, 0.7, n) * h
    curvature = rng.uniform(-0.3, 0.6, n) * h / w**2  # mostly concave (the eye's curvature)
    wobble = 0.02 * h * smooth_noise(rng, (n, w), sigma=w / 6.0, axes_from=1)
    bruch = centre[:, None] + curvature[:, None] * (x[None, :] - w / 2.0) ** 2 + wobble  # (N, W)
    above = np.cumsum(thickness[:, ::-1], axis=1)[:, ::-1]  # distance of each upper boundary above BM
    boundaries = np.concatenate([bruch[:, None, :] - above, bruch[:, None, :]], axis=1)  # (N, B, W)
    boundaries = boundaries.astype(np.float32)  # the stored ground truth defines the labels exactly

    rows = np.arange(h, dtype=np.float64)[None, :, None]
    labels = (boundaries[:, :, None, :] <= rows[:, None]).sum(axis=1)  # (N, H, W)
    depth = np.maximum(rows - boundaries[:, :1, :], 0.0)  # below the ILM
    choroid_depth = np.maximum(rows - boundaries[:, -1:, :], 0.0)  # below Bruch's membrane
    clean = REFLECTIVITY[labels] * np.exp(-attenuation * depth - 3.0 * attenuation * choroid_depth)
    if speckle:
        image = clean * rayleigh_speckle(rng, clean.shape, psf_sigma=(0.6, 1.2), correlation=0.0)
        image = image + noise * np.abs(rng.standard_normal(image.shape))
        image = np.log1p(20.0 * image) / np.log1p(20.0 * 3.0)  # log compression, 3x speckle peak -> 1
    else:
        image = clean + noise * rng.standard_normal(clean.shape) if noise > 0 else clean
    return {
        "images": np.clip(image, 0.0, 1.0).astype(np.float32)[:, None],
        "boundaries": boundaries,
        "labels": labels.astype(np.int64),
        "fovea": fovea.astype(np.float32),
    }
