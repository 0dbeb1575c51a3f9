"""Recurrent layers: RNN/LSTM/GRU and their cells follow PyTorch's equations, names and shapes,
back-propagate correctly (fused and composed), and refuse bad input with clear errors."""


import numpy as np
import pytest

import engine
import engine.nn as nn
import engine.nn.functional as F
from engine.gradcheck import gradcheck, gradgradcheck
from engine.nn.utils import swap_parameters

KINDS = [  # (our class, torch class name, keyword arguments)
    (nn.RNN, "RNN", {}),
    (nn.RNN, "RNN", {"nonlinearity": "relu"}),
    (nn.LSTM, "LSTM", {}),
    (nn.GRU, "GRU", {}),
]
KIND_IDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
CELLS = [
    (nn.RNNCell, "RNNCell", {}),
    (nn.RNNCell, "RNNCell", {"nonlinearity": "relu"}),
    (nn.LSTMCell, "LSTMCell", {}),
    (nn.GRUCell, "GRUCell", {}),
]


def _host(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _dev(a, device, requires_grad=False):
    return engine.tensor(a, device=device, requires_grad=requires_grad)


def _np(t):
    return t.detach().numpy()


def _flat(outputs):
    """(y, (h, c)) or (h, c) or h -> a flat tuple of tensors."""
    if isinstance(outputs, engine.Tensor):
        return (outputs,)
    return tuple(t for o in outputs for t in _flat(o))


def _call(module, *inputs):
    """Call a recurrent module with its state inputs packed the way it expects."""
    if isinstance(module, (nn.LSTM, nn.LSTMCell)):
        return module(inputs[0], tuple(inputs[1:]))
    return module(*inputs)


def _check_module_gradients(module, inputs, mode="full"):
    """gradcheck of the module's outputs with respect to its inputs and every parameter."""
    names = [n for n, _ in module.named_parameters()]
    params = [p.detach() for _, p in module.named_parameters()]
    k = len(inputs)

    def fn(*args):
        with swap_parameters(module, dict(zip(names, args[k:]))):
            return _flat(_call(module, *args[:k]))

    gradcheck(fn, [*inputs, *params], mode=mode, atol=1e-6, rtol=1e-4)


# ============================================================================================
# Agreement with PyTorch
# ============================================================================================
def _torch_to_engine(torch_module, ours, device):
    ours.load_state_dict(torch_module.state_dict())
    return ours.to(device)


def _compare_grads(ours, theirs, atol=1e-4):
    for name, p in theirs.named_parameters():
        ours_grad = getattr(ours, name).grad
        np.testing.assert_allclose(ours_grad.numpy(), p.grad.numpy(), atol=atol, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("batch_first,fused", [(False, True), (True, True), (False, False)],
                         ids=["time_major-fused", "batch_first-fused", "time_major-composed"])
@pytest.mark.parametrize("cls,torch_name,kwargs", KINDS, ids=KIND_IDS)
def test_two_layer_bidirectional_sequence_matches_pytorch(cls, torch_name, kwargs, batch_first, fused, device, torch):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, torch_name)(4, 5, num_layers=2, bidirectional=True, batch_first=batch_first, **kwargs)
    ours = _torch_to_engine(theirs, cls(4, 5, num_layers=2, bidirectional=True, batch_first=batch_first,
                                        fused=fused, **kwargs), device)
    rng = np.random.default_rng(1)
    T, N = 6, 3
    x = _host(rng, N, T, 4) if batch_first else _host(rng, T, N, 4)
    h0, c0 = _host(rng, 4, N, 5), _host(rng, 4, N, 5)
    u = _host(rng, *((N, T, 10) if batch_first else (T, N, 10)))  # a random upstream gradient
    xt = torch.tensor(x, requires_grad=True)
    xe = _dev(x, device, requires_grad=True)
    h0t, h0e = torch.tensor(h0, requires_grad=True), _dev(h0, device, requires_grad=True)
    c0t, c0e = torch.tensor(c0, requires_grad=True), _dev(c0, device, requires_grad=True)
    if torch_name == "LSTM":
        yt, (hnt, cnt) = theirs(xt, (h0t, c0t))
        ye, (hne, cne) = ours(xe, (h0e, c0e))
        lt = (yt * torch.tensor(u)).sum() + (hnt * 2).sum() + (cnt * cnt).sum()
        le = (ye * _dev(u, device)).sum() + (hne * 2.0).sum() + (cne * cne).sum()
        np.testing.assert_allclose(_np(cne), cnt.detach().numpy(), atol=1e-5)
    else:
        yt, hnt = theirs(xt, h0t)
        ye, hne = ours(xe, h0e)
        lt = (yt * torch.tensor(u)).sum() + (hnt * 2).sum()
        le = (ye * _dev(u, device)).sum() + (hne * 2.0).sum()
    assert ye.shape == tuple(yt.shape) and hne.shape == tuple(hnt.shape)
    np.testing.assert_allclose(_np(ye), yt.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(_np(hne), hnt.detach().numpy(), atol=1e-5)
    lt.backward()
    le.backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(h0e.grad.numpy(), h0t.grad.numpy(), atol=1e-4, rtol=1e-4)
    if torch_name == "LSTM":
        np.testing.assert_allclose(c0e.grad.numpy(), c0t.grad.numpy(), atol=1e-4, rtol=1e-4)
    _compare_grads(ours, theirs)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
@pytest.mark.parametrize("cls,torch_name,kwargs", CELLS, ids=KIND_IDS)
def test_cells_match_pytorch(cls, torch_name, kwargs, fused, device, torch):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, torch_name)(3, 4, **kwargs)
    ours = _torch_to_engine(theirs, cls(3, 4, fused=fused, **kwargs), device)
    rng = np.random.default_rng(2)
    x, h, c = _host(rng, 5, 3), _host(rng, 5, 4), _host(rng, 5, 4)
    xt, xe = torch.tensor(x, requires_grad=True), _dev(x, device, requires_grad=True)
    if torch_name == "LSTMCell":
        ht, ct = theirs(xt, (torch.tensor(h), torch.tensor(c)))
        he, ce = ours(xe, (_dev(h, device), _dev(c, device)))
        lt, le = (ht * ht).sum() + ct.sum(), (he * he).sum() + ce.sum()
        np.testing.assert_allclose(_np(ce), ct.detach().numpy(), atol=1e-5)
    else:
        ht, he = theirs(xt, torch.tensor(h)), ours(xe, _dev(h, device))
        lt, le = (ht * ht).sum(), (he * he).sum()
    np.testing.assert_allclose(_np(he), ht.detach().numpy(), atol=1e-5)
    lt.backward()
    le.backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=1e-5)
    _compare_grads(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("cls,torch_name,kwargs", KINDS, ids=KIND_IDS)
def test_state_dict_moves_to_pytorch_and_unbatched_input_works(cls, torch_name, kwargs, torch):
    """Our weights loaded into torch give torch's layer our outputs, for a 2-D (unbatched) input
    without biases; the parameter names and their order are torch's."""
    ours = cls(3, 4, num_layers=2, bias=False, bidirectional=True, **kwargs)
    theirs = getattr(torch.nn, torch_name)(3, 4, num_layers=2, bias=False, bidirectional=True, **kwargs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((5, 3)).astype(np.float32)
    y, state = ours(engine.tensor(x))
    yt, state_t = theirs(torch.tensor(x))
    assert y.shape == (5, 8)
    np.testing.assert_allclose(_np(y), yt.detach().numpy(), atol=1e-5)
    h, ht = (state[0], state_t[0]) if torch_name == "LSTM" else (state, state_t)
    assert h.shape == (4, 4)
    np.testing.assert_allclose(_np(h), ht.detach().numpy(), atol=1e-5)


def test_default_initialisation_is_uniform_within_one_over_sqrt_hidden():
    lstm = nn.LSTM(10, 25, num_layers=2)
    for name, p in lstm.named_parameters():
        values = p.detach().numpy()
        assert np.abs(values).max() <= 1 / 5 and values.std() > 0.08, name  # U(-0.2, 0.2): std 0.115
    assert lstm.weight_ih_l1.shape == (100, 25) and lstm.bias_hh_l0.shape == (100,)


# ============================================================================================
# Gradient checks (float64)
# ============================================================================================
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
@pytest.mark.parametrize("cls,torch_name,kwargs", CELLS, ids=KIND_IDS)
def test_cell_gradients_match_finite_differences(cls, torch_name, kwargs, fused, device):
    cell = cls(3, 2, fused=fused, **kwargs).double().to(device)
    rng = np.random.default_rng(4)
    states = 2 if torch_name == "LSTMCell" else 1
    x, *hc = (_dev(rng.standard_normal(s), device) for s in [(2, 3)] + [(2, 2)] * states)
    _check_module_gradients(cell, [x, *hc])


def _check_two_layer_bidirectional(cls, torch_name, kwargs, fused, device, mode):
    model = cls(2, 2, num_layers=2, bidirectional=True, fused=fused, **kwargs).double().to(device)
    rng = np.random.default_rng(5)
    x = _dev(rng.standard_normal((3, 2, 2)), device)
    h0 = _dev(rng.standard_normal((4, 2, 2)), device)
    states = [h0, _dev(rng.standard_normal((4, 2, 2)), device)] if torch_name == "LSTM" else [h0]
    _check_module_gradients(model, [x, *states], mode=mode)


@pytest.mark.parametrize("cls,torch_name,kwargs", KINDS, ids=KIND_IDS)
def test_two_layer_bidirectional_fused_gradients_match_finite_differences(cls, torch_name, kwargs, device):
    # every element on the CPU; random directions on the strict device, which checks device handling
    _check_two_layer_bidirectional(cls, torch_name, kwargs, True, device, "full" if device == "cpu" else "directional")


@pytest.mark.parametrize("cls,torch_name,kwargs", KINDS, ids=KIND_IDS)
def test_two_layer_bidirectional_composed_gradients_match_finite_differences(cls, torch_name, kwargs):
    # random directions: the composed steps are checked element by element in the cell test
    _check_two_layer_bidirectional(cls, torch_name, kwargs, False, "cpu", "directional")


# ============================================================================================
# Fused and composed: same numbers; only the composed one is twice differentiable
# ============================================================================================
@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_fused_and_composed_agree(cls, device):
    fused = cls(3, 4, num_layers=2, bidirectional=True).to(device)
    composed = cls(3, 4, num_layers=2, bidirectional=True, fused=False).to(device)
    composed.load_state_dict(fused.state_dict())
    x = engine.randn(5, 2, 3, device=device)
    outs = []
    for model in (fused, composed):
        xg = x.detach().requires_grad_()
        y, _ = model(xg)
        (y * y).sum().backward()
        outs.append((_np(y), xg.grad.numpy(), [p.grad.numpy() for p in model.parameters()]))
    np.testing.assert_allclose(outs[0][0], outs[1][0], atol=1e-6)
    np.testing.assert_allclose(outs[0][1], outs[1][1], atol=1e-5)
    for a, b in zip(outs[0][2], outs[1][2]):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("bias_ih, bias_hh", [(True, False), (False, True), (False, False)])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "bidirectional"])
