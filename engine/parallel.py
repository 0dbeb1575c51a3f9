"""Large copies and element-wise passes split over the CPU cores.

NumPy runs every ufunc and every copy on one thread; only its BLAS (matrix products) uses the
other cores. In a convolutional network a third of a training step is such single-threaded work
(im2col and col2im copies, padding, normalisation, activations), so on a 2-core machine one core idles through it while
PyTorch's kernels use both. NumPy releases the GIL inside those loops, so Python threads that
each handle a slice of the array do run in parallel.

``split_run(fn, total, like)`` calls ``fn(start, stop)`` on contiguous parts of ``range(total)``
(say, ranges of channels), one part per thread, the calling thread taking the first, and returns
when all are done. Parts must write disjoint memory. ``like`` is the largest array the parts work
on: when it is small (a hand-off to another thread costs ~20-50 us, more than it saves below
``MIN_BYTES``) or not a NumPy array, ``fn(0, total)`` runs in the calling thread. ``split_rows``
and ``map_rows`` do the same for element-wise passes over the rows of arrays.

How many threads: ``MEDGRAD_NUM_THREADS`` if set, else ``OMP_NUM_THREADS`` (the setting the
benchmarks give every framework), else the number of cores; 1 switches the splitting off.

The BLAS's idle threads. After a matrix product OpenBLAS keeps its worker threads spinning for
2^28 cycles (~0.1 s) in case another product follows; a copy split over two cores in that window
shares a core with a spinning thread and gains nothing (measured: im2col of a 3x3 32 -> 64 layer
9.1 ms with the spin cut short, 14.8 ms without, 15.8 ms on one thread). ``shorten_blas_spin``
sets ``OPENBLAS_THREAD_TIMEOUT=20`` (2^20 cycles, ~0.4 ms: back-to-back small products, such as
an LSTM's per-step ones, still find the threads awake; shorter values slowed the LSTM by 1.2-1.5x).
OpenBLAS reads it once, when NumPy loads, so the engine sets it on import if NumPy is not loaded
yet (``import engine`` before ``import numpy``; the ``medgrad`` command does) and never overrides a
value the user set. Measured together with the splitting (2 threads, same hour): the 3x3
32 -> 64 convolution forward+backward 230 -> 195 ms, the two-level U-Net step 85 -> 70 ms.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["split_run", "split_rows", "map_rows", "add_per_row", "sum_per_row", "large", "num_threads",
           "shorten_blas_spin", "MIN_BYTES", "BLAS_THREAD_TIMEOUT"]

BLAS_THREAD_TIMEOUT = "20"  # log2 of the cycles OpenBLAS's idle threads spin before sleeping

# below this many bytes touched, one thread does the job (measured: a 1 MB copy takes ~100 us)
MIN_BYTES = 1 << 20

_pool: ThreadPoolExecutor | None = None
_pool_workers = 0
_lock = threading.Lock()


def shorten_blas_spin() -> bool:
    """Set OPENBLAS_THREAD_TIMEOUT before NumPy loads (see the module docstring); returns whether the
    setting will take effect (False when NumPy is already loaded, or the user chose a value)."""
    import sys

    if "numpy" in sys.modules or "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return False
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = BLAS_THREAD_TIMEOUT
    return True


def num_threads() -> int:
    """Threads used for splitting (see the module docstring)."""
    for name in ("MEDGRAD_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def _executor(workers: int) -> ThreadPoolExecutor:
    """The shared pool of helper threads (rebuilt if the thread count changed)."""
    global _pool, _pool_workers
    with _lock:
        if _pool is None or _pool_workers != workers:
            _pool, _pool_workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="medgrad"), workers
        return _pool


def large(array) -> bool:
    """Whether an array is a host array big enough to be worth splitting (a cheap test)."""
    return getattr(array, "nbytes", 0) >= MIN_BYTES and type(array).__module__ == "numpy"


def split_run(fn, total: int, like) -> None:
    """fn(start, stop) over [0, total) in one contiguous part per thread (see the module docstring)."""
    k = min(num_threads(), total) if large(like) else 1
    if k <= 1:
        fn(0, total)
        return
    bounds = [total * i // k for i in range(k + 1)]
    pool = _executor(k - 1)
    futures = [pool.submit(fn, bounds[i], bounds[i + 1]) for i in range(1, k)]
    try:
        fn(bounds[0], bounds[1])
    finally:
        for future in futures:
            future.result()  # re-raises a worker's exception here


def split_rows(fn, out, *arrays) -> None:
    """fn(out[a:b], *(x[a:b] for x in arrays)) over blocks of the first axis, in parallel for large
    host arrays: an element-wise pass whose inputs have ``out``'s first axis (no broadcasting
    along it). Each block writes only its own rows of ``out``."""
    if not large(out) or out.ndim == 0:  # the common small case, without building the closure
        fn(out, *arrays)
        return
    split_run(lambda a, b: fn(out[a:b], *(x[a:b] for x in arrays)), out.shape[0], out)


def map_rows(xp, fn, *arrays):
    """A new array shaped (and laid out) like ``arrays[0]``, filled by fn(out, *arrays) block by block
    as ``split_rows`` does: one element-wise op, written once, split over the cores when large."""
    out = xp.empty_like(arrays[0])
    split_rows(fn, out, *arrays)
    return out



def add_per_row(y, v) -> None:
    """y[r] += v[r] in place, y: (R, L), v: (R,) (a bias per output channel), split by rows when large."""
    split_rows(lambda block, part: block.__iadd__(part[:, None]), y, v)


def sum_per_row(xp, y):
    """(R, L) -> (R,): the sum of each row (a bias gradient per output channel), split by rows when large."""
    out = xp.empty(y.shape[0], dtype=y.dtype)

    def rows(a, b):
        out[a:b] = y[a:b].sum(axis=1)
    split_run(rows, y.shape[0], y)
    return out


shorten_blas_spin()  # on import: engine/__init__.py imports this module before anything loads NumPy
