"""grid_sample / affine_grid: PyTorch's semantics for every mode, padding and align_corners in 2-D
and 3-D (values, input gradients, grid gradients), finite differences to second order, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import engine
import engine.nn.functional as F

RNG = np.random.default_rng(12)
COMBOS = list(itertools.product(("bilinear", "nearest"), ("zeros", "border", "reflection"), (False, True)))
COMBO_IDS = [f"{m}-{p}-{'ac' if a else 'noac'}" for m, p, a in COMBOS]
# (input shape, grid shape): non-square sizes so that swapped axes cannot pass
SHAPES = {2: ((2, 3, 5, 6), (2, 4, 7, 2)), 3: ((2, 2, 4, 5, 3), (2, 3, 4, 2, 3))}


def _pair(nd, spread, dtype=np.float32):
    in_shape, grid_shape = SHAPES[nd]
    x = RNG.normal(size=in_shape).astype(dtype)
    # points well outside [-1, 1] exercise the padding (several reflections at 3.5)
    g = RNG.uniform(-spread, spread, size=grid_shape).astype(dtype)
    return x, g


@pytest.mark.torch
@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("mode, padding, align", COMBOS, ids=COMBO_IDS)
def test_matches_pytorch_values_and_both_gradients(nd, mode, padding, align, device, torch):
    x, g = _pair(nd, spread=3.5)
    xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)
    yt = torch.nn.functional.grid_sample(xt, gt, mode=mode, padding_mode=padding, align_corners=align)
    xe = engine.tensor(x, device=device, requires_grad=True)
    ge = engine.tensor(g, device=device, requires_grad=True)
    ye = F.grid_sample(xe, ge, mode=mode, padding_mode=padding, align_corners=align)
    assert ye.shape == tuple(yt.shape) and ye.dtype == np.float32 and ye.device == device
    u = RNG.normal(size=ye.shape).astype(np.float32)
    yt.backward(torch.tensor(u))
    ye.backward(engine.tensor(u, device=device))
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ge.grad.numpy(), gt.grad.numpy(), rtol=1e-4, atol=1e-4)
    assert xe.grad.device == device and ge.grad.device == device


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("mode, padding, align", COMBOS, ids=COMBO_IDS)
def test_fused_op_equals_its_composed_reference_in_both_backward_paths(nd, mode, padding, align, device):
    """GridSample (fused arrays; backward_arrays without a graph) == grid_sample_reference (engine ops), and
    the differentiable backward used under create_graph gives the same first derivatives."""
    x, g = _pair(nd, spread=2.5, dtype=np.float64)
    u = engine.tensor(RNG.normal(size=(x.shape[:2] + g.shape[1:-1])), device=device)
    results = []
    for fn, create_graph in ((F.grid_sample, False), (F.grid_sample, True), (F.sampling.grid_sample_reference, False)):
        xe = engine.tensor(x, device=device, requires_grad=True)
        ge = engine.tensor(g, device=device, requires_grad=True)
        y = fn(xe, ge, mode=mode, padding_mode=padding, align_corners=align)
        grads = engine.grad([y], [xe, ge], grad_outputs=[u], create_graph=create_graph)
        results.append([y.detach().numpy()] + [t.detach().numpy() for t in grads])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("align", [False, True])
def test_affine_grid_matches_pytorch(nd, align, torch):
    size = (2, 1, 5, 7) if nd == 2 else (2, 1, 3, 5, 4)
    theta = RNG.normal(size=(2, nd, nd + 1)).astype(np.float32)
    tt = torch.tensor(theta, requires_grad=True)
    te = engine.tensor(theta, requires_grad=True)
    gt = torch.nn.functional.affine_grid(tt, size, align_corners=align)
    ge = F.affine_grid(te, size, align_corners=align)
    u = RNG.normal(size=ge.shape).astype(np.float32)
    gt.backward(torch.tensor(u))
    ge.backward(engine.tensor(u))
    np.testing.assert_allclose(ge.detach().numpy(), gt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(te.grad.numpy(), tt.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [False, True])
def test_bilinear_gradients_match_finite_differences(nd, padding, align, device):
    x, g = _pair(nd, spread=1.4, dtype=np.float64)
    x, g = (x[:1, :1], g[:1, :2]) if nd == 3 else (x[:1], g[:1])  # small: every element is perturbed
    xe = engine.tensor(x, device=device, requires_grad=True)
    ge = engine.tensor(g, device=device, requires_grad=True)
    engine.gradcheck(lambda a, b: F.grid_sample(a, b, padding_mode=padding, align_corners=align), [xe, ge])


@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
def test_bilinear_second_derivatives_match_finite_differences(padding, device):
    x, g = _pair(2, spread=1.4, dtype=np.float64)
    xe = engine.tensor(x[:1, :2, :4, :4], device=device, requires_grad=True)
    ge = engine.tensor(g[:1, :3, :3], device=device, requires_grad=True)
    engine.gradgradcheck(lambda a, b: F.grid_sample(a, b, padding_mode=padding), [xe, ge])


def test_trilinear_second_derivatives_match_finite_differences():
    x, g = _pair(3, spread=1.2, dtype=np.float64)
    xe = engine.tensor(x[:1, :1], requires_grad=True)
    ge = engine.tensor(g[:1, :2, :2, :1], requires_grad=True)
    engine.gradgradcheck(lambda a, b: F.grid_sample(a, b, align_corners=True), [xe, ge])


def test_nearest_input_gradient_matches_finite_differences_and_grid_gradient_is_zero(device):
    x, g = _pair(2, spread=1.3, dtype=np.float64)
    xe = engine.tensor(x[:1], device=device, requires_grad=True)
    ge = engine.tensor(g[:1], device=device, requires_grad=True)
    engine.gradcheck(lambda a: F.grid_sample(a, ge.detach(), mode="nearest"), [xe])
    F.grid_sample(xe, ge, mode="nearest").sum().backward()
    np.testing.assert_array_equal(ge.grad.numpy(), 0.0)


def test_identity_grid_reproduces_the_image_and_a_shift_moves_it_by_whole_pixels():
    x = engine.tensor(RNG.normal(size=(1, 2, 6, 8)).astype(np.float32))
    theta = engine.tensor(np.array([[[1.0, 0, 0], [0, 1.0, 0]]], dtype=np.float32))
    for align in (False, True):
        grid = F.affine_grid(theta, x.shape, align_corners=align)
        np.testing.assert_allclose(F.grid_sample(x, grid, align_corners=align).numpy(), x.numpy(), atol=1e-6)
    # +2 pixels in x (align_corners=True: one pixel is 2 / (W - 1) in normalised units)
    shift = engine.tensor(np.array([[[1.0, 0, 2 * 2 / 7], [0, 1.0, 0]]], dtype=np.float32))
    out = F.grid_sample(x, F.affine_grid(shift, x.shape, align_corners=True), align_corners=True).numpy()
    np.testing.assert_allclose(out[..., :-2], x.numpy()[..., 2:], atol=1e-5)
    np.testing.assert_array_equal(out[..., -2:], 0.0)  # read from outside: zeros padding


def test_gather_and_scatter_are_adjoint_and_scatter_adds_repeats(device):
    x = engine.tensor(RNG.normal(size=(2, 3, 5)), device=device)
    index = engine.tensor(np.array([[0, 4, 4, 1], [2, 2, 2, 3]]), device=device).data
    y = F.sampling.GatherPoints(index)(x)
    g = engine.tensor(RNG.normal(size=(2, 3, 4)), device=device)
    back = F.sampling.ScatterPoints(index, 5)(g)
    # <G x, g> == <x, S g>
    np.testing.assert_allclose(float((y * g).sum().item()), float((x * back).sum().item()), rtol=1e-12)
    np.testing.assert_allclose(back.numpy()[1, :, 2], g.numpy()[1, :, :3].sum(axis=1))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x, g: F.grid_sample(x, g, mode="bicubic"), "mode"),
        (lambda x, g: F.grid_sample(x, g, padding_mode="wrap"), "padding_mode"),
        (lambda x, g: F.grid_sample(x[0], g), "4-D"),
        (lambda x, g: F.grid_sample(x, g[..., :1]), "grid must be"),
        (lambda x, g: F.grid_sample(x, g.double()), "same floating dtype"),
        (lambda x, g: F.affine_grid(engine.zeros(1, 3, 3), (1, 1, 4, 4)), "theta"),
    ],
)
def test_bad_arguments_raise_a_clear_error(call, message):
    x, g = engine.zeros(1, 1, 4, 4), engine.zeros(1, 2, 2, 2)
    with pytest.raises((ValueError, TypeError), match=message):
        call(x, g)
