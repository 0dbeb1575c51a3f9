"""engine/parallel.py: large copies split over the cores, and OpenBLAS's idle spin shortened."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from engine import parallel
from engine.nn.functional import _im2col as im2col

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_large_job_is_split_into_disjoint_parts_covering_the_range_once(monkeypatch):
    monkeypatch.setenv("MEDGRAD_NUM_THREADS", "3")
    seen, threads = [], set()

    def part(a, b):
        seen.append((a, b))
        threads.add(threading.current_thread().name)

    parallel.split_run(part, 10, np.empty(parallel.MIN_BYTES, np.uint8))
    assert sorted(seen) == [(0, 3), (3, 6), (6, 10)]
    # the caller does a part, pool threads the others (an idle pool thread may take two quick parts)
    assert len(threads) >= 2 and threading.current_thread().name in threads


def test_a_small_job_a_device_array_or_one_thread_runs_in_the_caller_in_one_part(monkeypatch):
    import engine

    calls = []
    monkeypatch.setenv("MEDGRAD_NUM_THREADS", "2")
    record = lambda a, b: calls.append((a, b, threading.current_thread().name))  # noqa: E731
    parallel.split_run(record, 8, np.empty(parallel.MIN_BYTES - 1, np.uint8))  # small
    parallel.split_run(record, 8, engine.tensor(np.empty(parallel.MIN_BYTES, np.uint8), device="strict").data)
    monkeypatch.setenv("MEDGRAD_NUM_THREADS", "1")
    parallel.split_run(record, 8, np.empty(parallel.MIN_BYTES, np.uint8))
    main = threading.current_thread().name
    assert calls == [(0, 8, main)] * 3


def test_a_workers_exception_reaches_the_caller(monkeypatch):
    monkeypatch.setenv("MEDGRAD_NUM_THREADS", "2")

    def part(a, b):
        if a > 0:
            raise ValueError("second half failed")

    with pytest.raises(ValueError, match="second half failed"):
        parallel.split_run(part, 4, np.empty(parallel.MIN_BYTES, np.uint8))


def test_thread_count_comes_from_medgrad_then_omp_then_the_cores(monkeypatch):
    monkeypatch.setenv("MEDGRAD_NUM_THREADS", "3")
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert parallel.num_threads() == 3
    monkeypatch.delenv("MEDGRAD_NUM_THREADS")
    assert parallel.num_threads() == 5
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert parallel.num_threads() == (os.cpu_count() or 1)


@pytest.mark.parametrize("flat", [True, False])
def test_split_im2col_and_col2im_equal_the_one_thread_result(monkeypatch, flat):
    """The channel ranges of the threads never overlap: the split copies give exactly what one thread
    gives (a 4 MB input, above the splitting threshold)."""
    x = np.random.default_rng(0).standard_normal((16, 8, 66, 66)).astype(np.float32)
    results = []
    for threads in ("1", "2"):
        monkeypatch.setenv("MEDGRAD_NUM_THREADS", threads)
        if flat:
            grid, _ = im2col.flat_grid((66, 66), (3, 3), (1, 1), (1, 1), (64, 64))
            padded = np.concatenate([x, np.zeros((16, 8, 1, 66), np.float32)], axis=2)  # the extra row
            cols = im2col.im2col_flat(padded, (3, 3), (1, 1), grid)
            back = im2col.col2im_flat(cols * (np.arange(grid[-1]) < 64), (67, 66), (3, 3), (1, 1))
        else:
            cols = im2col.im2col(x, (3, 3), (2, 2), (1, 1), (32, 32))
            back = im2col.col2im(cols, (66, 66), (3, 3), (2, 2), (1, 1))
        results.append((cols, back))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def _fresh_python(code: str, **env) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"} | env
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def test_importing_the_engine_first_shortens_openblas_spin_and_respects_the_users_value():
    show = "import os; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
    assert _fresh_python(f"import engine; {show}") == parallel.BLAS_THREAD_TIMEOUT
    assert _fresh_python(f"import tasks.runner; {show}") == parallel.BLAS_THREAD_TIMEOUT  # medgrad run's path
    assert _fresh_python(f"import engine; {show}", OPENBLAS_THREAD_TIMEOUT="25") == "25"
    # NumPy already loaded: OpenBLAS has read its settings, so the engine leaves the variable alone
    assert _fresh_python(f"import numpy, engine; {show}") == "None"


@pytest.mark.parametrize("value", [0.0, -np.inf])
def test_split_padding_equals_numpy_pad(monkeypatch, value):
    monkeypatch.setenv("MEDGRAD_NUM_THREADS", "2")
    x = np.random.default_rng(1).standard_normal((8, 16, 40, 40)).astype(np.float32).swapaxes(0, 1)  # a view
    pads = ((1, 2), (0, 3))
    expected = np.pad(x, ((0, 0), (0, 0)) + pads, constant_values=value)
    np.testing.assert_array_equal(im2col.pad_spatial(x, pads, value=value), expected)


@pytest.mark.parametrize("name, value, slope", [
    ("relu", lambda a: np.maximum(a, 0), lambda a: (a > 0).astype(a.dtype)),
    ("tanh", np.tanh, lambda a: 1 - np.tanh(a) ** 2),
    ("leaky_relu", lambda a: np.where(a > 0, a, 0.01 * a), lambda a: np.where(a > 0, 1.0, 0.01).astype(a.dtype)),
    ("sigmoid", lambda a: 0.5 * (np.tanh(0.5 * a) + 1), lambda a: 0.25 * (1 - np.tanh(0.5 * a) ** 2)),
])
def test_split_activations_equal_the_one_thread_result(monkeypatch, name, value, slope):
    import engine

    data = np.random.default_rng(2).standard_normal((64, 8, 32, 32)).astype(np.float32)  # 2 MB
    results = []
    for threads in ("1", "2"):
        monkeypatch.setenv("MEDGRAD_NUM_THREADS", threads)
        x = engine.tensor(data, requires_grad=True)
        y = getattr(engine, name)(x)
        (y * 3.0).sum().backward()
        results.append((y.detach().numpy(), x.grad.numpy()))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    np.testing.assert_array_equal(results[1][1], results[0][1])
    np.testing.assert_allclose(results[0][0], value(data), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(results[0][1], 3 * slope(data), rtol=1e-5, atol=1e-6)


def test_split_batch_norm_equals_the_one_thread_result(monkeypatch):
    """Batch norm's forward and backward run per channel block over the cores for large inputs; the
    blocks are independent, so the result is the one-thread result (4 MB input, both paths)."""
    import engine
    import engine.nn.functional as F

    rng = np.random.default_rng(3)
    data = rng.standard_normal((64, 16, 32, 32)).astype(np.float32)
    w0, b0 = rng.standard_normal(16).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    results = []
    for threads in ("1", "2"):
        monkeypatch.setenv("MEDGRAD_NUM_THREADS", threads)
        x, w, b = (engine.tensor(a, requires_grad=True) for a in (data, w0, b0))
        y = F.batch_norm(x, None, None, w, b, training=True)
        (y * y * y).sum().backward()
        results.append([y.detach().numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()])
    for one, two in zip(*results):
        np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-5)
    mean, std = data.mean(axis=(0, 2, 3), keepdims=True), data.std(axis=(0, 2, 3), keepdims=True)
    expected = (data - mean) / np.sqrt(std**2 + 1e-5) * w0.reshape(1, -1, 1, 1) + b0.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(results[1][0], expected, rtol=1e-4, atol=1e-4)


def test_split_eval_batch_norm_equals_the_one_thread_result(monkeypatch):
    """Evaluation-mode batch norm (given statistics) is one per-channel affine pass, split by channel
    blocks over the cores; results and gradients as with one thread, and as the formula."""
    import engine
    import engine.nn.functional as F

    rng = np.random.default_rng(4)
    data = rng.standard_normal((64, 16, 32, 32)).astype(np.float32)
    mean, var = rng.standard_normal(16).astype(np.float32), rng.random(16).astype(np.float32) + 0.5
    w0, b0 = rng.standard_normal(16).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    results = []
    for threads in ("1", "2"):
        monkeypatch.setenv("MEDGRAD_NUM_THREADS", threads)
        x, w, b = (engine.tensor(a, requires_grad=True) for a in (data, w0, b0))
        y = F.batch_norm(x, engine.tensor(mean), engine.tensor(var), w, b, training=False)
        (y * y).sum().backward()
        results.append([y.detach().numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()])
    for one, two in zip(*results):
        np.testing.assert_allclose(two, one, rtol=1e-6, atol=1e-6)
    c = (1, -1, 1, 1)
    expected = (data - mean.reshape(c)) / np.sqrt(var.reshape(c) + 1e-5) * w0.reshape(c) + b0.reshape(c)
    np.testing.assert_allclose(results[1][0], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(results[1][3], 2 * expected.sum(axis=(0, 2, 3)), rtol=1e-3)


@pytest.mark.parametrize("split", [False, True])
def test_per_row_helpers_add_and_sum_each_row_split_or_not(split, monkeypatch):
    if split:
        monkeypatch.setattr("engine.parallel.MIN_BYTES", 1)
        monkeypatch.setenv("MEDGRAD_NUM_THREADS", "3")
    rng = np.random.default_rng(5)
    y, v = rng.normal(size=(5, 7)), rng.normal(size=5)
    np.testing.assert_allclose(parallel.sum_per_row(np, y), y.sum(axis=1), rtol=1e-14)
    expected = y + v[:, None]
    parallel.add_per_row(y, v)
    np.testing.assert_array_equal(y, expected)
