"""Checkpoints: everything needed to resume training, in ONE .npz file, written atomically.

File layout (``np.load(path, allow_pickle=False)`` reads it; no pickle anywhere)::

    model/<dotted name>     each parameter and persistent buffer (host NumPy arrays)
    state/<n>               every array of the optimizer / scheduler / RNG / trainer states
    extra/<name>            the caller's ``extra_arrays``
    __checkpoint__          a 0-d unicode array holding JSON: format and version, epoch, model keys,
                            and the optimizer, scheduler, RNG, data-loader and trainer states with
                            each array replaced by {"__array__": "state/<n>"}

Next to it, ``<name>.json`` (the "sidecar") records, for people and tools, the versions of
medgrad, NumPy and Python, the time, the epoch and the caller's metadata (config, metrics). The
.npz embeds the same metadata, so it is self-contained; the sidecar is a convenience.

Atomicity: the file is written to a temporary file in the same folder, fsynced and renamed over
the target (engine/train/_atomic.py), so a crash mid-save leaves the previous checkpoint intact.

JSON cannot say "tuple" or "dict with int keys" (optimizer state is keyed by parameter index),
so containers are tagged: {"__tuple__": [...]}, {"__dict__": [[key, value], ...]}. Non-finite
floats (ReduceLROnPlateau's initial best = inf) are written as JSON's NaN/Infinity extensions,
which Python's json module reads back.
"""

from __future__ import annotations

import json
import math
import platform
import random as _pyrandom
import time
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from engine import backend
from engine import random as engine_random
from engine.tensor import Tensor
from engine.train._atomic import atomic_write, atomic_write_text

__all__ = [
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "read_checkpoint_metadata",
    "export_torch_state_dict",
    "import_torch_state_dict",
]

FORMAT = "medgrad-checkpoint"
VERSION = 1
_STRUCTURE = "__checkpoint__"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that does not fit the model/optimizer given."""


# ------------------------------------------------------------------------------ nested state <-> JSON
class _Encoder:
    """Turns nested Python state (dicts, lists, tuples, numbers, strings, arrays) into JSON-able
    data, collecting the arrays under ``state/<n>`` keys."""

    def __init__(self, arrays: dict):
        self.arrays = arrays
        self.count = 0

    def __call__(self, obj, where: str):
        if isinstance(obj, Tensor):
            obj = obj.data
        if backend.is_array(obj):
            key = f"state/{self.count}"
            self.count += 1
            self.arrays[key] = backend.asnumpy(obj)
            return {"__array__": key}
        if isinstance(obj, np.generic):
            return obj.item()
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if isinstance(obj, dict):
            return {"__dict__": [[self(k, where), self(v, f"{where}[{k!r}]")] for k, v in obj.items()]}
        if isinstance(obj, tuple):
            return {"__tuple__": [self(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        raise TypeError(
            f"save_checkpoint: cannot store {where} of type {type(obj).__name__}: a checkpoint holds "
            f"arrays, numbers, strings and dicts/lists/tuples of them"
        )


def _decode(obj, read):
    """The nested state back from its JSON form; ``read(key)`` returns the array stored at key."""
    if isinstance(obj, list):
        return [_decode(v, read) for v in obj]
    if isinstance(obj, dict):
        if "__array__" in obj:
            return read(obj["__array__"])
        if "__tuple__" in obj:
            return tuple(_decode(v, read) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {_decode(k, read): _decode(v, read) for k, v in obj["__dict__"]}
        raise CheckpointError(f"load_checkpoint: unknown tagged value {sorted(obj)} in the checkpoint structure")
    return obj


def _plain_json(obj):
    """Metadata for the sidecar: standard JSON only (non-finite floats and unknown objects as strings)."""
    if isinstance(obj, Tensor):
        obj = backend.asnumpy(obj.data)
    if isinstance(obj, np.ndarray):
        return _plain_json(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        return {str(k): _plain_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain_json(v) for v in obj]
    return str(obj)


# ------------------------------------------------------------------------------------------------ RNG
def _rng_state() -> dict:
    """The engine's generator, NumPy's legacy global generator and Python's ``random``."""
    return {
        "engine": engine_random.get_rng_state(),
        "numpy_legacy": np.random.get_state(legacy=False),
        "python": _pyrandom.getstate(),
    }


def _set_rng_state(state: dict) -> None:
    engine_random.set_rng_state(state["engine"])
    np.random.set_state(state["numpy_legacy"])
    version, internal, gauss = state["python"]
    _pyrandom.setstate((version, tuple(internal), gauss))


def _versions() -> dict:
    import engine

    return {"medgrad": engine.__version__, "numpy": np.__version__, "python": platform.python_version()}


