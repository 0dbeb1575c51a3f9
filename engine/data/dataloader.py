"""DataLoader: batches of samples in a reproducible order, optionally prepared in the background.

Follows ``torch.utils.data.DataLoader``; the differences, all on purpose:

* Batches are **host NumPy arrays** (nested in the samples' tuples/lists/dicts), not tensors. The
  training loop moves each batch to its device explicitly (``engine.backend.to_device``).
* Shuffling uses the loader's own NumPy seed: epoch ``e`` is ordered by
  ``numpy.random.default_rng([seed, e])``. Every ``iter(loader)`` starts the next epoch; the same
  seed gives the same sequence of epochs, and ``state_dict()`` / ``load_state_dict()`` (or
  ``set_epoch``) let a resumed run continue that sequence exactly. Datasets with a ``set_epoch``
  method (e.g. ``ArrayDataset``, whose augmentations depend on the epoch) are told the epoch too.
* ``prefetch=N`` prepares up to N batches in one background thread (no worker processes): useful
  when loading releases the GIL (NumPy, SciPy, file reads). Errors in the thread are re-raised in
  the main thread, and the thread stops when an iteration is abandoned.
* A dataset that can fetch a whole batch with one fancy index (``TensorDataset``, an untransformed
  ``ArrayDataset``, a ``Subset`` of those) is read that way when ``collate_fn`` is the default.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping

import numpy as np

from engine import backend
from engine.data.sampler import BatchSampler, RandomSampler, SequentialSampler, resolve_seed

__all__ = ["DataLoader", "default_collate"]


# --------------------------------------------------------------------------------------------- collate
def _describe(value) -> str:
    shape = getattr(value, "shape", None)
    return f"shape {tuple(shape)}" if shape is not None else type(value).__name__


def _collate(samples: list, positions: list, where: str):
    """Stack ``samples`` (the same field of every sample in a batch); ``positions`` are the samples'
    dataset indices, used in error messages; ``where`` names the field (e.g. "sample[0]['image']")."""
    first = samples[0]
    if first is None:
        if any(s is not None for s in samples):
            raise TypeError(f"default_collate: {where} is None in some samples of the batch, not in others")
        return None
    if backend.is_array(first) or isinstance(first, np.generic):
        shapes = [getattr(s, "shape", None) for s in samples]
        if any(sh != shapes[0] for sh in shapes):
            groups: dict = {}
            for pos, sh in zip(positions, shapes):
                groups.setdefault(sh, []).append(int(pos))
            detail = "; ".join(f"indices {ix[:8]}{'...' if len(ix) > 8 else ''} have shape {sh}"
                               for sh, ix in groups.items())
            raise ValueError(
                f"default_collate: cannot stack {where}: samples have different shapes ({detail}); "
                f"crop/pad/resize them to one size (e.g. a transform) or pass a collate_fn"
            )
        xp = backend.get_array_module(first) if backend.is_array(first) else np
        return xp.stack(samples)
    if isinstance(first, (bool, int, float)):
        if not all(isinstance(s, (bool, int, float)) for s in samples):
            raise TypeError(f"default_collate: {where} mixes Python numbers with {_describe(samples)}")
        if all(isinstance(s, bool) for s in samples):
            return np.array(samples, dtype=bool)
        if all(isinstance(s, int) for s in samples):
            return np.array(samples, dtype=np.int64)
        return np.array(samples, dtype=np.float32)  # float32 is the engine's default float
    if isinstance(first, (str, bytes)):
        return list(samples)
    if isinstance(first, Mapping):
        keys = set(first)
        for pos, s in zip(positions, samples):
            if not isinstance(s, Mapping) or set(s) != keys:
                got = sorted(map(str, s)) if isinstance(s, Mapping) else type(s).__name__
                raise ValueError(
                    f"default_collate: {where} of sample {pos} has keys {got}, "
                    f"expected {sorted(map(str, keys))}"
                )
        return {k: _collate([s[k] for s in samples], positions, f"{where}[{k!r}]") for k in first}
    if isinstance(first, (tuple, list)):
        for pos, s in zip(positions, samples):
            if not isinstance(s, (tuple, list)) or len(s) != len(first):
                got = len(s) if isinstance(s, (tuple, list)) else type(s).__name__
                raise ValueError(
                    f"default_collate: {where} of sample {pos} has {got} elements, "
                    f"the batch's first sample has {len(first)}"
                )
        fields = [_collate([s[j] for s in samples], positions, f"{where}[{j}]") for j in range(len(first))]
        if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
            return type(first)(*fields)
        return type(first)(fields)
    raise TypeError(f"default_collate: don't know how to batch {where} of type {type(first).__name__}")


def default_collate(batch: list, indices=None):
    """Stack a list of samples into one batch.

    Arrays and NumPy scalars are stacked along a new first axis (``(B, *shape)``); Python ints /
    floats / bools become int64 / float32 / bool arrays (PyTorch makes float64 for floats);
    strings stay a list; tuples, lists, named tuples and dicts are collated field by field.
    Samples whose arrays differ in shape raise ValueError naming the dataset ``indices`` of the
    samples (positions in the batch when ``indices`` is not given) and their shapes.
    """
    if len(batch) == 0:
        raise ValueError("default_collate: empty batch")
    positions = list(range(len(batch))) if indices is None else [int(i) for i in indices]
    return _collate(list(batch), positions, "sample")


# ------------------------------------------------------------------------------------------ prefetch
class _Raised:
    """An exception travelling from the worker thread to the main thread."""

    def __init__(self, exc: BaseException):
        self.exc = exc


_DONE = object()


def _produce(batches, fetch, out: queue.Queue, stop: threading.Event) -> None:
    """Worker thread body: fetch each batch and put it in ``out`` until done or told to stop."""

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    try:
        for indices in batches:
            if stop.is_set():
                return
            if not put(fetch(indices)):
                return
    except BaseException as exc:  # handed to the consumer, which re-raises it
        put(_Raised(exc))
        return
    put(_DONE)


class _PrefetchIterator:
    """Iterates over batches produced by a background thread through a bounded queue.

    The thread holds no reference to this object, so dropping the iterator (e.g. ``break`` out of
    a for-loop) runs ``__del__`` -> ``close()``, which stops and joins the thread.
    """

    def __init__(self, batches, fetch, depth: int):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_produce, args=(batches, fetch, self._queue, self._stop),
            name="DataLoader-prefetch", daemon=True,
        )
        self._finished = False
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._finished:
            raise StopIteration
        item = self._queue.get()
        if item is _DONE:
            self.close()
            raise StopIteration
        if isinstance(item, _Raised):
            self.close()
            raise item.exc  # keeps the worker's traceback
        return item

    def close(self) -> None:
        """Stop the worker thread and wait for it (idempotent)."""
        self._finished = True
        self._stop.set()
        while True:  # unblock a worker waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


# ---------------------------------------------------------------------------------------- DataLoader
class DataLoader:
    """Iterate over ``dataset`` in batches.

    dataset: a Dataset (``__getitem__``/``__len__``); must not be empty.
    batch_size: samples per batch. shuffle: a new random order every epoch (RandomSampler).
    sampler: a Sampler giving the index order (excludes ``shuffle``).
    batch_sampler: a sampler yielding whole batches of indices (excludes batch_size, shuffle,
        sampler, drop_last).
    drop_last: drop the last, incomplete batch.
    collate_fn: ``collate_fn(list_of_samples) -> batch`` (default: ``default_collate``).
    seed / generator: base seed of the shuffle (an int, or a Generator to draw one from);
        None draws one from OS entropy (still recorded in ``state_dict``).
    prefetch: prepare up to this many batches ahead in a background thread (0: no thread).

    Each ``iter(loader)`` is one epoch. ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, sampler=None,
                 batch_sampler=None, drop_last: bool = False, collate_fn=None, seed=None,
                 generator: np.random.Generator | None = None, prefetch: int = 0):
        try:
            n = len(dataset)
        except TypeError as exc:
            raise TypeError(f"DataLoader: dataset must have a length, got {type(dataset).__name__}") from exc
        if n == 0:
            raise ValueError(f"DataLoader: the dataset ({type(dataset).__name__}) is empty")
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0:
            raise ValueError(f"DataLoader: prefetch must be an int >= 0, got {prefetch!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        self.seed = resolve_seed(seed, generator, "DataLoader")
        self._own_sampler = False
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "DataLoader: batch_sampler is mutually exclusive with batch_size, shuffle, sampler "
                    "and drop_last"
                )
            self.batch_sampler = batch_sampler
            self.sampler = getattr(batch_sampler, "sampler", None)
        else:
            if shuffle and sampler is not None:
                raise ValueError(
                    "DataLoader: shuffle=True cannot be combined with a sampler (the sampler sets the order)"
                )
            if sampler is None:
                sampler = RandomSampler(n, seed=self.seed) if shuffle else SequentialSampler(n)
                self._own_sampler = True
            self.sampler = sampler
            self.batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self.batch_size = getattr(self.batch_sampler, "batch_size", None)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.prefetch = prefetch
        self.epoch = 0  # the epoch the next iter() produces

    # --- epochs and state -----------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(loader)`` produce epoch ``epoch`` (then epoch+1, ...)."""
        if epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def state_dict(self) -> dict:
        """What a checkpoint needs to continue the same sequence of epochs: the seed and the next
        epoch. (A position inside an epoch is not saved: a resumed run restarts that epoch.)"""
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        missing = {"seed", "epoch"} - set(state)
        if missing:
            raise KeyError(f"DataLoader.load_state_dict: state lacks {sorted(missing)}")
        self.seed = int(state["seed"])
        if self._own_sampler and hasattr(self.sampler, "seed"):
            self.sampler.seed = self.seed
        self.set_epoch(int(state["epoch"]))

    # --- iteration ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.batch_sampler)

    def _fetch(self, indices):
        """One collated batch for a batch of dataset indices."""
        if self.collate_fn is None and getattr(self.dataset, "can_fetch_batch", False):
            return self.dataset.fetch_batch(np.asarray(indices, dtype=np.intp))
        samples = [self.dataset[int(i)] for i in indices]
        if self.collate_fn is None:
            return default_collate(samples, indices)
        return self.collate_fn(samples)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        for owner in (self.batch_sampler, self.dataset):
            if hasattr(owner, "set_epoch"):
                owner.set_epoch(epoch)
        # The order is fixed here, in the caller's thread, before any background work starts.
        batches = list(self.batch_sampler)
        if self.prefetch > 0:
            return _PrefetchIterator(batches, self._fetch, self.prefetch)
        return map(self._fetch, batches)
