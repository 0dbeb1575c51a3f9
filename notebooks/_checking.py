"""What every lesson's exercise checkers share: a one-line verdict, and calling a student's answer safely.

An unanswered exercise (None, a function that raises NotImplementedError or returns None) is reported as
"not answered yet"; a crash is reported with its type and message; neither stops the notebook."""

from __future__ import annotations

import traceback


def report(ok: bool, hint: str) -> bool:
    print("Correct" if ok else f"Not yet: {hint}")
    return ok


def attempt(fn, *args):
    """(the answer's result, None), or (None, why there is none): unanswered, or the crash with its type."""
    if fn is None:
        return None, "not answered yet"
    try:
        out = fn(*args)
    except NotImplementedError:
        return None, "not answered yet"
    except Exception as e:  # a student's bug is reported, not raised
        return None, f"your function raised {type(e).__name__}: {e}\n{traceback.format_exc(limit=1)}"
    if out is None:
        return None, "not answered yet (the function returned None)"
    return out, None


def call(fn, *args):
    """(the answer's result, None), or (None, the verdict already printed)."""
    out, problem = attempt(fn, *args)
    return (out, None) if problem is None else (None, report(False, problem))
