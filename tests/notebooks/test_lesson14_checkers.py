"""Lesson 14's exercise checkers accept the solutions, reject typical wrong answers, and never raise."""

from __future__ import annotations

import numpy as np


def _dtw(a, b, window, step_pattern=True):
    n = len(a)
    d = np.full((n + 1, n + 1), np.inf)
    d[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(max(1, i - window), min(n, i + window) + 1):
            best = min(d[i - 1, j - 1], d[i - 1, j], d[i, j - 1]) if step_pattern else d[i - 1, j - 1]
            d[i, j] = (a[i - 1] - b[j - 1]) ** 2 + best
    return np.sqrt(d[n, n])


def _kl(h, rho):
    r = h.mean(0)
    return np.sum(rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r)))


def test_solutions_pass(lesson):
    assert lesson.check_dtw(_dtw)
    assert lesson.check_kl_sparsity(_kl)


def test_wrong_answers_fail_with_a_hint(lesson, capsys):
    assert not lesson.check_dtw(lambda a, b, w: _dtw(a, b, w, step_pattern=False))  # only the diagonal
    assert not lesson.check_dtw(lambda a, b, w: _dtw(a, b, w) ** 2)  # no square root
    assert not lesson.check_dtw(lambda a, b, w: _dtw(a, b, len(a)))  # the window ignored
    per_sample = lambda h, rho: np.sum(rho * np.log(rho / h) + (1 - rho) * np.log((1 - rho) / (1 - h)))  # noqa: E731
    assert not lesson.check_kl_sparsity(per_sample)
    assert "average each unit over the batch first" in capsys.readouterr().out
    assert not lesson.check_kl_sparsity(lambda h, rho: np.sum(rho * np.log(rho / h.mean(0))))  # half the divergence


def test_unanswered_and_crashing_answers_do_not_raise(lesson, capsys):
    def boom(*args):
        raise IndexError("oops")

    def todo(*args):
        raise NotImplementedError

    for check in (lesson.check_dtw, lesson.check_kl_sparsity):
        assert not check(None)
        assert not check(todo)
        assert not check(boom)
    out = capsys.readouterr().out
    assert out.count("not answered yet") == 4 and out.count("your function raised IndexError") == 2
