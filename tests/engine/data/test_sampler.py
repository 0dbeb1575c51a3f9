"""Specification of engine.data.sampler."""

import numpy as np
import pytest

from engine.data import (
    BatchSampler,
    ClassBalancedSampler,
    RandomSampler,
    SequentialSampler,
    WeightedRandomSampler,
)


def test_sequential_sampler_visits_in_order():
    assert list(SequentialSampler(5)) == [0, 1, 2, 3, 4]
    assert len(SequentialSampler(range(7))) == 7


def test_random_sampler_gives_a_new_permutation_each_epoch_reproducibly():
    s = RandomSampler(50, seed=1)
    epoch0 = list(s)
    assert sorted(epoch0) == list(range(50))
    s.set_epoch(1)
    epoch1 = list(s)
    assert sorted(epoch1) == list(range(50)) and epoch1 != epoch0
    again = RandomSampler(50, seed=1)
    again.set_epoch(1)
    assert list(again) == epoch1
    assert list(RandomSampler(50, seed=2)) != epoch0


def test_random_sampler_with_replacement_and_num_samples():
    s = RandomSampler(5, replacement=True, num_samples=100, seed=0)
    idx = list(s)
    assert len(idx) == len(s) == 100 and set(idx) <= set(range(5))
    # without replacement but more samples than items: whole permutations one after another
    idx = list(RandomSampler(5, num_samples=12, seed=0))
    assert sorted(idx[:5]) == sorted(idx[5:10]) == list(range(5))


def test_weighted_sampler_follows_the_weights():
    w = np.array([0.0, 1.0, 3.0])
    idx = np.array(list(WeightedRandomSampler(w, num_samples=20000, seed=0)))
    counts = np.bincount(idx, minlength=3)
    assert counts[0] == 0
    assert counts[2] / counts[1] == pytest.approx(3.0, rel=0.06)


def test_weighted_sampler_without_replacement_and_bad_weights():
    idx = list(WeightedRandomSampler([1, 1, 1, 1], num_samples=4, replacement=False, seed=0))
    assert sorted(idx) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="without replacement from 2 non-zero weights"):
        WeightedRandomSampler([1, 0, 1], num_samples=3, replacement=False)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([1, -1], num_samples=2)


def test_class_balanced_sampler_draws_each_class_equally_often():
    labels = np.array([0] * 90 + [1] * 10)  # e.g. 90 controls, 10 patients
    s = ClassBalancedSampler(labels, seed=0)
    idx = np.array(list(s))
    assert len(idx) == len(s) == 100
    np.testing.assert_array_equal(np.bincount(labels[idx]), [50, 50])
    # the minority class is repeated evenly: each patient exactly 5 times
    np.testing.assert_array_equal(np.bincount(idx[labels[idx] == 1] - 90), [5] * 10)
    # the majority class is subsampled without repeats
    assert len(set(idx[labels[idx] == 0].tolist())) == 50


def test_class_balanced_sampler_is_reproducible_and_splits_odd_counts():
    labels = ["a", "b", "b", "c", "c", "c"]
    a = list(ClassBalancedSampler(labels, num_samples=7, seed=5))
    assert a == list(ClassBalancedSampler(labels, num_samples=7, seed=5))
    counts = sorted(np.bincount(np.array([0, 1, 1, 2, 2, 2])[a]).tolist())
    assert counts == [2, 2, 3]


def test_batch_sampler_cuts_the_epoch_into_batches():
    batches = list(BatchSampler(SequentialSampler(10), batch_size=4))
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(BatchSampler(SequentialSampler(10), 4)) == 3
    dropped = BatchSampler(SequentialSampler(10), 4, drop_last=True)
    assert len(dropped) == len(list(dropped)) == 2


def test_batch_sampler_accepts_any_iterable_sampler_and_checks_batch_size():
    batches = list(BatchSampler([5, 3, 1], batch_size=2))
    assert [b.tolist() for b in batches] == [[5, 3], [1]]
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        BatchSampler(SequentialSampler(3), 0)
