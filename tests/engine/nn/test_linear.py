"""Linear: y = x W^T + b with PyTorch's layout, initialisation and gradients."""

import math

import numpy as np
import pytest

import engine
import engine.nn as nn
import engine.nn.functional as F

gradcheck_module = engine.gradcheck_module


def test_output_is_x_times_weight_transposed_plus_bias(device):
    layer = nn.Linear(5, 3).to(device)
    x = engine.randn(4, 5, device=device)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    np.testing.assert_allclose(layer(x).detach().numpy(), x.numpy() @ w.T + b, rtol=1e-5, atol=1e-6)


def test_leading_dimensions_are_kept(device):
    layer = nn.Linear(5, 3).to(device)
    assert layer(engine.randn(2, 7, 5, device=device)).shape == (2, 7, 3)
    assert layer(engine.randn(5, device=device)).shape == (3,)


def test_parameter_names_shapes_and_bias_flag():
    layer = nn.Linear(5, 3)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [("weight", (3, 5)), ("bias", (3,))]
    no_bias = nn.Linear(5, 3, bias=False)
    assert no_bias.bias is None and list(no_bias.state_dict()) == ["weight"]
    assert repr(no_bias) == "Linear(in_features=5, out_features=3, bias=False)  # 15 params"


def test_gradients_of_input_weight_and_bias(device):
    gradcheck_module(nn.Linear(4, 3).to(device), engine.randn(2, 4, device=device, requires_grad=True))
    gradcheck_module(nn.Linear(3, 2, bias=False).to(device), engine.randn(2, 2, 3, device=device, requires_grad=True))


def test_second_derivatives(device):
    w = engine.randn(3, 4, device=device, requires_grad=True)
    b = engine.randn(3, device=device, requires_grad=True)
    x = engine.randn(2, 4, device=device, requires_grad=True)
    engine.gradgradcheck(lambda x, w, b: F.linear(x, w, b).tanh(), [x, w, b])


def test_input_without_grad_gets_none_and_weight_gradient_is_g_transposed_x():
    layer = nn.Linear(4, 2)
    x = engine.randn(3, 4)
    g = np.arange(6, dtype=np.float32).reshape(3, 2)
    layer(x).backward(engine.tensor(g))
    assert x.grad is None
    np.testing.assert_allclose(layer.weight.grad.numpy(), g.T @ x.numpy(), rtol=1e-6)
    np.testing.assert_allclose(layer.bias.grad.numpy(), g.sum(0), rtol=1e-6)


def test_wrong_feature_count_names_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"Linear\(in_features=5\): input has 7 features .*\(4, 7\)"):
        nn.Linear(5, 3)(engine.randn(4, 7))
    with pytest.raises(ValueError, match=r"linear: input has 2 features"):
        F.linear(engine.randn(4, 2), engine.randn(3, 5))


def test_dtype_mismatch_is_an_error():
    with pytest.raises(TypeError, match="input dtype float64 differs from weight dtype float32"):
        nn.Linear(2, 2)(engine.randn(1, 2, dtype=np.float64))


def test_default_initialisation_matches_pytorchs_bounds(torch):
    fan_in = 64
    ours = nn.Linear(fan_in, 256)
    theirs = torch.nn.Linear(fan_in, 256)
    bound = 1 / math.sqrt(fan_in)
    for name in ("weight", "bias"):
        a = getattr(ours, name).detach().numpy()
        t = getattr(theirs, name).detach().numpy()
        assert np.abs(a).max() <= bound and np.abs(t).max() <= bound
        # both uniform on (-bound, bound): standard deviation bound / sqrt(3)
        assert a.std() == pytest.approx(bound / math.sqrt(3), rel=0.2 if name == "bias" else 0.03)
        assert a.std() == pytest.approx(t.std(), rel=0.25 if name == "bias" else 0.05)


def test_initialisation_is_reproducible_and_device_independent(device):
    engine.manual_seed(3)
    a = nn.Linear(6, 4)
    engine.manual_seed(3)
    b = nn.Linear(6, 4, device=device)
    assert b.weight.device == device
    np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    np.testing.assert_array_equal(a.bias.detach().numpy(), b.bias.detach().numpy())


def test_functional_linear_matches_pytorch(torch):
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3, 4), (5, 4), (5,)))
    expected = torch.nn.functional.linear(*map(torch.from_numpy, (x, w, b))).numpy()
    np.testing.assert_allclose(F.linear(*map(engine.tensor, (x, w, b))).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_perceptron_learns_a_linearly_separable_rule():
    # Output = sigmoid(W^T x + b) trained by gradient descent separates y = [x0 + x1 > 0]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 2)).astype(np.float32)
    y = (x.sum(1, keepdims=True) > 0).astype(np.float32)
    layer = nn.Linear(2, 1)
    for _ in range(100):
        loss = F.binary_cross_entropy_with_logits(layer(engine.tensor(x)), engine.tensor(y))
        layer.zero_grad()
        loss.backward()
        for p in layer.parameters():
            p.data -= 1.0 * p.grad.data
    accuracy = ((layer(engine.tensor(x)).detach().numpy() > 0) == (y > 0.5)).mean()
    assert accuracy > 0.97
