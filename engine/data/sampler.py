"""Samplers: the order in which a DataLoader visits dataset indices (``torch.utils.data`` names).

Reproducibility: a random sampler owns a base ``seed`` and an ``epoch`` counter; the order of
epoch ``e`` is drawn from ``numpy.random.default_rng([seed, e])``. The same seed therefore gives
the same sequence of epochs, and a resumed run continues it by ``set_epoch(e)`` (the DataLoader
does this for you). Unlike PyTorch, samplers also expose the whole epoch at once as an index
array (``epoch_indices()``), so ``BatchSampler`` cuts batches by slicing instead of a Python loop.
Batches from ``BatchSampler`` are NumPy integer arrays (PyTorch yields lists).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "WeightedRandomSampler",
    "ClassBalancedSampler",
    "BatchSampler",
]


def resolve_seed(seed=None, generator: np.random.Generator | None = None, who: str = "sampler") -> int:
    """A non-negative int base seed from an int, a Generator, or None (fresh OS entropy).

    A seed drawn from entropy is still stored, so ``state_dict`` can reproduce the run later.
    """
    if seed is not None and generator is not None:
        raise ValueError(f"{who}: give either seed or generator, not both")
    if generator is not None:
        if not isinstance(generator, np.random.Generator):
            raise TypeError(
                f"{who}: generator must be a numpy.random.Generator, got {type(generator).__name__}"
            )
        return int(generator.integers(0, 2**63 - 1))
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, (bool, float)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{who}: seed must be an int or a numpy Generator, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"{who}: seed must be non-negative, got {seed}")
    return int(seed)


def _length_of(data_source, who: str) -> int:
    """Samplers accept a dataset (anything with len) or a plain sample count."""
    if isinstance(data_source, (int, np.integer)):
        n = int(data_source)
    else:
        try:
            n = len(data_source)
        except TypeError as exc:
            raise TypeError(f"{who}: data_source must be a sized dataset or an int, "
                            f"got {type(data_source).__name__}") from exc
    if n <= 0:
        raise ValueError(f"{who}: the dataset is empty (length {n})")
    return n


class Sampler:
    """Yields dataset indices. Subclasses implement ``epoch_indices()`` and ``__len__``."""

    epoch = 0

    def epoch_indices(self) -> np.ndarray:
        """All indices of the current epoch, in visiting order: (len(self),) int64."""
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Select which epoch's order ``__iter__`` produces (a no-op for deterministic samplers)."""
        if epoch < 0:
            raise ValueError(f"{type(self).__name__}.set_epoch: epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def __iter__(self):
        return iter(self.epoch_indices().tolist())

    def __len__(self) -> int:
        raise NotImplementedError


class _SeededSampler(Sampler):
    def __init__(self, seed, generator, who):
        self.seed = resolve_seed(seed, generator, who)
        self.epoch = 0

    def _epoch_rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch])


class SequentialSampler(Sampler):
    """0, 1, ..., n-1 every epoch."""

    def __init__(self, data_source):
        self.n = _length_of(data_source, "SequentialSampler")

    def epoch_indices(self) -> np.ndarray:
        return np.arange(self.n, dtype=np.int64)

    def __len__(self) -> int:
        return self.n


