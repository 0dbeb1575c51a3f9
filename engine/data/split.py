"""Train/validation/test splits and k-fold cross-validation as index arrays.

Two constraints matter in medical data and both are supported, alone or together:

* **stratify=labels** keeps the class proportions of every split close to the whole data set's
  (each class is split separately, so a rare disease is not missing from the test set by chance);
* **groups=patient_ids** keeps all samples of one group (patient, scanner session...) in one
  split, so images of the same patient never appear in both training and test data — otherwise
  a model can score well by recognising patients instead of disease (data leakage; see e.g.
  Roberts et al., "Common pitfalls and recommendations for using machine learning to detect and
  prognosticate for COVID-19", Nature Machine Intelligence 3, 2021).

With both, each group is stratified by its most frequent label. All functions are deterministic
for a ``seed`` and return sorted int64 index arrays.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["train_val_test_split", "kfold_indices"]


def _sample_count(n_or_labels, who: str) -> int:
    if isinstance(n_or_labels, (int, np.integer)) and not isinstance(n_or_labels, bool):
        n = int(n_or_labels)
    else:
        try:
            n = len(n_or_labels)
        except TypeError as exc:
            raise TypeError(f"{who}: first argument must be a sample count or a sequence, "
                            f"got {type(n_or_labels).__name__}") from exc
    if n <= 0:
        raise ValueError(f"{who}: need at least one sample, got {n}")
    return n


def _per_sample(values, n: int, name: str, who: str) -> np.ndarray | None:
    if values is None:
        return None
    a = np.asarray(values)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{who}: {name} must be a 1-D sequence of length {n}, got shape {a.shape}")
    return a


def _counts_from_fractions(total: int, fractions: np.ndarray) -> np.ndarray:
    """Integer counts summing to ``total`` closest to ``total * fractions`` (largest remainder)."""
    ideal = total * fractions
    counts = np.floor(ideal).astype(np.int64)
    short = total - counts.sum()
    if short > 0:
        # ties go to the earlier split (training first), which is stable and predictable
        order = np.argsort(-(ideal - counts), kind="stable")
        counts[order[:short]] += 1
    return counts


def _group_labels(group_ids: np.ndarray, labels: np.ndarray, n_groups: int) -> np.ndarray:
    """The most frequent label of each group (ties: the smallest label)."""
    classes, y = np.unique(labels, return_inverse=True)
    table = np.zeros((n_groups, classes.size), dtype=np.int64)
    np.add.at(table, (group_ids, y), 1)
    return table.argmax(axis=1)


def _assign_units(sizes: np.ndarray, strata: np.ndarray, fractions: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Split id (0..len(fractions)-1) for each unit (a sample or a group of ``sizes`` samples).

    Within each stratum, the units are put in random order and laid end to end on a line of
    length ``sum(sizes)``; a unit goes to the split whose share of that line holds the unit's
    midpoint. With unit sizes of one this is the exact largest-remainder split of the stratum.
    """
    split_of = np.empty(sizes.size, dtype=np.int64)
    bounds_frac = np.cumsum(fractions)[:-1]
    for s in np.unique(strata):  # a loop over classes, not samples
        units = rng.permutation(np.flatnonzero(strata == s))
        if np.all(sizes[units] == 1):
            counts = _counts_from_fractions(units.size, fractions)
            split_of[units] = np.repeat(np.arange(fractions.size), counts)
        else:
            ends = np.cumsum(sizes[units])
            mids = ends - sizes[units] / 2.0
            split_of[units] = np.searchsorted(bounds_frac * ends[-1], mids, side="right")
    return split_of


