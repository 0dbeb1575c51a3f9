"""Lesson 13's exercise checkers accept a right answer, reject wrong ones, and report unanswered exercises."""

from __future__ import annotations

from pathlib import Path

import numpy as np

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"



def _fft2c(z):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(z, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def _ifft2c(k):
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def test_unanswered_and_crashing_answers_are_reported(lesson, capsys):
    assert lesson.check_fft2c(lambda z: None) is False
    assert lesson.check_data_consistency(None) is False
    assert lesson.check_kt_coverage(lambda m: 1 / 0) is False
    out = capsys.readouterr().out
    assert out.count("not answered yet") == 2 and "ZeroDivisionError" in out


def test_fft2c_checker(lesson, capsys):
    assert lesson.check_fft2c(_fft2c)
    assert not lesson.check_fft2c(lambda z: np.fft.fftshift(np.fft.fft2(np.fft.fftshift(z), norm="ortho")))
    assert "phases" in capsys.readouterr().out  # the odd-size shift bug is named
    assert not lesson.check_fft2c(lambda z: np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(z))))
    assert "sqrt(H W)" in capsys.readouterr().out


def test_data_consistency_checker(lesson):
    assert lesson.check_data_consistency(lambda x, k0, m: _ifft2c(np.where(m, k0, _fft2c(x))))
    assert not lesson.check_data_consistency(lambda x, k0, m: _ifft2c(k0))  # zero-filled, not DC
    assert not lesson.check_data_consistency(lambda x, k0, m: _ifft2c(np.where(m, _fft2c(x), k0)))  # mask inverted


def test_kt_coverage_checker(lesson):
    assert lesson.check_kt_coverage(lambda m: float(m.any(axis=(0, 1)).mean()))
    assert not lesson.check_kt_coverage(lambda m: float(m[:, 0].mean()))