# ----------------------------------------------------------------------------------------------- save
def _section(obj, encode, what: str):
    """{"class": name, "state": encoded state_dict()} of an optimizer/scheduler, or None."""
    if obj is None:
        return None
    return {"class": type(obj).__name__, "state": encode(obj.state_dict(), what)}


def save_checkpoint(
    path,
    model,
    optimizer=None,
    scheduler=None,
    epoch: int | None = None,
    rng: bool = True,
    extra_arrays: dict | None = None,
    metadata: dict | None = None,
    loader=None,
    trainer_state: dict | None = None,
) -> Path:
    """Write a checkpoint (one .npz, atomically) and its JSON sidecar; returns the .npz path.

    model: an engine Module (its ``state_dict()``); optimizer / scheduler: saved when given.
    epoch: the number of completed epochs. rng: save the engine's, NumPy's legacy and Python's
    random states. extra_arrays: name -> array, stored as ``extra/<name>``.
    metadata: JSON-able info (config, metrics...) for the sidecar and the checkpoint.
    loader: a data loader with ``state_dict()`` (its shuffling seed and epoch) to resume its order.
    trainer_state: nested state of a Trainer (history, callbacks), arrays allowed.
    """
    path = Path(path)
    arrays: dict = OrderedDict()
    model_state = model.state_dict()
    for name, value in model_state.items():
        arrays[f"model/{name}"] = backend.asnumpy(value.data)
    encode = _Encoder(arrays)
    extra_names = []
    for name, value in (extra_arrays or {}).items():
        host = backend.asnumpy(value.data) if isinstance(value, Tensor) else backend.asnumpy(value)
        if host.dtype == object:
            raise TypeError(
                f"save_checkpoint: extra_arrays[{name!r}] has dtype object, which np.load cannot "
                f"read without pickle; store numbers or strings"
            )
        arrays[f"extra/{name}"] = host
        extra_names.append(str(name))
    loader_state = loader.state_dict() if loader is not None and hasattr(loader, "state_dict") else None
    structure = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": epoch,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": {"class": type(model).__name__, "keys": list(model_state)},
        "optimizer": _section(optimizer, encode, "optimizer state"),
        "scheduler": _section(scheduler, encode, "scheduler state"),
        "rng": encode(_rng_state(), "rng state") if rng else None,
        "loader": encode(loader_state, "loader state"),
        "trainer": encode(trainer_state, "trainer state"),
        "extra": extra_names,
        "metadata": _plain_json(metadata or {}),
        "versions": _versions(),
    }
    arrays[_STRUCTURE] = np.array(json.dumps(structure))
    atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **arrays))
    sidecar = {
        "format": FORMAT,
        "checkpoint": path.name,
        "epoch": epoch,
        "saved_at": structure["saved_at"],
        "versions": structure["versions"],
        "model": type(model).__name__,
        "optimizer": None if optimizer is None else type(optimizer).__name__,
        "scheduler": None if scheduler is None else type(scheduler).__name__,
        "metadata": structure["metadata"],
    }
    atomic_write_text(path.with_suffix(".json"), json.dumps(sidecar, indent=2) + "\n")
    return path


# ----------------------------------------------------------------------------------------------- load
def _open(path: Path, who: str):
    if not path.exists():
        raise FileNotFoundError(f"{who}: no checkpoint at {path}")
    try:
        npz = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CheckpointError(f"{who}: {path} is not a readable .npz checkpoint ({exc})") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile) or _STRUCTURE not in npz.files:
        raise CheckpointError(f"{who}: {path} is not a medgrad checkpoint (no {_STRUCTURE} entry)")
    try:
        structure = json.loads(npz[_STRUCTURE].item())
    except (ValueError, TypeError, zipfile.BadZipFile, OSError, EOFError) as exc:
        npz.close()
        raise CheckpointError(f"{who}: the structure of {path} cannot be read ({exc})") from exc
    if not isinstance(structure, dict) or not isinstance(structure.get("version", 0), int):
        npz.close()
        raise CheckpointError(f"{who}: {path} is not a medgrad checkpoint (its structure is not a valid record)")
    if structure.get("format") != FORMAT or structure.get("version", 0) > VERSION:
        npz.close()
        raise CheckpointError(
            f"{who}: {path} has format {structure.get('format')!r} version "
            f"{structure.get('version')}; this medgrad reads {FORMAT!r} up to version {VERSION}"
        )
    return npz, structure


def read_checkpoint_metadata(path) -> dict:
    """The epoch, metadata, versions and class names stored in a checkpoint, without loading it."""
    npz, structure = _open(Path(path), "read_checkpoint_metadata")
    with npz:
        try:
            return {k: structure[k] for k in ("epoch", "saved_at", "metadata", "versions", "extra")} | {
                "model": structure["model"]["class"],
                "optimizer": (structure["optimizer"] or {}).get("class"),
                "scheduler": (structure["scheduler"] or {}).get("class"),
            }
        except _MALFORMED as exc:
            raise CheckpointError(f"read_checkpoint_metadata: {path} has a malformed structure ({exc!r})") from exc