def test_fused_lstm_with_one_bias_or_none_agrees_with_the_composed_equations(bias_ih, bias_hh, reverse):
    """The fused LSTM takes its input projection inside; each bias, present or not, must still land
    where the equations put it, and receive its own gradient."""
    rng = np.random.default_rng(3)

    def leaf(*shape):
        return engine.tensor(rng.normal(size=shape), requires_grad=True)
    x, w_ih, w_hh = leaf(4, 2, 3), leaf(8, 3), leaf(8, 2)
    b_ih, b_hh = (leaf(8) if bias_ih else None), (leaf(8) if bias_hh else None)
    weights = [(w_ih, w_hh, b_ih, b_hh)] * (2 if reverse else 1)
    leaves = [t for t in (x, w_ih, w_hh, b_ih, b_hh) if t is not None]
    results = []
    for fused in (True, False):
        y, (h, c) = F.lstm(x, None, weights, bidirectional=reverse, fused=fused)
        ((y * y).sum() + (c * c).sum()).backward()
        results.append([y.detach().numpy()] + [t.grad.numpy() for t in leaves])
        for t in leaves:
            t.grad = None
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_functional_lstm_names_a_feature_or_dtype_mismatch():
    x = engine.randn(5, 2, 3)
    with pytest.raises(ValueError, match=r"lstm: input has 3 features .* but the weight of shape \(16, 4\) expects 4"):
        F.lstm(x, None, [(engine.randn(16, 4), engine.randn(16, 4), None, None)])
    with pytest.raises(TypeError, match="lstm: input dtype float64 differs from weight dtype float32"):
        F.lstm(x.double(), None, [(engine.randn(16, 3), engine.randn(16, 4), None, None)])


