"""Convolutional recurrent layers: ConvLSTMCell and ConvGRUCell compute the LSTM/GRU equations with
'same' convolutions (checked against PyTorch's conv2d), back-propagate, and ConvLSTM runs them over
an image sequence."""


import numpy as np
import pytest

import engine
import engine.nn as nn
from engine.gradcheck import gradcheck
from engine.nn.utils import swap_parameters


def _np(t):
    return t.detach().numpy()


def _flat(outputs):
    if isinstance(outputs, engine.Tensor):
        return (outputs,)
    return tuple(t for o in outputs for t in _flat(o))


def _check_gradients(module, call, inputs, mode):
    names = [n for n, _ in module.named_parameters()]
    params = [p.detach() for _, p in module.named_parameters()]
    k = len(inputs)

    def fn(*args):
        with swap_parameters(module, dict(zip(names, args[k:]))):
            return _flat(call(*args[:k]))

    gradcheck(fn, [*inputs, *params], mode=mode, atol=1e-6, rtol=1e-4)


def _torch_reference(torch, cell, x, states):
    """The cell's equations written with torch's conv2d, from our weights (requiring grad)."""
    F = torch.nn.functional
    p = {n: torch.tensor(_np(v), requires_grad=True) for n, v in cell.named_parameters()}
    gx = F.conv2d(x, p["weight_ih"], p["bias_ih"], padding="same")
    gh = F.conv2d(states[0], p["weight_hh"], p["bias_hh"], padding="same")
    if isinstance(cell, nn.ConvLSTMCell):
        i, f, g, o = (gx + gh).chunk(4, dim=1)
        c = torch.sigmoid(f) * states[1] + torch.sigmoid(i) * torch.tanh(g)
        return (torch.sigmoid(o) * torch.tanh(c), c), p
    x_r, x_z, x_n = gx.chunk(3, dim=1)
    h_r, h_z, h_n = gh.chunk(3, dim=1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return ((1 - z) * n + z * states[0],), p


@pytest.mark.parametrize("cls", [nn.ConvLSTMCell, nn.ConvGRUCell])
def test_cells_follow_the_equations_with_same_convolutions(cls, device, torch):
    cell = cls(3, 4, (3, 5)).to(device)  # a non-square kernel: 'same' padding keeps H x W anyway
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    states = [rng.standard_normal((2, 4, 6, 7)).astype(np.float32) for _ in range(2 if cls is nn.ConvLSTMCell else 1)]
    xe = engine.tensor(x, device=device, requires_grad=True)
    se = [engine.tensor(s, device=device, requires_grad=True) for s in states]
    out = cell(xe, tuple(se)) if cls is nn.ConvLSTMCell else cell(xe, se[0])
    out = _flat(out)
    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(s, requires_grad=True) for s in states]
    ref, params = _torch_reference(torch, cell, xt, st)
    assert all(o.shape == (2, 4, 6, 7) for o in out)
    for o, r in zip(out, ref):
        np.testing.assert_allclose(_np(o), r.detach().numpy(), atol=1e-5)
    weights = [np.cos(np.arange(o.data.size)).reshape(o.shape).astype(np.float32) for o in out]
    sum((o * engine.tensor(w, device=device)).sum() for o, w in zip(out, weights)).backward()
    sum((r * torch.tensor(w)).sum() for r, w in zip(ref, weights)).backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=1e-4)
    for a, b in zip(se, st):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-4)
    for name, p in cell.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), params[name].grad.numpy(), atol=1e-4, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("cls", [nn.ConvLSTMCell, nn.ConvGRUCell])
def test_cell_gradients_match_finite_differences(cls, device):
    cell = cls(1, 2, 3).double().to(device)
    rng = np.random.default_rng(1)
    n_states = 2 if cls is nn.ConvLSTMCell else 1
    x, *states = (engine.tensor(rng.standard_normal(s), device=device)
                  for s in [(1, 1, 3, 3)] + [(1, 2, 3, 3)] * n_states)

    def call(x, *s):
        return cell(x, tuple(s)) if n_states == 2 else cell(x, s[0])

    _check_gradients(cell, call, [x, *states], "full" if device == "cpu" else "directional")


