"""Optimisers: update equations (by hand and against torch.optim), parameter groups, state dicts,
devices."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import engine
from engine import backend
from engine.nn import Parameter
from engine.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from engine.tensor import Tensor

SHAPES = [(3, 4), (5,)]
N_STEPS = 6

# (engine class, torch class name, keyword arguments) — every option the docstrings promise
CONFIGS = [
    (SGD, "SGD", {"lr": 0.1}),
    (SGD, "SGD", {"lr": 0.1, "momentum": 0.9}),
    (SGD, "SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.1}),
    (SGD, "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (SGD, "SGD", {"lr": 0.05, "momentum": 0.5, "maximize": True}),
    (Adam, "Adam", {"lr": 0.01}),
    (Adam, "Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    (Adam, "Adam", {"lr": 0.01, "amsgrad": True}),
    (Adam, "Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.05, "maximize": True}),
    (AdamW, "AdamW", {"lr": 0.01}),
    (AdamW, "AdamW", {"lr": 0.02, "weight_decay": 0.3, "amsgrad": True}),
    (RMSprop, "RMSprop", {"lr": 0.01}),
    (RMSprop, "RMSprop", {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.1}),
    (RMSprop, "RMSprop", {"lr": 0.01, "centered": True}),
    (RMSprop, "RMSprop", {"lr": 0.01, "momentum": 0.9}),
    (
        RMSprop,
        "RMSprop",
        {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.01, "maximize": True},
    ),
    (Adagrad, "Adagrad", {"lr": 0.1}),
    (
        Adagrad,
        "Adagrad",
        {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.5},
    ),
]
IDS = [f"{cls.__name__}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for cls, _, kw in CONFIGS]


def _initial_values(dtype=np.float64):
    rng = np.random.default_rng(7)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def _gradient_sequence(n_steps=N_STEPS, dtype=np.float64):
    rng = np.random.default_rng(11)
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(n_steps)]


def _run_engine(cls, kwargs, grads, params=None, device="cpu", opt=None):
    """Apply ``grads`` (a list of per-step gradient lists) with engine's optimiser; returns params, opt."""
    if params is None:
        params = [Parameter(backend.to_device(v, device)) for v in _initial_values(grads[0][0].dtype)]
    if opt is None:
        opt = cls(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = Tensor(backend.to_device(g, device))
        opt.step()
    return params, opt


def _run_torch(torch, name, kwargs, grads, params=None, opt=None):
    if params is None:
        params = [torch.nn.Parameter(torch.tensor(v)) for v in _initial_values(grads[0][0].dtype)]
    if opt is None:
        opt = getattr(torch.optim, name)(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g)
        opt.step()
    return params, opt


def _values(params):
    out = []
    for p in params:
        out.append(
            p.detach().numpy()
            if hasattr(p, "requires_grad_") and not isinstance(p, Tensor)
            else backend.asnumpy(p.data)
        )
    return out


# --------------------------------------------------------------------------------------------- by hand
def test_sgd_with_momentum_matches_hand_computed_steps():
    # p0 = 1, g = 1 every step, lr = 0.1, mu = 0.9:  b = 1, 1.9, 2.71  ->  p = 0.9, 0.71, 0.439
    p = Parameter(np.array([1.0]))
    opt = SGD([p], lr=0.1, momentum=0.9)
    seen = []
    for _ in range(3):
        p.grad = Tensor(np.array([1.0]))
        opt.step()
        seen.append(p.data[0])
    np.testing.assert_allclose(seen, [0.9, 0.71, 0.439], rtol=1e-12)
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [2.71])


def test_sgd_nesterov_and_weight_decay_by_hand():
    # g' = g + wd*p = 1 + 0.5*2 = 2; b = 2; step = g' + mu*b = 2 + 1 = 3; p = 2 - 0.1*3 = 1.7
    p = Parameter(np.array([2.0]))
    opt = SGD([p], lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.5)
    p.grad = Tensor(np.array([1.0]))
    opt.step()
    np.testing.assert_allclose(p.data, [1.7], rtol=1e-12)
    # second step: g' = 1 + 0.5*1.7 = 1.85; b = 0.5*2 + 1.85 = 2.85; step = 1.85 + 0.5*2.85 = 3.275
    p.grad = Tensor(np.array([1.0]))
    opt.step()
    np.testing.assert_allclose(p.data, [1.7 - 0.1 * 3.275], rtol=1e-12)