class RandomSampler(_SeededSampler):
    """A fresh random permutation each epoch (or ``num_samples`` draws with replacement).

    data_source: dataset or int n. replacement: draw with replacement (then ``num_samples`` may
    exceed n). num_samples: indices per epoch (default n). seed / generator: see module docstring.
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 seed=None, generator=None):
        super().__init__(seed, generator, "RandomSampler")
        self.n = _length_of(data_source, "RandomSampler")
        self.replacement = bool(replacement)
        self.num_samples = self.n if num_samples is None else int(num_samples)
        if self.num_samples <= 0:
            raise ValueError(f"RandomSampler: num_samples must be positive, got {num_samples}")

    def epoch_indices(self) -> np.ndarray:
        rng = self._epoch_rng()
        if self.replacement:
            return rng.integers(0, self.n, size=self.num_samples, dtype=np.int64)
        # Without replacement: whole permutations, concatenated when num_samples > n.
        reps = -(-self.num_samples // self.n)
        perms = [rng.permutation(self.n) for _ in range(reps)]
        return np.concatenate(perms)[: self.num_samples].astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples


class WeightedRandomSampler(_SeededSampler):
    """Index ``i`` is drawn with probability ``weights[i] / sum(weights)``.

    weights: (n,) non-negative, finite, not all zero (need not sum to 1).
    num_samples: draws per epoch. replacement: without replacement, an index appears at most once
    (then num_samples <= number of non-zero weights).
    """

    def __init__(self, weights, num_samples: int, replacement: bool = True, seed=None, generator=None):
        super().__init__(seed, generator, "WeightedRandomSampler")
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0:
            raise ValueError(
                f"WeightedRandomSampler: weights must be a non-empty 1-D sequence, got shape {w.shape}"
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        self.num_samples = int(num_samples)
        if self.num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples must be positive, got {num_samples}")
        if not replacement and self.num_samples > np.count_nonzero(w):
            raise ValueError(
                f"WeightedRandomSampler: cannot draw {self.num_samples} samples without replacement "
                f"from {np.count_nonzero(w)} non-zero weights"
            )
        self.weights = w
        self.replacement = bool(replacement)

    def epoch_indices(self) -> np.ndarray:
        p = self.weights / self.weights.sum()
        rng = self._epoch_rng()
        drawn = rng.choice(self.weights.size, size=self.num_samples, replace=self.replacement, p=p)
        return drawn.astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples


class ClassBalancedSampler(_SeededSampler):
    """Every class is drawn equally often per epoch, whatever its size (for class imbalance,
    e.g. many normal controls and few patients).

    labels: (n,) class label of each sample (any hashable values NumPy can sort).
    num_samples: indices per epoch (default n); split as evenly as possible over the classes
    (when it is not a multiple of the class count, the classes that get one extra are random).
    Within a class, samples are taken from successive random permutations of that class, so a
    minority class is repeated evenly (every member k or k+1 times) rather than at random, and a
    majority class is subsampled without repeats. The epoch's indices are then shuffled together.
    Reference: class-balanced (oversampling) sampling, e.g. Buda et al., Neural Networks 106 (2018).
    """

    def __init__(self, labels, num_samples: int | None = None, seed=None, generator=None):
        super().__init__(seed, generator, "ClassBalancedSampler")
        y = np.asarray(labels)
        if y.ndim != 1 or y.size == 0:
            raise ValueError(
                f"ClassBalancedSampler: labels must be a non-empty 1-D sequence, got shape {y.shape}"
            )
        self.classes, inverse = np.unique(y, return_inverse=True)
        # members[c]: indices of the samples in class c
        order = np.argsort(inverse, kind="stable")
        counts = np.bincount(inverse, minlength=self.classes.size)
        self.members = np.split(order, np.cumsum(counts)[:-1])
        self.num_samples = y.size if num_samples is None else int(num_samples)
        if self.num_samples <= 0:
            raise ValueError(f"ClassBalancedSampler: num_samples must be positive, got {num_samples}")

    def epoch_indices(self) -> np.ndarray:
        rng = self._epoch_rng()
        k = self.classes.size
        per_class = np.full(k, self.num_samples // k)
        per_class[rng.permutation(k)[: self.num_samples % k]] += 1
        chosen = []
        for members, m in zip(self.members, per_class):  # a loop over classes, not samples
            reps = -(-int(m) // members.size)
            pool = np.concatenate([rng.permutation(members) for _ in range(max(reps, 1))])
            chosen.append(pool[:m])
        return rng.permutation(np.concatenate(chosen)).astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups a sampler's indices into batches: NumPy int64 arrays of ``batch_size`` indices.

    drop_last: drop the final, smaller batch. ``len`` is the number of batches, as in PyTorch.
    """

    def __init__(self, sampler, batch_size: int, drop_last: bool = False):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size must be a positive int, got {batch_size!r}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def _all_indices(self) -> np.ndarray:
        if hasattr(self.sampler, "epoch_indices"):
            return np.asarray(self.sampler.epoch_indices(), dtype=np.int64)
        return np.fromiter(iter(self.sampler), dtype=np.int64)  # any iterable of ints

    def __iter__(self):
        idx = self._all_indices()
        stop = len(idx) - len(idx) % self.batch_size if self.drop_last else len(idx)
        for start in range(0, stop, self.batch_size):
            yield idx[start:start + self.batch_size]

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
