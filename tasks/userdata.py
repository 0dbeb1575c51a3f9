"""Your own images: the folder formats every experiment accepts, checked file by file.

Classification folder::

    mydata/
      images/      case001.png, case002.npy, case003.nii.gz, ...
      labels.csv   file,label[,split][,group]   (header row; file relative to images/; label a
                                          class name or integer; split train/val/test, optional;
                                          group: a patient id, optional)

Dense-task folder (segmentation, enhancement pairs, ...)::

    mydata/
      images/      case001.png, ...
      masks/       case001.png, ...       (same name stem as the image; integer labels; a PNG
                                          mask stored as 0/255 means background/foreground)
      split.csv    file,split             (optional)

Formats: PNG (grey or RGB; 8/16-bit), NumPy ``.npy`` (2D ``(H, W)``, RGB ``(H, W, 3|4)``, a
volume ``(D, H, W)`` or a multi-channel volume ``(C, D, H, W)``; loaded with
``allow_pickle=False``) and NIfTI ``.nii``/``.nii.gz`` (extra ``medical-io``). Images may differ
in size: each experiment states its rule (resize, crop or patches) in its ``--help``.

Splits: the ``split`` column/file when present (all three splits must be non-empty); otherwise a
seeded 70/15/15 split, stratified by class for classification, that the experiment saves in the
run folder as ``split.csv``. With a ``group`` column (several images of one patient) every group
lands in one split, and cross-validation folds (``--cv-folds``) keep groups whole too: images of
one patient on both sides of a split would make the validation score lie. Every malformed input
raises UsageError naming the file.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from tasks.errors import UsageError

IMAGE_SUFFIXES = (".png", ".npy", ".nii", ".nii.gz")
SPLITS = ("train", "val", "test")


@dataclasses.dataclass
class FolderData:
    """A user folder, read. images[i]: (C, *spatial) float32; masks[i]: (*spatial) int64 labels."""

    root: Path
    files: list  # names relative to images/
    images: list
    split: np.ndarray  # (N,) "train" | "val" | "test"
    labels: np.ndarray | None = None  # (N,) int64 class indices (classification)
    groups: np.ndarray | None = None  # (N,) str patient ids of labels.csv's group column
    class_names: list | None = None
    masks: list | None = None
    spacings: list | None = None  # per image: voxel size (mm) along each spatial axis; None when the file has none

    @property
    def ndim(self) -> int:
        """Spatial dimensions (2 or 3), the same for every image (checked when reading)."""
        return self.images[0].ndim - 1

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)


# ------------------------------------------------------------------------------------ reading files
def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _stem(path: Path) -> str:
    suffix = _suffix(path)
    return path.name[: -len(suffix)] if suffix else path.name


def _nifti_spacing(path: Path, shape: tuple, spacing: tuple) -> tuple:
    """The header's voxel sizes of the axes that ``read_image`` keeps (length-1 axes are squeezed)."""
    kept = [float(s) for n, s in zip(shape, spacing) if n != 1]
    if not kept or min(kept) <= 0 or not np.isfinite(kept).all():
        raise UsageError(f"{path}: the header's voxel size {tuple(spacing)} is not positive")
    return tuple(kept)


def read_image(path: Path, with_spacing: bool = False):
    """One image as float32 (C, *spatial): grey -> C = 1, RGB(A) -> C = 3 (alpha dropped; an RGB
    image whose three channels are equal is grey, C = 1). ``with_spacing=True`` returns (image,
    spacing): the voxel size in mm along each spatial axis from a NIfTI header, None for PNG/.npy."""
    suffix = _suffix(path)
    spacing = None
    try:
        if suffix == ".png":
            import matplotlib.image

            a = np.asarray(matplotlib.image.imread(path))  # floats in [0, 1] for 8- and 16-bit PNGs
        elif suffix == ".npy":
            a = np.load(path, allow_pickle=False)
        elif suffix in (".nii", ".nii.gz"):
            from tasks.data.medical_io import read_nifti

            a, meta = read_nifti(path)
            spacing = _nifti_spacing(path, np.shape(a), meta.spacing)
            a = np.squeeze(np.asarray(a))
        else:
            raise UsageError(f"{path}: unsupported file type (use {', '.join(IMAGE_SUFFIXES)})")
    except UsageError:
        raise
    except ImportError as e:
        raise UsageError(f"{path}: {e}") from None
    except Exception as e:  # a truncated PNG, a pickled .npy, a corrupt NIfTI: name the file, not the library
        raise UsageError(f"{path}: cannot read it ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") \
            from None
    if a.dtype.kind not in "biuf":
        raise UsageError(f"{path}: holds {a.dtype} values, not numbers")
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise UsageError(f"{path}: contains NaN or infinite values")
    image = _channels_first(a, path, suffix)
    return (image, spacing) if with_spacing else image


