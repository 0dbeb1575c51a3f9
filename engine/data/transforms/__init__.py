"""Composable, seeded, device-agnostic transforms for channel-first 2D (C, H, W) and 3D (C, D, H, W)
medical images, their masks and landmarks. The sample convention is described in ``base``.

Example::

    from engine.data import transforms as T
    augment = T.Compose([
        T.RandomFlip(axes=(1,)),
        T.RandomAffine(degrees=10, scale=0.1, translate=4),
        T.RandomApply(T.RandomElastic(max_displacement=4), p=0.3),
        T.ZScoreNormalize(),
        T.RandomGaussianNoise(std=0.05),
    ], seed=0)
    out = augment({"image": image, "mask": mask, "points": landmarks})
"""

from engine.data.transforms.base import Compose, OneOf, RandomApply, Transform, as_generator
from engine.data.transforms.crop import CenterCrop, CropOrPad, PadTo, RandomCrop
from engine.data.transforms.degrade import RandomDegrade, RandomDownsample
from engine.data.transforms.intensity import (
    RandomContrast,
    RandomGamma,
    RandomGaussianBlur,
    RandomGaussianNoise,
    RandomIntensityScale,
    RandomIntensityShift,
    gaussian_blur,
)
from engine.data.transforms.normalize import MinMaxNormalize, PercentileClip, ZScoreNormalize
from engine.data.transforms.spatial import RandomAffine, RandomElastic, RandomFlip, RandomRot90, Resize

__all__ = [
    "Transform", "Compose", "RandomApply", "OneOf", "as_generator",
    "RandomFlip", "RandomRot90", "RandomAffine", "RandomElastic", "Resize",
    "PadTo", "CenterCrop", "CropOrPad", "RandomCrop",
    "RandomIntensityShift", "RandomIntensityScale", "RandomGamma", "RandomContrast",
    "RandomGaussianNoise", "RandomGaussianBlur", "gaussian_blur",
    "ZScoreNormalize", "MinMaxNormalize", "PercentileClip",
    "RandomDownsample", "RandomDegrade",
]
