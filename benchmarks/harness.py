"""Timing harness of the benchmarks: every (framework, case) pair in its own fresh process.

Why one process each: PyTorch's OpenMP threads and NumPy's OpenBLAS threads, loaded into one
process, compete for the same cores and spin while the other works, which slowed PyTorch
2-3x on this machine and made medgrad look 2x better than it is. So the driver starts a new
Python process for each measurement, with the same environment for every framework
(``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` = the thread count, set
before anything is imported), and interleaves the processes (medgrad, torch, medgrad, torch,
...) so that a noisy minute on the machine hits both alike.

Inside a worker process: build the step, run it ``warmup`` times, then ``rounds`` timed rounds
of ``inner`` calls each; it reports the per-call seconds of every round and its memory: the
peak resident set size of the whole process (framework included) and the growth of that peak
over warm-up and rounds (the step's own working memory; Linux ``/proc`` high-water mark, reset
after set-up by writing 5 to ``/proc/self/clear_refs``).

Both workers of a case import the same modules: the PyTorch worker also imports medgrad, which
builds the weights it copies. So both run under medgrad's malloc setting (engine/allocator.py),
the same environment for both; it helps PyTorch too (ResNet-18 training step, 2026-12-05: 1.44 s
with it, 1.50-1.63 s with ``MEDGRAD_SYSTEM_MALLOC=1``), so a plain PyTorch script is a little
slower than the PyTorch column.

The workers import medgrad before NumPy (this module does, first), as the ``medgrad`` command
does, so that the engine's OpenBLAS setting applies (engine/parallel.py: the BLAS's idle threads
stop spinning after ~0.4 ms, which lets copies split over the cores run in parallel). PyTorch
computes with its own libraries, which do not read that setting.

A benchmark module defines ``CASES`` ({name: description}), ``build(case, framework)`` returning
a zero-argument step, and calls ``harness.main(__file__, CASES)`` under ``__main__``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import engine  # noqa: F401  (before NumPy: see the docstring)

FRAMEWORKS = ("medgrad", "torch")
ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ inside a worker
def _proc_status_kb(key: str) -> int | None:
    try:
        return int(re.search(key + r":\s+(\d+)", Path("/proc/self/status").read_text()).group(1))
    except (OSError, AttributeError):
        return None


def torch_or_none(threads: int | None = None):
    """PyTorch limited to ``threads`` intra-op threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(threads or os.environ.get("OMP_NUM_THREADS", "2")))
    return torch


def run_worker(build, case: str, framework: str, rounds: int, inner: int, warmup: int) -> dict:
    """Time one case in this (fresh) process; returns the JSON-able measurement."""
    if framework == "torch" and torch_or_none() is None:
        return {"case": case, "framework": framework, "error": "torch not installed"}
    step = build(case, framework)
    # the step's own memory: the peak from here on over the size now (models and data built); measured
    # from before the warm-up, whose first steps allocate what later steps reuse from the heap
    base_kb = _proc_status_kb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current size
    except OSError:
        base_kb = None
    for _ in range(warmup):
        step()
    times, cpu = [], []
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(inner):
            step()
        times.append((time.perf_counter() - t0) / inner)
        cpu.append((time.process_time() - c0) / inner)  # on a busy machine wall time measures waiting too
    peak_kb = _proc_status_kb("VmHWM")
    return {"case": case, "framework": framework, "pid": os.getpid(), "seconds": times, "cpu_seconds": cpu,
            "threads": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
            "peak_mb": peak_kb / 1024 if peak_kb else None,
            "step_mb": (peak_kb - base_kb) / 1024 if peak_kb and base_kb else None}


