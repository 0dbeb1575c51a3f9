"""Module hooks: forward pre-hooks, forward hooks and full backward hooks behave as PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine import nn


def _net():
    engine.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 5 * 5, 2)).double()


X = np.random.default_rng(0).normal(size=(2, 1, 5, 5))


def test_pre_hook_replaces_arguments_and_forward_hook_replaces_the_output():
    net = _net()
    plain = net(engine.tensor(2 * X)).detach().numpy()
    net[0].register_forward_pre_hook(lambda module, args: (args[0] * 2,))
    np.testing.assert_allclose(net(engine.tensor(X)).detach().numpy(), plain)
    seen = []
    handle = net[3].register_forward_hook(lambda module, args, out: seen.append((args[0].shape, out.shape)) or out * 0)
    assert np.all(net(engine.tensor(X)).detach().numpy() == 0)
    assert seen == [((2, 75), (2, 2))]
    handle.remove()
    np.testing.assert_allclose(net(engine.tensor(X)).detach().numpy(), plain)


def test_hooks_run_in_registration_order_and_context_managers_remove_them():
    lin = nn.Linear(2, 2)
    calls = []
    with lin.register_forward_hook(lambda m, a, o: calls.append("first")):
        with lin.register_forward_hook(lambda m, a, o: calls.append("second")):
            lin(engine.zeros((1, 2)))
        lin(engine.zeros((1, 2)))
    lin(engine.zeros((1, 2)))
    assert calls == ["first", "second", "first"]
    with pytest.raises(TypeError, match="expected a callable"):
        lin.register_forward_hook("not a function")


@pytest.mark.torch
def test_backward_hook_sees_the_gradients_torch_sees_and_can_rewrite_them(torch):
    ours = _net()
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.Linear(75, 2)).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    records = {}

    def recorder(name, zero_input_grad):
        def hook(module, grad_input, grad_output):
            records[name] = ([None if g is None else np.array(g.detach().numpy()) for g in grad_input],
                             [np.array(g.detach().numpy()) for g in grad_output])
            if zero_input_grad:
                return tuple(None if g is None else g * 0 for g in grad_input)
        return hook

    for zero in (False, True):
        xo, xt = engine.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
        handles = [ours[3].register_full_backward_hook(recorder("ours_fc", zero)),
                   ours[1].register_full_backward_hook(recorder("ours_relu", False)),
                   theirs[3].register_full_backward_hook(recorder("torch_fc", zero)),
                   theirs[1].register_full_backward_hook(recorder("torch_relu", False))]
        w = np.array([[1.0, -2.0], [0.5, 3.0]])
        (ours(xo) * engine.tensor(w)).sum().backward()
        (theirs(xt) * torch.tensor(w)).sum().backward()
        for layer in ("fc", "relu"):
            (gi_o, go_o), (gi_t, go_t) = records[f"ours_{layer}"], records[f"torch_{layer}"]
            np.testing.assert_allclose(go_o[0], go_t[0], rtol=1e-12)
            np.testing.assert_allclose(gi_o[0], gi_t[0], rtol=1e-12)
        np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)
        if zero:  # the rewritten gradient is what flows on: nothing reaches the input or the conv weights
            assert np.all(xo.grad.numpy() == 0) and np.all(ours[0].weight.grad.numpy() == 0)
        for h in handles:
            h.remove()
        ours.zero_grad()
        theirs.zero_grad()


def test_backward_hook_on_a_layer_whose_input_needs_no_gradient():
    # the first layer sees a plain input: the hook still fires, with grad_input (None,), as in PyTorch
    net = _net()
    got = []
    net[0].register_full_backward_hook(lambda m, gi, go: got.append((gi, go[0].shape)))
    net(engine.tensor(X)).sum().backward()
    assert got == [((None,), (2, 3, 5, 5))]


def test_backward_hook_on_a_module_returning_a_tuple_is_refused():
    lstm = nn.LSTM(2, 3)
    lstm.register_full_backward_hook(lambda m, gi, go: None)
    with pytest.raises(TypeError, match="LSTM returns tuple, but a module with a backward hook must return one"):
        lstm(engine.tensor(np.zeros((4, 1, 2), np.float32), requires_grad=True))
