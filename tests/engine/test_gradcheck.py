"""The gradient checker is itself tested: it must catch small and sneaky backward bugs."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.autograd import Function
from engine.ops.activation import Softmax


class AlmostSquare(Function):
    """Forward x^2 but backward 2x * 1.001: wrong by 0.1%."""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        (x,) = self.inputs
        return gy * x * 2.002


class ZeroSoftmax(Softmax):
    """A softmax whose backward forgets everything: passes a checker that sums outputs."""

    def backward(self, gy):
        return gy * 0.0


def test_catches_a_backward_wrong_by_a_tenth_of_a_percent():
    x = engine.tensor(np.linspace(1, 3, 6), requires_grad=True)
    with pytest.raises(engine.GradcheckError) as info:
        engine.gradcheck(lambda a: AlmostSquare()(a), [x], atol=1e-7, rtol=1e-4)
    report = info.value.report
    assert not report.passed
    assert report.max_rel_error == pytest.approx(1e-3, rel=1e-3)
    assert "FAILED" in str(info.value) and "worst at input 0" in str(info.value)


def test_catches_a_zero_softmax_backward_that_summing_outputs_would_miss():
    x = engine.tensor(np.random.default_rng(0).normal(size=(2, 4)), requires_grad=True)
    # the flawed check: d(sum softmax)/dx is 0, exactly what the broken backward returns
    s = ZeroSoftmax(1)(x).sum()
    s.backward()
    np.testing.assert_allclose(x.grad.numpy(), 0.0)
    with pytest.raises(engine.GradcheckError):
        engine.gradcheck(lambda a: ZeroSoftmax(1)(a), [x])


def test_directional_mode_catches_the_same_bug_and_passes_correct_ops():
    x = engine.tensor(np.linspace(1, 3, 50).reshape(5, 10), requires_grad=True)
    with pytest.raises(engine.GradcheckError):
        engine.gradcheck(lambda a: AlmostSquare()(a), [x], mode="directional", atol=1e-7, rtol=1e-4)
    report = engine.gradcheck(lambda a: (a * a).softmax(dim=1), [x], mode="directional")
    assert report.passed and report.checked == 4


def test_report_of_a_passing_check():
    x = engine.tensor([0.3, -0.2], requires_grad=True)
    report = engine.gradcheck(engine.tanh, [x])
    assert report.passed and report.checked == 2 and report.max_abs_error < 1e-8


def test_gradgradcheck_catches_a_wrong_second_derivative():
    class LinearBackwardCube(Function):
        """Forward x^3 with a backward 3x^2 written so its own derivative is wrong (uses a constant)."""

        def forward(self, x):
            return x**3

        def backward(self, gy):
            (x,) = self.inputs
            return gy * engine.tensor(3 * x.data**2)  # constant: second derivative lost

    x = engine.tensor([0.5, 1.5], requires_grad=True)
    engine.gradcheck(lambda a: LinearBackwardCube()(a), [x])  # first order is right
    with pytest.raises(engine.GradcheckError):
        engine.gradgradcheck(lambda a: LinearBackwardCube()(a), [x])


def test_inputs_are_checked_in_float64_even_if_given_float32():
    x = engine.tensor([0.1, 0.2], dtype=np.float32, requires_grad=True)
    assert engine.gradcheck(lambda a: a * a, [x]).passed
