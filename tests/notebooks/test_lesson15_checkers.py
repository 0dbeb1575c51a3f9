"""Lesson 15's exercise checkers accept the solutions, reject typical wrong answers, and never raise."""

from __future__ import annotations

import numpy as np


def _ranks(v):
    return np.argsort(np.argsort(v)).astype(float)


def test_solutions_pass(lesson):
    assert lesson.check_grad_cam(lambda a, da: np.maximum((da.mean((2, 3), keepdims=True) * a).sum(1), 0))
    assert lesson.check_spearman(lambda a, b: np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def test_wrong_answers_fail_with_a_hint(lesson, capsys):
    assert not lesson.check_grad_cam(lambda a, da: np.maximum((da * a).sum(1), 0))  # per-pixel weights
    assert not lesson.check_grad_cam(lambda a, da: (da.mean((2, 3), keepdims=True) * a).sum(1))  # no ReLU
    assert not lesson.check_spearman(lambda a, b: np.corrcoef(a, b)[0, 1])  # Pearson on values
    out = capsys.readouterr().out
    assert "spatial mean" in out and "ReLU" in out and "rank both first" in out


def test_unanswered_and_crashing_answers_do_not_raise(lesson, capsys):
    def boom(*args):
        raise IndexError("oops")

    for check in (lesson.check_grad_cam, lesson.check_spearman):
        assert not check(None)
        assert not check(boom)
    out = capsys.readouterr().out
    assert out.count("not answered yet") == 2 and out.count("your function raised IndexError") == 2
