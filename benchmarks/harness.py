"""Timing harness shared by the benchmarks: medgrad vs PyTorch CPU, same process, same threads.

Both frameworks are limited to the same number of threads (default 2, set before NumPy is
imported), warmed up, then timed in alternating rounds so that machine noise hits both
alike; the reported figure is the median over rounds and the ratio of medians.
Peak memory is measured separately, one subprocess per (case, framework), as the growth of
the process's maximum resident set size while running the case.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

THREADS = os.environ.get("MEDGRAD_BENCH_THREADS", "2")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, THREADS)


def time_step(step, rounds: int, inner: int) -> list[float]:
    """Seconds per call of ``step`` for each round (each round runs it ``inner`` times)."""
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(inner):
            step()
        out.append((time.perf_counter() - t0) / inner)
    return out


def compare(ours, theirs, rounds: int = 7, inner: int = 5, warmup: int = 3):
    """Alternate rounds of our step and PyTorch's; returns (ours_median_s, theirs_median_s)."""
    for _ in range(warmup):
        ours()
        if theirs is not None:
            theirs()
    a, b = [], []
    for _ in range(rounds):
        a += time_step(ours, 1, inner)
        if theirs is not None:
            b += time_step(theirs, 1, inner)
    return statistics.median(a), (statistics.median(b) if b else None)


def peak_rss_mb(module: str, case: str, framework: str) -> float | None:
    """Run one case in a fresh process and return its peak memory growth in MB: the peak
    resident set size while running 3 steps (the kernel's high-water mark, reset after setup by
    writing 5 to /proc/self/clear_refs) minus the resident size before them. Linux only."""
    code = (
        "import re\n"
        f"import {module} as m\n"
        f"step = m.build('{case}', '{framework}')\n"
        "status = lambda key: int(re.search(key + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "base = status('VmRSS')\n"
        "for _ in range(3): step()\n"
        "print((status('VmHWM') - base) / 1024)\n"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                             cwd=os.path.dirname(os.path.abspath(__file__)), check=True)
        return float(out.stdout.strip().splitlines()[-1])
    except Exception:  # a framework missing, not Linux, or a crash: no figure rather than a wrong one
        return None


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(THREADS))
    return torch
