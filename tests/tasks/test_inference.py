"""Sliding-window inference and patch sampling."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.inference import PatchLoader, PatchSampler, gaussian_importance, sliding_window_inference, window_starts


def test_window_starts_cover_the_image_with_the_overlap():
    assert window_starts(512, 128, 0.5) == [0, 64, 128, 192, 256, 320, 384]
    assert window_starts(30, 16, 0.5) == [0, 8, 14]  # the last window flush with the edge
    assert window_starts(10, 16, 0.5) == [0]
    for size, patch, overlap in [(100, 32, 0.25), (77, 20, 0.0), (64, 64, 0.5)]:
        s = window_starts(size, patch, overlap)
        covered = np.zeros(size, bool)
        for a in s:
            covered[a:a + patch] = True
        assert covered.all() and s[-1] + patch == size


def test_gaussian_importance_is_centred_and_separable():
    g = gaussian_importance((9, 16), sigma_scale=0.5)  # wide: no value reaches the floor
    assert g.max() == pytest.approx(1.0) and g[4, 7] == g[4, 8] == g.max()  # even size: centre between 7, 8
    np.testing.assert_allclose(g, np.outer(g[:, 7], g[4]), rtol=1e-5)
    x = np.arange(16) - 7.5
    np.testing.assert_allclose(g[4], np.exp(-0.5 * (x / 8.0) ** 2) / np.exp(-0.5 * (0.5 / 8.0) ** 2), rtol=1e-5)
    narrow = gaussian_importance((9, 16), sigma_scale=0.125)
    assert narrow.min() == pytest.approx(1e-3)  # the floor: no voxel has weight 0


@pytest.mark.parametrize("mode", ["gaussian", "constant"])
def test_sliding_window_reproduces_a_pointwise_function_exactly(mode):
    rng = np.random.default_rng(0)
    image = rng.random((2, 37, 50)).astype(np.float32)

    def predict(batch):  # a per-voxel function: any blending of its windows gives it back
        return np.stack([batch[:, 0] * 2 - batch[:, 1], batch[:, 1] ** 2], axis=1)

    out = sliding_window_inference(predict, image, (16, 16), 2, overlap=0.5, mode=mode, batch_size=3)
    np.testing.assert_allclose(out, predict(image[None])[0], rtol=1e-5, atol=1e-6)


def test_sliding_window_weights_windows_by_the_gaussian():
    # a predictor that answers the window's index: the blend at a voxel is the weighted mean of the indices
    image = np.zeros((1, 24), np.float32)
    calls = []

    def predict(batch):
        calls.append(len(batch))
        start = len(sum(([0] * c for c in calls[:-1]), []))
        return np.stack([np.full((1, 16), float(start + i), np.float32) for i in range(len(batch))])

    out = sliding_window_inference(predict, image, (16,), 1, overlap=0.5, mode="gaussian", batch_size=1)
    g = gaussian_importance((16,))
    # windows start at 0 and 8; voxel 10 is at offset 10 in window 0 and 2 in window 1
    expected = (0 * g[10] + 1 * g[2]) / (g[10] + g[2])
    assert out[0, 10] == pytest.approx(expected, rel=1e-5)
    assert out[0, 3] == 0.0 and out[0, 20] == 1.0


def test_sliding_window_pads_small_images_and_volumes():
    image = np.random.default_rng(1).random((1, 5, 7, 3)).astype(np.float32)
    out = sliding_window_inference(lambda b: b * 3, image, (8, 8, 8), 1)
    np.testing.assert_allclose(out, image * 3, rtol=1e-6)
    with pytest.raises(ValueError, match="patch_size"):
        sliding_window_inference(lambda b: b, image, (8, 8), 1)


def test_patches_come_from_the_images_and_foreground_sampling_finds_small_structures():
    rng = np.random.default_rng(0)
    images = rng.random((4, 2, 40, 48)).astype(np.float32)
    labels = np.zeros((4, 40, 48), np.int64)
    labels[:, 30:33, 5:8] = 1  # a tiny structure: 9 of 1920 voxels
    sampler = PatchSampler(list(images), list(labels), (8, 8), foreground_fraction=0.0)
    x, y = sampler.sample(200, np.random.default_rng(1))
    assert x.shape == (200, 2, 8, 8) and y.shape == (200, 8, 8)
    # every patch is a real window of one image, channels and labels aligned
    for xi, yi in zip(x[:20], y[:20]):
        hits = [(n, a, b) for n in range(4) for a in range(33) for b in range(41)
                if np.array_equal(images[n, :, a:a + 8, b:b + 8], xi)]
        assert len(hits) == 1
        n, a, b = hits[0]
        assert np.array_equal(labels[n, a:a + 8, b:b + 8], yi)
    uniform = (y.reshape(200, -1) > 0).any(1).mean()
    biased = PatchSampler(list(images), list(labels), (8, 8), foreground_fraction=1.0)
    _, yb = biased.sample(200, np.random.default_rng(1))
    assert (yb.reshape(200, -1) > 0).any(1).all()  # every patch contains foreground
    assert uniform < 0.2


def test_patch_sampler_with_mixed_sizes_and_padding():
    rng = np.random.default_rng(0)
    images = [rng.random((1, 20, 30)).astype(np.float32), rng.random((1, 6, 40)).astype(np.float32)]
    labels = [np.ones((20, 30), np.int64), np.ones((6, 40), np.int64)]
    x, y = PatchSampler(images, labels, (8, 8)).sample(10, rng)
    assert x.shape == (10, 1, 8, 8) and y.shape == (10, 8, 8)


def test_patch_loader_is_reproducible_and_resumable():
    rng = np.random.default_rng(0)
    sampler = PatchSampler(list(rng.random((3, 1, 16, 16)).astype(np.float32)),
                           list((rng.random((3, 16, 16)) > 0.5).astype(np.int64)), (8, 8))
    a = PatchLoader(sampler, 4, 3, seed=5)
    first = [x for x, _ in a]
    second = [x for x, _ in a]
    assert len(first) == 3 and not np.array_equal(first[0], second[0])  # a new epoch, new patches
    b = PatchLoader(sampler, 4, 3, seed=5)
    b.load_state_dict({"seed": 5, "epoch": 1})
    assert all(np.array_equal(u, v) for u, v in zip(second, [x for x, _ in b]))