def test_adam_by_hand_first_steps():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    p = Parameter(np.array([1.0, -2.0]))
    opt = Adam([p], lr=lr, betas=(b1, b2), eps=eps)
    # the first step of Adam moves every coordinate by lr (times the sign of its gradient)
    p.grad = Tensor(np.array([3.0, -0.5]))
    opt.step()
    np.testing.assert_allclose(p.data, [1.0 - lr, -2.0 + lr], rtol=1e-7)
    # second step, the moments written out
    g1, g2 = np.array([3.0, -0.5]), np.array([1.0, 2.0])
    m = (1 - b1) * g1 * b1 + (1 - b1) * g2
    v = (1 - b2) * g1**2 * b2 + (1 - b2) * g2**2
    expected = p.data - lr * (m / (1 - b1**2)) / (np.sqrt(v / (1 - b2**2)) + eps)
    p.grad = Tensor(g2)
    opt.step()
    np.testing.assert_allclose(p.data, expected, rtol=1e-12)
    assert opt.state[p]["step"] == 2


def test_adamw_decays_the_weights_directly():
    # with a zero gradient Adam's step is zero, so only the decoupled decay acts: p *= 1 - lr*wd
    p = Parameter(np.array([2.0]))
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    p.grad = Tensor(np.array([0.0]))
    opt.step()
    np.testing.assert_allclose(p.data, [2.0 * (1 - 0.05)], rtol=1e-12)
    # while Adam's L2 decay goes through the moments: its first step is lr * sign(wd * p)
    q = Parameter(np.array([2.0]))
    opt = Adam([q], lr=0.1, weight_decay=0.5)
    q.grad = Tensor(np.array([0.0]))
    opt.step()
    np.testing.assert_allclose(q.data, [1.9], rtol=1e-7)


def test_rmsprop_centered_by_hand():
    lr, alpha, eps = 0.01, 0.9, 1e-8
    p = Parameter(np.array([1.0]))
    opt = RMSprop([p], lr=lr, alpha=alpha, eps=eps, centered=True)
    p.grad = Tensor(np.array([2.0]))
    opt.step()
    v, gbar = (1 - alpha) * 4.0, (1 - alpha) * 2.0
    np.testing.assert_allclose(p.data, [1.0 - lr * 2.0 / (math.sqrt(v - gbar**2) + eps)], rtol=1e-12)


def test_adagrad_by_hand_with_lr_decay():
    p = Parameter(np.array([1.0]))
    opt = Adagrad([p], lr=1.0, lr_decay=1.0, eps=0.0, initial_accumulator_value=0.0)
    p.grad = Tensor(np.array([3.0]))
    opt.step()  # sum = 9, step = 1 * 3 / 3 = 1
    np.testing.assert_allclose(p.data, [0.0], atol=1e-15)
    p.grad = Tensor(np.array([4.0]))
    opt.step()  # sum = 25, lr = 1 / (1 + 1) = 0.5, step = 0.5 * 4 / 5 = 0.4
    np.testing.assert_allclose(p.data, [-0.4], rtol=1e-12)