# errors that crafted or damaged structures raise while they are read; turned into CheckpointError
_MALFORMED = (KeyError, TypeError, AttributeError, IndexError, ValueError)


def _array_reader(npz, path: Path, who: str):
    """read(key) -> the array stored at key, refusing missing and pickled (object) arrays clearly."""
    def read(key):
        if not isinstance(key, str) or key not in npz.files:
            raise CheckpointError(f"{who}: {path} has no array {key!r}, which its structure refers to")
        try:
            return np.array(npz[key])
        except ValueError as exc:  # np.load(allow_pickle=False) refuses object arrays
            raise CheckpointError(
                f"{who}: {path}: the array {key!r} cannot be read without pickle ({exc}); a medgrad checkpoint "
                f"holds plain numeric and string arrays only, so this file was not written by medgrad"
            ) from exc
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise CheckpointError(f"{who}: {path}: the array {key!r} is damaged ({exc})") from exc
    return read


def _model_problems(model_arrays: dict, model, strict: bool) -> list[str]:
    own = model.state_dict()
    problems = []
    if strict:
        missing = [k for k in own if k not in model_arrays]
        unexpected = [k for k in model_arrays if k not in own]
        if missing:
            problems.append("model keys missing from the checkpoint: " + ", ".join(missing))
        if unexpected:
            problems.append("checkpoint keys the model does not have: " + ", ".join(unexpected))
    for key, array in model_arrays.items():
        if key not in own:
            continue
        target = own[key]
        if tuple(array.shape) != tuple(target.shape):
            problems.append(
                f"model {key}: shape {tuple(array.shape)} in the checkpoint, {tuple(target.shape)} in the model"
            )
        elif array.dtype != target.dtype:
            problems.append(f"model {key}: dtype {array.dtype} in the checkpoint, {target.dtype} in the model")
    return problems


