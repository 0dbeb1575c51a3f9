"""Specification of engine.data.dataloader: batching, collation, seeded shuffling, prefetching."""

import gc
import threading
import time
from collections import namedtuple

import numpy as np
import pytest

from engine.data import ArrayDataset, DataLoader, Dataset, SequentialSampler, TensorDataset, default_collate
from engine.data.transforms import RandomAffine


class ListDataset(Dataset):
    """Samples from a Python list (no batch fetching, so the loader goes item by item)."""

    def __init__(self, items):
        self.items = items

    def __getitem__(self, i):
        return self.items[i]

    def __len__(self):
        return len(self.items)


def arrays(n=10):
    return np.arange(n * 4, dtype=np.float32).reshape(n, 2, 2), np.arange(n, dtype=np.int64)


def epoch_order(loader):
    """The sample order of one epoch, read from a dataset whose second array is arange(n)."""
    return np.concatenate([batch[1] for batch in loader]).tolist()


class TestBatching:
    def test_batches_are_stacked_numpy_arrays(self):
        x, y = arrays()
        batches = list(DataLoader(TensorDataset(x, y), batch_size=4))
        assert len(batches) == 3
        xb, yb = batches[0]
        assert isinstance(xb, np.ndarray) and xb.shape == (4, 2, 2) and xb.dtype == np.float32
        np.testing.assert_array_equal(yb, [0, 1, 2, 3])
        assert batches[-1][0].shape == (2, 2, 2)

    def test_len_is_the_number_of_batches(self):
        ds = TensorDataset(*arrays(10))
        assert len(DataLoader(ds, batch_size=4)) == 3
        assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
        assert len(list(DataLoader(ds, batch_size=4, drop_last=True))) == 2

    def test_fast_path_gives_what_item_by_item_collation_gives(self):
        x, y = arrays()
        fast = list(DataLoader(TensorDataset(x, y), batch_size=3, shuffle=True, seed=0))
        items = [(x[i], y[i]) for i in range(10)]
        slow = list(DataLoader(ListDataset(items), batch_size=3, shuffle=True, seed=0))
        for (fx, fy), (sx, sy) in zip(fast, slow):
            np.testing.assert_array_equal(fx, sx)
            np.testing.assert_array_equal(fy, sy)
            assert fx.dtype == sx.dtype and fy.dtype == sy.dtype

    def test_fast_path_does_not_call_getitem(self):
        class Counting(TensorDataset):
            calls = 0

            def __getitem__(self, i):
                Counting.calls += 1
                return super().__getitem__(i)

        list(DataLoader(Counting(*arrays()), batch_size=4))
        assert Counting.calls == 0

    def test_custom_collate_fn_receives_the_list_of_samples(self):
        loader = DataLoader(ListDataset([1, 2, 3, 4, 5]), batch_size=2, collate_fn=lambda s: sum(s))
        assert list(loader) == [3, 7, 5]

    def test_empty_dataset_and_conflicting_arguments_are_errors(self):
        with pytest.raises(ValueError, match="empty"):
            DataLoader(ListDataset([]))
        with pytest.raises(ValueError, match="shuffle=True cannot be combined with a sampler"):
            DataLoader(ListDataset([1, 2]), shuffle=True, sampler=SequentialSampler(2))


class TestCollate:
    def test_nested_structures_are_collated_field_by_field(self):
        Pair = namedtuple("Pair", "a b")
        samples = [
            {"image": np.full((1, 2), i, np.float32), "label": i, "w": 0.5, "id": f"p{i}",
             "pair": Pair(i, [i, 1.0])}
            for i in range(3)
        ]
        batch = default_collate(samples)
        assert batch["image"].shape == (3, 1, 2)
        assert batch["label"].dtype == np.int64 and batch["w"].dtype == np.float32
        assert batch["id"] == ["p0", "p1", "p2"]
        assert isinstance(batch["pair"], Pair)
        np.testing.assert_array_equal(batch["pair"].b[0], [0, 1, 2])

    def test_numpy_scalars_keep_their_dtype(self):
        batch = default_collate([np.uint8(1), np.uint8(2)])
        assert batch.dtype == np.uint8

    def test_shape_mismatch_names_the_sample_indices_and_shapes(self):
        items = [(np.zeros((1, 4, 4)), 0), (np.zeros((1, 4, 4)), 1), (np.zeros((1, 5, 4)), 2)]
        loader = DataLoader(ListDataset(items), batch_size=3)
        expected = r"indices \[0, 1\] have shape \(1, 4, 4\); indices \[2\] have shape \(1, 5, 4\)"
        with pytest.raises(ValueError, match=expected):
            next(iter(loader))

    def test_mismatched_keys_are_an_error(self):
        with pytest.raises(ValueError, match="keys"):
            default_collate([{"a": 1}, {"b": 1}])


