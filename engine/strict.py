"""A strict CPU array backend that behaves like CuPy's refusals, for tests without a GPU.

CuPy arrays live on the GPU, so CuPy refuses two things NumPy happily does:

* mixing a device array with a host (NumPy) array in one operation
  (``cupy_array + numpy_array`` raises ``TypeError``);
* converting a device array to NumPy implicitly (``numpy.asarray(cupy_array)`` raises).

Code that works on NumPy can therefore break on CuPy in ways CI never sees, because CI has
no GPU. ``StrictArray`` wraps a NumPy array and refuses exactly those things, and ``xp`` is a
namespace that mirrors NumPy's (``xp.exp``, ``xp.zeros``, ``xp.concatenate``...) for it, the way
``cupy`` mirrors NumPy for CuPy arrays. The engine treats it as a third device, ``"strict"``;
running the test suite on it catches:

* a NumPy function called on a device array (``np.exp(x)`` instead of ``xp.exp(x)``);
* a host array mixed into device arithmetic (``x + np.arange(3)``);
* a host index array used on a device array (``x[np.arange(3)]``);
* a silent copy to the host (``np.asarray(x)``).

It is stricter than CuPy in one respect: NumPy functions on a StrictArray raise (CuPy would
dispatch them through ``__array_function__``), because engine code must always use the
array module of its tensor. Like CuPy, reductions return 0-d arrays rather than scalars.
The only ways to move data are explicit: ``xp.from_host(np_array)`` and ``array.get()``.
"""

from __future__ import annotations

import types

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

__all__ = ["StrictArray", "xp"]


class StrictDeviceError(TypeError):
    """Raised when code treats a (pretend) device array like a host array."""


def _refuse_host(value, where: str):
    raise StrictDeviceError(
        f"strict backend: {where} received a host NumPy array of shape {value.shape} and dtype "
        f"{value.dtype} together with device arrays; move it explicitly (engine.backend.to_device) "
        f"or build it with the device's array module (xp.arange, xp.asarray...)"
    )


def _unwrap(value, where: str):
    """Device arrays become their NumPy storage; host arrays are refused; containers recurse."""
    if isinstance(value, StrictArray):
        return value._a
    if isinstance(value, np.ndarray):
        _refuse_host(value, where)
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v, where) for k, v in value.items()}
    return value


def _wrap(value):
    """NumPy results become device arrays; 0-d scalars too, as CuPy returns 0-d arrays."""
    if isinstance(value, np.ndarray):
        return StrictArray(value)
    if isinstance(value, np.generic):
        return StrictArray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class StrictArray(NDArrayOperatorsMixin):
    """A NumPy array pretending to live on a device. Arithmetic operators come from the mixin."""

    __slots__ = ("_a",)
    __hash__ = None  # arrays are mutable, like numpy.ndarray

    def __init__(self, array: np.ndarray):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"StrictArray wraps a numpy.ndarray, got {type(array).__name__}")
        self._a = array

    # --- the refusals -------------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise StrictDeviceError(
            f"strict backend: implicit conversion of a device array (shape {self._a.shape}, dtype "
            f"{self._a.dtype}) to NumPy is not allowed; use .get() or Tensor.numpy() to copy it "
            f"to the host explicitly"
        )

    def __array_function__(self, func, types_, args, kwargs):
        name = getattr(func, "__name__", str(func))
        raise StrictDeviceError(
            f"strict backend: numpy.{name} was called on a device array; use the tensor's array "
            f"module instead (xp.{name})"
        )

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        where = f"ufunc {ufunc.__name__}.{method}" if method != "__call__" else f"ufunc {ufunc.__name__}"
        inputs = _unwrap(inputs, where)
        if "out" in kwargs:
            kwargs["out"] = _unwrap(kwargs["out"], where)
        if "where" in kwargs:
            kwargs["where"] = _unwrap(kwargs["where"], where)
        return _wrap(getattr(ufunc, method)(*inputs, **kwargs))

    # --- explicit transfer ----------------------------------------------------------------------
    def get(self) -> np.ndarray:
        """Copy to the host, as ``cupy.ndarray.get()`` does."""
        return self._a.copy()

    # --- the rest of the ndarray interface ------------------------------------------------------
    def __getattr__(self, name):
        # "_a" is missing only during copy/unpickling; dunder lookups such as
        # __array_interface__ must not reach the NumPy array, or np.asarray would succeed
        if name == "_a" or name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            def method(*args, **kwargs):
                where = f"ndarray.{name}"
                return _wrap(attr(*_unwrap(args, where), **_unwrap(kwargs, where)))

            method.__name__ = name
            return method
        return _wrap(attr)

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key, "indexing")])

    def __setitem__(self, key, value):
        self._a[_unwrap(key, "index assignment")] = _unwrap(value, "index assignment")

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        for i in range(len(self._a)):
            yield self[i]

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return self._a.__index__()

    def __complex__(self):
        return complex(self._a)

    def __repr__(self):
        return "strict_" + repr(self._a)

    def __copy__(self):
        return StrictArray(self._a.copy())

    def __deepcopy__(self, memo):
        return StrictArray(self._a.copy())

    def __reduce__(self):
        return (StrictArray, (self._a,))

    def __dlpack__(self, *args, **kwargs):
        raise StrictDeviceError("strict backend: DLPack export of a device array is not supported")


