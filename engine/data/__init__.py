"""Data pipeline: datasets, samplers, loaders, splits and (in ``engine.data.transforms``) augmentation.

Names follow ``torch.utils.data``; batches are host NumPy arrays (see ``dataloader``).
"""

from engine.data import transforms
from engine.data.dataloader import DataLoader, default_collate
from engine.data.dataset import ArrayDataset, ConcatDataset, Dataset, Subset, TensorDataset
from engine.data.sampler import (
    BatchSampler,
    ClassBalancedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    WeightedRandomSampler,
)
from engine.data.split import kfold_indices, train_val_test_split

__all__ = [
    "Dataset", "TensorDataset", "Subset", "ConcatDataset", "ArrayDataset",
    "DataLoader", "default_collate",
    "Sampler", "SequentialSampler", "RandomSampler", "WeightedRandomSampler", "ClassBalancedSampler",
    "BatchSampler",
    "train_val_test_split", "kfold_indices",
    "transforms",
]