# ----------------------------------------------------------------------------------- against PyTorch
@pytest.mark.torch
@pytest.mark.parametrize("cls, torch_name, kwargs", CONFIGS, ids=IDS)
def test_matches_torch_optim_float64(torch, cls, torch_name, kwargs):
    grads = _gradient_sequence()
    ours, _ = _run_engine(cls, kwargs, grads)
    theirs, _ = _run_torch(torch, torch_name, kwargs, grads)
    for a, b in zip(_values(ours), _values(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("cls, torch_name, kwargs", CONFIGS[::3], ids=IDS[::3])
def test_matches_torch_optim_float32(torch, cls, torch_name, kwargs):
    grads = _gradient_sequence(dtype=np.float32)
    ours, _ = _run_engine(cls, kwargs, grads)
    theirs, _ = _run_torch(torch, torch_name, kwargs, grads)
    for a, b in zip(_values(ours), _values(theirs)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.torch
def test_per_group_learning_rates_match_torch(torch):
    grads = _gradient_sequence()
    init = _initial_values()
    ours = [Parameter(v.copy()) for v in init]
    opt = SGD([{"params": [ours[0]], "lr": 0.5}, {"params": [ours[1]]}], lr=0.01, momentum=0.9)
    _run_engine(SGD, {}, grads, params=ours, opt=opt)
    theirs = [torch.nn.Parameter(torch.tensor(v)) for v in init]
    topt = torch.optim.SGD(
        [{"params": [theirs[0]], "lr": 0.5}, {"params": [theirs[1]]}], lr=0.01, momentum=0.9
    )
    _run_torch(torch, "SGD", {}, grads, params=theirs, opt=topt)
    for a, b in zip(_values(ours), _values(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


# ----------------------------------------------------------------------------------------- state dict
def _host_copy(state_dict):
    """What a checkpoint does: every array to a NumPy copy, everything else deep-copied."""

    def conv(v):
        return v.numpy().copy() if isinstance(v, Tensor) else copy.deepcopy(v)

    return {
        "state": {i: {k: conv(v) for k, v in s.items()} for i, s in state_dict["state"].items()},
        "param_groups": copy.deepcopy(state_dict["param_groups"]),
    }


@pytest.mark.parametrize("cls, torch_name, kwargs", CONFIGS, ids=IDS)
def test_state_dict_round_trip_continues_identically(cls, torch_name, kwargs):
    grads = _gradient_sequence(8)
    params, opt = _run_engine(cls, kwargs, grads[:4])
    saved = _host_copy(opt.state_dict())
    clones = [Parameter(np.array(p.data, copy=True)) for p in params]
    resumed = cls(clones, lr=123.0)  # hyperparameters come back from the state dict
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == kwargs["lr"]
    _run_engine(cls, kwargs, grads[4:], params=params, opt=opt)
    _run_engine(cls, kwargs, grads[4:], params=clones, opt=resumed)
    for a, b in zip(_values(params), _values(clones)):
        np.testing.assert_array_equal(a, b)


def test_state_dict_has_pytorchs_layout():
    a, b, c = (Parameter(np.zeros(2)) for _ in range(3))
    opt = Adam([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1, amsgrad=True)
    for p in (a, c):  # b gets no gradient, so it has no state
        p.grad = Tensor(np.ones(2))
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert [g["lr"] for g in sd["param_groups"]] == [0.1, 0.5]
    assert set(sd["state"]) == {0, 2}
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][2]["step"] == 1
    assert isinstance(sd["state"][0]["exp_avg"], Tensor)


@pytest.mark.torch
@pytest.mark.parametrize(
    "cls, torch_name, kwargs",
    [CONFIGS[3], CONFIGS[8], CONFIGS[15], CONFIGS[17]],
    ids=[IDS[3], IDS[8], IDS[15], IDS[17]],
)
def test_state_dicts_move_between_torch_and_engine(torch, cls, torch_name, kwargs):
    grads = _gradient_sequence(8)
    # torch runs 4 steps; its state dict is loaded into ours and both continue
    tparams, topt = _run_torch(torch, torch_name, kwargs, grads[:4])
    ours = [Parameter(p.detach().numpy().copy()) for p in tparams]
    opt = cls(ours, **kwargs)
    opt.load_state_dict(topt.state_dict())
    _run_torch(torch, torch_name, kwargs, grads[4:], params=tparams, opt=topt)
    _run_engine(cls, kwargs, grads[4:], params=ours, opt=opt)
    for a, b in zip(_values(ours), _values(tparams)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # and ours loads into torch (arrays as torch tensors, the step as a tensor, as torch keeps it)
    sd = opt.state_dict()
    as_torch = {
        "state": {
            i: {k: torch.tensor(float(v)) if k == "step" else torch.tensor(v.numpy()) for k, v in s.items()}
            for i, s in sd["state"].items()
        },
        "param_groups": copy.deepcopy(sd["param_groups"]),
    }
    fresh = [torch.nn.Parameter(torch.tensor(_values(ours)[i])) for i in range(len(ours))]
    topt2 = getattr(torch.optim, torch_name)(fresh, **kwargs)
    topt2.load_state_dict(as_torch)
    _run_torch(torch, torch_name, kwargs, grads[:2], params=fresh, opt=topt2)
    _run_engine(cls, kwargs, grads[:2], params=ours, opt=opt)
    for a, b in zip(_values(ours), _values(fresh)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_load_state_dict_reports_every_mismatch():
    a, b = Parameter(np.zeros(3)), Parameter(np.zeros((2, 2)))
    opt = Adam([a, b], lr=0.1)
    a.grad, b.grad = Tensor(np.ones(3)), Tensor(np.ones((2, 2)))
    opt.step()
    sd = _host_copy(opt.state_dict())
    other = Adam([Parameter(np.zeros(4)), Parameter(np.zeros((2, 3)))], lr=0.1)
    with pytest.raises(ValueError) as err:
        other.load_state_dict(sd)
    msg = str(err.value)
    assert "state[0]['exp_avg'] has shape (3,)" in msg and "state[1]['exp_avg_sq'] has shape (2, 2)" in msg
    with pytest.raises(ValueError, match="1 parameter group"):
        Adam([{"params": [a]}, {"params": [b]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="2 parameters in the state dict, 1 in this optimizer"):
        Adam([a]).load_state_dict(sd)


# -------------------------------------------------------------------------------- groups and grads
def test_add_param_group_takes_defaults_and_refuses_duplicates():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.01
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda p: SGD([p]), ValueError, "required hyperparameter 'lr'"),
        (lambda p: SGD([], lr=0.1), ValueError, "empty parameter list"),
        (lambda p: SGD(p, lr=0.1), TypeError, "single Tensor"),
        (lambda p: SGD({p}, lr=0.1), TypeError, "not a set"),
        (lambda p: SGD([p, p], lr=0.1), ValueError, "more than once"),
        (lambda p: SGD([p * 2], lr=0.1), ValueError, "not a leaf"),
        (lambda p: SGD([np.ones(2)], lr=0.1), TypeError, "expected a Tensor"),
        (lambda p: SGD([p], lr=-1.0), ValueError, "learning rate"),
        (lambda p: SGD([p], lr=0.1, nesterov=True), ValueError, "Nesterov"),
        (lambda p: Adam([p], betas=(0.9, 1.0)), ValueError, "betas"),
        (lambda p: AdamW([p], weight_decay=-0.1), ValueError, "weight_decay"),
        (lambda p: RMSprop([p], alpha=-0.5), ValueError, "alpha"),
        (lambda p: Adagrad([p], lr_decay=-1.0), ValueError, "lr_decay"),
    ],
)
def test_bad_arguments_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make(Parameter(np.ones(2)))


def test_parameters_without_gradient_are_left_alone():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = Adam([a, b], lr=0.1)
    a.grad = Tensor(np.ones(2))
    opt.step()
    np.testing.assert_array_equal(b.data, [1.0, 1.0])
    assert b not in opt.state and a in opt.state


def test_step_updates_in_place_without_a_graph():
    p = Parameter(np.ones(3, dtype=np.float32))
    storage = p.data
    opt = SGD([p], lr=0.5)
    (p * p).sum().backward()
    opt.step()
    assert p.data is storage and p.grad_fn is None and p.requires_grad
    np.testing.assert_allclose(p.data, [0.0, 0.0, 0.0])


def test_zero_grad_never_touches_a_shared_gradient_array():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    shared = np.full(2, 5.0)
    a.grad, b.grad = Tensor(shared), Tensor(shared)
    SGD([a], lr=0.1).zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.data, [0.0, 0.0])
    np.testing.assert_array_equal(b.grad.data, [5.0, 5.0])
    SGD([b], lr=0.1).zero_grad()
    assert b.grad is None


def test_step_with_closure_records_the_graph_and_returns_the_loss():
    p = Parameter(np.array([3.0]))
    opt = SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with engine.no_grad():
        loss = opt.step(closure)
    assert float(loss.item()) == 9.0
    np.testing.assert_allclose(p.data, [3.0 - 0.25 * 6.0])


def test_adam_minimises_a_quadratic():
    target = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    p = Parameter(np.zeros(3, dtype=np.float32))
    opt = Adam([p], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        diff = p - Tensor(target)
        (diff * diff).sum().backward()
        opt.step()
    np.testing.assert_allclose(p.data, target, atol=1e-2)


def test_base_class_needs_an_update_rule():
    p = Parameter(np.ones(1))
    opt = Optimizer([p], {"lr": 0.1})
    p.grad = Tensor(np.ones(1))
    with pytest.raises(NotImplementedError, match="update rule"):
        opt.step()


# -------------------------------------------------------------------------------------------- devices
@pytest.mark.parametrize(
    "cls, torch_name, kwargs",
    [CONFIGS[3], CONFIGS[8], CONFIGS[10], CONFIGS[15], CONFIGS[17]],
    ids=[IDS[3], IDS[8], IDS[10], IDS[15], IDS[17]],
)
def test_runs_on_every_device_like_on_the_cpu(device, cls, torch_name, kwargs):
    grads = _gradient_sequence(4, dtype=np.float32)
    ours, opt = _run_engine(cls, kwargs, grads, device=device)
    reference, _ = _run_engine(cls, kwargs, grads)
    for p in ours:
        assert p.device == device and p.dtype == np.float32
        for value in opt.state[p].values():
            if backend.is_array(value):
                assert backend.device_of(value) == device
    for a, b in zip(_values(ours), _values(reference)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # a state dict saved on the device loads onto the CPU
    clones = [Parameter(np.array(v, copy=True)) for v in _values(ours)]
    resumed = cls(clones, **kwargs)
    resumed.load_state_dict(opt.state_dict())
    assert all(
        isinstance(v, np.ndarray)
        for s in resumed.state.values()
        for v in s.values()
        if not isinstance(v, (int, float))
    )
