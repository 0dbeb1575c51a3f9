"""Computer-aided detection (CADe): find every lesion in an image or volume; FROC and CPM.

Three detectors run through the same evaluation:

* ``log``: multi-scale Laplacian-of-Gaussian blobs, scored by their response; the classical baseline
  (models/classical_detection.py).
* ``two-stage``: the classic CADe pipeline (Setio et al. 2016): the LoG candidates, then a small CNN
  on a patch around each candidate that removes false positives; trained on the training scans'
  candidates (label = the candidate hits a lesion) plus patches at the true centres, with class-balanced
  sampling; selected on the validation candidates' AUC. Its score is the CNN's lesion probability.
* ``heatmap``: a fully convolutional centre-heatmap network with a radius head (CenterNet-style,
  models/heatmap_detector.py); candidates are the heatmap's local maxima; selected on validation CPM.

Evaluation (tasks/metrics/detection.py, the LUNA16 rules): a candidate hits a lesion when it lies within
the lesion's radius; duplicates are ignored; FROC sensitivity against false positives per scan; CPM =
mean sensitivity at 1/8 ... 8 FP/scan; sensitivity at 1 and 4 FP/scan; percentile-bootstrap 95%
intervals over test scans. Data: multi-lesion phantoms (0..k lesions per scan, vessel-like distractors,
a 60/20/20 split of scans) in 2D or 3D, or your folder: ``images/`` + ``lesions.csv`` with columns
file,x,y[,z],radius[,split] (pixels; x = column, y = row, z = slice; a file may have no row = no lesion).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tasks.errors import UsageError
from tasks.evaluation import format_ci
from tasks.experiment import Experiment
from tasks.options import Option, training_options

METHODS = ("log", "two-stage", "heatmap")
DATA_SEED = 0
MAX_CANDIDATES = 50  # per scan, every method: enough to reach 8 FP/scan
CURVE_RATES = tuple(np.geomspace(0.125, 8.0, 25).round(4))


@dataclasses.dataclass
class Split:
    x: np.ndarray  # (N, 1, *spatial) float32
    scan: np.ndarray  # (L,) lesion table
    centres: np.ndarray  # (L, d) array-axis order
    radii: np.ndarray  # (L,)


def _split_table(data: dict, idx: np.ndarray) -> Split:
    remap = np.full(len(data["images"]), -1)
    remap[idx] = np.arange(len(idx))
    keep = remap[data["scan"]] >= 0
    return Split(data["images"][idx], remap[data["scan"][keep]], data["centres"][keep], data["radii"][keep])


def _user_folder(path: Path) -> dict:
    """images/ + lesions.csv -> the multilesion dict layout, with a split column when given."""
    import csv

    from tasks.userdata import normalize_intensity, read_image

    csv_path, img_dir = path / "lesions.csv", path / "images"
    if not csv_path.is_file() or not img_dir.is_dir():
        raise UsageError(f"{path}: a detection folder needs images/ and lesions.csv (file,x,y[,z],radius[,split])")
    files = sorted(p for p in img_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    if len(files) < 5:
        raise UsageError(f"{img_dir}: {len(files)} images; need at least 5 to split into train/val/test")
    images = [normalize_intensity(read_image(f)).mean(axis=0) for f in files]  # (C, *spatial): RGB -> grey
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise UsageError(f"{img_dir}: images must share one size for detection, found {sorted(shapes)}")
    shape = shapes.pop()
    index = {f.name: i for i, f in enumerate(files)}
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    coords = ("z", "y", "x")[3 - len(shape):]
    scan, centres, radii = [], [], []
    for n, row in enumerate(rows, start=2):
        where = f"{csv_path} line {n}"
        if row.get("file") not in index:
            raise UsageError(f"{where}: file {row.get('file')!r} is not in {img_dir}")
        try:
            c = [float(row[k]) for k in coords]
            r = float(row["radius"])
        except (KeyError, TypeError, ValueError):
            raise UsageError(f"{where}: needs numeric {', '.join(coords[::-1])} and radius for a "
                             f"{len(shape)}D image") from None
        if r <= 0:
            raise UsageError(f"{where}: radius must be positive, got {r}")
        if any(not 0 <= v <= s - 1 for v, s in zip(c, shape)):
            raise UsageError(f"{where}: lesion at {dict(zip(coords, c))} lies outside the {shape} image "
                             f"{row['file']}")
        scan.append(index[row["file"]])
        centres.append(c)
        radii.append(r)
    split = None
    if rows and "split" in rows[0]:
        by_file = {row["file"]: row["split"] for row in rows}
        split = np.array([by_file.get(f.name, "") for f in files])
    return {"images": np.stack(images)[:, None].astype(np.float32), "scan": np.asarray(scan, np.int64),
            "centres": np.asarray(centres, np.float32).reshape(-1, len(shape)),
            "radii": np.asarray(radii, np.float32), "split": split}


def load_data(config) -> tuple[str, Split, Split, Split, int]:
    """(name, train, val, test, spatial dims); spatial sizes padded to multiples of 4."""
    from tasks.data.phantoms.multilesion import make_multilesion_dataset

    if config.dataset in ("lesions", "lesions3d"):
        three = config.dataset == "lesions3d"
        data = make_multilesion_dataset(config.n_images, image_size=config.image_size or (32 if three else 64),
                                        ndim=3 if three else 2, max_lesions=3 if three else 4,
                                        radius=(2.0, 4.5) if three else (2.5, 6.0), seed=DATA_SEED)
        split = None
    else:
        data = _user_folder(Path(config.dataset))
        split = data["split"]
    n = len(data["images"])
    if split is None or not set(split) >= {"train", "val", "test"}:
        perm = np.random.default_rng(DATA_SEED).permutation(n)  # scans are exchangeable: a seeded 60/20/20
        cut = [int(0.6 * n), int(0.8 * n)]
        parts = np.sort(perm[: cut[0]]), np.sort(perm[cut[0]: cut[1]]), np.sort(perm[cut[1]:])
    else:
        parts = tuple(np.flatnonzero(split == s) for s in ("train", "val", "test"))
    d = data["images"].ndim - 2
    pad = [(0, 0), (0, 0)] + [(0, (-s) % 4) for s in data["images"].shape[2:]]  # the U-Net halves twice
    data["images"] = np.pad(data["images"], pad, mode="edge")
    name = config.dataset if config.dataset in ("lesions", "lesions3d") else Path(config.dataset).name
    return name, *(_split_table(data, p) for p in parts), d


# ------------------------------------------------------------------------------------------- methods
def log_candidates(x):
    """(batch, points, scores, radii) of the LoG baseline on (N, 1, *spatial)."""
    from models.classical_detection import detect_blobs

    return detect_blobs(x[:, 0], max_candidates=MAX_CANDIDATES)


def heatmap_targets(split: Split) -> np.ndarray:
    """(N, 2, *spatial): Gaussian centre heatmap (sigma = radius / 2, at least 1 px) and radius at centres."""
    from models.heatmap_detector import gaussian_heatmap

    shape = split.x.shape[2:]
    hm = gaussian_heatmap(shape, split.centres, np.maximum(split.radii / 2, 1.0), split.scan, len(split.x))
    size = np.zeros_like(hm)
    c = np.clip(np.round(split.centres).astype(int), 0, np.array(shape) - 1)
    size[(split.scan, 0, *c.T)] = split.radii
    return np.concatenate([hm, size], axis=1)


def heatmap_candidates(out: np.ndarray):
    """Peaks of heatmap outputs (N, 2, *spatial): (batch, points, scores, radii), the strongest per scan."""
    from models.classical_detection import top_per_image
    from models.heatmap_detector import heatmap_peaks

    prob = 1 / (1 + np.exp(-out[:, :1]))
    b, pts, scores = heatmap_peaks(prob, kernel_size=5, threshold=1e-3)
    sel = top_per_image(b, scores, MAX_CANDIDATES)
    radii = out[(b[sel], 1, *pts[sel].T)]
    return b[sel], pts[sel], scores[sel], radii


def froc_of(cands, split: Split, n_boot: int, seed: int) -> dict:
    from tasks.metrics.detection import assign_hits, froc_bootstrap

    b, pts, scores, _ = cands
    ids = assign_hits(b, pts, split.scan, split.centres, split.radii)
    out = froc_bootstrap(b, scores, ids, split.scan, len(split.x), n_boot=n_boot, seed=seed, curve_rates=CURVE_RATES)
    out["n_candidates"], out["n_lesions"], out["n_scans"] = int(len(b)), int(len(split.scan)), int(len(split.x))
    return out


def run_heatmap(ctx, d, train: Split, val: Split, test: Split):
    import engine.nn.functional as F
    from engine.data import DataLoader, TensorDataset
    from models.heatmap_detector import HeatmapDetector
    from tasks.metrics.detection import assign_hits, froc_summary
    from tasks.training import fit, predict

    config = ctx.config
    model = HeatmapDetector(1, dims=d, width=config.width, depth=2, size_head=True)
    model.to(config.device)

    def loss_fn(out, target):
        centre = target.data[:, :1] == 1
        return F.heatmap_focal_loss(out[:, :1], target[:, :1]) + 0.1 * F.masked_l1_loss(out[:, 1:], target[:, 1:],
                                                                                         centre)

    def val_cpm(out, target):
        b, pts, scores, _ = heatmap_candidates(out)
        les = np.argwhere(target[:, 0] == 1)
        radii = target[(les[:, 0], 1, *les[:, 1:].T)]
        ids = assign_hits(b, pts, les[:, 0], les[:, 1:], radii)
        return froc_summary(scores, ids, max(len(les), 1), len(out))["cpm"]

    loader = DataLoader(TensorDataset(train.x, heatmap_targets(train)), batch_size=config.batch_size, shuffle=True,
                        seed=config.seed)
    result = fit(ctx, model, loss_fn, loader, DataLoader(TensorDataset(val.x, heatmap_targets(val)), batch_size=16),
                 metrics={"cpm": val_cpm}, monitor="val_cpm", mode="max")
    info = {"parameters": model.num_parameters(), "best_epoch": result.best_epoch,
            "train_seconds": result.train_seconds}
    return info, result.history, heatmap_candidates(predict(ctx, model, test.x, 16))


def run_two_stage(ctx, d, train: Split, val: Split, test: Split, log_test):
    """FP reduction of LoG candidates by a patch CNN, trained in its own sub-folder ``fp_reduction/``."""
    from engine.data import ClassBalancedSampler, DataLoader, TensorDataset
    from models.classical_detection import extract_patches
    from models.vgg import VGGSmall
    from tasks import metrics as M
    from tasks.context import RunContext
    from tasks.metrics.detection import assign_hits
    from tasks.options import Config
    from tasks.training import fit, predict

    config = ctx.config
    size = config.patch

    def patches(split: Split, cands, with_truth: bool):
        b, pts = cands[0], cands[1]
        y = (assign_hits(b, pts, split.scan, split.centres, split.radii) >= 0).astype(np.int64)
        if with_truth:  # the true centres as extra positives: the candidate stage misses some lesions
            b = np.r_[b, split.scan]
            pts = np.r_[pts, np.round(split.centres).astype(np.int64)]
            y = np.r_[y, np.ones(len(split.scan), np.int64)]
        return extract_patches(split.x, b, pts, size).astype(np.float32), y

    x_tr, y_tr = patches(train, log_candidates(train.x), True)  # every candidate; the sampler balances
    x_va, y_va = patches(val, log_candidates(val.x), False)
    (ctx.run_dir / "fp_reduction").mkdir(exist_ok=True)
    sub = RunContext(ctx.experiment, Config({**config.to_dict(), "epochs": config.fp_epochs,
                                             "patience": None}), ctx.run_dir / "fp_reduction",
                     resume_from=(ctx.run_dir / "fp_reduction" / "checkpoints" / "last.npz"
                                  if ctx.resume_from is not None else None))
    if sub.resume_from is not None and not sub.resume_from.is_file():
        sub.resume_from = None  # the interruption came before this stage started
    model = VGGSmall(1, 2, dims=d, width=8).to(config.device)
    softmax1 = lambda z: 1 / (1 + np.exp(z[:, 0] - z[:, 1]))  # noqa: E731  P(lesion) from two logits
    loader = DataLoader(TensorDataset(x_tr, y_tr), batch_size=64,
                        sampler=ClassBalancedSampler(y_tr, num_samples=config.fp_samples, seed=config.seed),
                        seed=config.seed)
    import engine.nn.functional as F

    result = fit(sub, model, F.cross_entropy, loader, DataLoader(TensorDataset(x_va, y_va), batch_size=256),
                 metrics={"auc": lambda z, y: M.roc_auc(y, softmax1(z))}, monitor="val_auc", mode="max")
    b, pts, _, radii = log_test
    scores = softmax1(predict(sub, model, extract_patches(test.x, b, pts, size).astype(np.float32), 256))
    info = {"parameters": model.num_parameters(), "best_epoch": result.best_epoch,
            "train_seconds": result.train_seconds, "train_patches": int(len(y_tr)),
            "train_positive_fraction": float(y_tr.mean())}
    return info, (b, pts, scores.astype(np.float32), radii)


# ------------------------------------------------------------------------------------------- figures
def froc_figure(results: dict, path) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, r in results.items():
        c = r["curve"]
        line, = ax.plot(c["fp_per_scan"], c["sensitivity"], label=f"{name} (CPM {r['cpm']:.3f})")
        ax.fill_between(c["fp_per_scan"], c["low"], c["high"], color=line.get_color(), alpha=0.2)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("false positives per scan")
    ax.set_ylabel("sensitivity")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("FROC (test scans, 95% bootstrap bands)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def marked_images(split: Split, cands, path, fp_rate: float = 1.0, n: int = 8) -> str:
    """Test images with true positives (green), false positives (red) and missed lesions (yellow) at the
    operating point of ``fp_rate`` FP per scan (2D: the image; 3D: the slice through each mark)."""
    import matplotlib.pyplot as plt

    from tasks.metrics.detection import assign_hits, froc_curve

    b, pts, scores, _ = cands
    ids = assign_hits(b, pts, split.scan, split.centres, split.radii)
    fps, _, thr = froc_curve(scores, ids, max(len(split.scan), 1), len(split.x))
    cut = thr[np.searchsorted(fps, fp_rate, side="right") - 1]
    on = scores >= cut
    found = np.zeros(len(split.scan), bool)
    found[ids[on & (ids >= 0)]] = True
    fig, axes = plt.subplots(1, n, figsize=(2.2 * n, 2.5))
    for k, ax in enumerate(np.atleast_1d(axes)):
        if k >= len(split.x):
            ax.axis("off")
            continue
        img = split.x[k, 0]
        if img.ndim == 3:  # a volume: the mid slice
            img = img[img.shape[0] // 2]
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        sel = on & (b == k)
        tp, fp = sel & (ids >= 0), sel & (ids < 0)
        ax.plot(pts[tp, -1], pts[tp, -2], "o", mfc="none", color="lime", ms=8)
        ax.plot(pts[fp, -1], pts[fp, -2], "x", color="red", ms=6)
        miss = (split.scan == k) & ~found
        ax.plot(split.centres[miss, -1], split.centres[miss, -2], "s", mfc="none", color="yellow", ms=9)
        ax.set_axis_off()
    fig.suptitle(f"green: hit, red: false positive, yellow: missed (operating point {fp_rate:g} FP/scan)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


# ------------------------------------------------------------------------------------------- experiment
class DetectionExperiment(Experiment):
    name = "detection"
    description = ("CADe: lesion localisation in 2D/3D (phantoms or your folder): LoG blobs, LoG + CNN false-"
                   "positive reduction, centre-heatmap CNN; FROC, CPM and sensitivity at 1/4 FP per scan with CIs")
    options = (
        Option("dataset", str, "lesions", "lesions (2D), lesions3d, or a folder with images/ and lesions.csv "
               "(file,x,y[,z],radius[,split]; images of one size, intensities scaled by 0.5/99.5 percentiles)"),
        Option("model", str, "all", "detector(s) to run", choices=("all",) + METHODS),
        Option("ndim", int, None, "the model's spatial dimensions (default: the data's); must match the data",
               choices=(2, 3), nullable=True),
        Option("n_images", int, 400, "number of generated scans (3D: use fewer)", quick=80, low=10),
        Option("image_size", int, None, "side of generated scans (default 64 for 2D, 32 for 3D)", low=32,
               high=512, nullable=True),
        Option("width", int, 8, "heatmap network width (channels of its first level)", low=1, high=256),
        Option("patch", int, 16, "patch side for the two-stage CNN (a multiple of 8)", low=8, high=64),
        Option("fp_epochs", int, 6, "epochs of the two-stage false-positive-reduction CNN", quick=2, low=1),
        Option("fp_samples", int, 2000, "patches drawn per epoch (class-balanced) for the two-stage CNN", quick=1500,
               low=64),
        *training_options(epochs=12, lr=2e-3, batch_size=16, quick_epochs=3),
    )

    def check(self, config) -> None:
        if config.dataset not in ("lesions", "lesions3d") and not Path(config.dataset).is_dir():
            raise UsageError(f"unknown dataset {config.dataset!r}; use lesions, lesions3d or a folder with images/ "
                             f"and lesions.csv")
        if config.patch % 8:
            raise UsageError(f"--patch {config.patch} must be a multiple of 8 (the patch CNN halves it three times)")
        if config.dataset in ("lesions", "lesions3d") and config.ndim is not None:
            data_dims = 3 if config.dataset == "lesions3d" else 2
            if config.ndim != data_dims:
                raise UsageError(f"--ndim {config.ndim}: a {config.ndim}D model cannot run on {config.dataset}, "
                                 f"which is {data_dims}D")

    def run(self, ctx) -> dict:
        config = ctx.config
        name, train, val, test, d = load_data(config)
        if config.ndim is not None and config.ndim != d:
            raise UsageError(f"--ndim {config.ndim}: a {config.ndim}D model cannot run on {name}, which is {d}D")
        if len(test.scan) == 0 or len(val.scan) == 0:
            raise UsageError(f"{name}: the validation and test scans must hold lesions ({len(val.scan)} and "
                             f"{len(test.scan)} do); add lesions or give a split column in lesions.csv")
        methods = METHODS if config.model == "all" else (config.model,)
        ctx.log(f"{name}: {len(train.x)}/{len(val.x)}/{len(test.x)} scans, {len(test.scan)} test lesions")
        test_cands, infos, history = {}, {}, []
        log_test = log_candidates(test.x)
        if "log" in methods:
            test_cands["log"], infos["log"] = log_test, {"sigmas": "1-8 px, 10 geometric steps"}
        if "two-stage" in methods:
            infos["two-stage"], test_cands["two-stage"] = run_two_stage(ctx, d, train, val, test, log_test)
        if "heatmap" in methods:
            infos["heatmap"], history, test_cands["heatmap"] = run_heatmap(ctx, d, train, val, test)
        results = {m: froc_of(c, test, config.bootstrap, config.seed) for m, c in test_cands.items()}
        figs = [froc_figure(results, ctx.figures_dir / "froc.png")]
        best = max(results, key=lambda m: results[m]["cpm"])
        figs.append(marked_images(test, test_cands[best], ctx.figures_dir / f"test_marks_{best}.png"))
        if history:
            from tasks import figures

            figs.append(figures.training_curves(history, ctx.figures_dir / "training_curves.png",
                                                metrics=("loss", "cpm")))
        return {"experiment": self.name, "dataset": name, "ndim": d, "models": list(methods), "model_info": infos,
                "split_sizes": {"train": len(train.x), "val": len(val.x), "test": len(test.x)},
                "test": results, "figures": figs}

    def summary(self, metrics: dict) -> str:
        parts = [f"{m} {format_ci(r, 'cpm')}" for m, r in metrics["test"].items()]
        return f"test CPM  {'  '.join(parts)}  [{metrics['dataset']}, {metrics['split_sizes']['test']} scans]"


EXPERIMENT = DetectionExperiment()