def _channels_first(a: np.ndarray, path: Path, suffix: str) -> np.ndarray:
    if a.ndim == 2:
        return a[None]
    if a.ndim == 3 and a.shape[-1] in (3, 4) and suffix != ".nii" and suffix != ".nii.gz":
        rgb = a[..., :3]
        if (rgb == rgb[..., :1]).all():  # grey stored as RGB(A), as many tools save it
            return rgb[None, ..., 0].copy()
        return np.moveaxis(rgb, -1, 0).copy()  # (H, W, RGB) -> (3, H, W)
    if a.ndim == 3:
        return a[None]  # a volume (D, H, W)
    if a.ndim == 4 and a.shape[0] <= 4:
        return a  # (C, D, H, W)
    raise UsageError(f"{path}: an image must be 2D or 3D (optionally with channels), got shape {a.shape}")


def read_mask(path: Path, with_spacing: bool = False):
    """A label map as int64 (*spatial): integer values >= 0 (0/255 PNG masks become 0/1);
    ``with_spacing=True`` returns (mask, spacing) as ``read_image`` does."""
    m, spacing = read_image(path, with_spacing=True)
    if m.shape[0] != 1:
        raise UsageError(f"{path}: a mask must have one channel, got {m.shape[0]}")
    m = m[0]
    if _suffix(path) == ".png":
        m = np.rint(m * 255.0) if m.max() <= 1.0 else m  # back to the stored integers
        values = np.unique(m)
        if set(values.tolist()) <= {0.0, 255.0}:
            m = (m > 0).astype(np.float32)
    if (m < 0).any() or not np.array_equal(m, np.round(m)):
        bad = m[(m < 0) | (m != np.round(m))].reshape(-1)[0]
        raise UsageError(f"{path}: mask values must be class labels (integers >= 0), found {bad:g}")
    return (m.astype(np.int64), spacing) if with_spacing else m.astype(np.int64)


def _image_files(folder: Path, what: str) -> dict:
    if not folder.is_dir():
        raise UsageError(f"data folder {folder.parent}: no {what}/ subfolder")
    files = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if _suffix(p) not in IMAGE_SUFFIXES:
            raise UsageError(f"{p}: unsupported file type (use {', '.join(IMAGE_SUFFIXES)})")
        stem = _stem(p)
        if stem in files:
            raise UsageError(f"{folder}: two files share the name {stem!r} ({files[stem].name}, {p.name})")
        files[stem] = p
    if not files:
        raise UsageError(f"{folder}: no images")
    return files


def _read_csv(path: Path, columns: tuple) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            header = rows[0].keys() if rows else []
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except csv.Error as e:
        raise UsageError(f"{path}: not a valid CSV file ({e})") from None
    missing = [c for c in columns if c not in header]
    if not rows:
        raise UsageError(f"{path}: no rows")
    if missing:
        raise UsageError(f"{path}: needs the columns {', '.join(columns)} (header row); missing {', '.join(missing)}")
    return rows


def _same_dims(images: list, files: list) -> None:
    dims = {im.ndim for im in images}
    if len(dims) > 1:
        i2 = next(i for i, im in enumerate(images) if im.ndim != images[0].ndim)
        raise UsageError(f"images mix 2D and 3D: {files[0]} has shape {images[0].shape[1:]}, "
                         f"{files[i2]} has shape {images[i2].shape[1:]}")
    channels = {im.shape[0] for im in images}
    if len(channels) > 1:
        i2 = next(i for i, im in enumerate(images) if im.shape[0] != images[0].shape[0])
        raise UsageError(f"images mix channel counts: {files[0]} has {images[0].shape[0]}, "
                         f"{files[i2]} has {images[i2].shape[0]}")


