"""Exercise checkers of lesson 13 (reconstruction). Each prints "Correct" or a hint and returns True/False;
an unanswered exercise (a function that returns None or raises NotImplementedError) never stops the notebook."""

from __future__ import annotations

import numpy as np

from _checking import attempt as _call
from _checking import report as _report


def _reference_fft2c(z):
    ax = (-2, -1)
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(z, axes=ax), norm="ortho"), axes=ax)


def check_fft2c(fn) -> bool:
    """fn(z complex (H, W)) -> the centred orthonormal FFT; tested on an odd and an even size."""
    rng = np.random.default_rng(0)
    for shape in ((6, 8), (5, 7)):
        z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        out, msg = _call(fn, z)
        if msg:
            return _report(False, msg)
        out = np.asarray(out)
        if out.shape != shape:
            return _report(False, f"expected shape {shape}, got {out.shape}")
        ref = _reference_fft2c(z)
        if not np.allclose(out, ref, atol=1e-9):
            if np.allclose(out, ref * np.sqrt(z.size), atol=1e-6):
                return _report(False, "the scale is off by sqrt(H W): use norm='ortho'")
            if np.allclose(np.abs(out), np.abs(ref), atol=1e-9):
                return _report(False, "the magnitudes are right but not the phases: check ifftshift before the FFT "
                                      "(it matters for odd sizes)")
            return _report(False, "values differ from fftshift(fft2(ifftshift(z), norm='ortho'))")
    return _report(True, "")


def check_data_consistency(fn) -> bool:
    """fn(image complex (H, W), k0 complex (H, W), mask bool (H, W)) -> the hard-DC image."""
    rng = np.random.default_rng(1)
    shape = (8, 10)
    x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    truth = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    mask = np.zeros(shape, bool)
    mask[:, rng.random(shape[1]) < 0.4] = True
    k0 = _reference_fft2c(truth) * mask
    out, msg = _call(fn, x, k0, mask)
    if msg:
        return _report(False, msg)
    out = np.asarray(out)
    k_out = _reference_fft2c(out)
    if not np.allclose(k_out[mask], k0[mask], atol=1e-9):
        return _report(False, "where mask is True the k-space of your output must equal k0")
    if not np.allclose(k_out[~mask], _reference_fft2c(x)[~mask], atol=1e-9):
        return _report(False, "where mask is False keep the k-space of the input image")
    return _report(True, "")


def check_kt_coverage(fn) -> bool:
    """fn(masks bool (T, H, W)) -> the fraction of phase-encoding lines (columns) sampled in at least one frame."""
    masks = np.zeros((3, 4, 10), bool)
    masks[0, :, [0, 1]] = True
    masks[1, :, [1, 2]] = True
    masks[2, :, [5]] = True
    out, msg = _call(fn, masks)
    if msg:
        return _report(False, msg)
    if np.isclose(out, 5 / 30):
        return _report(False, "that is the mean sampled fraction per frame; a line counts once if ANY frame has it")
    return _report(bool(np.isclose(out, 0.4)), f"expected 0.4 for the test masks (4 of 10 lines), got {out}")
