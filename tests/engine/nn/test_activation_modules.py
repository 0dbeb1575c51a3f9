"""Activation modules: same values and gradients as PyTorch's, usable inside Sequential."""

import numpy as np
import pytest

import engine
import engine.nn as nn

# each case builds the layer from a namespace: engine.nn or torch.nn (same names and arguments)
CASES = {
    "ReLU": lambda m: m.ReLU(),
    "LeakyReLU": lambda m: m.LeakyReLU(0.2),
    "ELU": lambda m: m.ELU(alpha=0.7),
    "GELU": lambda m: m.GELU(),
    "GELU-tanh": lambda m: m.GELU(approximate="tanh"),
    "Sigmoid": lambda m: m.Sigmoid(),
    "Tanh": lambda m: m.Tanh(),
    "Softplus": lambda m: m.Softplus(beta=2.0, threshold=5.0),
    "Softmax": lambda m: m.Softmax(dim=1),
    "LogSoftmax": lambda m: m.LogSoftmax(dim=-1),
}


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_values_and_gradients_match_pytorch(make, device, torch):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 4, 5)) * 3).astype(np.float32)
    g = rng.standard_normal((3, 4, 5)).astype(np.float32)
    ours = make(nn)
    xe = engine.tensor(x, device=device, requires_grad=True)
    ye = ours(xe)
    ye.backward(engine.tensor(g, device=device))
    theirs = make(torch.nn)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_gradients_are_exact(make, device):
    # away from ReLU's kink, where finite differences are meaningless
    x = engine.tensor([[-1.5, -0.3, 0.4, 2.0], [0.7, -2.2, 1.1, -0.6]], device=device, requires_grad=True)
    engine.gradcheck(make(nn), [x])


def test_activations_have_no_parameters_and_work_in_sequential():
    model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2), nn.LogSoftmax(dim=1))
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    out = model(engine.randn(5, 3))
    np.testing.assert_allclose(np.exp(out.detach().numpy()).sum(1), 1.0, rtol=1e-5)


def test_softmax_without_dim_is_an_error():
    with pytest.raises(ValueError, match=r"Softmax: dim is required .*\(2, 3\)"):
        nn.Softmax()(engine.randn(2, 3))


def test_unknown_gelu_approximation_is_refused():
    with pytest.raises(ValueError, match="approximate must be"):
        nn.GELU(approximate="fast")
