"""Numerical edge cases found by probing the engine like a hostile new user (issue 22), each
fixed to PyTorch's behaviour or a clear error."""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine
from engine import nn, optim


# --- std of a constant input -----------------------------------------------------------------------
def test_std_gradient_at_a_constant_input_is_zero_not_nan(device):
    x = engine.tensor(np.full((2, 3), 0.25), device=device, requires_grad=True)
    x.std(dim=1).sum().backward()  # a blank image patch: std = 0
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))
    y = engine.tensor([[1.0, 2.0, 4.0]], dtype=engine.float64, requires_grad=True)
    (g,) = [engine.grad(y.std(), y, create_graph=True)]
    assert np.isfinite(engine.grad(g.sum() + (y * y).sum(), y).numpy()).all()


@pytest.mark.torch
def test_std_and_its_gradient_match_pytorch_with_constant_rows(torch):
    data = np.array([[3.0, 3.0, 3.0, 3.0], [1.0, -2.0, 0.5, 4.0]])
    x = engine.tensor(data, requires_grad=True)
    (x.std(dim=1) * engine.tensor([2.0, -1.0], dtype=engine.float64)).sum().backward()
    t = torch.tensor(data, requires_grad=True)
    (t.std(dim=1) * torch.tensor([2.0, -1.0], dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)


# --- float16 accumulates in float32 ----------------------------------------------------------------
def test_float16_mean_accumulates_in_float32_like_pytorch():
    x = engine.tensor(np.array([6e4, 6e4], np.float16))
    assert x.mean().item() == 60000 and x.mean().dtype == np.float16
    assert math.isinf(x.sum().item())  # the sum itself does not fit float16 (PyTorch: inf too)
    many = engine.tensor(np.full((4, 4096), 0.1, np.float16))
    # float16 accumulation stalls near 256 (its step there is 0.25); float32 accumulation does not
    np.testing.assert_allclose(many.sum(dim=1).numpy().astype(np.float64), 409.6, rtol=2e-3)
    np.testing.assert_allclose(many.mean(dim=1).numpy().astype(np.float64), 0.1, rtol=2e-3)
    assert many.var(dim=1).dtype == np.float16


# --- empty batches ---------------------------------------------------------------------------------
EMPTY = {
    "Conv1d": (lambda: nn.Conv1d(2, 3, 3, padding=1), (0, 2, 7), (0, 3, 7)),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3), (0, 2, 5, 5), (0, 3, 3, 3)),
    "Conv2d_strided": (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1, groups=1), (0, 2, 6, 5), (0, 3, 3, 3)),
    "Conv3d": (lambda: nn.Conv3d(2, 3, 2), (0, 2, 3, 3, 3), (0, 3, 2, 2, 2)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(2, 3, 2, stride=2), (0, 2, 3, 3), (0, 3, 6, 6)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (0, 2, 4, 4), (0, 2, 2, 2)),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, stride=1, padding=1), (0, 2, 4, 4), (0, 2, 4, 4)),
    "Upsample": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (0, 2, 3, 3), (0, 2, 6, 6)),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d((3, 2)), (0, 2, 7, 5), (0, 2, 3, 2)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((3, 2)), (0, 2, 7, 5), (0, 2, 3, 2)),
    "BatchNorm2d_eval": (lambda: nn.BatchNorm2d(2).eval(), (0, 2, 3, 3), (0, 2, 3, 3)),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), (0, 4, 3, 3), (0, 4, 3, 3)),
    "InstanceNorm2d": (lambda: nn.InstanceNorm2d(2, affine=True), (0, 2, 3, 3), (0, 2, 3, 3)),
}


@pytest.mark.parametrize("name", list(EMPTY))
def test_an_empty_batch_gives_an_empty_output_like_pytorch(name, device):
    make, in_shape, out_shape = EMPTY[name]
    layer = make().to(device)
    x = engine.zeros(*in_shape, device=device, requires_grad=True)
    y = layer(x)
    assert tuple(y.shape) == out_shape and y.dtype == np.float32
    y.sum().backward()  # and the backward pass of nothing is zeros of the right shapes
    assert tuple(x.grad.shape) == in_shape
    for p in layer.parameters():
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape, np.float32))


# --- optimiser hyperparameters ---------------------------------------------------------------------
BAD = [float("nan"), float("inf"), -float("inf"), -1e-3, "0.001", True]


def _param():
    return [nn.Parameter(engine.zeros(2))]


@pytest.mark.parametrize("value", BAD, ids=repr)
@pytest.mark.parametrize("make", [
    lambda v: optim.Adam(_param(), lr=v),
    lambda v: optim.AdamW(_param(), lr=1e-3, weight_decay=v),
    lambda v: optim.Adam(_param(), lr=1e-3, eps=v),
    lambda v: optim.SGD(_param(), lr=v),
    lambda v: optim.SGD(_param(), lr=0.1, momentum=v),
    lambda v: optim.RMSprop(_param(), lr=v),
    lambda v: optim.Adagrad(_param(), lr=v),
    lambda v: optim.SGD([{"params": _param(), "lr": v}], lr=0.1),
], ids=["Adam.lr", "AdamW.weight_decay", "Adam.eps", "SGD.lr", "SGD.momentum", "RMSprop.lr", "Adagrad.lr",
        "group.lr"])
def test_optimisers_refuse_nan_infinite_negative_and_non_numeric_hyperparameters(make, value):
    with pytest.raises((ValueError, TypeError), match=r"(Adam|AdamW|SGD|RMSprop|Adagrad): invalid"):
        make(value)


@pytest.mark.parametrize("betas", [(0.9, float("nan")), (float("inf"), 0.999), (0.9, 1.0), (-0.1, 0.9), (0.9,)])
def test_adam_refuses_bad_betas(betas):
    with pytest.raises(ValueError, match=r"Adam: (invalid betas|betas must be)"):
        optim.Adam(_param(), lr=1e-3, betas=betas)