def test_composed_and_fused_cells_both_have_second_derivatives():
    cell = nn.LSTMCell(2, 2, fused=False).double()
    names = [n for n, _ in cell.named_parameters()]

    def fn(x, h, c, *ps):
        with swap_parameters(cell, dict(zip(names, ps))):
            return cell(x, (h, c))

    rng = np.random.default_rng(6)
    x, h, c = (engine.tensor(rng.standard_normal((1, 2))) for _ in range(3))
    gradgradcheck(fn, [x, h, c, *[p.detach() for p in cell.parameters()]], atol=1e-5, rtol=1e-3)

    fused = nn.LSTMCell(2, 2, fused=True).double()
    fused.load_state_dict(cell.state_dict())
    gradgradcheck(lambda x, h, c: fused(x, (h, c)), [x, h, c], atol=1e-5, rtol=1e-3)


# ============================================================================================
# Deep graphs, dropout, shapes
# ============================================================================================
def test_ten_thousand_step_rnn_cell_back_propagates():
    cell = nn.RNNCell(2, 3)
    x = engine.randn(1, 2)
    h = engine.zeros(1, 3, requires_grad=True)
    state = h
    for _ in range(10_000):
        state = cell(x, state)
    state.sum().backward()  # iterative backward: no RecursionError
    assert cell.weight_hh.grad is not None and np.isfinite(cell.weight_hh.grad.numpy()).all()
    assert h.grad.shape == (1, 3)


