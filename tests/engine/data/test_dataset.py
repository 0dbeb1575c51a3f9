"""Specification of engine.data.dataset: TensorDataset, Subset, ConcatDataset, ArrayDataset."""

import numpy as np
import pytest

from engine.data import ArrayDataset, ConcatDataset, Dataset, Subset, TensorDataset
from engine.data.transforms import RandomAffine, RandomFlip


def make_arrays(n=10):
    x = np.arange(n * 6, dtype=np.float32).reshape(n, 1, 2, 3)
    y = np.arange(n, dtype=np.int64) % 3
    return x, y


class TestTensorDataset:
    def test_sample_is_the_row_of_every_array(self):
        x, y = make_arrays()
        ds = TensorDataset(x, y)
        assert len(ds) == 10
        xi, yi = ds[4]
        np.testing.assert_array_equal(xi, x[4])
        assert yi == y[4]
        np.testing.assert_array_equal(ds[-1][0], x[9])

    def test_fetch_batch_is_one_fancy_index(self):
        x, y = make_arrays()
        xb, yb = TensorDataset(x, y).fetch_batch(np.array([3, 1, 3]))
        np.testing.assert_array_equal(xb, x[[3, 1, 3]])
        np.testing.assert_array_equal(yb, y[[3, 1, 3]])

    def test_different_first_dimension_is_an_error_naming_the_shapes(self):
        with pytest.raises(ValueError, match=r"TensorDataset.*\(10, 1, 2, 3\).*\(9,\)"):
            TensorDataset(make_arrays()[0], np.zeros(9))

    def test_non_numpy_input_is_refused(self):
        with pytest.raises(TypeError, match="TensorDataset: array 1 must be a host numpy.ndarray, got list"):
            TensorDataset(np.zeros(3), [1, 2, 3])
        with pytest.raises(ValueError, match="at least one array"):
            TensorDataset()

    def test_out_of_range_and_non_integer_indices(self):
        ds = TensorDataset(*make_arrays())
        with pytest.raises(IndexError, match="index 10 out of range"):
            ds[10]
        with pytest.raises(TypeError, match="integer"):
            ds[1.5]


class TestSubsetAndConcat:
    def test_subset_maps_indices(self):
        x, y = make_arrays()
        sub = Subset(TensorDataset(x, y), [7, 2, 5])
        assert len(sub) == 3
        np.testing.assert_array_equal(sub[1][0], x[2])
        assert sub.can_fetch_batch
        np.testing.assert_array_equal(sub.fetch_batch(np.array([0, 2]))[0], x[[7, 5]])

    def test_subset_rejects_out_of_range_indices(self):
        with pytest.raises(IndexError, match=r"Subset: indices must lie in \[0, 10\)"):
            Subset(TensorDataset(*make_arrays()), [0, 10])

    def test_concat_crosses_the_boundary(self):
        a = TensorDataset(np.arange(3))
        b = TensorDataset(np.arange(10, 15))
        cat = a + b
        assert isinstance(cat, ConcatDataset)
        assert len(cat) == 8
        assert [int(cat[i][0]) for i in range(8)] == [0, 1, 2, 10, 11, 12, 13, 14]
        assert int(cat[-1][0]) == 14

    def test_base_class_requires_getitem_and_len(self):
        with pytest.raises(NotImplementedError):
            len(Dataset())


class TestArrayDataset:
    def images(self, n=6):
        rng = np.random.default_rng(0)
        return rng.random((n, 1, 8, 8)).astype(np.float32)

    def test_without_transform_returns_image_and_label(self):
        imgs = self.images()
        ds = ArrayDataset(imgs, [0, 1, 0, 1, 1, 0])
        img, label = ds[3]
        np.testing.assert_array_equal(img, imgs[3])
        assert label == 1
        assert ds.can_fetch_batch

    def test_item_order_is_image_mask_points_label(self):
        imgs = self.images()
        masks = (imgs > 0.5).astype(np.uint8)
        pts = np.zeros((6, 2, 2))
        img, mask, points, label = ArrayDataset(imgs, np.arange(6), masks=masks, points=pts)[2]
        assert mask.shape == (1, 8, 8) and points.shape == (2, 2) and label == 2

    def test_transform_moves_image_and_mask_together(self):
        imgs = self.images()
        masks = (imgs > 0.5).astype(np.uint8)
        ds = ArrayDataset(imgs, masks=masks, transform=RandomFlip(axes=(1,), p=1.0))
        img, mask = ds[0]
        np.testing.assert_array_equal(img, imgs[0][:, :, ::-1])
        np.testing.assert_array_equal(mask, masks[0][:, :, ::-1])
        assert not ds.can_fetch_batch

    def test_augmentation_is_reproducible_per_index_and_changes_per_epoch(self):
        imgs = self.images()
        t = RandomAffine(degrees=30)
        ds = ArrayDataset(imgs, transform=t, seed=3)
        first = ds[1][0]
        np.testing.assert_array_equal(ds[1][0], first)  # same epoch, same index: same draw
        np.testing.assert_array_equal(ArrayDataset(imgs, transform=t, seed=3)[1][0], first)
        assert not np.array_equal(ArrayDataset(imgs, transform=t, seed=4)[1][0], first)
        ds.set_epoch(1)
        assert not np.array_equal(ds[1][0], first)

    def test_target_transform_changes_the_label_only(self):
        img, label = ArrayDataset(self.images(), [0, 1, 2, 3, 4, 5], target_transform=lambda v: v * 10)[4]
        assert label == 40

    def test_length_mismatch_is_an_error(self):
        with pytest.raises(ValueError, match="differ in length"):
            ArrayDataset(self.images(6), [0, 1, 2])
