"""Datasets: indexable collections of samples, named and behaving as in ``torch.utils.data``.

A dataset is anything with ``__len__`` and ``__getitem__(i)``; a sample is whatever
``__getitem__`` returns (usually a tuple of host NumPy arrays and scalars).

Difference from PyTorch: samples are **host NumPy arrays**, never tensors. The DataLoader
stacks them into NumPy batches and the training loop moves each batch to its device
explicitly (``engine.backend.to_device``), so the data pipeline never touches the GPU.

Batch fetching: a dataset whose samples are rows of stored arrays can hand the loader a whole
batch with one fancy index (``fetch_batch(indices)``) instead of ``batch_size`` calls of
``__getitem__``; ``can_fetch_batch`` says whether that is possible (it is not while a per-sample
random transform has to run). ``fetch_batch`` returns exactly what ``default_collate`` would
have built from the individual samples.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Sequence

import numpy as np

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "ArrayDataset"]


def _check_index(index, length: int, who: str) -> int:
    """A Python int in [0, length) from an int-like (negative indices count from the end)."""
    try:
        i = operator.index(index)  # accepts Python and NumPy integers, refuses floats
    except TypeError as exc:
        raise TypeError(f"{who}: index must be an integer, got {type(index).__name__}") from exc
    if i < 0:
        i += length
    if not 0 <= i < length:
        raise IndexError(f"{who}: index {index} out of range for a dataset of length {length}")
    return i


class Dataset:
    """Base class: subclasses implement ``__getitem__(index)`` and ``__len__()``.

    ``a + b`` concatenates two datasets (a ``ConcatDataset``), as in PyTorch.
    """

    can_fetch_batch = False  # see the module docstring

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])

    def fetch_batch(self, indices: np.ndarray):
        """The collated batch for an integer index array (only when ``can_fetch_batch``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot fetch whole batches")


def _check_host_arrays(arrays, who: str, names=None) -> None:
    """All arrays are NumPy arrays with the same first dimension; otherwise a clear error."""
    names = names or [f"array {k}" for k in range(len(arrays))]
    for name, a in zip(names, arrays):
        if not isinstance(a, np.ndarray):
            raise TypeError(
                f"{who}: {name} must be a host numpy.ndarray, got {type(a).__name__} "
                f"(convert with numpy.asarray, or engine.backend.asnumpy for device arrays)"
            )
        if a.ndim == 0:
            raise ValueError(f"{who}: {name} is 0-d; every array needs a first (sample) dimension")
    lengths = {name: a.shape[0] for name, a in zip(names, arrays)}
    if len(set(lengths.values())) > 1:
        shapes = ", ".join(f"{name}: {a.shape}" for name, a in zip(names, arrays))
        raise ValueError(f"{who}: arrays must have the same first dimension (sample count), got {shapes}")


class TensorDataset(Dataset):
    """Rows of host NumPy arrays: sample ``i`` is ``(a[i] for a in arrays)``.

    arrays: NumPy arrays sharing the first dimension N, e.g. images (N, C, H, W) and labels (N,).
    Named after ``torch.utils.data.TensorDataset`` but holds NumPy arrays, not tensors.
    """

    can_fetch_batch = True

    def __init__(self, *arrays: np.ndarray):
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array")
        _check_host_arrays(arrays, "TensorDataset")
        self.arrays = arrays

    def __getitem__(self, index):
        i = _check_index(index, len(self), "TensorDataset")
        return tuple(a[i] for a in self.arrays)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def fetch_batch(self, indices: np.ndarray):
        # One fancy index per array: the batch is gathered in C, with no per-sample Python call.
        return tuple(a[indices] for a in self.arrays)


class Subset(Dataset):
    """The samples ``dataset[indices[k]]`` for ``k < len(indices)`` (e.g. one split).

    indices: integer sequence or array (values in [0, len(dataset)); negatives not allowed).
    """

    def __init__(self, dataset, indices):
        idx = np.asarray(indices)
        if idx.size == 0:
            idx = idx.astype(np.intp)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise TypeError(
                f"Subset: indices must be a 1-D integer sequence, got shape {idx.shape} dtype {idx.dtype}"
            )
        n = len(dataset)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(
                f"Subset: indices must lie in [0, {n}) for a dataset of length {n}, "
                f"got min {idx.min()} max {idx.max()}"
            )
        self.dataset = dataset
        self.indices = idx.astype(np.intp)

    @property
    def can_fetch_batch(self) -> bool:
        return bool(getattr(self.dataset, "can_fetch_batch", False))

    def __getitem__(self, index):
        i = _check_index(index, len(self), "Subset")
        return self.dataset[int(self.indices[i])]

    def __len__(self) -> int:
        return len(self.indices)

    def fetch_batch(self, indices: np.ndarray):
        return self.dataset.fetch_batch(self.indices[indices])

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)


