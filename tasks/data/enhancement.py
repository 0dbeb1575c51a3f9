"""Paired data for the enhancement experiment (tasks/enhancement.py): degraded input, clean target.

* Low-dose CT (``low_dose_ct``): random-anatomy phantoms projected (our Radon transform), given
  Poisson noise in the projection domain at a dose fraction d of a full-dose I0 photons per detector
  bin (I0 d incident photons), and reconstructed by filtered back-projection
  (tasks/data/phantoms/degradation.py). The target is the FBP of the noise-free sinogram: the
  same reconstruction without quantum noise, so the task isolates the noise. Windowed from
  [-1000, 1000] HU to [0, 1].
* Super-resolution on phantoms (``resolution_phantoms``): tasks/data/phantoms' low/high-field pairs.
* Super-resolution on the real T1 volume (``t1_slices``): 0.88 mm isotropic, 188 x 256 x 190 (RAS).
  Anti-aliasing rule: a low-resolution voxel is the mean of the factor x factor high-resolution
  voxels it covers (block averaging: a larger voxel integrates the signal over its volume, which is
  the acquisition's own low-pass filter); thick slices likewise average ``factor`` consecutive
  axial slices (a rectangular slice profile). No noise is added.
    in-plane ("axial"): axial slices (R x A, cropped to 184 x 256), split by their S position;
    through-plane ("through"): thick axial slabs, seen in coronal planes (R x S, 188 x 188) whose
    S axis is interpolated; split by the planes' A position.
  Split by position: consecutive blocks of ``block`` slices go to train, train, val, train, train,
  test, ... and ``gap`` slices are dropped at every change of split, so no training slice neighbours
  a validation or test slice. Slices with less than 10% of head are left out.
* MRI to CT (``mri_ct_pairs``): T1 phantoms and CT in HU of the same anatomy, with the body mask.
* Your own images (``image_folder``): ``FOLDER/inputs/`` + ``FOLDER/targets/`` with the same file names
  (denoising pairs), or ``FOLDER/images/`` alone (high-resolution images, for super-resolution by
  the block-averaging rule above). 2D, one channel, PNG/.npy/NIfTI, all of one size; both images of
  a pair are scaled to [0, 1] by the targets' overall minimum and maximum (so a pair keeps its
  relation); a seeded 70/15/15 split by image.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tasks.errors import UsageError

SPLITS = ("train", "val", "test")
BLOCK_PATTERN = ("train", "train", "val", "train", "train", "test")
HU_WINDOW = (-1000.0, 1000.0)


def random_split(n: int, seed: int, fractions=(0.7, 0.15, 0.15)) -> dict:
    """Seeded split of n independent cases into index arrays {train, val, test}."""
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_val = int(round(fractions[0] * n)), int(round(fractions[1] * n))
    if min(n_train, n_val, n - n_train - n_val) < 1:
        raise UsageError(f"{n} cases are too few to split into train/val/test; use more (at least 10)")
    return {"train": np.sort(order[:n_train]), "val": np.sort(order[n_train:n_train + n_val]),
            "test": np.sort(order[n_train + n_val:])}


def window(hu) -> np.ndarray:
    """HU -> [0, 1] over HU_WINDOW (clipped)."""
    lo, hi = HU_WINDOW
    return np.clip((np.asarray(hu, np.float32) - lo) / (hi - lo), 0.0, 1.0)


# ------------------------------------------------------------------------------------ low-dose CT
def low_dose_ct(n: int, size: int, dose: float, full_dose_i0: float, seed: int) -> dict:
    """{"x": low-dose FBP, "y": noise-free FBP} (N, 1, size, size) in [0, 1], plus "hu_noise_std"."""
    from tasks.data.phantoms.degradation import make_low_dose_ct_pairs

    d = make_low_dose_ct_pairs(n, size, i0_low=dose * full_dose_i0, i0_full=None, seed=seed)
    return {"x": d["low_dose"], "y": d["full_dose"], "labels": d["labels"],
            "hu_noise_std": float((d["low_dose_hu"] - d["full_dose_hu"]).std())}


# ------------------------------------------------------------------------------------ super-resolution
def block_average(images, factors) -> np.ndarray:
    """Mean over non-overlapping blocks of the last len(factors) axes (sizes must divide)."""
    x = np.asarray(images, np.float32)
    k = len(factors)
    spatial = x.shape[x.ndim - k:]
    if any(s % f for s, f in zip(spatial, factors)):
        raise UsageError(f"scale factor {tuple(factors)} does not divide the image size {tuple(spatial)}")
    shape = list(x.shape[:x.ndim - k])
    for s, f in zip(spatial, factors):
        shape += [s // f, f]
    return x.reshape(shape).mean(axis=tuple(range(x.ndim - k + 1, len(shape), 2)))


def resolution_phantoms(n: int, size: int, factor: int, seed: int) -> dict:
    """{"low": (N, 1, size/f, size/f), "high": (N, 1, size, size)} simulated low/high-field MRI."""
    from tasks.data.phantoms.degradation import make_resolution_pairs

    if size % factor:
        raise UsageError(f"--factor {factor} does not divide --image-size {size}")
    d = make_resolution_pairs(n, size, factor=factor, seed=seed)
    return {"low": d["low"], "high": d["high"]}


def find_t1_volume(data_dir: str | None) -> Path:
    """The volunteer T1 NIfTI: in --data-dir, $MEDGRAD_DATA_DIR/mri/volunteer_3d or ../shared/data/..."""
    name = "chris_t1.nii.gz"
    root = Path(__file__).resolve().parents[2]
    candidates = [Path(data_dir)] if data_dir else []
    if os.environ.get("MEDGRAD_DATA_DIR"):
        candidates.append(Path(os.environ["MEDGRAD_DATA_DIR"]) / "mri" / "volunteer_3d")
    candidates += [root.parent / "shared" / "data" / "mri" / "volunteer_3d", Path("../shared/data/mri/volunteer_3d")]
    for c in candidates:
        if (c / name).is_file():
            return c / name
        if c.is_file() and c.name.endswith((".nii", ".nii.gz")):
            return c
    raise UsageError(f"the T1 volume {name} was not found in {', '.join(str(c) for c in candidates)}; pass "
                     f"--data-dir FOLDER")


def load_t1(path) -> np.ndarray:
    """The T1 volume (R, A, S) as float32 in [0, 1] (uint8 / 255)."""
    from tasks.data.medical_io import read_nifti

    try:
        volume, _ = read_nifti(path)
    except (ImportError, ModuleNotFoundError) as e:
        raise UsageError(f"reading {path} needs nibabel: pip install \".[medical-io]\" ({e})") from None
    volume = np.asarray(volume, np.float32)
    return volume / max(float(volume.max()), 1e-6)


def block_split(n: int, block: int, gap: int, keep=None) -> dict:
    """Positions 0..n-1 in blocks of ``block`` assigned cyclically by BLOCK_PATTERN, ``gap`` positions
    dropped at each change of split; ``keep`` (bool (n,)) drops positions without content."""
    split = np.array([BLOCK_PATTERN[(i // block) % len(BLOCK_PATTERN)] for i in range(n)])
    use = np.ones(n, bool) if keep is None else np.asarray(keep, bool).copy()
    for i in range(1, n):
        if split[i] != split[i - 1]:
            use[i:i + gap] = False  # the first ``gap`` positions of the new block
    return {s: np.flatnonzero(use & (split == s)) for s in SPLITS}


def t1_slices(volume: np.ndarray, factor: int, plane: str, block: int = 10, gap: int = 3) -> dict:
    """{"low": {split: (N, 1, h, w)}, "high": {split: (N, 1, H, W)}, "positions": {split: [...]},
    "scale": per-axis factors}. See the module docstring for the rule and the split."""
    if plane == "axial":
        high = volume[2:-2, :, :]  # (184, 256, S): both sides divisible by 8
        images = np.moveaxis(high, 2, 0)  # (S, R, A): one axial slice per position
        scale = (factor, factor)
        low = block_average(images, scale)
    elif plane == "through":
        vol = volume[:, :, 1:-1]  # (188, 256, 188)
        if vol.shape[2] % factor:
            raise UsageError(f"--factor {factor} does not divide the {vol.shape[2]} axial slices")
        thick = block_average(vol, (factor,))  # (R, A, S / f): slabs of f slices
        images = np.moveaxis(vol, 1, 0)  # (A, R, S): one coronal plane per position
        low = np.moveaxis(thick, 1, 0)  # (A, R, S / f)
        scale = (1, factor)
    else:
        raise UsageError(f"--plane must be axial or through, got {plane!r}")
    content = (images > 0.1).mean(axis=(1, 2)) > 0.1
    parts = block_split(len(images), block, gap, keep=content)
    return {"low": {s: low[i][:, None] for s, i in parts.items()},
            "high": {s: images[i][:, None] for s, i in parts.items()},
            "positions": {s: i.tolist() for s, i in parts.items()}, "scale": scale}


def training_patches(low: np.ndarray, high: np.ndarray, scale, patch: int, n: int, seed: int):
    """n random (low, high) patch pairs: high (n, 1, patch, patch) aligned with the low grid."""
    sy, sx = scale
    if patch % sy or patch % sx:
        raise UsageError(f"--patch {patch} must be divisible by the scale factor {max(scale)}")
    rng = np.random.default_rng(seed)
    H, W = high.shape[2:]
    lows, highs = [], []
    while len(highs) < n:  # a few rounds: rejected (empty) patches are redrawn
        m = 2 * (n - len(highs))
        k = rng.integers(0, len(high), m)
        r = rng.integers(0, (H - patch) // sy + 1, m) * sy
        c = rng.integers(0, (W - patch) // sx + 1, m) * sx
        for ki, ri, ci in zip(k, r, c):
            h = high[ki, :, ri:ri + patch, ci:ci + patch]
            if (h > 0.1).mean() < 0.25:
                continue
            highs.append(h)
            lows.append(low[ki, :, ri // sy:(ri + patch) // sy, ci // sx:(ci + patch) // sx])
            if len(highs) == n:
                break
    return np.stack(lows), np.stack(highs)


# ------------------------------------------------------------------------------------ your own folder
def _files(folder: Path) -> dict:
    from tasks.userdata import IMAGE_SUFFIXES

    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder")
    found = {}
    for p in sorted(folder.iterdir()):
        name = p.name.lower()
        suffix = next((x for x in IMAGE_SUFFIXES if name.endswith(x)), None)
        if p.is_file() and suffix:
            found[p.name[: -len(suffix)]] = p
    if not found:
        raise UsageError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return found


def _read_2d(path: Path) -> np.ndarray:
    from tasks.userdata import read_image

    image = read_image(path)
    if image.shape[0] != 1 or image.ndim != 3:
        raise UsageError(f"{path}: expected a 2D one-channel image, got shape {tuple(image.shape)} (channels first)")
    return image


def image_folder(path, seed: int) -> dict:
    """{"x": inputs or None, "y": targets (N, 1, H, W) in [0, 1], "files", "split": {split: indices}}."""
    root = Path(path)
    paired = (root / "inputs").is_dir() or (root / "targets").is_dir()
    targets = _files(root / ("targets" if paired else "images"))
    inputs = _files(root / "inputs") if paired else {}
    for stem, p in {**inputs, **targets}.items():
        if paired and (stem not in inputs or stem not in targets):
            other = "targets" if stem not in targets else "inputs"
            raise UsageError(f"{p}: no file of the same name in {other}/")
    stems = sorted(targets)
    y = [_read_2d(targets[s]) for s in stems]
    x = [_read_2d(inputs[s]) for s in stems] if paired else None
    for i, s in enumerate(stems):
        if x is not None and x[i].shape != y[i].shape:
            raise UsageError(f"{inputs[s]}: input shape {x[i].shape[1:]} does not match its target's {y[i].shape[1:]}")
        if y[i].shape != y[0].shape:
            raise UsageError(f"{targets[s]}: size {y[i].shape[1:]} differs from {targets[stems[0]]} "
                             f"{y[0].shape[1:]}; crop or resize the images to one size first")
    y = np.stack(y)
    lo, hi = float(y.min()), float(y.max())
    scale = hi - lo if hi > lo else 1.0
    out = {"y": (y - lo) / scale, "x": None if x is None else (np.stack(x) - lo) / scale,
           "files": [targets[s].name for s in stems], "split": random_split(len(stems), seed)}
    return out


# ------------------------------------------------------------------------------------ MRI -> CT
def mri_ct_pairs(n: int, size: int, seed: int) -> dict:
    """{"x": T1 (N, 1, S, S), "hu": CT in HU, "body": body mask (bool), "labels": tissue classes (int)}."""
    from tasks.data.phantoms.anatomy import make_modality_pairs

    d = make_modality_pairs(n, (size, size), seed=seed)
    return {"x": d["t1"], "hu": d["ct_hu"], "body": (d["labels"] > 0)[:, None], "labels": d["labels"][:, None]}
