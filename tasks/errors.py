"""The errors a user can cause, reported by the ``medgrad`` command in one line (exit status 2).

Anything raised as ``UsageError`` is a mistake in what the user asked for (an unknown option,
a value out of range, a malformed data folder); it names the option, file or shape at fault.
Every other exception is a bug in medgrad and keeps its traceback.
"""

from __future__ import annotations


class UsageError(Exception):
    """A user mistake: reported as ``medgrad: error: <message>`` and exit status 2, no traceback."""


class RunInterrupted(Exception):
    """Ctrl-C during a run; carries the run folder so the hint can name it."""

    def __init__(self, run_dir):
        super().__init__(f"interrupted; continue with: medgrad run --resume {run_dir}")
        self.run_dir = run_dir