def train_val_test_split(n_or_labels, fractions=(0.7, 0.15, 0.15), *, stratify=None, groups=None,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split sample indices into training, validation and test sets.

    n_or_labels: the number of samples n, or any sequence of length n (e.g. the labels).
    fractions: (train, val, test), non-negative, summing to 1 (a 2-tuple gives train/test and an
        empty validation set).
    stratify: (n,) class labels; each class is split in the given fractions (counts within one
        sample of the ideal per class).
    groups: (n,) group ids (e.g. patient ids); every group lands entirely in one split. Split sizes
        are then as close to the fractions as whole groups allow.
    seed: int or numpy Generator.
    Returns (train_idx, val_idx, test_idx): sorted int64 arrays, disjoint, together 0..n-1.
    """
    who = "train_val_test_split"
    n = _sample_count(n_or_labels, who)
    f = np.asarray(fractions, dtype=np.float64)
    if f.ndim != 1 or f.size not in (2, 3) or np.any(f < 0) or not np.isclose(f.sum(), 1.0):
        raise ValueError(
            f"{who}: fractions must be 2 or 3 non-negative numbers summing to 1, got {fractions}"
        )
    if f.size == 2:
        f = np.array([f[0], 0.0, f[1]])
    labels = _per_sample(stratify, n, "stratify", who)
    group_arr = _per_sample(groups, n, "groups", who)
    rng = np.random.default_rng(seed)

    if group_arr is None:
        strata = np.zeros(n, dtype=np.int64) if labels is None else np.unique(labels, return_inverse=True)[1]
        split_of = _assign_units(np.ones(n, dtype=np.int64), strata, f, rng)
    else:
        _, gid = np.unique(group_arr, return_inverse=True)
        n_groups = gid.max() + 1
        sizes = np.bincount(gid, minlength=n_groups)
        if labels is None:
            strata = np.zeros(n_groups, dtype=np.int64)
        else:
            strata = _group_labels(gid, labels, n_groups)
        split_of = _assign_units(sizes, strata, f, rng)[gid]
    return tuple(np.flatnonzero(split_of == k).astype(np.int64) for k in range(3))


def kfold_indices(n_or_labels, k: int = 5, *, stratify=None, groups=None, shuffle: bool = True,
                  seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(train_idx, val_idx)`` for each of ``k`` cross-validation folds.

    The validation folds are disjoint and together cover every sample once; ``train_idx`` is the
    complement of ``val_idx``.
    n_or_labels: sample count n or a sequence of length n.
    stratify: (n,) labels; each fold gets each class in (nearly) equal shares: within one sample.
    groups: (n,) group ids; a group is never split across folds. Groups are assigned largest
        first to the fold with the fewest samples so far (fold sizes balance as well as whole
        groups allow); with ``stratify`` too, to the fold with the fewest samples of the group's
        majority class.
    shuffle: randomise the assignment (False: folds are contiguous blocks of the original order,
        or of each class's order when stratified).
    seed: int or numpy Generator (used only when ``shuffle``).
    """
    who = "kfold_indices"
    n = _sample_count(n_or_labels, who)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"{who}: k must be an int >= 2, got {k!r}")
    labels = _per_sample(stratify, n, "stratify", who)
    group_arr = _per_sample(groups, n, "groups", who)
    rng = np.random.default_rng(seed)

    if group_arr is None:
        if k > n:
            raise ValueError(f"{who}: k={k} folds need at least k samples, got {n}")
        order = rng.permutation(n) if shuffle else np.arange(n)
        fold_of = np.empty(n, dtype=np.int64)
        if labels is None:
            # contiguous blocks of the (shuffled) order, sizes differing by at most one
            fold_of[order] = np.arange(n) * k // n
        else:
            # sort by class (stable, so the shuffled order survives within a class) and deal the
            # samples out round-robin: every fold gets every class within one sample
            y = np.unique(labels, return_inverse=True)[1]
            by_class = order[np.argsort(y[order], kind="stable")]
            if shuffle:
                fold_of[by_class] = np.arange(n) % k
            else:
                # contiguous within each class: the j-th of m samples of a class goes to fold j*k//m
                fold_of[by_class] = _blocks_within(y[by_class], k)
    else:
        _, gid = np.unique(group_arr, return_inverse=True)
        n_groups = gid.max() + 1
        if k > n_groups:
            raise ValueError(f"{who}: k={k} folds need at least k groups, got {n_groups}")
        sizes = np.bincount(gid, minlength=n_groups)
        if labels is None:
            strata = np.zeros(n_groups, dtype=np.int64)
        else:
            strata = _group_labels(gid, labels, n_groups)
        fold_of_group = _greedy_group_folds(sizes, strata, k, rng if shuffle else None)
        fold_of = fold_of_group[gid]

    all_idx = np.arange(n, dtype=np.int64)
    for fold in range(k):
        in_fold = fold_of == fold
        yield all_idx[~in_fold], all_idx[in_fold]


def _blocks_within(sorted_classes: np.ndarray, k: int) -> np.ndarray:
    """For class ids sorted ascending: fold j*k//m for the j-th of the m members of each class."""
    starts = np.flatnonzero(np.r_[True, sorted_classes[1:] != sorted_classes[:-1]])
    sizes = np.diff(np.r_[starts, sorted_classes.size])
    rank = np.arange(sorted_classes.size) - np.repeat(starts, sizes)
    return rank * k // np.repeat(sizes, sizes)


def _greedy_group_folds(sizes: np.ndarray, strata: np.ndarray, k: int, rng) -> np.ndarray:
    """Fold of each group: largest groups first, each to the least-filled fold (ties: smaller
    fold total, then lower fold number). ``rng`` shuffles the order of equal-sized groups."""
    n_groups = sizes.size
    tie_break = rng.permutation(n_groups) if rng is not None else np.arange(n_groups)
    order = tie_break[np.argsort(-sizes[tie_break], kind="stable")]
    n_strata = strata.max() + 1
    per_stratum = np.zeros((k, n_strata), dtype=np.int64)
    totals = np.zeros(k, dtype=np.int64)
    fold_of = np.empty(n_groups, dtype=np.int64)
    for g in order:  # greedy assignment is sequential by nature; one step per group
        s = strata[g]
        fold = int(np.lexsort((np.arange(k), totals, per_stratum[:, s]))[0])
        fold_of[g] = fold
        per_stratum[fold, s] += sizes[g]
        totals[fold] += sizes[g]
    return fold_of
