"""Lesson 11's exercise checkers accept the solutions, reject typical wrong answers, and never raise."""

from __future__ import annotations

import numpy as np


def _c_index(time, risk, event):
    t, r, e = np.asarray(time, float), np.asarray(risk, float), np.asarray(event, bool)
    usable = e[:, None] & ((t[:, None] < t[None, :]) | ((t[:, None] == t[None, :]) & ~e[None, :]))
    score = (r[:, None] > r[None, :]) + 0.5 * (r[:, None] == r[None, :])
    return float((usable * score).sum() / usable.sum())


def _km(time, event):
    t, e = np.asarray(time, float), np.asarray(event, bool)
    times = np.unique(t[e])
    at_risk = np.array([(t >= s).sum() for s in times])
    deaths = np.array([((t == s) & e).sum() for s in times])
    return times, np.cumprod(1 - deaths / at_risk)


def test_solutions_pass(lesson):
    assert lesson.check_c_index(_c_index)
    assert lesson.check_kaplan_meier(_km)
    assert lesson.check_edge_to_node(lambda a, w, b: np.einsum("ock,ncik->noi", w, a) + b[None, :, None])


def test_wrong_answers_fail_with_a_hint(lesson, capsys):
    assert not lesson.check_c_index(lambda t, r, e: _c_index(t, -r, e))  # risk sign flipped
    assert not lesson.check_c_index(lambda t, r, e: _c_index(t, r, np.ones_like(e)))  # censoring ignored
    assert not lesson.check_kaplan_meier(lambda t, e: _km(t, np.ones_like(e)))
    # censored patients dropped from the risk sets
    assert not lesson.check_kaplan_meier(lambda t, e: _km(np.asarray(t)[np.asarray(e)], np.asarray(e)[np.asarray(e)]))
    assert not lesson.check_edge_to_node(lambda a, w, b: np.einsum("ock,ncki->noi", w, a) + b[None, :, None])
    assert "E2N sums its row" in capsys.readouterr().out


def test_unanswered_and_crashing_answers_do_not_raise(lesson, capsys):
    def boom(*args):
        raise IndexError("oops")

    for check in (lesson.check_c_index, lesson.check_kaplan_meier, lesson.check_edge_to_node):
        assert check(lambda *a: None) is False
        assert check(boom) is False
    out = capsys.readouterr().out
    assert "not answered yet" in out and "IndexError" in out
