"""The benchmark harness: one fresh process per (framework, case), the same thread settings for all."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))
harness = pytest.importorskip("harness")


def test_summary_is_the_median_of_every_round_with_the_spread_of_the_processes():
    runs = [{"seconds": [1.0, 2.0, 9.0], "cpu_seconds": [1.0, 1.0, 1.0], "peak_mb": 50.0, "step_mb": 5.0},
            {"seconds": [3.0, 4.0, 5.0], "cpu_seconds": [2.0, 2.0, 2.0], "peak_mb": 70.0, "step_mb": 4.0}]
    s = harness.summarize(runs)
    assert s["median_s"] == 3.5  # median of the six rounds, not of the two process medians (3.0)
    assert (s["low_s"], s["high_s"]) == (2.0, 4.0)
    assert (s["peak_mb"], s["step_mb"], s["processes"]) == (70.0, 5.0, 2)
    assert harness.summarize([{"error": "torch not installed"}]) == {"error": "torch not installed"}


def test_table_gives_the_ratio_of_medians_and_says_when_a_framework_is_missing():
    results = {"conv": {"medgrad": {"median_s": 0.03, "low_s": 0.029, "high_s": 0.031, "peak_mb": 100.0,
                                    "step_mb": 20.0},
                        "torch": {"median_s": 0.02, "low_s": 0.02, "high_s": 0.02, "peak_mb": 300.0, "step_mb": 10.0}},
               "lstm": {"medgrad": {"median_s": 0.01, "low_s": 0.01, "high_s": 0.01}, "torch": {"error": "missing"}}}
    rows = harness.table(results, {"conv": "a convolution"}).splitlines()
    assert rows[2].startswith("| a convolution | 30.00 (29.00–31.00) | 20.00 (20.00–20.00) | 1.50x | 100 (20) / 300")
    assert "| lstm |" in rows[3] and "missing" in rows[3] and "| – |" in rows[3]


def test_each_measurement_is_a_fresh_process_with_the_thread_variables_set():
    first = harness.spawn(BENCH / "run.py", "op_add", "medgrad", threads=1, rounds=2, inner=5, warmup=1)
    second = harness.spawn(BENCH / "run.py", "op_add", "medgrad", threads=1, rounds=2, inner=5, warmup=1)
    assert len(first["seconds"]) == 2 and all(t > 0 for t in first["seconds"])
    assert first["threads"] == {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    assert first["peak_mb"] is None or first["peak_mb"] > 10  # the interpreter and NumPy at least
    bad = harness.spawn(BENCH / "run.py", "no_such_case", "medgrad", threads=1, rounds=1, inner=1, warmup=0)
    assert "unknown case" in bad["error"]
    assert second["pid"] != first["pid"] != os.getpid()  # each measurement in a process of its own