# ------------------------------------------------------------------------------ the driver
def spawn(script: Path, case: str, framework: str, threads: int, rounds: int, inner: int, warmup: int) -> dict:
    """One measurement in a fresh interpreter with the thread variables set before import."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, str(script), "--worker", case, framework, "--threads", str(threads),
           "--rounds", str(rounds), "--inner", str(inner), "--warmup", str(warmup)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=3600)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"case": case, "framework": framework, "error": f"worker failed: {tail}"}
    return json.loads(lines[-1])


def summarize(runs: list[dict]) -> dict:
    """Median over every timed round of every process; spread = min and max of the process medians."""
    good = [r for r in runs if "seconds" in r]
    if not good:
        return {"error": runs[0].get("error", "no measurement") if runs else "not run"}
    every = [t for r in good for t in r["seconds"]]
    per_process = [statistics.median(r["seconds"]) for r in good]
    return {"median_s": statistics.median(every), "low_s": min(per_process), "high_s": max(per_process),
            "cpu_median_s": statistics.median(t for r in good for t in r["cpu_seconds"]),
            "processes": len(good), "peak_mb": max(r["peak_mb"] or 0 for r in good) or None,
            "step_mb": max(r["step_mb"] or 0 for r in good) or None}


def machine() -> str:
    try:
        import numpy as np

        blas = ""
        try:
            from threadpoolctl import threadpool_info

            blas = ", ".join(sorted({f"{i['internal_api']} {i.get('architecture', '')}".strip()
                                     for i in threadpool_info() if i["user_api"] == "blas"}))
        except ImportError:
            pass
        numpy = f"numpy {np.__version__}" + (f" ({blas})" if blas else "")
    except ImportError:
        numpy = "numpy missing"
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {numpy}"


def measure(script: Path, cases: list[str], frameworks: list[str], threads: int, processes: int, rounds: int,
            inner: dict, warmup: int, log=print) -> dict:
    """{case: {framework: summary}} with the processes interleaved case by case."""
    results = {}
    for case in cases:
        runs = {fw: [] for fw in frameworks}
        for p in range(processes):
            for fw in frameworks:
                r = spawn(script, case, fw, threads, rounds, inner.get(case, 3), warmup)
                runs[fw].append(r)
                if "error" in r and p == 0:
                    log(f"  {case} / {fw}: {r['error']}")
        results[case] = {fw: summarize(runs[fw]) for fw in frameworks}
    return results


def table(results: dict, descriptions: dict, baseline: str = "torch") -> str:
    """A Markdown table: medgrad and PyTorch medians (process spread), the ratio, peak memory."""
    rows = ["| case | medgrad ms (spread) | PyTorch ms (spread) | ratio | peak MB medgrad / PyTorch (step MB) |",
            "|---|---|---|---|---|"]
    for case, by_fw in results.items():
        ours, theirs = by_fw.get("medgrad", {}), by_fw.get(baseline, {})

        def cell(s):
            if "median_s" not in s:
                return s.get("error", "–")
            return f"{s['median_s'] * 1e3:.2f} ({s['low_s'] * 1e3:.2f}–{s['high_s'] * 1e3:.2f})"

        ratio = (f"{ours['median_s'] / theirs['median_s']:.2f}x" if "median_s" in ours and "median_s" in theirs
                 else "–")

        def mem(s):
            if not s.get("peak_mb"):
                return "–"
            return f"{s['peak_mb']:.0f}" + (f" ({s['step_mb']:.0f})" if s.get("step_mb") else "")

        label = descriptions.get(case)
        rows.append(f"| {label if isinstance(label, str) else case} | {cell(ours)} | {cell(theirs)} | {ratio} | "
                    f"{mem(ours)} / {mem(theirs)} |")
    return "\n".join(rows)


def main(script: str, cases: dict, build, inner: dict | None = None, extra=None) -> None:
    """The command line of a benchmark module: the driver by default, ``--worker`` inside a process.

    ``extra(results, args)`` may print figures derived from the results (GFLOP/s, ...)."""
    parser = argparse.ArgumentParser(description=f"{Path(script).name}: medgrad vs PyTorch CPU, "
                                                 "one process per (framework, case)")
    parser.add_argument("cases", nargs="*", help=f"cases to run (default all): {', '.join(cases)}")
    parser.add_argument("--threads", type=int, default=2, help="threads for every framework (default 2)")
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per (case, framework)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per process")
    parser.add_argument("--inner", type=int, default=None, help="calls per round (default: per case)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--frameworks", default="medgrad,torch", help="comma-separated (default medgrad,torch)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "FRAMEWORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        case, framework = args.worker
        result = run_worker(build, case, framework, args.rounds, args.inner or 1, args.warmup)
        print(json.dumps(result), flush=True)
        return
    unknown = [c for c in args.cases if c not in cases]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(cases)}")
    chosen = args.cases or list(cases)
    inner_by_case = {c: args.inner for c in chosen} if args.inner else (inner or {})
    frameworks = [f for f in args.frameworks.split(",") if f]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{stamp}; {machine()}; {args.threads} threads per framework; {args.processes} processes x "
          f"{args.rounds} rounds each; command: python {Path(script).relative_to(ROOT)} "
          f"{' '.join(sys.argv[1:])}".rstrip(), flush=True)
    results = measure(Path(script).resolve(), chosen, frameworks, args.threads, args.processes, args.rounds,
                      inner_by_case, args.warmup)
    print(table(results, cases))
    if extra is not None:
        extra(results, args)
    if args.json:
        args.json.write_text(json.dumps({"when": stamp, "machine": machine(), "threads": args.threads,
                                         "results": results}, indent=1))
