"""Shared fixtures: the devices every op test runs on, and the PyTorch oracle."""

from __future__ import annotations

import os

import matplotlib
import pytest

matplotlib.use("Agg")

import engine  # noqa: E402
from engine import backend  # noqa: E402

try:  # mutation testing (pyproject's [tool.mutmut]): a failing example is enough, shrinking it only costs time
    from hypothesis import Phase, settings

    settings.register_profile("mutmut", phases=[Phase.explicit, Phase.reuse, Phase.generate], max_examples=25,
                              deadline=None)
except ImportError:  # pragma: no cover - hypothesis is in the dev extra
    pass

# "strict" is the CPU stand-in for a GPU (engine/strict.py): it fails on any host/device mix-up.
DEVICES = ["cpu", "strict"]
if backend.cuda_is_available():  # pragma: no cover - needs a GPU
    DEVICES.append(pytest.param("cuda", marks=pytest.mark.gpu))


@pytest.fixture(params=DEVICES)
def device(request):
    """Run the test once per device: plain NumPy, the strict backend, and CUDA when present."""
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    engine.manual_seed(0)
    yield


@pytest.fixture
def torch():
    """PyTorch as a test oracle; the test is skipped (with this reason) when it is absent."""
    return pytest.importorskip("torch", reason="PyTorch is not installed: comparison with the PyTorch oracle skipped")


def pytest_collection_modifyitems(config, items):
    if backend.cuda_is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CuPy and a CUDA device (none found)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
    if not config.getoption("-m") and not os.environ.get("MEDGRAD_RUN_SLOW"):
        skip_slow = pytest.mark.skip(reason="slow: run with `pytest -m slow` (or MEDGRAD_RUN_SLOW=1)")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip_slow)
