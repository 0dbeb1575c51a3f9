"""Registration data: phantom pairs with exact deformations, your own folder of pairs, and the shared MRI.

Every source gives pairs (moving, fixed) of (N, 1, *spatial) float32 images scaled to [0, 1], so that
fixed ~ moving(x + u(x)) (pull-back, tasks/data/phantoms/deformation.py).

* Phantoms (2-D or 3-D): random-ellipse anatomy warped by a random smooth (optionally affine) field, with
  tissue label maps and the true field; landmarks for the TRE are drawn on tissue boundaries of the fixed labels.
* A folder ``fixed/`` + ``moving/`` with same-named files (PNG, .npy, NIfTI; read by tasks.userdata):
  the two images of a pair must have the same size unless ``size`` is given (then both are resampled
  linearly to size per side); non-finite values are refused.
* ``../shared/data/mri/brain_slices_2d``: BrainWeb-derived slices from ITK's examples, whose transform
  is in the file name (``KNOWN_TRANSFORMS``), a B-spline-deformed copy, and a T1 slice for multimodal
  registration; ``volunteer_3d/chris_t1.nii.gz`` for a 3-D test with a synthetic deformation.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tasks.errors import UsageError

# file-name transform of each moving slice (fixed: BrainProtonDensitySliceBorder20.png): rotation in
# degrees, isotropic scale, shift (x, y) in pixels, as the names say (Shifted13x17y = dx 13, dy 17)
KNOWN_TRANSFORMS = {
    "Shifted13x17y": {"angle_deg": 0.0, "scale": 1.0, "tx": 13.0, "ty": 17.0},
    "Rotated10": {"angle_deg": 10.0, "scale": 1.0, "tx": 0.0, "ty": 0.0},
    "R10X13Y17": {"angle_deg": 10.0, "scale": 1.0, "tx": 13.0, "ty": 17.0},
    "R10X13Y17S12": {"angle_deg": 10.0, "scale": 1.2, "tx": 13.0, "ty": 17.0},
}


@dataclasses.dataclass
class PairSet:
    """moving, fixed: (N, 1, *spatial) float32 in [0, 1]; labels (N, *spatial) int64 and field (N, d, *spatial)
    when known; landmarks: list of (K, d) points in the fixed image."""

    moving: np.ndarray
    fixed: np.ndarray
    moving_labels: np.ndarray | None = None
    fixed_labels: np.ndarray | None = None
    field: np.ndarray | None = None
    landmarks: list | None = None

    def __len__(self) -> int:
        return len(self.moving)

    def subset(self, idx) -> PairSet:
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        marks = None if self.landmarks is None else [self.landmarks[i] for i in idx]
        return PairSet(self.moving[idx], self.fixed[idx], pick(self.moving_labels), pick(self.fixed_labels),
                       pick(self.field), marks)


def draw_landmarks(labels: np.ndarray, count: int, rng) -> list:
    """``count`` points per pair drawn uniformly among the tissue-boundary pixels of each label map (a pixel whose
    label differs from a neighbour's, background boundary included): distinctive points, as anatomical
    landmarks are; inside a uniform region no method can see the displacement. All pixels if there is no boundary.
    """
    out = []
    for lab in labels:
        edge = np.zeros(lab.shape, dtype=bool)
        for axis in range(lab.ndim):
            change = np.diff(lab, axis=axis) != 0
            lead = [slice(None)] * lab.ndim
            lead[axis] = slice(1, None)
            edge[tuple(lead)] |= change
            lead[axis] = slice(None, -1)
            edge[tuple(lead)] |= change
        candidates = np.argwhere(edge) if edge.any() else np.argwhere(np.ones_like(lab, dtype=bool))
        out.append(candidates[rng.choice(len(candidates), size=min(count, len(candidates)), replace=False)]
                   .astype(np.float64))
    return out


def phantom_pairs(n: int, shape: tuple, magnitude: float, affine: bool, seed: int, landmarks: int = 20) -> PairSet:
    """Phantom pairs with their true field, labels and landmarks (see the module docstring)."""
    from tasks.data.phantoms.deformation import make_registration_pairs

    d = make_registration_pairs(n, shape=shape, magnitude=magnitude, smoothness=max(shape) / 10.0,
                                affine=affine, seed=seed)
    scale = max(float(d["moving"].max()), float(d["fixed"].max()), 1e-6)
    marks = draw_landmarks(d["fixed_labels"], landmarks, np.random.default_rng(seed + 1))
    return PairSet(np.clip(d["moving"] / scale, 0, 1), np.clip(d["fixed"] / scale, 0, 1),
                   d["moving_labels"], d["fixed_labels"], d["field"], marks)


def folder_pairs(path, size: int | None) -> PairSet:
    """fixed/ + moving/ same-named images -> PairSet (no labels or fields). UsageError on bad input."""
    from tasks.userdata import _image_files, normalize_intensity, read_image, resize

    root = Path(path)
    fixed_files, moving_files = _image_files(root / "fixed", "fixed"), _image_files(root / "moving", "moving")
    for stem, p in {**fixed_files, **moving_files}.items():
        if stem not in fixed_files or stem not in moving_files:
            raise UsageError(f"{p}: no same-named partner in {'moving' if stem in fixed_files else 'fixed'}/")
    pairs = []
    for stem in sorted(fixed_files):
        images = [read_image(fixed_files[stem]), read_image(moving_files[stem])]
        for p, im in zip((fixed_files[stem], moving_files[stem]), images):
            if not np.isfinite(im).all():
                raise UsageError(f"{p}: contains NaN or infinite values")
        images = [im.mean(axis=0, keepdims=True) for im in images]  # RGB -> grey
        if images[0].ndim != images[1].ndim:
            raise UsageError(f"{fixed_files[stem]} is {images[0].ndim - 1}-D but {moving_files[stem]} is "
                             f"{images[1].ndim - 1}-D: a pair must be two images or two volumes")
        if size is not None:
            images = [resize(im, (size,) * (im.ndim - 1)) for im in images]
        elif images[0].shape != images[1].shape:
            raise UsageError(f"{fixed_files[stem]} {images[0].shape[1:]} and {moving_files[stem]} "
                             f"{images[1].shape[1:]}: a pair must have one size; pass --size N to resample both")
        pairs.append([normalize_intensity(im) for im in images])
    shapes = {p[0].shape for p in pairs}
    if len(shapes) != 1:
        raise UsageError(f"{root}: pairs have different sizes {sorted(shapes)}; pass --size N to resample them")
    fixed = np.stack([p[0] for p in pairs])
    moving = np.stack([p[1] for p in pairs])
    return PairSet(moving, fixed)


# ------------------------------------------------------------------------------------------------ shared MRI
def _grey(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    a = mpimg.imread(path)
    return (a[..., 0] if a.ndim == 3 else a).astype(np.float32)


def brain_slices(mri_dir) -> dict | None:
    """{'fixed': PD (H, W), 'moving': {name: (H, W)}, 'bspline': (H, W), 't1': (H, W)} in [0, 1], or None
    when the folder is absent."""
    folder = Path(mri_dir) / "brain_slices_2d"
    if not (folder / "BrainProtonDensitySliceBorder20.png").is_file():
        return None
    return {
        "fixed": _grey(folder / "BrainProtonDensitySliceBorder20.png"),
        "moving": {name: _grey(folder / f"BrainProtonDensitySlice{name}.png") for name in KNOWN_TRANSFORMS},
        "bspline": _grey(folder / "BrainProtonDensitySliceBSplined10.png"),
        "t1": _grey(folder / "BrainT1SliceBorder20.png"),
    }


def volunteer_t1(mri_dir, size: int = 64) -> np.ndarray | None:
    """The volunteer's T1 volume resampled to (size, size, size), scaled to [0, 1]; None when absent or when
    nibabel (extra medical-io) is missing."""
    path = Path(mri_dir) / "volunteer_3d" / "chris_t1.nii.gz"
    if not path.is_file():
        return None
    try:
        import nibabel
    except ImportError:
        return None
    from scipy import ndimage

    volume = np.asarray(nibabel.load(str(path)).dataobj, dtype=np.float32)
    volume = ndimage.zoom(volume, [size / s for s in volume.shape], order=1)
    return np.clip(volume / max(float(np.percentile(volume, 99.5)), 1e-6), 0, 1).astype(np.float32)
