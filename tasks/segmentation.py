"""Segmentation: U-Net (2D/3D), a skip-less FCN and classical baselines, on phantoms or your folder.

Data: ``lesions``/``lesions3d`` (one lesion per image, binary), ``anatomy``/``anatomy3d`` (six
tissue classes from a T1-weighted MRI phantom with bias field and noise), ``histology`` (RGB tiles,
nuclei), ``oct`` (nine retinal layers on 128x256 B-scans), or a folder with ``images/`` + ``masks/``
(tasks/userdata.py; images keep their own sizes and are scaled to [0, 1] by their 0.5/99.5
percentiles). Generated data: a fixed 70/15/15 split.

Training on random patches (a share ``--foreground-fraction`` centred on foreground voxels);
inference by sliding windows with overlap and Gaussian blending (tasks/inference.py), so images
and volumes larger than the patch work. The checkpoint is selected on the validation Dice
(argmax of non-overlapping tiles covering every validation image, Dice pooled over voxels, mean
over foreground classes). Test metrics per case and class (Dice, IoU, HD95, ASSD; a class absent
from a case's reference is left out of that case, as MONAI's ignore_empty; a missed or
hallucinated structure scores the image diagonal as its distance) with bootstrap 95% CIs over cases.
Baselines: ``otsu`` (binary data: Otsu + opening + hole filling [+ largest component]; label maps:
nearest class-mean intensity), its smoothing chosen on validation.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from tasks.errors import UsageError
from tasks.evaluation import format_ci, summarize_cases
from tasks.experiment import Experiment
from tasks.options import Option, training_options

PHANTOMS = {  # name: (spatial dims, default size, class names)
    "lesions": (2, 64, ("background", "lesion")),
    "lesions3d": (3, 32, ("background", "lesion")),
    "anatomy": (2, 128, ("background", "fat", "soft tissue", "bone", "fluid", "lesion")),
    "anatomy3d": (3, 48, ("background", "fat", "soft tissue", "bone", "fluid", "lesion")),
    "histology": (2, 96, ("background", "nucleus")),
    "oct": (2, 128, ("vitreous", "NFL", "GCL+IPL", "INL", "OPL", "ONL", "EZ", "RPE", "choroid")),
}
DATA_SEED = 0  # the generated data and split are fixed, so runs with different --seed compare on the same data


@dataclasses.dataclass
class SegData:
    name: str
    classes: tuple
    images: list  # (C, *S) float32 in [0, 1]
    labels: list  # (*S) int64
    split: np.ndarray  # "train" | "val" | "test" per case
    files: list | None = None  # user folders: the file names (for split.csv)
    full: tuple | None = None  # (images, labels) at the original size when they were resized (--max-size)
    spacings: list | None = None  # per case: voxel size in mm (NIfTI headers), None where unknown

    dims = property(lambda self: self.images[0].ndim - 1)
    channels = property(lambda self: self.images[0].shape[0])

    def part(self, split, full: bool = False):
        idx = np.flatnonzero(self.split == split)
        images, labels = self.full if full and self.full is not None else (self.images, self.labels)
        return [images[i] for i in idx], [labels[i] for i in idx]


def _phantoms(name: str, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    from tasks.data import phantoms as P

    if name.startswith("lesions"):
        d = P.make_lesion_dataset(n, image_size=size, ndim=PHANTOMS[name][0], seed=DATA_SEED)
        return d["images"], d["masks"].astype(np.int64)
    if name.startswith("anatomy"):
        d = P.make_modality_pairs(n, (size,) * PHANTOMS[name][0], seed=DATA_SEED)
        return d["t1"], d["labels"]
    if name == "histology":
        d = P.make_histology_tiles(n, tile_size=size, seed=DATA_SEED)
        return d["images"], d["masks"].astype(np.int64)
    d = P.make_oct_bscans(n, (size, 2 * size), seed=DATA_SEED)
    return d["images"], d["labels"]


def load_data(config) -> SegData:
    name = config.dataset.lower()
    if name in PHANTOMS:
        from tasks.userdata import seeded_split

        dims, default, classes = PHANTOMS[name]
        x, y = _phantoms(name, config.n_samples, config.size or default)
        return SegData(name, classes, list(x.astype(np.float32)), list(y), seeded_split(len(y), seed=DATA_SEED))
    from tasks.userdata import load_paired_folder, normalize_intensity, resize

    folder = load_paired_folder(config.dataset, seed=DATA_SEED)
    k = config.num_classes or max(2, 1 + max(int(m.max()) for m in folder.masks))
    for f, m in zip(folder.files, folder.masks):
        if m.max() >= k:
            raise UsageError(f"{Path(config.dataset) / 'masks'} ({f}): label {int(m.max())} is outside the "
                             f"{k} classes 0..{k - 1} (--num-classes {k})")
    classes = ("background",) + tuple(f"class {c}" for c in range(1, k))
    images, labels, full = [normalize_intensity(im) for im in folder.images], folder.masks, None
    if config.max_size and any(max(m.shape) > config.max_size for m in labels):
        # large images are shrunk (largest side max_size) for training and inference, so that a patch holds
        # enough context; predictions go back to the original grid for evaluation
        full = (images, labels)
        shapes = [tuple(max(1, round(s * min(1.0, config.max_size / max(m.shape)))) for s in m.shape) for m in labels]
        images = [resize(im, sh) for im, sh in zip(images, shapes)]
        labels = [resize(m[None], sh, order=0)[0] for m, sh in zip(labels, shapes)]
    return SegData(Path(config.dataset).name, classes, images, labels, folder.split, folder.files, full,
                   folder.spacings)


def _tiles(images, labels, patch):
    """Non-overlapping patch tiles covering every image (edge-padded): the validation set."""
    xs, ys = [], []
    for im, lab in zip(images, labels):  # a loop over validation images at setup, not in training
        pad = [(0, (-s) % p) for s, p in zip(lab.shape, patch)]
        im, lab = np.pad(im, [(0, 0)] + pad, mode="edge"), np.pad(lab, pad)
        for corner in np.ndindex(*[s // p for s, p in zip(lab.shape, patch)]):
            sl = tuple(slice(c * p, (c + 1) * p) for c, p in zip(corner, patch))
            xs.append(im[(slice(None),) + sl])
            ys.append(lab[sl])
    return np.stack(xs).astype(np.float32), np.stack(ys)


def pooled_dice(pred, target, k) -> float:
    """Mean over the foreground classes present in ``target`` of the Dice pooled over all voxels; with no
    foreground in ``target`` at all, 1 when ``pred`` has none either and 0 otherwise (the empty-mask rule)."""
    scores = [2.0 * ((pred == c) & (target == c)).sum() / ((pred == c).sum() + (target == c).sum())
              for c in range(1, k) if (target == c).any()]
    return float(np.mean(scores)) if scores else float(not (pred > 0).any())


def _random_flips(x, y, rng):
    """Flip each patch along each spatial axis with probability 1/2 (images and labels alike)."""
    for axis in range(y.ndim - 1):
        flip = rng.random(len(y)) < 0.5
        x[flip] = np.flip(x[flip], axis=axis + 2)
        y[flip] = np.flip(y[flip], axis=axis + 1)
    return x, y


def _loss(name, k):
    import engine.nn.functional as F

    bg = k > 2  # with several classes the background's Dice is excluded (it would dominate)
    return {"dice_ce": lambda o, t: F.dice_ce_loss(o, t, include_background=not bg),
            "dice": lambda o, t: F.dice_loss(o, t, include_background=not bg),
            "ce": lambda o, t: F.cross_entropy(o, t),
            "focal": lambda o, t: F.focal_loss(o, t, gamma=2.0),
            "tversky": lambda o, t: F.tversky_loss(o, t, alpha=0.3, beta=0.7, include_background=not bg)}[name]


def train_network(ctx, data: SegData, patch):
    """Build and train the U-Net or FCN; returns (predict_fn for windows -> probabilities, info, history)."""
    from models.unet import FCN, UNet
    from tasks.inference import PatchLoader, PatchSampler
    from tasks.training import fit, predict

    c = ctx.config
    k = len(data.classes)
    kwargs = dict(dims=data.dims, depth=c.depth, width=c.width, norm=c.norm, dropout=c.dropout)
    model = (UNet(data.channels, k, up=c.up, **kwargs) if c.model == "unet" else FCN(data.channels, k, **kwargs))
    model.to(c.device)
    sampler = PatchSampler(*data.part("train"), patch, foreground_fraction=c.foreground_fraction)
    train = PatchLoader(sampler, c.batch_size, c.batches_per_epoch, seed=c.seed,
                        transform=_random_flips if c.augment else None)
    xv, yv = _tiles(*data.part("val"), patch)
    val = [(xv[i:i + c.batch_size], yv[i:i + c.batch_size]) for i in range(0, len(yv), c.batch_size)]
    result = fit(ctx, model, _loss(c.loss, k), train, val,
                 metrics={"dice": lambda out, t: pooled_dice(out.argmax(1), t, k)}, monitor="val_dice", mode="max")

    def probabilities(batch):
        logits = predict(ctx, model, batch, batch_size=c.batch_size)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    info = {"parameters": model.num_parameters(), "best_epoch": result.best_epoch,
            "train_seconds": result.train_seconds, "val_dice_best": max(r.get("val_dice", 0) for r in result.history)}
    return probabilities, info, result.history


def segment_all(probabilities, images, patch, k, config) -> list:
    """Sliding-window probabilities -> label maps (argmax, or a threshold on the foreground when binary)."""
    from models.classical_segmentation import largest_component_per_class
    from tasks.inference import sliding_window_inference

    out = []
    for im in images:  # one image at a time bounds memory (512x512 images, 128^3 volumes)
        prob = sliding_window_inference(probabilities, im, patch, k, overlap=config.overlap, mode=config.blend,
                                        batch_size=config.batch_size)
        lab = (prob[1] > config.threshold).astype(np.int64) if k == 2 else prob.argmax(0)
        if config.postprocess == "largest":
            lab = largest_component_per_class(lab, k)
        out.append(lab)
    return out


def run_baseline(data: SegData, config):
    """Otsu (binary) or nearest class mean (label maps); the smoothing is chosen on validation Dice."""
    from models.classical_segmentation import NearestMeanSegmenter, largest_component_per_class, otsu_segment

    k = len(data.classes)
    largest = config.postprocess == "largest" or data.name.startswith("lesions")

    def segmenter(sigma):
        if k == 2:
            return lambda im: otsu_segment(im, smooth=sigma, keep_largest=largest).astype(np.int64)
        model = NearestMeanSegmenter(k, smooth=sigma).fit(*data.part("train"))
        post = (lambda lab: largest_component_per_class(lab, k)) if config.postprocess == "largest" else (lambda x: x)
        return lambda im: post(model.predict(im[None])[0])

    xv, yv = data.part("val")
    trials = []
    for sigma in (0.0, 1.0, 2.0):
        seg = segmenter(sigma)
        trials.append({"smooth": sigma, "val_dice": float(np.nanmean([pooled_dice(seg(x), y, k)
                                                                     for x, y in zip(xv, yv)]))})
    best = max(trials, key=lambda t: t["val_dice"])
    return segmenter(best["smooth"]), {"selected": {"smooth": best["smooth"]}, "trials": trials}


def evaluate(preds, targets, k, n_boot, seed, spacings=None) -> dict:
    """Per-case metrics (mean over the foreground classes present) with CIs, and per-class means.

    spacings: per case, the voxel size (mm) of each axis, or None; distances (HD95, ASSD) are in mm
    when every case has one, in voxels otherwise (``distance_unit`` says which)."""
    from tasks.metrics import per_class_metrics

    names = ("dice", "iou", "hd95", "assd")
    per_case = {n: [] for n in names}
    per_class = {n: [] for n in names}
    spacings = spacings or [None] * len(preds)
    in_mm = all(sp is not None for sp in spacings)
    for p, t, sp in zip(preds, targets, spacings):  # cases may differ in size
        sp = sp if in_mm else None
        diagonal = float(np.linalg.norm(np.asarray(t.shape) * (np.asarray(sp) if sp else 1.0)))
        m = per_class_metrics(p[None], t[None], k, metrics=names, spacing=sp, ignore_empty=True,
                              empty_distance=diagonal)
        for n in names:
            per_class[n].append(m[n][0])
            row = m[n][0]
            per_case[n].append(float(np.nanmean(row)) if np.isfinite(row).any() else float("nan"))
    out = summarize_cases(per_case, n_boot=n_boot, seed=seed)
    with np.errstate(all="ignore"):
        out["per_class"] = {n: [None if not np.isfinite(v) else float(v) for v in np.nanmean(per_class[n], 0)]
                            for n in ("dice", "hd95")}
    out["per_case_dice"] = per_case["dice"]
    out["distance_unit"] = "mm" if in_mm else "voxels"
    return out


def write_figures(data, images, targets, preds, dice, history, fig_dir) -> list[str]:
    import matplotlib.pyplot as plt

    from tasks import figures

    paths = [figures.training_curves(history, fig_dir / "training_curves.png", metrics=("loss", "dice"))] \
        if history else []
    order = np.argsort(np.nan_to_num(np.asarray(dice), nan=-1.0))
    picks = {"worst": order[0], "median": order[len(order) // 2], "best": order[-1]}
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
    for ax, (what, i) in zip(axes, picks.items()):
        im, t, p = images[i], targets[i], preds[i]
        if data.dims == 3:  # the slice with the most foreground
            z = int(np.argmax((t > 0).reshape(t.shape[0], -1).sum(1)))
            im, t, p = im[:, z], t[z], p[z]
        shown = np.moveaxis(im, 0, -1) if im.shape[0] == 3 else im[0]
        ax.imshow(shown, cmap="gray")
        for c in range(1, len(data.classes)):
            if (t == c).any():
                ax.contour(t == c, levels=[0.5], colors="lime", linewidths=1.0)
            if (p == c).any():
                ax.contour(p == c, levels=[0.5], colors="red", linewidths=1.0, linestyles="--")
        ax.set_title(f"{what}: Dice {dice[i]:.3f}")
        ax.axis("off")
    fig.suptitle("test cases: truth (green) vs prediction (red, dashed)")
    paths.append(figures._save(fig, fig_dir / "overlays.png"))
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(np.asarray(dice)[np.isfinite(dice)], bins=20, range=(0, 1))
    ax.set_xlabel("per-case Dice (test)")
    ax.set_ylabel("cases")
    paths.append(figures._save(fig, fig_dir / "dice_per_case.png"))
    return paths


class SegmentationExperiment(Experiment):
    name = "segmentation"
    description = ("U-Net / FCN / Otsu on lesion, anatomy, histology and OCT phantoms (2D/3D) or your folder; "
                   "patch training, sliding-window inference; Dice/HD95/ASSD with bootstrap 95% CIs")
    options = (
        Option("dataset", str, "lesions", f"{', '.join(PHANTOMS)}, or a folder with images/ and masks/ (same "
               "names; images keep their size and are scaled by their 0.5/99.5 percentiles)"),
        Option("model", str, "unet", "network, or the classical baseline", choices=("unet", "fcn", "otsu")),
        Option("n_samples", int, 60, "number of generated phantoms", quick=24, low=6, high=100_000),
        Option("size", int, None, "side of generated phantoms (default per dataset: lesions 64, lesions3d 32, "
               "anatomy 128, anatomy3d 48, histology 96, oct 128x256)", low=16, high=1024, nullable=True),
        Option("max_size", int, 256, "user folders: images with a larger side are resized to this largest side "
               "for training and inference (predictions are resized back for the metrics); none keeps them",
               low=16, high=4096, nullable=True),
        Option("num_classes", int, None, "classes of a user folder, background included (default: largest "
               "label + 1)", low=2, high=256, nullable=True),
        Option("dims", int, None, "network dimensionality, 2 or 3 (default: the data's; must match it)",
               choices=(2, 3), nullable=True),
        Option("depth", int, 4, "resolution levels of the network", quick=3, low=1, high=7),
        Option("width", int, 16, "channels at the first level", quick=8, low=1, high=512),
        Option("norm", str, "batch", "normalisation", choices=("batch", "instance", "group", "none")),
        Option("dropout", float, 0.0, "dropout after each block", low=0.0, high=0.9),
        Option("up", str, "transpose", "U-Net decoder upsampling", choices=("transpose", "upsample")),
        Option("loss", str, "dice_ce", "training loss", choices=("dice_ce", "dice", "ce", "focal", "tversky")),
        Option("patch_size", int, None, "training/inference patch side (default: 128 in 2D, 32 in 3D, at most "
               "the smallest image side; a multiple of 2^(depth-1))", low=4, high=1024, nullable=True),
        Option("batches_per_epoch", int, 25, "random patch batches per epoch", quick=6, low=1, high=100_000),
        Option("foreground_fraction", float, 0.33, "share of patches centred on a foreground voxel", low=0.0,
               high=1.0),
        Option("augment", bool, False, "random flips of the training patches"),
        Option("overlap", float, 0.5, "sliding-window overlap", low=0.0, high=0.95),
        Option("blend", str, "gaussian", "sliding-window blending", choices=("gaussian", "constant")),
        Option("threshold", float, 0.5, "binary data: foreground probability threshold", low=0.0, high=1.0,
               open_low=True),
        Option("postprocess", str, "none", "keep the largest connected component of each class",
               choices=("none", "largest")),
        *training_options(epochs=8, lr=2e-3, batch_size=8, quick_epochs=2),
    )

    def check(self, config) -> None:
        if config.dataset.lower() not in PHANTOMS and not Path(config.dataset).is_dir():
            raise UsageError(f"unknown dataset {config.dataset!r}; use {', '.join(PHANTOMS)} or a folder with "
                             f"images/ and masks/")
        factor = 2 ** (config.depth - 1)
        if config.patch_size is not None and config.patch_size % factor:
            raise UsageError(f"--patch-size {config.patch_size} must be a multiple of 2^(depth-1) = {factor} "
                             f"(--depth {config.depth})")
        name = config.dataset.lower()
        if name in PHANTOMS and config.dims is not None and config.dims != PHANTOMS[name][0]:
            raise UsageError(f"--dims {config.dims}: dataset {name} is {PHANTOMS[name][0]}D")

    def patch_size(self, config, data: SegData) -> tuple:
        factor = 2 ** (config.depth - 1)
        smallest = min(min(lab.shape) for lab in data.labels)
        side = config.patch_size or min(128 if data.dims == 2 else 32, max(factor, smallest // factor * factor))
        return (side,) * data.dims

    def run(self, ctx) -> dict:
        c = ctx.config
        data = load_data(c)
        if c.dims is not None and c.dims != data.dims:
            raise UsageError(f"--dims {c.dims}: a {c.dims}D model cannot run on {data.dims}D data "
                             f"({data.name}, image shape {data.images[0].shape[1:]})")
        if data.files is not None:
            from tasks.userdata import save_split

            save_split(ctx.run_dir / "split.csv", data.files, data.split)
        k, patch = len(data.classes), self.patch_size(c, data)
        started, history = time.time(), []
        if c.model == "otsu":
            seg, info = run_baseline(data, c)
            info["train_seconds"] = time.time() - started
            segment = lambda images: [seg(im) for im in images]  # noqa: E731
        else:
            probabilities, info, history = train_network(ctx, data, patch)
            segment = lambda images: segment_all(probabilities, images, patch, k, c)  # noqa: E731
        started = time.time()
        x_val, y_val = data.part("val")
        x_test, y_test = data.part("test")
        p_val, p_test = segment(x_val), segment(x_test)
        if data.full is not None:  # back to the original grid (nearest neighbour) for the metrics
            from tasks.userdata import resize

            (_, y_val), (x_test, y_test) = data.part("val", full=True), data.part("test", full=True)
            p_val = [resize(p[None], t.shape, order=0)[0] for p, t in zip(p_val, y_val)]
            p_test = [resize(p[None], t.shape, order=0)[0] for p, t in zip(p_test, y_test)]
        info["inference_seconds_per_test_case"] = (time.time() - started) / (len(x_val) + len(x_test))
        test_spacings = None if data.spacings is None else [data.spacings[i]
                                                            for i in np.flatnonzero(data.split == "test")]
        test = evaluate(p_test, y_test, k, c.bootstrap, c.seed, test_spacings)
        return {
            "experiment": self.name, "dataset": data.name, "model": c.model, "classes": list(data.classes),
            "patch_size": list(patch), "train_seconds": info["train_seconds"], "model_info": info,
            "val": {"dice": float(np.nanmean([pooled_dice(p, t, k) for p, t in zip(p_val, y_val)]))},
            "test": test,
            "split_sizes": {s: int((data.split == s).sum()) for s in ("train", "val", "test")},
            "figures": write_figures(data, x_test, y_test, p_test, test["per_case_dice"], history, ctx.figures_dir),
        }

    def summary(self, metrics: dict) -> str:
        t = metrics["test"]
        unit = t.get("distance_unit", "voxels")
        return (f"test Dice {format_ci(t, 'dice')}  HD95 {format_ci(t, 'hd95', 2)} {unit}  "
                f"ASSD {format_ci(t, 'assd', 2)} {unit}  [{metrics['dataset']}, {metrics['model']}]")


EXPERIMENT = SegmentationExperiment()