def test_dropout_between_layers_is_reproducible_for_a_seed_and_off_in_eval():
    model = nn.LSTM(3, 8, num_layers=3, dropout=0.5)
    x = engine.randn(4, 2, 3)
    engine.manual_seed(7)
    y1, _ = model(x)
    engine.manual_seed(7)
    y2, _ = model(x)
    y3, _ = model(x)  # the generator has moved on: other masks
    np.testing.assert_array_equal(_np(y1), _np(y2))
    assert not np.allclose(_np(y1), _np(y3))
    model.eval()
    e1, _ = model(x)
    e2, _ = model(x)
    np.testing.assert_array_equal(_np(e1), _np(e2))
    no_dropout = nn.LSTM(3, 8, num_layers=3)
    no_dropout.load_state_dict(model.state_dict())
    np.testing.assert_allclose(_np(e1), _np(no_dropout(x)[0]), atol=1e-7)


def test_dropout_on_a_single_layer_warns_like_pytorch():
    with pytest.warns(UserWarning, match="num_layers=1"):
        nn.GRU(2, 3, dropout=0.2)


def test_initial_state_defaults_to_zeros_and_last_state_matches_output():
    model = nn.GRU(3, 4, num_layers=2, batch_first=True)
    x = engine.randn(2, 5, 3)
    y, h_n = model(x)
    y0, h0_n = model(x, engine.zeros(2, 2, 4))
    np.testing.assert_array_equal(_np(y), _np(y0))
    np.testing.assert_allclose(_np(h_n[-1]), _np(y[:, -1]))  # the top layer's last state is the last output
    assert y.shape == (2, 5, 4) and h_n.shape == (2, 2, 4)


def test_functional_lstm_is_the_module_computation():
    model = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    x = engine.randn(5, 2, 3)
    y, (h, c) = F.lstm(x, None, [tuple(w) for w in model.all_weights], num_layers=2, bidirectional=True)
    y2, (h2, c2) = model(x)
    np.testing.assert_array_equal(_np(y), _np(y2))
    np.testing.assert_array_equal(_np(c), _np(c2))


# ============================================================================================
# Bad input
# ============================================================================================
def test_wrong_input_features_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"LSTM: expected input .* features = 3, got \(5, 2, 4\)"):
        nn.LSTM(3, 4)(engine.randn(5, 2, 4))
    with pytest.raises(ValueError, match=r"GRUCell: expected input of shape \(N, 3\)"):
        nn.GRUCell(3, 4)(engine.randn(2, 5))
    with pytest.raises(ValueError, match="RNN: expected input"):
        nn.RNN(3, 4)(engine.randn(2, 5, 1, 3))


def test_wrong_state_shapes_are_refused():
    with pytest.raises(ValueError, match=r"GRU: hx must have shape \(2, 2, 4\), got \(1, 2, 4\)"):
        nn.GRU(3, 4, num_layers=2)(engine.randn(5, 2, 3), engine.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"LSTM: c0 must have shape \(2, 3, 4\)"):
        nn.LSTM(3, 4, bidirectional=True, batch_first=True)(
            engine.randn(3, 5, 3), (engine.zeros(2, 3, 4), engine.zeros(2, 5, 4)))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a tuple \(h0, c0\)"):
        nn.LSTM(3, 4)(engine.randn(5, 2, 3), engine.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"LSTMCell: c must have shape \(2, 4\)"):
        nn.LSTMCell(3, 4)(engine.randn(2, 3), (engine.zeros(2, 4), engine.zeros(4)))


def test_bad_configuration_and_dtype_are_refused():
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        nn.LSTM(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size"):
        nn.GRU(3, 0)
    with pytest.raises(TypeError, match="LSTM: input has dtype float64 but the parameters are float32"):
        nn.LSTM(3, 4)(engine.randn(5, 2, 3, dtype=engine.float64))