class TestSeededEpochs:
    def test_each_epoch_is_a_new_permutation(self):
        loader = DataLoader(TensorDataset(*arrays(20)), batch_size=6, shuffle=True, seed=0)
        e0, e1 = epoch_order(loader), epoch_order(loader)
        assert sorted(e0) == sorted(e1) == list(range(20))
        assert e0 != e1

    def test_same_seed_same_sequence_of_epochs(self):
        ds = TensorDataset(*arrays(20))
        a = DataLoader(ds, batch_size=5, shuffle=True, seed=7)
        b = DataLoader(ds, batch_size=5, shuffle=True, seed=7)
        assert [epoch_order(a) for _ in range(3)] == [epoch_order(b) for _ in range(3)]
        c = DataLoader(ds, batch_size=5, shuffle=True, generator=np.random.default_rng(7))
        assert epoch_order(c) != epoch_order(DataLoader(ds, batch_size=5, shuffle=True, seed=8))

    def test_resume_from_state_dict_continues_the_sequence(self):
        ds = TensorDataset(*arrays(20))
        run = DataLoader(ds, batch_size=4, shuffle=True, seed=3)
        epochs = []
        for _ in range(2):
            epochs.append(epoch_order(run))
        state = run.state_dict()
        epochs.append(epoch_order(run))

        resumed = DataLoader(ds, batch_size=4, shuffle=True, seed=99)  # the seed is restored
        resumed.load_state_dict(state)
        assert epoch_order(resumed) == epochs[2]
        resumed.set_epoch(0)
        assert epoch_order(resumed) == epochs[0]

    def test_unseeded_loader_records_its_seed(self):
        ds = TensorDataset(*arrays(20))
        a = DataLoader(ds, batch_size=4, shuffle=True)
        b = DataLoader(ds, batch_size=4, shuffle=True)
        b.load_state_dict(a.state_dict())
        assert epoch_order(a) == epoch_order(b)

    def test_dataset_augmentation_follows_the_loader_epoch(self):
        imgs = np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32)
        ds = ArrayDataset(imgs, np.arange(4), transform=RandomAffine(degrees=40), seed=0)
        loader = DataLoader(ds, batch_size=4)
        first, second = next(iter(loader))[0], next(iter(loader))[0]
        assert not np.array_equal(first, second)  # epoch 1 draws new augmentations
        loader.set_epoch(0)
        np.testing.assert_array_equal(next(iter(loader))[0], first)


class TestPrefetch:
    def test_prefetch_yields_the_same_batches(self):
        ds = TensorDataset(*arrays(23))
        plain = list(DataLoader(ds, batch_size=4, shuffle=True, seed=1))
        fetched = list(DataLoader(ds, batch_size=4, shuffle=True, seed=1, prefetch=2))
        assert len(plain) == len(fetched) == 6
        for (a, _), (b, _) in zip(plain, fetched):
            np.testing.assert_array_equal(a, b)

    def test_worker_exception_is_raised_in_the_main_thread(self):
        class Broken(ListDataset):
            def __getitem__(self, i):
                if i == 5:
                    raise RuntimeError("corrupt file for sample 5")
                return np.zeros(2)

        loader = DataLoader(Broken(list(range(8))), batch_size=2, prefetch=2)
        got = []
        with pytest.raises(RuntimeError, match="corrupt file for sample 5"):
            for batch in loader:
                got.append(batch)
        assert len(got) == 2  # the batches before the broken one arrived

    def test_thread_stops_when_iteration_is_abandoned(self):
        def prefetch_threads():
            return [t for t in threading.enumerate() if t.name == "DataLoader-prefetch" and t.is_alive()]

        loader = DataLoader(TensorDataset(*arrays(100)), batch_size=1, prefetch=2)
        for _ in loader:
            break  # the worker is blocked on a full queue at this point
        gc.collect()
        deadline = time.monotonic() + 2.0
        while prefetch_threads() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert prefetch_threads() == []

    def test_prefetch_must_be_a_non_negative_int(self):
        with pytest.raises(ValueError, match="prefetch"):
            DataLoader(ListDataset([1]), prefetch=-1)
