"""interpolate / Upsample: PyTorch's coordinate conventions for every mode, gradients, errors."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn as nn
import engine.nn.functional as F

RNG = np.random.default_rng(3)

# (input shape, interpolate keyword arguments)
CASES = [
    ((2, 3, 5, 7), dict(scale_factor=2, mode="nearest")),
    ((2, 3, 5, 7), dict(size=(9, 4), mode="nearest")),
    ((2, 3, 5, 7), dict(scale_factor=1.7, mode="nearest")),  # coordinates use 1 / scale_factor
    ((2, 3, 5, 7), dict(scale_factor=(1.7, 0.6), mode="nearest-exact")),
    ((2, 3, 5, 7), dict(scale_factor=2, mode="bilinear")),
    ((2, 3, 5, 7), dict(scale_factor=2, mode="bilinear", align_corners=True)),
    ((2, 3, 5, 7), dict(size=(3, 11), mode="bilinear")),
    ((2, 3, 5, 7), dict(scale_factor=(2.3, 0.7), mode="bilinear")),
    ((2, 3, 5, 7), dict(scale_factor=(2.3, 0.7), mode="bilinear", recompute_scale_factor=True)),
    ((2, 3, 5, 7), dict(size=(1, 11), mode="bilinear", align_corners=True)),
    ((2, 3, 9), dict(size=4, mode="linear")),
    ((2, 3, 9), dict(scale_factor=3, mode="linear", align_corners=True)),
    ((1, 2, 3, 4, 5), dict(scale_factor=2, mode="trilinear")),
    ((1, 2, 3, 4, 5), dict(size=(5, 2, 7), mode="trilinear", align_corners=True)),
    ((1, 2, 3, 4, 5), dict(size=(5, 2, 7), mode="nearest")),
    ((2, 3, 7, 9), dict(size=(3, 4), mode="area")),
]
IDS = [f"{len(s) - 2}d-" + "-".join(f"{k}={v}" for k, v in kw.items()) for s, kw in CASES]


@pytest.mark.parametrize("shape, kw", CASES, ids=IDS)
def test_matches_pytorch_outputs_and_gradients(shape, kw, device, torch):
    x = RNG.normal(size=shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    xe = engine.tensor(x, device=device, requires_grad=True)
    yt = torch.nn.functional.interpolate(xt, **kw)
    ye = F.interpolate(xe, **kw)
    assert ye.shape == tuple(yt.shape) and ye.dtype == np.float32
    g = RNG.normal(size=ye.shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    ye.backward(engine.tensor(g, device=device))
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, kw", CASES[::2], ids=IDS[::2])
def test_gradients_match_finite_differences(shape, kw, device):
    x = engine.tensor(RNG.normal(size=shape), device=device, requires_grad=True)
    engine.gradcheck(lambda v: F.interpolate(v, **kw), [x])


def test_upsample_module_and_legacy_layers(device):
    x = engine.tensor(RNG.normal(size=(1, 2, 3, 4)).astype(np.float32), device=device)
    up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    assert up(x).shape == (1, 2, 6, 8)
    assert repr(up) == "Upsample(scale_factor=2, mode='bilinear')"
    np.testing.assert_array_equal(nn.UpsamplingNearest2d(scale_factor=2)(x).numpy(),
                                  x.numpy().repeat(2, axis=2).repeat(2, axis=3))
    corners = nn.UpsamplingBilinear2d(size=(5, 7))(x).numpy()
    np.testing.assert_allclose(corners[..., [0, -1], :][..., [0, -1]], x.numpy()[..., [0, -1], :][..., [0, -1]],
                               rtol=1e-6)


def test_linear_interpolation_of_a_ramp_is_exact_with_align_corners():
    ramp = engine.arange(4, dtype=engine.float64).reshape(1, 1, 4)
    out = F.interpolate(ramp, size=7, mode="linear", align_corners=True)
    np.testing.assert_allclose(out.numpy().ravel(), np.linspace(0, 3, 7))


def test_the_same_size_is_the_identity():
    x = engine.randn(1, 2, 3, 4)
    for mode in ("nearest", "bilinear"):
        np.testing.assert_array_equal(F.interpolate(x, size=(3, 4), mode=mode).numpy(), x.numpy())


# --- errors ---------------------------------------------------------------------------------------
def test_bad_arguments_are_explained():
    x = engine.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x, size=8, scale_factor=2)
    with pytest.raises(ValueError, match="mode 'trilinear' needs a 5-D input, got a 4-D tensor"):
        F.interpolate(x, scale_factor=2, mode="trilinear")
    with pytest.raises(ValueError, match="align_corners can only be set with the linear modes"):
        F.interpolate(x, scale_factor=2, mode="nearest", align_corners=True)
    with pytest.raises(ValueError, match="mode must be one of"):
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match=r"size \(8, 8, 8\) needs 2 values"):
        F.interpolate(x, size=(8, 8, 8))
    with pytest.raises(ValueError, match="shrinks the input"):
        F.interpolate(x, scale_factor=0.1)
    with pytest.raises(ValueError, match="expected a 3-D, 4-D or 5-D input"):
        F.interpolate(engine.randn(4, 4), scale_factor=2)


def test_arithmetic_runs_cover_every_pair_once():
    from engine.nn.functional.upsampling import _arithmetic_runs

    src, dst = np.array([0, 3, 5, 7, 9, 10]), np.array([0, 1, 2, 3, 4, 6])
    runs = _arithmetic_runs(src, dst)
    assert runs == [(slice(0, 4, 3), slice(0, 2, 1)), (slice(5, 10, 2), slice(2, 5, 1)), (slice(10, 11, 1),
                                                                                           slice(6, 7, 1))]
    assert _arithmetic_runs(np.arange(0, 8, 2), np.arange(4)) == [(slice(0, 7, 2), slice(0, 4, 1))]


@pytest.mark.parametrize("kw", [dict(scale_factor=2, mode="bilinear"), dict(size=(11, 5), mode="nearest")])
def test_the_fancy_index_fallback_gives_the_same_gradient(kw, device, monkeypatch):
    from engine.nn.functional.upsampling import Resample1d

    x = engine.tensor(RNG.normal(size=(1, 2, 5, 7)), device=device, requires_grad=True)
    g = engine.tensor(RNG.normal(size=F.interpolate(x, **kw).shape), device=device)
    F.interpolate(x, **kw).backward(g)
    with_slices = x.grad.numpy()
    x.grad = None
    monkeypatch.setattr(Resample1d, "MAX_RUNS", 0)
    F.interpolate(x, **kw).backward(g)
    np.testing.assert_allclose(x.grad.numpy(), with_slices, rtol=1e-12, atol=1e-12)
