"""Learning-rate schedules: hand-computed values, the sequences of torch.optim.lr_scheduler,
state dicts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.nn import Parameter
from engine.optim import SGD, Adam
from engine.optim import lr_scheduler as S

LRS = (0.1, 0.02)  # two parameter groups with different rates


def _engine_opt(cls=SGD, **kwargs):
    groups = [{"params": [Parameter(np.zeros(1))], "lr": lr} for lr in LRS]
    return cls(groups, **({"lr": 1.0} | kwargs))


def _torch_opt(torch, name="SGD", **kwargs):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in LRS]
    return getattr(torch.optim, name)(groups, **({"lr": 1.0} | kwargs))


def _trace(opt, sched, n, metrics=None, extra=None):
    """The rates of every group after construction and after each of n steps (plus momenta)."""
    rows = [[g["lr"] for g in opt.param_groups] + (extra(opt) if extra else [])]
    for i in range(n):
        opt.step()
        sched.step(metrics[i]) if metrics is not None else sched.step()
        rows.append([g["lr"] for g in opt.param_groups] + (extra(opt) if extra else []))
        assert list(sched.get_last_lr()) == rows[-1][: len(LRS)]
    return np.array(rows)


# name -> (builder(module, opt), steps); module is engine's lr_scheduler or torch's
CASES = {
    "StepLR": (lambda m, o: m.StepLR(o, step_size=3, gamma=0.5), 12),
    "MultiStepLR": (lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3), 12),
    "ExponentialLR": (lambda m, o: m.ExponentialLR(o, gamma=0.9), 10),
    "CosineAnnealingLR": (lambda m, o: m.CosineAnnealingLR(o, T_max=5, eta_min=0.001), 14),
    "LinearLR": (lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4), 8),
    "LinearLR-decay": (lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=5), 8),
    "ConstantLR": (lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=3), 6),
    "SequentialLR-warmup-cosine": (
        lambda m, o: m.SequentialLR(
            o,
            [m.LinearLR(o, start_factor=0.1, total_iters=3), m.CosineAnnealingLR(o, T_max=6)],
            milestones=[3],
        ),
        12,
    ),
    "SequentialLR-three": (
        lambda m, o: m.SequentialLR(
            o,
            [
                m.ConstantLR(o, factor=0.5, total_iters=2),
                m.ExponentialLR(o, gamma=0.8),
                m.StepLR(o, step_size=2, gamma=0.5),
            ],
            milestones=[2, 5],
        ),
        10,
    ),
    "OneCycleLR-cos": (lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=20), 20),
    "OneCycleLR-linear": (
        lambda m, o: m.OneCycleLR(
            o,
            max_lr=0.3,
            epochs=3,
            steps_per_epoch=5,
            pct_start=0.4,
            anneal_strategy="linear",
            div_factor=10.0,
            final_div_factor=100.0,
        ),
        15,
    ),
    "OneCycleLR-three-phase": (
        lambda m, o: m.OneCycleLR(o, max_lr=0.8, total_steps=16, three_phase=True),
        16,
    ),
}


@pytest.mark.torch
@pytest.mark.parametrize("case", list(CASES))
def test_sequence_matches_torch(torch, case):
    build, n = CASES[case]
    momentum = [lambda o: [g["momentum"] for g in o.param_groups]] if "OneCycle" in case else [None]
    opt = _engine_opt(momentum=0.9)
    ours = _trace(opt, build(S, opt), n, extra=momentum[0])
    topt = _torch_opt(torch, momentum=0.9)
    theirs = _trace(topt, build(torch.optim.lr_scheduler, topt), n, extra=momentum[0])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


@pytest.mark.torch
def test_one_cycle_cycles_adams_beta1_like_torch(torch):
    def beta1(o):
        return [g["betas"][0] for g in o.param_groups]

    opt = _engine_opt(Adam)
    ours = _trace(opt, S.OneCycleLR(opt, max_lr=0.01, total_steps=10), 10, extra=beta1)
    topt = _torch_opt(torch, "Adam")
    theirs = _trace(
        topt, torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.01, total_steps=10), 10, extra=beta1
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.torch
def test_two_chained_schedulers_match_torch(torch):
    opt = _engine_opt()
    a, b = S.StepLR(opt, step_size=2, gamma=0.5), S.ExponentialLR(opt, gamma=0.9)
    topt = _torch_opt(torch)
    ta, tb = (
        torch.optim.lr_scheduler.StepLR(topt, step_size=2, gamma=0.5),
        torch.optim.lr_scheduler.ExponentialLR(topt, gamma=0.9),
    )
    for _ in range(7):
        for o, x, y in ((opt, a, b), (topt, ta, tb)):
            o.step()
            x.step()
            y.step()
        np.testing.assert_allclose(
            [g["lr"] for g in opt.param_groups], [g["lr"] for g in topt.param_groups], rtol=1e-12
        )


PLATEAU_METRICS = [
    1.0,
    0.9,
    0.9,
    0.9,
    0.9,
    0.95,
    0.5,
    0.5,
    0.49999,
    0.5,
    0.5,
    0.5,
    0.5,
    0.4,
    0.4,
    0.4,
    0.4,
    0.4,
]


@pytest.mark.torch
@pytest.mark.parametrize(
    "kwargs",
    [
        {"patience": 2},
        {"patience": 1, "factor": 0.5, "cooldown": 2, "threshold_mode": "abs", "threshold": 0.05},
        {"patience": 0, "factor": 0.2, "min_lr": [0.004, 0.001]},
        {"mode": "max", "patience": 1},
    ],
)
def test_reduce_on_plateau_matches_torch(torch, kwargs):
    opt = _engine_opt()
    ours = _trace(opt, S.ReduceLROnPlateau(opt, **kwargs), len(PLATEAU_METRICS), metrics=PLATEAU_METRICS)
    topt = _torch_opt(torch)
    theirs = _trace(
        topt,
        torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs),
        len(PLATEAU_METRICS),
        metrics=PLATEAU_METRICS,
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert not np.allclose(ours[0], ours[-1])  # the sequence really reduced the rate


# -------------------------------------------------------------------------------------------- by hand
def test_step_lr_by_hand():
    opt = _engine_opt()
    rows = _trace(opt, S.StepLR(opt, step_size=2, gamma=0.1), 5)
    np.testing.assert_allclose(rows[:, 0], [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-12)


def test_cosine_reaches_eta_min_at_t_max_and_halfway_is_the_mean():
    opt = _engine_opt()
    rows = _trace(opt, S.CosineAnnealingLR(opt, T_max=4, eta_min=0.01), 4)
    assert rows[2, 0] == pytest.approx((0.1 + 0.01) / 2, rel=1e-12)
    assert rows[4, 0] == pytest.approx(0.01, rel=1e-12)


def test_linear_warmup_by_hand():
    opt = _engine_opt()
    rows = _trace(opt, S.LinearLR(opt, start_factor=0.25, total_iters=3), 5)
    np.testing.assert_allclose(rows[:, 0], 0.1 * np.array([0.25, 0.5, 0.75, 1.0, 1.0, 1.0]), rtol=1e-12)


def test_one_cycle_endpoints():
    opt = _engine_opt(momentum=0.9)
    rows = _trace(
        opt, S.OneCycleLR(opt, max_lr=1.0, total_steps=10, div_factor=25.0, final_div_factor=1e4), 9
    )
    assert rows[0, 0] == pytest.approx(1.0 / 25)  # starts at max_lr / div_factor
    assert rows[:, 0].max() == pytest.approx(1.0)  # peaks at max_lr
    assert rows[-1, 0] == pytest.approx(1.0 / 25 / 1e4)  # ends at initial / final_div_factor
    momenta = [g["momentum"] for g in opt.param_groups]
    assert momenta[0] == pytest.approx(0.95)  # momentum moves opposite to the rate


# ---------------------------------------------------------------------------------------- state dicts
@pytest.mark.parametrize(
    "case", ["StepLR", "CosineAnnealingLR", "SequentialLR-warmup-cosine", "OneCycleLR-cos", "MultiStepLR"]
)
def test_state_dict_round_trip_through_json_continues_identically(case):
    build, n = CASES[case]
    opt = _engine_opt(momentum=0.9)
    sched = build(S, opt)
    _trace(opt, sched, n // 2)
    # a checkpoint stores scheduler and optimizer hyperparameters as JSON: they must be plain data
    saved_sched = json.loads(json.dumps(sched.state_dict()))
    saved_groups = json.loads(
        json.dumps([{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups])
    )
    opt2 = _engine_opt(momentum=0.9)
    sched2 = build(S, opt2)
    opt2.load_state_dict(
        {"state": {}, "param_groups": [g | {"params": [i]} for i, g in enumerate(saved_groups)]}
    )
    sched2.load_state_dict(saved_sched)
    rest = n - n // 2
    np.testing.assert_array_equal(_trace(opt, sched, rest), _trace(opt2, sched2, rest))


def test_plateau_state_round_trip():
    opt = _engine_opt()
    sched = S.ReduceLROnPlateau(opt, patience=1)
    _trace(opt, sched, 6, metrics=PLATEAU_METRICS)
    saved = json.loads(json.dumps(sched.state_dict()))
    opt2 = _engine_opt()
    opt2.load_state_dict(
        {
            "state": {},
            "param_groups": [{"lr": g["lr"], "params": [i]} for i, g in enumerate(opt.param_groups)],
        }
    )
    sched2 = S.ReduceLROnPlateau(opt2, patience=1)
    sched2.load_state_dict(saved)
    rest = PLATEAU_METRICS[6:]
    np.testing.assert_array_equal(
        _trace(opt, sched, len(rest), metrics=rest), _trace(opt2, sched2, len(rest), metrics=rest)
    )


# --------------------------------------------------------------------------------------------- errors
def test_errors_are_clear():
    opt = _engine_opt()
    with pytest.raises(TypeError, match="expected an engine.optim Optimizer"):
        S.StepLR(object(), step_size=1)
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(opt, step_size=1, last_epoch=3)
    with pytest.raises(ValueError, match="2 schedulers need 1 milestones"):
        S.SequentialLR(opt, [S.StepLR(opt, 1), S.StepLR(opt, 1)], milestones=[])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        S.SequentialLR(opt, [S.ReduceLROnPlateau(opt)], milestones=[])
    with pytest.raises(ValueError, match="give total_steps"):
        S.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="factor must be < 1"):
        S.ReduceLROnPlateau(opt, factor=1.5)
    sched = S.OneCycleLR(opt, max_lr=0.1, total_steps=2)
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="stepped 3 times, but total_steps is 2"):
        sched.step()


def test_cosine_restarts_at_twice_t_max():
    opt = _engine_opt()
    rows = _trace(opt, S.CosineAnnealingLR(opt, T_max=3), 6)
    assert rows[6, 0] == pytest.approx(0.1) and math.isclose(rows[3, 0], 0.0, abs_tol=1e-15)
