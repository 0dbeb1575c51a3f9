"""fastMRI metrics: NMSE, and PSNR/SSIM with the data range taken from the target case."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.metrics.reconstruction import case_metrics, nmse


def test_nmse_values():
    x = np.array([3.0, 4.0])
    assert nmse(x, x) == 0.0
    assert nmse(x, np.zeros(2)) == 1.0
    assert nmse(x, np.array([3.0, 5.0])) == pytest.approx(1 / 25)
    with pytest.raises(ValueError, match="all zeros"):
        nmse(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="differ in shape"):
        nmse(np.zeros(3), np.ones(4))


def test_case_metrics_use_each_targets_maximum_like_fastmri():
    skm = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(0)
    targets = rng.random((3, 4, 24, 24)) * np.array([1.0, 2.0, 5.0])[:, None, None, None]  # cases of different scale
    preds = targets + 0.05 * rng.standard_normal(targets.shape)
    m = case_metrics(targets, preds)
    for i in range(3):
        rng_i = targets[i].max()
        assert m["psnr"][i] == pytest.approx(skm.peak_signal_noise_ratio(targets[i], preds[i], data_range=rng_i))
        # fastMRI: the mean over the volume's slices of 2-D SSIM, data range = the volume maximum
        ref = np.mean([skm.structural_similarity(t, p, data_range=rng_i) for t, p in zip(targets[i], preds[i])])
        assert m["ssim"][i] == pytest.approx(ref, rel=1e-6)
    # the same absolute error matters less on a brighter case
    assert m["psnr"][2] > m["psnr"][0] + 10
