"""Lesson 16's exercise checkers accept the solutions, reject typical wrong answers with a hint, and never raise."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr


def halving(curves, r_min, eta, rows=None, spent=None):
    """Successive halving written recursively (independently of the checker's loop): one rung per call."""
    n, R = curves.shape
    rows = np.arange(n) if rows is None else rows
    spent = np.zeros(n, int) if spent is None else spent
    spent[rows] = r_min  # a promoted run continues: its cost is the largest budget it reached
    scores = curves[rows, r_min - 1]
    if len(rows) == 1 or r_min == R:
        return int(rows[np.argmax(scores)]), int(spent.sum())
    keep = rows[np.argsort(-scores, kind="stable")[:max(1, len(rows) // eta)]]
    return halving(curves, min(r_min * eta, R), eta, keep, spent)


def restarting_halving(curves, r_min, eta):
    """Right winner, but counts every rung as a fresh run."""
    n, R = curves.shape
    alive, r, spent = np.arange(n), r_min, 0
    while True:
        spent += r * len(alive)
        scores = curves[alive, r - 1]
        if len(alive) == 1 or r == R:
            return int(alive[np.argmax(scores)]), spent
        alive = alive[np.argsort(-scores, kind="stable")[:max(1, len(alive) // eta)]]
        r = min(r * eta, R)


def test_solutions_pass(lesson):
    assert lesson.check_log_uniform(lambda lo, hi, n, rng: np.exp(rng.uniform(np.log(lo), np.log(hi), size=n)))
    assert lesson.check_successive_halving(halving)
    assert lesson.check_mixture_probability(
        lambda w, mu, sd, best: float(np.sum(np.asarray(w) * (1 - ndtr((best - np.asarray(mu)) / np.asarray(sd))))))


def test_wrong_answers_fail_with_a_hint(lesson, capsys):
    assert not lesson.check_log_uniform(lambda lo, hi, n, rng: rng.uniform(lo, hi, size=n))  # uniform, not log
    assert not lesson.check_successive_halving(restarting_halving)
    # the best after one epoch, with the right cost: a slow starter is missed
    assert not lesson.check_successive_halving(lambda c, r, e: (int(np.argmax(c[:, 0])), halving(c, r, e)[1]))
    assert not lesson.check_mixture_probability(lambda w, mu, sd, best: float(np.sum(w * ndtr((best - mu) / sd))))
    assert not lesson.check_mixture_probability(lambda w, mu, sd, best: float(np.mean(1 - ndtr((best - mu) / sd))))
    out = capsys.readouterr().out
    assert "draw the *logarithm*" in out and "largest budget it reached" in out and "the winner is row" in out
    assert "P(y_T < best)" in out and "weight each member" in out


def test_unanswered_and_crashing_answers_do_not_stop_the_notebook(lesson, capsys):
    def unanswered(*args):
        raise NotImplementedError

    assert not lesson.check_log_uniform(unanswered)
    assert not lesson.check_successive_halving(lambda *a: 1 / 0)
    assert not lesson.check_mixture_probability(None)
    out = capsys.readouterr().out
    assert out.count("not answered yet") == 2 and "ZeroDivisionError" in out
