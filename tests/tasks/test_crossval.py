"""k-fold cross-validation inside an experiment: the folds partition the train+val pool, are stratified and
keep patients whole, leave the test split alone, and bad fold settings are one line before any run."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.cli import main
from tasks.crossval import fold_indices
from tasks.errors import UsageError


def test_the_folds_partition_the_pool_stratified_by_class():
    labels = np.r_[np.zeros(40, int), np.ones(10, int)]
    vals = [fold_indices(50, 5, f, labels=labels)[1] for f in range(1, 6)]
    assert sorted(np.concatenate(vals).tolist()) == list(range(50))  # every sample validates exactly once
    assert all(np.bincount(labels[v]).tolist() == [8, 2] for v in vals)  # each fold has each class in share
    train, val = fold_indices(50, 5, 3, labels=labels)
    assert not set(train) & set(val) and len(train) + len(val) == 50
    assert (fold_indices(50, 5, 3, labels=labels)[1] == vals[2]).all()  # seeded: the same folds every run


def test_patients_stay_whole():
    groups = np.repeat(np.arange(12), 3)
    for fold in range(1, 4):
        train, val = fold_indices(36, 3, fold, groups=groups)
        assert not set(groups[train]) & set(groups[val])


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=4, k=5, fold=1), "only 4 images"),
    (dict(n=20, k=5, fold=1, groups=np.repeat(np.arange(4), 5)), "only 4 groups"),
    (dict(n=20, k=5, fold=1, labels=np.r_[np.zeros(17, int), np.ones(3, int)]), "class 1 has only 3 images"),
])
def test_too_little_data_for_the_folds_is_refused(kwargs, message):
    with pytest.raises(UsageError, match=message):
        fold_indices(**kwargs)


def test_classification_validates_on_the_fold_and_keeps_the_test_split():
    from tasks.classification import load_data
    from tasks.options import Config

    base = dict(dataset="lesions", n_samples=200, size=None, irregularity=1.0, limit=None, data_dir=None)
    plain = load_data(Config({**base, "cv_folds": None, "fold": None}))
    folds = [load_data(Config({**base, "cv_folds": 4, "fold": f})) for f in range(1, 5)]
    pool = np.concatenate([plain.x_train, plain.x_val]).reshape(len(plain.y_train) + len(plain.y_val), -1)
    seen = np.concatenate([f.x_val.reshape(len(f.y_val), -1) for f in folds])
    assert sorted(map(bytes, seen)) == sorted(map(bytes, pool))  # the val folds partition train+val
    assert all(np.array_equal(f.x_test, plain.x_test) for f in folds)
    assert all(len(f.y_train) + len(f.y_val) == len(pool) for f in folds)


@pytest.mark.parametrize("argv, message", [
    (["--cv-folds", "5"], "--cv-folds K and --fold I go together"),
    (["--cv-folds", "3", "--fold", "4"], "--fold must be between 1 and --cv-folds 3"),
    (["--cv-folds", "1", "--fold", "1"], "--cv-folds must be at least 2"),
])
def test_bad_fold_options_exit_2(tmp_path, capsys, argv, message):
    assert main(["run", "classification", "--quick", "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and not (tmp_path / "r").exists()
