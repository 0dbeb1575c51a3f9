"""Where arrays live. The one module that knows about NumPy, CuPy and the strict test backend.

Three devices:

``"cpu"``     NumPy arrays.
``"cuda"``    CuPy arrays on the current GPU (needs the ``gpu`` extra and a CUDA device).
``"strict"``  NumPy arrays wrapped so that they refuse to mix with host arrays, like CuPy's;
              a test device that lets CI (which has no GPU) catch device bugs. See engine.strict.

Every other module asks this one for the array module of an array (``get_array_module``),
and data moves between devices only through ``to_device`` / ``asnumpy``. Nothing else in the
engine imports CuPy.
"""

from __future__ import annotations

import importlib

import numpy as np

from engine import strict as _strict

try:  # CuPy is optional (the `gpu` extra); import failures of any kind mean "no CuPy"
    import cupy as _cupy  # type: ignore[import-not-found]
except Exception:  # pragma: no cover - depends on the machine
    _cupy = None

DEVICES = ("cpu", "cuda", "strict")


def cuda_is_available() -> bool:
    """True when CuPy is importable and sees at least one CUDA device."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # pragma: no cover - driver problems
        return False


def normalize_device(device) -> str:
    """Accept ``None`` (cpu), a string such as ``"cuda"``/``"cuda:0"``/``"cpu"``, or a tensor's device."""
    if device is None:
        return "cpu"
    name = str(device)
    base = name.split(":")[0]
    if base not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected one of {DEVICES}")
    if base == "cuda" and not cuda_is_available():
        raise RuntimeError(
            f"device {device!r} requested but CUDA is not available "
            f"(install the 'gpu' extra with CuPy matching your CUDA version, and check the driver)"
        )
    return base


def xp_for_device(device: str):
    """The array module (numpy, cupy or the strict namespace) for a device name."""
    if device == "cpu":
        return np
    if device == "strict":
        return _strict.xp
    if device == "cuda":
        if _cupy is None:
            raise RuntimeError("device 'cuda' needs CuPy (pip install 'medgrad[gpu]')")
        return _cupy
    raise ValueError(f"unknown device {device!r}: expected one of {DEVICES}")


def device_of(array) -> str:
    """The device an array lives on."""
    if isinstance(array, np.ndarray):
        return "cpu"
    if isinstance(array, _strict.StrictArray):
        return "strict"
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return "cuda"
    raise TypeError(f"not an array of a known device: {type(array).__name__}")


def get_array_module(array):
    """The array module of an array: ``xp = get_array_module(a); xp.exp(a)`` runs on a's device."""
    if isinstance(array, np.ndarray):
        return np
    if isinstance(array, _strict.StrictArray):
        return _strict.xp
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy
    return np


def is_array(value) -> bool:
    """True for an array of any device (not for Python scalars or lists)."""
    if isinstance(value, (np.ndarray, _strict.StrictArray)):
        return True
    return _cupy is not None and isinstance(value, _cupy.ndarray)


def to_device(array, device: str):
    """Copy an array to ``device`` (no copy if it is already there). The only place data moves.

    Accepts host data of any kind (lists, scalars, NumPy arrays) as the source.
    """
    device = normalize_device(device)
    if is_array(array) and device_of(array) == device:
        return array
    host = asnumpy(array)
    if device == "cpu":
        return host
    if device == "strict":
        return _strict.xp.from_host(host)
    return _cupy.asarray(host)


def asnumpy(array) -> np.ndarray:
    """Copy an array of any device to a NumPy array (explicit device-to-host transfer)."""
    if isinstance(array, np.ndarray):
        return array
    if isinstance(array, _strict.StrictArray):
        return array.get()
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.asnumpy(array)
    return np.asarray(array)


def memory_owner(array) -> int:
    """An id for the memory an array's data lives in: views share their base's id."""
    if isinstance(array, _strict.StrictArray):
        array = array._a
    while getattr(array, "base", None) is not None and is_array(array.base):
        array = array.base
    return id(array)


def is_writable(array) -> bool:
    """False for read-only arrays and for broadcast views (a zero stride repeats memory)."""
    if isinstance(array, _strict.StrictArray):
        array = array._a
    if isinstance(array, np.ndarray) and not array.flags.writeable:
        return False
    return array.size <= 1 or 0 not in array.strides


def scipy_module(xp, name: str):
    """``scipy.<name>`` (e.g. "ndimage", "special") for an array module: SciPy on the CPU,
    ``cupyx.scipy.<name>`` on CUDA, and a strict wrapper of SciPy on the strict device."""
    if xp is np:
        return importlib.import_module(f"scipy.{name}")
    if xp is _strict.xp:
        module = importlib.import_module(f"scipy.{name}")
        return _strict._StrictNamespace(module, f"strict.scipy.{name}")
    return importlib.import_module(f"cupyx.scipy.{name}")


def scatter_add(target, index, values):
    """``target[index] += values`` where repeated indices accumulate (unlike plain ``+=``).

    target: array updated in place; index: anything valid for ``target[index]``.
    """
    xp = get_array_module(target)
    if _cupy is not None and xp is _cupy:
        import cupyx  # type: ignore[import-not-found]

        cupyx.scatter_add(target, index, values)
    else:
        xp.add.at(target, index, values)
    return target
