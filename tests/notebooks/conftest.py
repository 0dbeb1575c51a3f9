"""The ``lesson`` fixture of the checker tests: test_lessonNN_checkers.py gets notebooks/_lessonNN.py, loaded
as the notebooks load it (notebooks/ on sys.path, so that its ``from _checking import ...`` works)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture(scope="module")
def lesson(request):
    number = re.fullmatch(r"test_lesson(\d+)_checkers", request.path.stem).group(1)
    if str(NOTEBOOKS) not in sys.path:
        sys.path.insert(0, str(NOTEBOOKS))
    spec = importlib.util.spec_from_file_location(f"_lesson{number}", NOTEBOOKS / f"_lesson{number}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
