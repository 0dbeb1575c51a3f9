"""k-fold cross-validation inside an experiment: ``--cv-folds K --fold I``.

On a small dataset one validation split is a noisy judge: 40 validation images give an AUC whose
standard error is several points, enough to pick the wrong learning rate. Cross-validation pools
the training and validation images, cuts the pool into K folds and lets fold I (1..K) be the
validation set of run I; the K runs' validation scores, averaged, judge a configuration (the sweep
does this with ``"cv": {"folds": K}``). The test split is never in the pool: it stays untouched for
the final, single evaluation.

Folds are stratified by class (each fold has each class in nearly equal shares) and, where the data
has groups (a ``group`` column of patient ids in labels.csv), group-aware: all images of a patient
fall in one fold. Fold assignment is seeded by the data seed, not ``--seed``, so runs with other
seeds and other hyperparameters see the same folds.
"""

from __future__ import annotations

import numpy as np

from tasks.errors import UsageError
from tasks.options import Option

CV_OPTIONS = (
    Option("cv_folds", int, None, "k-fold cross-validation: pool the train and val splits and cut them into this "
           "many folds, stratified by class and keeping patients (a labels.csv group column) whole; --fold says "
           "which fold validates (the test split is untouched)", low=2, high=100, nullable=True),
    Option("fold", int, None, "with --cv-folds K: the fold (1..K) that is the validation set of this run", low=1,
           nullable=True),
)


def check_cv(config) -> None:
    """--cv-folds and --fold come together, with 1 <= fold <= cv_folds (before a run folder exists)."""
    k, fold = config.cv_folds, config.fold
    if (k is None) != (fold is None):
        raise UsageError("--cv-folds K and --fold I go together (fold I of K is this run's validation set); got "
                         f"--cv-folds {k} --fold {fold}")
    if k is not None and fold > k:
        raise UsageError(f"--fold must be between 1 and --cv-folds {k}, got {fold}")


def fold_indices(n: int, k: int, fold: int, labels=None, groups=None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx) of fold ``fold`` (1..k) over a pool of ``n`` samples.

    labels: (n,) class indices to stratify by, or None (regression, multi-label: not stratified).
    groups: (n,) patient ids kept whole, or None.
    """
    from engine.data import kfold_indices

    units = len(np.unique(groups)) if groups is not None else n
    if units < k:
        what = "groups (patients)" if groups is not None else "images"
        raise UsageError(f"--cv-folds {k}: the train+val pool has only {units} {what}; use fewer folds")
    if labels is not None and groups is None:
        counts = np.bincount(labels)
        rarest = int(np.argmin(np.where(counts > 0, counts, n + 1)))
        if counts[rarest] < k:
            raise UsageError(f"--cv-folds {k}: class {rarest} has only {int(counts[rarest])} images in the train+val "
                             f"pool; every fold needs each class, use fewer folds")
    folds = list(kfold_indices(n, k, stratify=labels, groups=groups, seed=seed))
    return folds[fold - 1]
