"""fastMRI's reconstruction metrics per case: NMSE, PSNR and SSIM with data range = max of the target.

Zbontar et al., "fastMRI: An Open Dataset and Benchmarks for Accelerated MRI" (arXiv:1811.08839):

    NMSE(x, y) = ||y - x||^2 / ||x||^2                   (x the target volume, y the reconstruction)
    PSNR(x, y) = 10 log10(max(x)^2 / MSE(x, y))
    SSIM(x, y) = mean over the volume's slices of SSIM(slice), data_range = max(x) of the whole volume

computed on magnitude images. A case is a volume: here one 2-D image, or one cine sequence (frames
are its slices). The data range comes from the target alone, so a reconstruction cannot change it.
"""

from __future__ import annotations

import numpy as np

from tasks.metrics.image_quality import psnr, ssim


def nmse(target, prediction) -> float:
    """||target - prediction||^2 / ||target||^2 (0 is perfect; 1 is as large an error as the target itself)."""
    x = np.asarray(target, dtype=np.float64)
    y = np.asarray(prediction, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"nmse: target {x.shape} and prediction {y.shape} differ in shape")
    denom = float(np.sum(x * x))
    if denom == 0:
        raise ValueError("nmse: the target is all zeros")
    return float(np.sum((x - y) ** 2) / denom)


def case_metrics(targets, predictions) -> dict:
    """Per-case NMSE, PSNR, SSIM for magnitude cases (N, H, W) or (N, T, H, W): {name: (N,) array}."""
    targets, predictions = np.asarray(targets), np.asarray(predictions)
    if targets.shape != predictions.shape or targets.ndim not in (3, 4):
        raise ValueError(f"case_metrics: expected equal shapes (N, H, W) or (N, T, H, W), got {targets.shape} and "
                         f"{predictions.shape}")
    out = {"nmse": [], "psnr": [], "ssim": []}
    for x, y in zip(targets, predictions):  # a loop over cases: each has its own data range
        rng = float(x.max())
        out["nmse"].append(nmse(x, y))
        out["psnr"].append(psnr(x, y, data_range=rng))
        out["ssim"].append(ssim(x, y, data_range=rng))
    return {k: np.asarray(v) for k, v in out.items()}
