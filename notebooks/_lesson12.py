"""Exercise checkers of lesson 12 (enhancement and generation). Each prints "Correct" or a hint and returns
True/False; an unanswered exercise (None, or a function that raises NotImplementedError) never stops the notebook."""

from __future__ import annotations

import traceback

import numpy as np

from _checking import report as _report


def check_dose_exponent(slope) -> bool:
    """Exercise 1: the slope of log(noise std) against log(dose) after FBP (Poisson statistics: -1/2)."""
    if slope is None:
        return _report(False, "not answered yet")
    try:
        slope = float(slope)
    except (TypeError, ValueError):
        return _report(False, f"the slope must be a number, got {slope!r}")
    return _report(abs(slope + 0.5) < 0.1, f"a slope of {slope:.3f}: fit log(std) = a + slope * log(dose) over the "
                                           f"doses; photon counts are Poisson, so the variance goes as 1 / dose")


def check_pixel_shuffle(fn) -> bool:
    """Exercise 2: a NumPy pixel_shuffle(x, r) for x (N, C r^2, H, W) equal to the engine's."""
    import engine
    import engine.nn.functional as F

    if fn is None:
        return _report(False, "not answered yet")
    rng = np.random.default_rng(0)
    for shape, r in (((2, 8, 3, 5), 2), ((1, 9, 2, 2), 3), ((1, 3, 4, 4), 1)):
        x = rng.normal(size=shape).astype(np.float32)
        try:
            out = fn(x, r)
        except NotImplementedError:
            return _report(False, "not answered yet")
        except Exception as e:  # a student's bug is reported, not raised
            return _report(False, f"your function raised {type(e).__name__}: {e}\n{traceback.format_exc(limit=1)}")
        if out is None:
            return _report(False, "not answered yet (the function returned None)")
        expected = F.pixel_shuffle(engine.tensor(x), r).numpy()
        out = np.asarray(out)
        if out.shape != expected.shape:
            return _report(False, f"for x of shape {shape} and r = {r} the output must be {expected.shape}, got "
                                  f"{out.shape}")
        if not np.array_equal(out, expected):
            return _report(False, f"the shape is right but the pixels are placed wrongly (x {shape}, r = {r}): channel "
                                  f"c r^2 + i r + j goes to row h r + i, column w r + j")
    return _report(True, "")