def _wrap_callable(fn, qualname: str):
    def call(*args, **kwargs):
        where = qualname
        return _wrap(fn(*_unwrap(args, where), **_unwrap(kwargs, where)))

    call.__name__ = getattr(fn, "__name__", qualname)
    call.__doc__ = f"Strict-backend version of {qualname}."
    return call


class _StrictUfunc:
    """A NumPy ufunc that refuses host arrays, with its methods (reduce, at, outer...)."""

    def __init__(self, ufunc: np.ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__
        for method in ("reduce", "accumulate", "reduceat", "outer", "at"):
            setattr(self, method, _wrap_callable(getattr(ufunc, method), f"{ufunc.__name__}.{method}"))

    def __call__(self, *args, **kwargs):
        where = f"xp.{self.__name__}"
        return _wrap(self._ufunc(*_unwrap(args, where), **_unwrap(kwargs, where)))

    def __getattr__(self, name):  # nin, nout, identity...
        return getattr(self._ufunc, name)


class _StrictNamespace(types.ModuleType):
    """Mirrors a NumPy-like module (numpy, numpy.linalg, scipy.ndimage...) for StrictArrays."""

    _overrides: dict = {}

    def __init__(self, module, name: str, overrides: dict | None = None):
        super().__init__(name)
        self._module = module
        self._overrides = overrides or {}
        self._cache: dict = {}

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        cache = self.__dict__.get("_cache")
        if cache is not None and name in cache:
            return cache[name]
        if name in self._overrides:
            value = self._overrides[name]
        else:
            obj = getattr(self._module, name)
            qualname = f"{self.__name__}.{name}"
            if isinstance(obj, np.ufunc):
                value = _StrictUfunc(obj)
            elif isinstance(obj, types.ModuleType):
                value = _StrictNamespace(obj, qualname)
            elif isinstance(obj, type) or not callable(obj):
                value = obj  # dtypes (xp.float32), constants (xp.pi), classes
            else:
                value = _wrap_callable(obj, qualname)
        self._cache[name] = value
        return value


def _from_host(array) -> StrictArray:
    """The explicit host-to-device copy (``cupy.asarray(numpy_array)``)."""
    return StrictArray(np.array(array, copy=True))


def _asnumpy(array) -> np.ndarray:
    if isinstance(array, StrictArray):
        return array.get()
    if isinstance(array, np.ndarray):
        return array
    return np.asarray(array)


xp = _StrictNamespace(
    np,
    "strict",
    overrides={"ndarray": StrictArray, "from_host": _from_host, "asnumpy": _asnumpy},
)
