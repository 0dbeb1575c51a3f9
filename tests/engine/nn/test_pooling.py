"""Pooling: max (with PyTorch's indices), average, adaptive, max-unpooling; gradients, agreement
with PyTorch, tie and NaN rules, errors."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn as nn
import engine.nn.functional as F

RNG = np.random.default_rng(2)


def _ties(shape):
    """Values with many ties (small integers), so that the first-maximum rule is exercised."""
    return np.round(RNG.normal(size=shape) * 1.5)


# name: (engine module, torch module name, constructor args, input shape, values)
MAX_CASES = {
    "max1d": (nn.MaxPool1d, "MaxPool1d", dict(kernel_size=3, stride=2, padding=1), (2, 3, 9)),
    "max1d_dilated_ceil": (nn.MaxPool1d, "MaxPool1d", dict(kernel_size=2, stride=2, dilation=2, ceil_mode=True),
                           (1, 2, 8)),
    "max2d": (nn.MaxPool2d, "MaxPool2d", dict(kernel_size=2), (2, 3, 6, 7)),
    "max2d_overlap": (nn.MaxPool2d, "MaxPool2d", dict(kernel_size=3, stride=2, padding=1), (2, 2, 7, 8)),
    "max2d_rect": (nn.MaxPool2d, "MaxPool2d", dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0),
                                                   dilation=(2, 1)), (1, 2, 7, 6)),
    "max2d_ceil": (nn.MaxPool2d, "MaxPool2d", dict(kernel_size=3, stride=2, ceil_mode=True), (1, 2, 8, 7)),
    "max3d": (nn.MaxPool3d, "MaxPool3d", dict(kernel_size=(2, 3, 2), stride=(1, 2, 2), padding=(1, 1, 0)),
              (1, 2, 4, 5, 6)),
}
AVG_CASES = {
    "avg1d": (nn.AvgPool1d, "AvgPool1d", dict(kernel_size=4, stride=3, padding=2), (2, 3, 9)),
    "avg2d": (nn.AvgPool2d, "AvgPool2d", dict(kernel_size=2), (2, 3, 6, 7)),
    "avg2d_pad": (nn.AvgPool2d, "AvgPool2d", dict(kernel_size=3, stride=2, padding=1), (1, 2, 7, 8)),
    "avg2d_no_pad_count": (nn.AvgPool2d, "AvgPool2d", dict(kernel_size=3, stride=2, padding=1,
                                                           count_include_pad=False), (1, 2, 7, 8)),
    "avg2d_ceil": (nn.AvgPool2d, "AvgPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                   (1, 2, 8, 7)),
    "avg2d_divisor": (nn.AvgPool2d, "AvgPool2d", dict(kernel_size=2, divisor_override=3), (1, 2, 4, 5)),
    "avg3d": (nn.AvgPool3d, "AvgPool3d", dict(kernel_size=(2, 3, 2), stride=(1, 2, 2), padding=(1, 1, 0)),
              (1, 2, 4, 5, 6)),
}
ADAPTIVE_CASES = {
    "aavg1d": (nn.AdaptiveAvgPool1d, "AdaptiveAvgPool1d", dict(output_size=4), (2, 3, 10)),
    "aavg2d_divisible": (nn.AdaptiveAvgPool2d, "AdaptiveAvgPool2d", dict(output_size=(3, 2)), (2, 3, 6, 8)),
    "aavg2d_uneven": (nn.AdaptiveAvgPool2d, "AdaptiveAvgPool2d", dict(output_size=(3, 5)), (2, 3, 7, 8)),
    "aavg2d_global": (nn.AdaptiveAvgPool2d, "AdaptiveAvgPool2d", dict(output_size=1), (2, 3, 5, 4)),
    "aavg2d_upsampling": (nn.AdaptiveAvgPool2d, "AdaptiveAvgPool2d", dict(output_size=(5, 2)), (1, 2, 3, 4)),
    "aavg3d_none": (nn.AdaptiveAvgPool3d, "AdaptiveAvgPool3d", dict(output_size=(2, None, 3)), (1, 2, 5, 3, 7)),
    "amax1d": (nn.AdaptiveMaxPool1d, "AdaptiveMaxPool1d", dict(output_size=4), (2, 3, 9)),
    "amax2d_uneven": (nn.AdaptiveMaxPool2d, "AdaptiveMaxPool2d", dict(output_size=(3, 5)), (2, 3, 7, 8)),
    "amax2d_divisible": (nn.AdaptiveMaxPool2d, "AdaptiveMaxPool2d", dict(output_size=2), (1, 2, 6, 4)),
    "amax3d": (nn.AdaptiveMaxPool3d, "AdaptiveMaxPool3d", dict(output_size=(2, 4, 3)), (1, 2, 5, 6, 7)),
}
ALL_CASES = {**MAX_CASES, **AVG_CASES, **ADAPTIVE_CASES}


def _values(name, shape):
    return _ties(shape) if "max" in name else RNG.normal(size=shape)


@pytest.mark.parametrize("name", list(ALL_CASES))
def test_matches_pytorch_outputs_and_gradients(name, device, torch):
    ours_cls, theirs_name, kw, shape = ALL_CASES[name]
    x = _values(name, shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    xe = engine.tensor(x, device=device, requires_grad=True)
    yt, ye = getattr(torch.nn, theirs_name)(**kw)(xt), ours_cls(**kw)(xe)
    assert ye.shape == tuple(yt.shape) and ye.dtype == np.float32
    g = RNG.normal(size=ye.shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    ye.backward(engine.tensor(g, device=device))
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in ALL_CASES if "max" in n])
def test_return_indices_equal_pytorchs(name, device, torch):
    """Flat per-channel positions into the un-padded input; ties take the first maximum."""
    ours_cls, theirs_name, kw, shape = ALL_CASES[name]
    x = _ties(shape).astype(np.float32)
    _, it = getattr(torch.nn, theirs_name)(return_indices=True, **kw)(torch.tensor(x))
    y, ie = ours_cls(return_indices=True, **kw)(engine.tensor(x, device=device))
    assert ie.dtype == np.int64 and ie.device == device
    np.testing.assert_array_equal(ie.numpy(), it.numpy())


@pytest.mark.parametrize("name", list(ALL_CASES))
def test_gradients_match_finite_differences(name, device):
    ours_cls, _, kw, shape = ALL_CASES[name]
    # distinct values: central differences are only meaningful away from ties of the maximum
    x = RNG.permutation(np.prod(shape)).reshape(shape) * 0.1 if "max" in name else RNG.normal(size=shape)
    mode = "full" if x.size <= 100 else "directional"  # keeps the larger 3-D cases fast
    engine.gradcheck(ours_cls(**kw), [engine.tensor(x, device=device, requires_grad=True)], mode=mode)


def test_max_pool_gradient_goes_to_the_first_maximum_and_nan_propagates():
    x = engine.tensor([[[[1.0, 3.0], [3.0, 2.0]]]], requires_grad=True)
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    y.sum().backward()
    assert idx.item() == 1
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0, 1], [0, 0]]]])
    z = F.max_pool2d(engine.tensor([[[[1.0, np.nan], [3.0, 2.0]]]]), 2)
    assert np.isnan(z.item())


def test_max_pool_padding_is_never_chosen():
    x = engine.full((1, 1, 3, 3), -5.0)
    assert float(F.max_pool2d(x, 3, stride=1, padding=1).max()) == -5.0
    assert float(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False).min()) == -5.0


def test_max_unpool_places_values_at_the_pooled_positions_and_matches_pytorch(device, torch):
    x = RNG.normal(size=(2, 3, 7, 6)).astype(np.float32)
    yt, it = torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)
    yt.requires_grad_(True)
    ut = torch.nn.MaxUnpool2d(2)(yt, it, output_size=(7, 6))
    ye, ie = nn.MaxPool2d(2, return_indices=True)(engine.tensor(x, device=device))
    ye = ye.detach().requires_grad_()
    ue = nn.MaxUnpool2d(2)(ye, ie, output_size=(7, 6))
    assert ue.shape == (2, 3, 7, 6)
    np.testing.assert_array_equal(ue.detach().numpy(), ut.detach().numpy())
    g = RNG.normal(size=ue.shape).astype(np.float32)
    ut.backward(torch.tensor(g))
    ue.backward(engine.tensor(g, device=device))
    np.testing.assert_array_equal(ye.grad.numpy(), yt.grad.numpy())
    assert F.max_unpool2d(ye, ie, 2).shape == (2, 3, 6, 6)  # default size (in - 1) * stride + kernel


def test_max_unpool_gradient_and_functional_1d_3d(device):
    x = engine.tensor(RNG.permutation(2 * 2 * 8).reshape(2, 2, 8) * 1.0, device=device)
    y, idx = F.max_pool1d(x, 2, return_indices=True)
    engine.gradcheck(lambda v: F.max_unpool1d(v, idx, 2), [y.detach().double().requires_grad_()])
    v = engine.tensor(RNG.permutation(64).reshape(1, 1, 4, 4, 4) * 1.0, device=device)
    p, i3 = F.max_pool3d(v, 2, return_indices=True)
    u = F.max_unpool3d(p, i3, 2)
    np.testing.assert_array_equal(F.max_pool3d(u, 2).numpy(), p.numpy())


def test_adaptive_bins_follow_pytorchs_floor_ceil_rule():
    from engine.nn.functional.pooling import adaptive_bins

    assert adaptive_bins(7, 3) == [(0, 3), (2, 5), (4, 7)]
    assert adaptive_bins(8, 4) == [(0, 2), (2, 4), (4, 6), (6, 8)]
    assert adaptive_bins(3, 5) == [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]


# --- errors ---------------------------------------------------------------------------------------
def test_wrong_rank_names_the_layer_and_layout():
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=2.*expected a 4-D input of shape \(N, C, H, W\)"):
        nn.MaxPool2d(2)(engine.randn(3, 4, 4))
    with pytest.raises(ValueError, match=r"avg_pool3d: expected a 5-D input of shape \(N, C, D, H, W\)"):
        F.avg_pool3d(engine.randn(1, 2, 4, 4), 2)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool1d: expected a 3-D input"):
        F.adaptive_avg_pool1d(engine.randn(1, 2, 4, 4), 2)


def test_bad_pooling_arguments():
    x = engine.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="at most half of the"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"too small for kernel \(5, 5\).*output size would be \(0, 0\)"):
        F.max_pool2d(x, 5)
    with pytest.raises(ValueError, match="kernel_size must be positive"):
        F.avg_pool2d(x, 0)
    with pytest.raises(ValueError, match="output_size must be positive"):
        F.adaptive_avg_pool2d(x, (0, 2))
    with pytest.raises(ValueError, match="indices shape"):
        F.max_unpool2d(engine.randn(1, 1, 2, 2), engine.zeros(1, 1, 3, 3, dtype=engine.int64), 2)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 16\)"):
        F.max_unpool2d(engine.randn(1, 1, 2, 2), engine.full((1, 1, 2, 2), 20, dtype=engine.int64), 2)