def _string_list(value, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CheckpointError(f"load_checkpoint: the checkpoint's {what} is not a list of names")
    return value


def _read_all(npz, structure, path, model, optimizer, scheduler, loader, restore_rng, strict) -> dict:
    """Read and check every part of the checkpoint against the objects given; change nothing."""
    read = _array_reader(npz, path, "load_checkpoint")
    model_section = structure.get("model")
    if not isinstance(model_section, dict):
        raise CheckpointError("load_checkpoint: the checkpoint has no model section")
    model_arrays = {k: read(f"model/{k}") for k in _string_list(model_section.get("keys"), "model keys")}
    problems = _model_problems(model_arrays, model, strict)
    states = {}
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is None:
            continue
        saved = structure.get(name)
        if saved is None:
            problems.append(f"the checkpoint holds no {name} state, but a {type(obj).__name__} was given")
            continue
        if not isinstance(saved, dict) or "state" not in saved:
            problems.append(f"the checkpoint's {name} section is malformed")
            continue
        if saved.get("class") != type(obj).__name__:
            problems.append(f"{name}: the checkpoint holds a {saved.get('class')}, a {type(obj).__name__} was given")
            continue
        states[name] = _decode(saved["state"], read)
    if "optimizer" in states:
        problems += [f"optimizer: {p}" for p in optimizer._state_dict_problems(states["optimizer"])]
    if "scheduler" in states:
        saved_keys, own_keys = set(states["scheduler"] or {}), set(scheduler.state_dict())
        if not isinstance(states["scheduler"], dict) or saved_keys != own_keys:
            problems.append(f"scheduler: the saved state has the entries {sorted(saved_keys)}, the "
                            f"{type(scheduler).__name__} has {sorted(own_keys)}")
    loader_state = _decode(structure.get("loader"), read)
    if loader is not None and loader_state is not None and hasattr(loader, "state_dict"):
        if not isinstance(loader_state, dict) or set(loader_state) != set(loader.state_dict()):
            problems.append(f"loader: the saved state {loader_state!r} does not fit {type(loader).__name__}")
    rng_state = _decode(structure.get("rng"), read)
    if restore_rng:
        if rng_state is None:
            problems.append("the checkpoint was saved with rng=False; cannot restore_rng")
        elif not isinstance(rng_state, dict) or set(rng_state) != {"engine", "numpy_legacy", "python"}:
            problems.append("the saved random-generator state is malformed")
    if problems:
        raise CheckpointError(f"load_checkpoint: {path} does not fit:\n  - " + "\n  - ".join(problems))
    return {
        "model_arrays": model_arrays,
        "states": states,
        "loader_state": loader_state,
        "rng_state": rng_state,
        "extra_arrays": {name: read(f"extra/{name}") for name in _string_list(structure.get("extra", []), "extra")},
        "trainer_state": _decode(structure.get("trainer"), read),
    }


def _restore_rng_or_roll_back(state: dict, path) -> None:
    """Set the generators; if the saved state is refused, put the previous ones back."""
    previous = _rng_state()
    try:
        _set_rng_state(state)
    except _MALFORMED as exc:
        _set_rng_state(previous)
        raise CheckpointError(f"load_checkpoint: {path}: the saved random-generator state is malformed ({exc!r})") \
            from exc


def load_checkpoint(
    path, model, optimizer=None, scheduler=None, loader=None, restore_rng: bool = False, strict: bool = True
) -> dict:
    """Load a checkpoint written by ``save_checkpoint`` into ``model`` (and optimizer, scheduler, loader).

    Everything is read and checked before anything is changed: every array (a pickled/object
    array is refused), parameter names, shapes and dtypes, the optimizer's and scheduler's
    classes and sizes, the loader's and generators' states. Every mismatch is named in one
    CheckpointError; a damaged or crafted structure is a CheckpointError too, never a raw
    KeyError. strict: the model's and the checkpoint's keys must be the same (shapes and dtypes
    are always checked). restore_rng: also restore the random generators (to resume training
    exactly; off by default so that loading weights for evaluation does not reset anyone's
    random stream).

    Returns a dict: ``epoch``, ``metadata``, ``extra_arrays`` (name -> array), ``trainer_state``,
    ``loader_state``, ``rng_state``, ``versions``.
    """
    path = Path(path)
    npz, structure = _open(path, "load_checkpoint")
    with npz:
        try:
            parts = _read_all(npz, structure, path, model, optimizer, scheduler, loader, restore_rng, strict)
        except CheckpointError:
            raise
        except _MALFORMED as exc:
            raise CheckpointError(f"load_checkpoint: {path} has a malformed structure ({exc!r})") from exc
    # Nothing below depends on the file's content being well-formed any more. The changes that
    # can still refuse a value (generators, optimizer) come first and leave things as they were
    # when they do; the model is changed last.
    if restore_rng:
        _restore_rng_or_roll_back(parts["rng_state"], path)
    if optimizer is not None:
        try:
            optimizer.load_state_dict(parts["states"]["optimizer"])  # builds the new state, then swaps it in
        except _MALFORMED as exc:
            raise CheckpointError(f"load_checkpoint: {path}: the optimizer state is malformed ({exc!r})") from exc
    if scheduler is not None:
        scheduler.load_state_dict(parts["states"]["scheduler"])
    if loader is not None and parts["loader_state"] is not None and hasattr(loader, "load_state_dict"):
        loader.load_state_dict(parts["loader_state"])
    model.load_state_dict(parts["model_arrays"], strict=strict)
    return {
        "epoch": structure.get("epoch"),
        "metadata": structure.get("metadata", {}),
        "extra_arrays": parts["extra_arrays"],
        "trainer_state": parts["trainer_state"],
        "loader_state": parts["loader_state"],
        "rng_state": parts["rng_state"],
        "versions": structure.get("versions", {}),
    }


# -------------------------------------------------------------------------------------------- PyTorch
def _import_torch(who: str):
    try:
        import torch  # type: ignore[import-not-found]
    except ImportError:
        raise ImportError(
            f"{who} needs PyTorch, which is not installed (pip install torch). medgrad's own checkpoints "
            f"(save_checkpoint/load_checkpoint, .npz) need only NumPy."
        ) from None
    return torch


def export_torch_state_dict(model, path) -> Path:
    """Write the model's parameters and buffers as a PyTorch state dict (``torch.save``, a .pt file).

    Names are the dotted names PyTorch uses, so ``torch_model.load_state_dict(torch.load(path))``
    works for a PyTorch model with the same architecture.
    """
    torch = _import_torch("export_torch_state_dict")
    state = OrderedDict(
        (name, torch.from_numpy(np.array(backend.asnumpy(value.data), copy=True)))
        for name, value in model.state_dict().items()
    )
    return atomic_write(path, lambda f: torch.save(state, f))


def import_torch_state_dict(model, path, strict: bool = True):
    """Load a PyTorch state dict file (``torch.save(model.state_dict(), path)``) into an engine model.

    Also accepts a file holding {"state_dict": ...} (a common checkpoint layout). Loaded with
    ``weights_only=True``: no arbitrary code from the file runs. Returns (missing, unexpected) keys.
    """
    torch = _import_torch("import_torch_state_dict")
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise TypeError(f"import_torch_state_dict: {path} holds a {type(state).__name__}, expected a state dict")
    return model.load_state_dict(state, strict=strict)
