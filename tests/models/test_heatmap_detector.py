"""The centre-heatmap detector: shapes in 1D/2D/3D, Gaussian targets, NMS by max pooling against a
loop reference, gradients through the whole network, and a tiny training run that learns to find blobs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import engine
from engine.nn.functional.detection_loss import heatmap_focal_loss
from models.heatmap_detector import HeatmapDetector, gaussian_heatmap, heatmap_peaks


@pytest.mark.parametrize("dims,shape", [(1, (64,)), (2, (16, 12)), (3, (8, 8, 4))])
def test_shapes(dims, shape):
    net = HeatmapDetector(in_channels=2, dims=dims, width=4, depth=2, size_head=True)
    out = net(engine.randn(3, 2, *shape))
    assert out.shape == (3, 2, *shape)  # centre logits and radius
    # the prior bias: an untrained network says "no centre" almost everywhere
    assert HeatmapDetector(dims=dims, width=4).heatmap.bias.data[0] == pytest.approx(np.log(0.01 / 0.99))


def test_input_errors():
    net = HeatmapDetector(dims=2, width=4, depth=2)
    with pytest.raises(ValueError, match="divisible"):
        net(engine.randn(1, 1, 10, 12))
    with pytest.raises(ValueError, match="2D model"):
        net(engine.randn(1, 1, 8, 8, 8))
    with pytest.raises(ValueError, match="dims"):
        HeatmapDetector(dims=4)


def test_gaussian_heatmap():
    hm = gaussian_heatmap((20, 30), [[5.3, 7.0], [15.0, 25.0]], sigmas=[2.0, 1.0], batch_index=[0, 1])
    assert hm.shape == (2, 1, 20, 30) and hm.dtype == np.float32
    assert hm[0, 0, 5, 7] == 1.0 and hm[1, 0, 15, 25] == 1.0
    assert (hm == 1).sum() == 2
    assert hm[1, 0, 16, 25] == pytest.approx(np.exp(-0.5))  # one sigma away
    assert hm[0, 0, 5, 9] == pytest.approx(np.exp(-(0.3**2 + 4) / 8), rel=1e-6)
    assert hm[0, 0, 15, 25] == 0.0  # each centre only in its own image


def naive_peaks(h, k, thr):
    """Loop reference: a location is a peak when no neighbour within the window is larger."""
    out = []
    for idx in np.ndindex(h.shape):
        b, c, *pos = idx
        sl = tuple(slice(max(p - k // 2, 0), p + k // 2 + 1) for p in pos)
        if h[idx] >= thr and h[idx] >= h[(b, c, *sl)].max():
            out.append((b, *pos))
    return np.array(out).reshape(-1, 1 + h.ndim - 2)


@pytest.mark.parametrize("shape,k", [((2, 1, 40), 5), ((2, 1, 9, 11), 3), ((1, 1, 6, 7, 5), 3), ((2, 1, 12, 10), 5)])
def test_peaks_match_loop_reference(shape, k, device):
    h = np.random.default_rng(1).random(shape).astype(np.float32)
    b, coords, scores = heatmap_peaks(engine.tensor(h, device=device), kernel_size=k, threshold=0.3)
    ref = naive_peaks(h, k, 0.3)
    np.testing.assert_array_equal(np.c_[b, coords], ref)
    np.testing.assert_array_equal(scores, h[(ref[:, 0], 0, *ref[:, 1:].T)])
    # same as scipy's maximum filter (padding by -inf = mode 'constant' with -inf)
    mx = ndimage.maximum_filter(h, size=(1, 1) + (k,) * (h.ndim - 2), mode="constant", cval=-np.inf)
    assert len(ref) == ((h == mx) & (h >= 0.3)).sum()


def test_gradients_through_the_network():
    net = HeatmapDetector(dims=2, width=2, depth=1, size_head=False)
    x = np.random.default_rng(0).normal(size=(2, 1, 4, 4))
    engine.gradcheck_module(net, engine.tensor(x), mode="directional", atol=1e-4)


def test_learns_to_find_blobs():
    """A few seconds of training on bright discs: the peaks land on the discs, not elsewhere."""
    rng = np.random.default_rng(0)
    n, size = 24, 24
    yy, xx = np.mgrid[:size, :size]
    centres = rng.uniform(6, size - 7, (n, 2))
    img = 0.3 * rng.standard_normal((n, 1, size, size))
    img += 1.5 * ((yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2 < 9)[:, None]
    target = gaussian_heatmap((size, size), centres, 1.5, batch_index=np.arange(n), batch_size=n)
    engine.manual_seed(0)
    net = HeatmapDetector(dims=2, width=6, depth=1, prior=0.05)
    opt = engine.optim.Adam(net.parameters(), lr=3e-3)
    x = engine.tensor(img.astype(np.float32))
    for _ in range(40):
        loss = heatmap_focal_loss(net(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with engine.no_grad():
        prob = engine.nn.functional.sigmoid(net(x)).data
    b, coords, _ = heatmap_peaks(prob, kernel_size=7, threshold=0.3)
    found = np.linalg.norm(coords - centres[b], axis=1) <= 2.0
    assert found.mean() > 0.9 and len(np.unique(b[found])) >= 0.9 * n