# ------------------------------------------------------------------------------------------ splits
def _given_split(values: list, source: str) -> np.ndarray:
    split = np.array([v.strip().lower() for v in values])
    bad = sorted(set(split) - set(SPLITS))
    if bad:
        raise UsageError(f"{source}: split values must be train, val or test; found {str(bad[0])!r}")
    for s in SPLITS:
        if not (split == s).any():
            raise UsageError(f"{source}: the {s} split is empty")
    return split


def seeded_split(n: int, labels=None, seed: int = 0, groups=None) -> np.ndarray:
    """A 70/15/15 split (stratified by ``labels``, whole ``groups`` when given), as (n,) split names."""
    from engine.data import train_val_test_split

    if labels is not None:
        counts = np.bincount(labels)
        if counts[counts > 0].min() < 3:
            rare = int(np.flatnonzero((counts > 0) & (counts < 3))[0])
            raise UsageError(f"too few images to split: class {rare} has {counts[rare]} image(s); a stratified "
                             f"train/val/test split needs at least 3 per class (or give a split column)")
    elif n < 3:
        raise UsageError(f"too few images to split: {n}; need at least 3 (or give a split file)")
    if groups is not None and len(np.unique(groups)) < 3:
        raise UsageError(f"too few groups to split: {len(np.unique(groups))}; a train/val/test split by group needs "
                         f"at least 3 (or give a split column)")
    parts = train_val_test_split(labels if labels is not None else n, fractions=(0.7, 0.15, 0.15),
                                 stratify=labels, groups=groups, seed=seed)
    split = np.empty(n, dtype="<U5")
    for name, idx in zip(SPLITS, parts):
        split[idx] = name
    return split