def test_zero_initial_state_is_the_default():
    cell = nn.ConvLSTMCell(2, 3, 3)
    x = engine.randn(1, 2, 5, 5)
    h, c = cell(x)
    h0, c0 = cell(x, (engine.zeros(1, 3, 5, 5), engine.zeros(1, 3, 5, 5)))
    np.testing.assert_array_equal(_np(h), _np(h0))
    np.testing.assert_array_equal(_np(c), _np(c0))


@pytest.mark.parametrize("batch_first", [False, True])
def test_conv_lstm_is_the_cells_stepped_over_the_frames(batch_first, device):
    model = nn.ConvLSTM(2, [3, 4], 3, num_layers=2, batch_first=batch_first).to(device)
    T, N = 4, 2
    frames = engine.randn(T, N, 2, 5, 6, device=device)
    x = frames.transpose(0, 1) if batch_first else frames
    output, states = model(x)
    assert output.shape == ((N, T, 4, 5, 6) if batch_first else (T, N, 4, 5, 6))
    assert [tuple(s.shape) for s in states[0]] == [(N, 3, 5, 6)] * 2
    inputs = [frames[t] for t in range(T)]
    for k, cell in enumerate(model.cells):
        h = c = None
        outputs = []
        for frame in inputs:
            h, c = cell(frame, None if h is None else (h, c))
            outputs.append(h)
        np.testing.assert_allclose(_np(states[k][0]), _np(h), atol=1e-6)
        np.testing.assert_allclose(_np(states[k][1]), _np(c), atol=1e-6)
        inputs = outputs
    by_hand = engine.stack(inputs)
    np.testing.assert_allclose(_np(output.transpose(0, 1) if batch_first else output), _np(by_hand), atol=1e-6)


def test_conv_lstm_gradients_match_finite_differences_and_reach_the_first_frame():
    model = nn.ConvLSTM(1, 2, 3).double()
    rng = np.random.default_rng(2)
    x = engine.tensor(rng.standard_normal((3, 1, 1, 3, 3)))
    h0, c0 = (engine.tensor(rng.standard_normal((1, 2, 3, 3))) for _ in range(2))
    _check_gradients(model, lambda x, h, c: model(x, [(h, c)]), [x, h0, c0], "directional")
    xg = x.detach().requires_grad_()
    _, [(h, _)] = model(xg)
    h.sum().backward()
    assert np.abs(xg.grad.numpy()[0]).sum() > 0  # the last state depends on the first frame


def test_parameter_names_and_shapes():
    model = nn.ConvLSTM(1, [8, 16], (3, 3), num_layers=2)
    shapes = {n: p.shape for n, p in model.named_parameters()}
    assert shapes == {
        "cells.0.weight_ih": (32, 1, 3, 3), "cells.0.weight_hh": (32, 8, 3, 3),
        "cells.0.bias_ih": (32,), "cells.0.bias_hh": (32,),
        "cells.1.weight_ih": (64, 8, 3, 3), "cells.1.weight_hh": (64, 16, 3, 3),
        "cells.1.bias_ih": (64,), "cells.1.bias_hh": (64,),
    }
    bound = 1 / np.sqrt(8 * 9)  # Conv2d's default for the hidden-to-hidden kernel of layer 0
    assert np.abs(_np(model.cells[0].weight_hh)).max() <= bound
    assert nn.ConvGRUCell(2, 5, 3, bias=False).num_parameters() == 15 * 2 * 9 + 15 * 5 * 9


def test_bad_input_is_refused_with_the_layer_and_shapes():
    cell = nn.ConvLSTMCell(2, 3, 3)
    with pytest.raises(ValueError, match=r"ConvLSTMCell: expected input of shape \(N, 2, H, W\), got \(1, 3, 5, 5\)"):
        cell(engine.randn(1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"ConvLSTMCell: c must have shape \(1, 3, 5, 5\), got \(1, 3, 4, 4\)"):
        cell(engine.randn(1, 2, 5, 5), (engine.zeros(1, 3, 5, 5), engine.zeros(1, 3, 4, 4)))
    with pytest.raises(TypeError, match=r"hx must be a tuple \(h, c\)"):
        cell(engine.randn(1, 2, 5, 5), engine.zeros(1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"ConvLSTM: expected input of shape \(T, N, C, H, W\) with C = 2"):
        nn.ConvLSTM(2, 3, 3)(engine.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match="one value per layer"):
        nn.ConvLSTM(2, [3, 4], 3, num_layers=3)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.ConvGRUCell(2, 3, 0)
