"""Specification of engine.data.split: stratified and group-aware splits and k-fold."""

import numpy as np
import pytest

from engine.data import kfold_indices, train_val_test_split


def assert_partition(parts, n):
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(n)), "splits must be disjoint and cover every sample"


class TestTrainValTestSplit:
    def test_sizes_follow_the_fractions(self):
        train, val, test = train_val_test_split(100, (0.7, 0.15, 0.15), seed=0)
        assert (len(train), len(val), len(test)) == (70, 15, 15)
        assert_partition((train, val, test), 100)
        assert train.dtype == np.int64

    def test_deterministic_for_a_seed(self):
        a = train_val_test_split(50, seed=1)
        b = train_val_test_split(50, seed=1)
        c = train_val_test_split(50, seed=2)
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
        assert not np.array_equal(a[0], c[0])

    def test_stratified_split_keeps_class_proportions(self):
        labels = np.array([0] * 160 + [1] * 40)  # 20 % diseased
        train, val, test = train_val_test_split(labels, (0.6, 0.2, 0.2), stratify=labels, seed=0)
        assert_partition((train, val, test), 200)
        for idx in (train, val, test):
            assert labels[idx].mean() == pytest.approx(0.2, abs=1 / len(idx))
        assert np.bincount(labels[test]).tolist() == [32, 8]

    def test_stratification_keeps_a_rare_class_in_every_split(self):
        labels = np.array([0] * 95 + [1] * 5)
        for seed in range(5):
            parts = train_val_test_split(100, (0.6, 0.2, 0.2), stratify=labels, seed=seed)
            assert all(labels[p].sum() >= 1 for p in parts)

    def test_groups_are_never_split(self):
        rng = np.random.default_rng(0)
        patients = rng.integers(0, 40, size=300)  # 40 patients, several images each
        parts = train_val_test_split(300, (0.7, 0.15, 0.15), groups=patients, seed=0)
        assert_partition(parts, 300)
        sets = [set(patients[p].tolist()) for p in parts]
        assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
        assert len(parts[0]) == pytest.approx(210, abs=25)

    def test_groups_and_stratification_together(self):
        patient = np.repeat(np.arange(60), 3)  # 60 patients x 3 images
        label = (patient < 15).astype(int)  # 15 diseased patients
        parts = train_val_test_split(180, (0.6, 0.2, 0.2), stratify=label, groups=patient, seed=0)
        sets = [set(patient[p].tolist()) for p in parts]
        assert not (sets[0] & sets[1] | sets[0] & sets[2] | sets[1] & sets[2])
        assert [int(label[p].sum()) // 3 for p in parts] == [9, 3, 3]

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="fractions must be"):
            train_val_test_split(10, (0.5, 0.6, 0.1))
        with pytest.raises(ValueError, match=r"stratify must be a 1-D sequence of length 10, got shape \(9"):
            train_val_test_split(10, stratify=np.zeros(9))


class TestKFold:
    def test_validation_folds_are_disjoint_and_cover_everything(self):
        folds = list(kfold_indices(23, k=5, seed=0))
        assert len(folds) == 5
        assert_partition([val for _, val in folds], 23)
        for train, val in folds:
            assert_partition((train, val), 23)
            assert len(val) in (4, 5)

    def test_unshuffled_folds_are_contiguous_blocks(self):
        vals = [val.tolist() for _, val in kfold_indices(6, k=3, shuffle=False)]
        assert vals == [[0, 1], [2, 3], [4, 5]]

    def test_stratified_folds_keep_class_proportions(self):
        labels = np.array([0] * 40 + [1] * 10)
        for shuffle in (True, False):
            for _, val in kfold_indices(labels, k=5, stratify=labels, shuffle=shuffle, seed=0):
                assert np.bincount(labels[val], minlength=2).tolist() == [8, 2]

    def test_group_folds_never_split_a_group(self):
        rng = np.random.default_rng(1)
        patients = rng.integers(0, 30, size=200)
        folds = list(kfold_indices(200, k=4, groups=patients, seed=0))
        assert_partition([val for _, val in folds], 200)
        for train, val in folds:
            assert not set(patients[train].tolist()) & set(patients[val].tolist())
            assert len(val) == pytest.approx(50, abs=12)

    def test_group_folds_with_stratification_spread_the_diseased_patients(self):
        patient = np.repeat(np.arange(40), 2)
        label = (patient < 8).astype(int)  # 8 diseased patients
        for _, val in kfold_indices(80, k=4, stratify=label, groups=patient, seed=0):
            assert int(label[val].sum()) == 4  # 2 diseased patients x 2 images per fold

    def test_deterministic_and_bad_k(self):
        a = [v.tolist() for _, v in kfold_indices(30, k=3, seed=4)]
        assert a == [v.tolist() for _, v in kfold_indices(30, k=3, seed=4)]
        with pytest.raises(ValueError, match="k must be an int >= 2"):
            list(kfold_indices(10, k=1))
        with pytest.raises(ValueError, match="need at least k groups"):
            list(kfold_indices(10, k=3, groups=[0] * 5 + [1] * 5))
