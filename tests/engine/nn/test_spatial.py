"""Dense warping, flow composition and scaling-and-squaring, against the phantom generator's SciPy
warping (an independent implementation of the same pull-back convention)."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn as nn
import engine.nn.functional as F
from tasks.data.phantoms import deformation as phantom

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("shape", [(12, 15), (6, 7, 8)], ids=["2d", "3d"])
def test_warp_matches_scipy_map_coordinates(shape, device):
    image = RNG.normal(size=shape).astype(np.float32)
    field = phantom.random_displacement_field(shape, magnitude=4.0, smoothness=2.0, seed=1)
    expected = phantom.warp(image, field)  # linear interpolation, nearest-edge padding
    out = F.warp(engine.tensor(image[None, None], device=device), engine.tensor(field[None], device=device))
    assert out.device == device
    np.testing.assert_allclose(out.numpy()[0, 0], expected, atol=2e-5)
    labels = RNG.integers(0, 4, size=shape)
    st = nn.SpatialTransformer(mode="nearest")
    warped = st(engine.tensor(labels[None, None].astype(np.float32), device=device),
                engine.tensor(field[None], device=device))
    agree = (warped.numpy()[0, 0] == phantom.warp_labels(labels, field)).mean()
    assert agree > 0.99  # only exact .5 ties may round differently


def test_warp_gradients_reach_image_and_flow(device):
    image = engine.tensor(RNG.normal(size=(1, 2, 5, 6)), device=device, requires_grad=True)
    flow = engine.tensor(RNG.normal(scale=1.3, size=(1, 2, 5, 6)), device=device, requires_grad=True)
    engine.gradcheck(lambda i, u: F.warp(i, u, padding_mode="zeros"), [image, flow])


def test_composition_matches_the_phantom_reference_and_warping_twice():
    shape = (20, 22)
    first = phantom.random_displacement_field(shape, 3.0, 4.0, seed=2)
    second = phantom.random_displacement_field(shape, 3.0, 4.0, seed=3)
    w = F.compose_flows(engine.tensor(first[None]), engine.tensor(second[None])).numpy()[0]
    np.testing.assert_allclose(w, phantom.compose_displacements(first, second), atol=1e-4)
    image = phantom.random_displacement_field(shape, 5.0, 3.0, seed=4)[0]  # any smooth image
    twice = phantom.warp(phantom.warp(image, first), second)
    once = phantom.warp(image, w)
    inner = (slice(4, -4), slice(4, -4))  # away from the clamped border
    assert np.abs(twice - once)[inner].max() < 0.05 * np.abs(image).max()


def test_scaling_and_squaring_translation_is_exact_and_inverse_cancels(device):
    v = np.zeros((1, 2, 16, 16), np.float32)
    v[:, 0], v[:, 1] = 1.5, -2.25
    u = nn.VecInt(steps=5)(engine.tensor(v, device=device)).numpy()
    np.testing.assert_allclose(u, v, atol=1e-5)  # exp of a constant velocity is that translation
    smooth = phantom.random_displacement_field((32, 32), magnitude=3.0, smoothness=5.0, seed=5)[None]
    fwd = F.integrate_velocity(engine.tensor(smooth), 7)
    back = F.integrate_velocity(engine.tensor(-smooth), 7)
    residual = F.compose_flows(fwd, back).numpy()[0][:, 6:-6, 6:-6]
    assert np.abs(residual).max() < 0.15 < np.abs(fwd.numpy()).max()  # exp(v) o exp(-v) ~ identity


def test_scaling_and_squaring_removes_folding():
    # a large velocity used directly as a displacement folds; its exponential does not
    v = phantom.random_displacement_field((48, 48), magnitude=6.0, smoothness=3.0, seed=6)
    assert (phantom.jacobian_determinant(v) <= 0).mean() > 0.01
    u = F.integrate_velocity(engine.tensor(v[None]), 7).numpy()[0]
    assert (phantom.jacobian_determinant(u[:, 2:-2, 2:-2]) <= 0).mean() < 0.002


def test_integration_is_differentiable():
    v = engine.tensor(RNG.normal(scale=0.5, size=(1, 2, 5, 5)), requires_grad=True)
    engine.gradcheck(lambda t: F.integrate_velocity(t, 2), [v], mode="directional", n_directions=6)


def test_flow_shape_errors_name_the_operation():
    with pytest.raises(ValueError, match="warp"):
        F.warp(engine.zeros(1, 1, 4, 4), engine.zeros(1, 2, 4, 5))
    with pytest.raises(ValueError, match="integrate_velocity"):
        F.integrate_velocity(engine.zeros(1, 3, 4, 4), 3)