class ConcatDataset(Dataset):
    """Datasets one after another: indices ``0..len(d0)-1`` go to ``d0``, the next ones to ``d1``..."""

    def __init__(self, datasets: Sequence):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: needs at least one dataset")
        sizes = [len(d) for d in self.datasets]
        # cumulative_sizes[k] = number of samples in datasets 0..k (as in PyTorch)
        self.cumulative_sizes = list(np.cumsum(sizes).tolist())

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        i = _check_index(index, len(self), "ConcatDataset")
        k = bisect.bisect_right(self.cumulative_sizes, i)
        start = self.cumulative_sizes[k - 1] if k > 0 else 0
        return self.datasets[k][i - start]

    def set_epoch(self, epoch: int) -> None:
        for d in self.datasets:
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)


class ArrayDataset(Dataset):
    """Images with optional labels, masks and landmarks, and a per-sample (random) transform.

    images: (N, C, *spatial) NumPy array, or a sequence of N channel-first arrays (sizes may differ,
        e.g. volumes of different extent that the transform crops to one size).
    labels: (N, ...) array or sequence (class indices, regression targets...), optional.
    masks: like ``images`` (segmentation masks, channel-first or without channel axis), optional.
    points: (N, K, ndim) array or sequence of (K, ndim) landmark arrays, optional.
    transform: a callable ``transform(sample: dict, rng=Generator) -> dict`` on the dict
        ``{"image": ..., "mask": ..., "points": ...}`` (keys present when given), e.g. an
        ``engine.data.transforms.Compose``; geometric transforms move image, mask and points together.
    target_transform: ``target_transform(label) -> label``, deterministic, applied to the label.
    seed: sample ``i`` in epoch ``e`` is transformed with ``numpy.random.default_rng([seed, e, i])``,
        so augmentation is reproducible, independent of the order and thread in which samples are
        loaded, and different in every epoch (the DataLoader calls ``set_epoch`` each epoch).

    ``dataset[i]`` is the tuple ``(image, mask, points, label)`` with absent entries left out,
    like MONAI's ``ArrayDataset`` (img, seg, label).
    """

    _FIELDS = ("images", "masks", "points", "labels")

    def __init__(self, images, labels=None, transform=None, target_transform=None, seed: int = 0, *,
                 masks=None, points=None):
        if transform is not None and not callable(transform):
            raise TypeError(f"ArrayDataset: transform must be callable, got {type(transform).__name__}")
        if target_transform is not None and not callable(target_transform):
            raise TypeError(
                f"ArrayDataset: target_transform must be callable, got {type(target_transform).__name__}"
            )
        if labels is not None and not isinstance(labels, np.ndarray):
            labels = np.asarray(labels)
        fields = {"images": images, "masks": masks, "points": points, "labels": labels}
        self._fields = {k: v for k, v in fields.items() if v is not None}
        lengths = {k: len(v) for k, v in self._fields.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"ArrayDataset: images, masks, points and labels differ in length: {lengths}")
        if lengths["images"] == 0:
            raise ValueError("ArrayDataset: no images")
        self.transform = transform
        self.target_transform = target_transform
        self.seed = int(seed)
        self.epoch = 0

    @property
    def can_fetch_batch(self) -> bool:
        untransformed = self.transform is None and self.target_transform is None
        return untransformed and all(isinstance(v, np.ndarray) for v in self._fields.values())

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentations ``__getitem__`` draws (see ``seed``)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._fields["images"])

    def rng_for(self, index: int) -> np.random.Generator:
        """The generator that transforms sample ``index`` in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, index])

    def __getitem__(self, index):
        i = _check_index(index, len(self), "ArrayDataset")
        values = {k: v[i] for k, v in self._fields.items()}
        if self.transform is not None:
            sample = {"image": values["images"]}
            if "masks" in values:
                sample["mask"] = values["masks"]
            if "points" in values:
                sample["points"] = values["points"]
            out = self.transform(sample, rng=self.rng_for(i))
            if not isinstance(out, dict) or "image" not in out:
                raise TypeError(
                    f"ArrayDataset: transform must return a dict with key 'image', got {type(out).__name__}"
                )
            values["images"] = out["image"]
            if "masks" in values:
                values["masks"] = out["mask"]
            if "points" in values:
                values["points"] = out["points"]
        if "labels" in values and self.target_transform is not None:
            values["labels"] = self.target_transform(values["labels"])
        return tuple(values[k] for k in self._FIELDS if k in values)

    def fetch_batch(self, indices: np.ndarray):
        return tuple(self._fields[k][indices] for k in self._FIELDS if k in self._fields)