def save_split(path, files, split) -> None:
    """Write ``file,split`` rows (the split a run used, kept in its folder)."""
    from tasks.runfolder import write_text_atomic

    lines = ["file,split"] + [f"{f},{s}" for f, s in zip(files, split)]
    write_text_atomic(Path(path), "\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------- datasets
def _root(path) -> Path:
    root = Path(path)
    if not root.is_dir():
        raise UsageError(f"data folder {path}: no such folder")
    return root


def load_labelled_folder(path, seed: int = 0) -> FolderData:
    """images/ + labels.csv (file,label[,split]) -> FolderData with labels and class names."""
    root = _root(path)
    available = _image_files(root / "images", "images")
    rows = _read_csv(root / "labels.csv", ("file", "label"))
    by_name = {p.name: p for p in available.values()}
    files, raw_labels = [], []
    for line, row in enumerate(rows, start=2):
        name = (row["file"] or "").strip()
        if name not in by_name:
            raise UsageError(f"{root / 'labels.csv'} line {line}: images/{name} does not exist")
        if not (row["label"] or "").strip():
            raise UsageError(f"{root / 'labels.csv'} line {line}: empty label for {name}")
        files.append(name)
        raw_labels.append(row["label"].strip())
    unlisted = sorted(set(by_name) - set(files))
    if unlisted:
        raise UsageError(f"{root / 'images' / unlisted[0]} has no row in labels.csv ({len(unlisted)} such files)")
    if len(set(files)) != len(files):
        dup = next(f for f in files if files.count(f) > 1)
        raise UsageError(f"{root / 'labels.csv'}: {dup} is listed twice")
    names = sorted(set(raw_labels), key=lambda s: (0, int(s)) if s.lstrip("-").isdigit() else (1, s))
    if len(names) < 2:
        raise UsageError(f"{root / 'labels.csv'}: only one class ({names[0]!r}); classification needs at least two")
    labels = np.array([names.index(s) for s in raw_labels], dtype=np.int64)
    images = [read_image(by_name[f]) for f in files]
    _same_dims(images, files)
    groups = None
    if "group" in rows[0]:
        groups = np.array([(r.get("group") or "").strip() for r in rows])
        if (groups == "").any():
            line = int(np.flatnonzero(groups == "")[0]) + 2
            raise UsageError(f"{root / 'labels.csv'} line {line}: empty group (every row needs its patient id)")
    if "split" in rows[0] and any((r.get("split") or "").strip() for r in rows):
        split = _given_split([r.get("split") or "" for r in rows], str(root / "labels.csv"))
        if groups is not None:
            _groups_within_one_split(groups, split, root / "labels.csv")
    else:
        split = seeded_split(len(files), labels, seed, groups)
    return FolderData(root, files, images, split, labels=labels, class_names=names, groups=groups)


def _groups_within_one_split(groups: np.ndarray, split: np.ndarray, source: Path) -> None:
    for g in np.unique(groups):
        where = np.unique(split[groups == g])
        if len(where) > 1:
            raise UsageError(f"{source}: group {str(g)!r} is in the {' and '.join(where)} splits; a patient's images "
                             f"must stay in one split")


def load_paired_folder(path, seed: int = 0, targets: str = "masks") -> FolderData:
    """images/ + masks/ (same name stems) [+ split.csv] -> FolderData with masks.

    Each mask must have its image's spatial shape; values are integer class labels.
    """
    root = _root(path)
    images_by_stem = _image_files(root / "images", "images")
    masks_by_stem = _image_files(root / targets, targets)
    for stem, p in images_by_stem.items():
        if stem not in masks_by_stem:
            raise UsageError(f"{p}: no matching file in {targets}/ (expected {targets}/{stem}.*)")
    for stem, p in masks_by_stem.items():
        if stem not in images_by_stem:
            raise UsageError(f"{p}: no matching image in images/")
    stems = sorted(images_by_stem)
    files = [images_by_stem[s].name for s in stems]
    images, spacings = zip(*[read_image(images_by_stem[s], with_spacing=True) for s in stems])
    images, spacings = list(images), list(spacings)
    _same_dims(images, files)
    masks = []
    for s, im, sp in zip(stems, images, spacings):
        m, mask_sp = read_mask(masks_by_stem[s], with_spacing=True)
        if m.shape != im.shape[1:]:
            raise UsageError(f"{masks_by_stem[s]}: mask shape {m.shape} does not match its image's {im.shape[1:]}")
        if sp is not None and len(sp) != m.ndim:
            raise UsageError(f"{images_by_stem[s]}: the header gives {len(sp)} voxel sizes for {m.ndim} spatial axes")
        if sp is not None and mask_sp is not None and not np.allclose(sp, mask_sp, rtol=1e-4):
            raise UsageError(f"{masks_by_stem[s]}: voxel size {mask_sp} differs from its image's {sp}")
        masks.append(m)
    split_file = root / "split.csv"
    if split_file.is_file():
        rows = _read_csv(split_file, ("file", "split"))
        given = {(r["file"] or "").strip(): r["split"] or "" for r in rows}
        missing = [f for f in files if f not in given and _stem(Path(f)) not in given]
        if missing:
            raise UsageError(f"{split_file}: no row for {missing[0]}")
        split = _given_split([given.get(f, given.get(_stem(Path(f)), "")) for f in files], str(split_file))
    else:
        split = seeded_split(len(files), seed=seed)
    return FolderData(root, files, images, split, masks=masks, spacings=spacings)


def normalize_intensity(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Scale each channel so that its ``low``/``high`` percentiles map to 0/1 (clipped): a rule that
    works for 8-bit PNGs, CT in Hounsfield units and MRI in arbitrary units alike."""
    axes = tuple(range(1, image.ndim))
    lo = np.percentile(image, low, axis=axes, keepdims=True)
    hi = np.percentile(image, high, axis=axes, keepdims=True)
    scale = np.where(hi > lo, hi - lo, 1.0)
    return np.clip((image - lo) / scale, 0.0, 1.0).astype(np.float32)


def resize(image: np.ndarray, shape: tuple, order: int = 1) -> np.ndarray:
    """(C, *spatial) -> (C, *shape) by spline interpolation (order 1 images, 0 label maps)."""
    from scipy import ndimage

    if tuple(image.shape[1:]) == tuple(shape):
        return image
    factors = (1.0,) + tuple(t / s for t, s in zip(shape, image.shape[1:]))
    out = ndimage.zoom(image, factors, order=order, mode="nearest", grid_mode=True)
    return out.astype(image.dtype, copy=False)
