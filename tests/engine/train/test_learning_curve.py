"""Learning-curve extrapolation (Domhan et al. 2015): the fits recover known curves, the probability of
beating the best is small for a curve that saturates below it and large for one heading above it, and the
callback stops a hopeless run, keeps a promising one and survives a resume."""

from __future__ import annotations

import numpy as np
import pytest

from engine.train.learning_curve import (
    LearningCurveStopping,
    extrapolate,
    fit_family,
    probability_to_beat,
)

X = np.arange(1, 31, dtype=np.float64)


def test_least_squares_recovers_a_noise_free_pow3_curve_and_its_final_value():
    y = 0.9 - 0.5 * X ** -0.8
    fit = fit_family("pow3", X[:10], y[:10], x_final=30)
    assert fit.params == pytest.approx([0.9, 0.5, 0.8], rel=1e-3)
    assert fit.mean == pytest.approx(y[-1], abs=1e-4)
    # the spread is the noise floor plus a tiny parameter uncertainty: a perfect fit is not certainty
    assert 1e-3 <= fit.std < 5e-3


def test_too_few_points_make_no_prediction():
    assert fit_family("pow3", X[:4], X[:4], 30) is None  # 3 parameters need 5 points
    assert extrapolate([0.5, 0.6, 0.65], 30) == []
    assert probability_to_beat([0.5, 0.6, 0.65], 30, best=0.99) == 1.0  # cannot tell: keep going


def test_weights_favour_the_family_that_generated_the_curve():
    rng = np.random.default_rng(0)
    y = 0.8 - 0.4 * np.exp(-0.3 * X) + rng.normal(0, 0.005, X.size)
    fits = {f.family: f for f in extrapolate(y[:20], 30)}
    assert sum(f.weight for f in fits.values()) == pytest.approx(1.0)
    assert max(fits, key=lambda k: fits[k].weight) == "exp3"
    assert fits["exp3"].mean == pytest.approx(0.8, abs=0.01)


def test_a_curve_saturating_below_the_best_has_a_small_probability_and_one_above_a_large_one():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.01, X.size)
    low = 0.75 - 0.3 * np.exp(-0.3 * X) + noise  # levels off at 0.75
    high = 0.95 - 0.5 * X ** -0.7 + noise  # still climbing, ends near 0.92
    assert probability_to_beat(low[:15], 30, best=0.85) < 0.01
    assert probability_to_beat(high[:15], 30, best=0.85) > 0.9
    # a loss to minimise is the same question upside down
    assert probability_to_beat(-low[:15], 30, best=-0.85, mode="min") == pytest.approx(
        probability_to_beat(low[:15], 30, best=0.85))


class _Trainer:
    def __init__(self, epochs):
        self.epochs, self.stop_training, self.stop_reason = epochs, False, None


def _feed(callback, curve, epochs=30):
    trainer = _Trainer(epochs)
    callback.on_train_begin(trainer)
    for epoch, value in enumerate(curve, start=1):
        callback.on_epoch_end(trainer, epoch, {"val_auc": value})
        if trainer.stop_training:
            return trainer, epoch
    return trainer, None


def test_the_callback_stops_a_hopeless_run_and_says_why():
    low = 0.75 - 0.3 * np.exp(-0.3 * X) + np.random.default_rng(1).normal(0, 0.01, X.size)
    cb = LearningCurveStopping("val_auc", "max", best=0.85)
    trainer, stopped = _feed(cb, low)
    assert stopped is not None and 4 <= stopped < 30 and cb.stopped_epoch == stopped
    assert cb.probability < 0.05 and "learning-curve stop at epoch" in trainer.stop_reason
    assert [d[0] for d in cb.decisions] == list(range(4, stopped + 1))  # a decision every epoch from the 4th


def test_the_callback_never_stops_a_run_that_already_reached_the_best_or_has_nothing_to_beat():
    late_dip = np.r_[np.linspace(0.5, 0.9, 8), np.full(22, 0.6)]  # reached 0.9 once, then collapsed
    _, stopped = _feed(LearningCurveStopping("val_auc", "max", best=0.85), late_dip)
    assert stopped is None
    _, stopped = _feed(LearningCurveStopping("val_auc", "max", best=None), np.full(30, 0.5))
    assert stopped is None
    best = iter([None] * 10 + [0.99] * 20).__next__  # a callable: the sweep's best may appear while we run
    _, stopped = _feed(LearningCurveStopping("val_auc", "max", best=best), np.full(30, 0.5) + 0.001 * X)
    assert stopped is not None and stopped >= 11


def test_the_callback_state_survives_a_resume():
    low = 0.75 - 0.3 * np.exp(-0.3 * X)
    first = LearningCurveStopping("val_auc", "max", best=0.99)
    _feed(first, low[:3])
    second = LearningCurveStopping("val_auc", "max", best=0.99)
    second.load_state_dict(first.state_dict())
    trainer = _Trainer(30)
    second.on_train_begin(trainer)
    for epoch in range(4, 31):
        second.on_epoch_end(trainer, epoch, {"val_auc": low[epoch - 1]})
        if trainer.stop_training:
            break
    assert second.curve[:3] == list(low[:3]) and second.stopped_epoch == 4


def test_a_run_that_does_not_log_the_monitor_is_left_alone_only_when_asked():
    trainer = _Trainer(30)
    lenient = LearningCurveStopping("val_dice", "max", best=0.9, require_monitor=False)
    lenient.on_train_begin(trainer)
    lenient.on_epoch_end(trainer, 1, {"val_loss": 0.3})
    assert lenient.missing and not trainer.stop_training
    strict = LearningCurveStopping("val_dice", "max", best=0.9)
    strict.on_train_begin(trainer)
    with pytest.raises(ValueError, match="monitor 'val_dice' is not in the epoch's logs"):
        strict.on_epoch_end(trainer, 1, {"val_loss": 0.3})


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="threshold must be in"):
        LearningCurveStopping(threshold=1.5)
    with pytest.raises(ValueError, match="mode must be"):
        LearningCurveStopping(mode="up")
