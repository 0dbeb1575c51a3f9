"""Regression: predict a continuous measurement from an image.

Data: ``lesion-size`` (lesion phantoms; the target is the lesion's equivalent diameter in
pixels, the diameter of the disc with the lesion's area; lesions of both looks, radius
U(0.08, 0.3) x 28 px; a 70/15/15 split) or your folder (``images/`` + ``labels.csv`` whose
label column holds numbers, e.g. a volume or an ejection fraction; its split, or a seeded one).

Model: a CNN with one output trained with ``--loss mse`` or ``huber`` on the standardised
target (training mean and standard deviation; predictions are mapped back), its epoch chosen on
the validation MAE. Classical baseline beside it: ridge regression on radiomics features of an
Otsu segmentation, alpha chosen on the validation MAE.

Metrics (test split, bootstrap 95% intervals over cases): MAE, RMSE, Pearson r, and the
Bland-Altman bias with its 95% limits of agreement (Bland & Altman, Lancet 1986); figures:
predicted vs true, and Bland-Altman.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tasks._prediction_common import fit_network, radiomics, select_ridge
from tasks.errors import UsageError
from tasks.evaluation import format_ci, metric_ci, summarize_cases
from tasks.experiment import Experiment
from tasks.options import Option, training_options

BACKBONES = ("vgg", "lenet5", "alexnet", "resnet18", "mlp")
DATA_SEED = 0


def load_data(config):
    """({split: images (N, 1, H, W)}, {split: targets (N,) float64}, name, unit)."""
    from engine.data import train_val_test_split

    if config.dataset == "lesion-size":
        from tasks.data.phantoms import make_lesion_dataset

        d = make_lesion_dataset(config.n_samples, radius=(0.08, 0.3), seed=DATA_SEED)
        x, y = d["images"], 2.0 * d["radii"].astype(np.float64)
        parts = train_val_test_split(len(y), (0.7, 0.15, 0.15), seed=DATA_SEED)
        names = ("train", "val", "test")
        return dict(zip(names, [x[p] for p in parts])), dict(zip(names, [y[p] for p in parts])), "lesion-size", "px"
    if not Path(config.dataset).is_dir():
        raise UsageError(f"--dataset {config.dataset}: use lesion-size or a folder with images/ and labels.csv")
    return _numeric_folder(Path(config.dataset), config.size)


def _numeric_folder(root: Path, size: int):
    """images/ + labels.csv (file,label[,split]) with numeric labels; a seeded 70/15/15 split (not
    stratified: the labels are continuous) unless a split column is given."""
    import csv

    from tasks.userdata import normalize_intensity, read_image, resize, seeded_split

    table = root / "labels.csv"
    if not table.is_file() or not (root / "images").is_dir():
        raise UsageError(f"{root}: expected images/ and labels.csv (file,label[,split])")
    with open(table, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise UsageError(f"{table}: needs a header with the columns file,label[,split] and at least one row")
    values = []
    for line, row in enumerate(rows, start=2):
        text = (row["label"] or "").strip()
        if not _is_float(text) or not np.isfinite(float(text)):
            raise UsageError(f"{table} line {line}: regression labels must be numbers, found {text!r}")
        values.append(float(text))
    files = [(row["file"] or "").strip() for row in rows]
    missing = [f for f in files if not (root / "images" / f).is_file()]
    if missing:
        raise UsageError(f"{table}: images/{missing[0]} does not exist")
    images = [read_image(root / "images" / f) for f in files]
    if len({im.shape[0] for im in images}) != 1 or images[0].ndim != 3:
        raise UsageError(f"{root}/images: expects 2D images with the same number of channels")
    shape = (size, size)
    x = np.stack([resize(normalize_intensity(im), shape) for im in images]).astype(np.float32)  # (N, C, S, S)
    if any((r.get("split") or "").strip() for r in rows):
        split = np.array([(r.get("split") or "").strip().lower() for r in rows])
        if set(split) != {"train", "val", "test"}:
            raise UsageError(f"{table}: the split column must use train, val and test (each at least once)")
    else:
        split = seeded_split(len(files), None, seed=DATA_SEED)
    y = np.array(values)
    return ({s: x[split == s] for s in ("train", "val", "test")}, {s: y[split == s] for s in ("train", "val", "test")},
            root.name, "")


def _is_float(text) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def evaluate(y, pred, n_boot=None, seed=0) -> dict:
    from tasks import metrics as M

    err = pred - y
    out = {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2))),
           "pearson_r": M.pearson_r(y, pred), "bias": float(err.mean()),
           "limits_of_agreement": [float(err.mean() - 1.96 * err.std(ddof=1)),
                                   float(err.mean() + 1.96 * err.std(ddof=1))], "n": int(len(y))}
    if n_boot is not None:
        out["mae_ci"] = summarize_cases({"ae": np.abs(err)}, n_boot=n_boot, seed=seed)["ae_ci"]
        rmse = lambda t, p: float(np.sqrt(np.mean((p - t) ** 2)))  # noqa: E731
        out["rmse_ci"] = metric_ci(rmse, y, pred, n_boot=n_boot, seed=seed)
        out["pearson_r_ci"] = metric_ci(M.pearson_r, y, pred, n_boot=n_boot, seed=seed)
    return out


def figures_for(y, preds: dict, path_scatter, path_ba, unit: str) -> list[str]:
    import matplotlib.pyplot as plt

    from tasks.figures import _save

    lo, hi = min(y.min(), *(p.min() for p in preds.values())), max(y.max(), *(p.max() for p in preds.values()))
    fig, axes = plt.subplots(1, len(preds), figsize=(4.2 * len(preds), 3.8), squeeze=False)
    for ax, (name, p) in zip(axes[0], preds.items()):
        ax.scatter(y, p, s=8, alpha=0.6)
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel(f"true {unit}")
        ax.set_ylabel(f"predicted {unit}")
        ax.set_title(f"{name} (test)")
        ax.grid(alpha=0.3)
    paths = [_save(fig, path_scatter)]
    fig, axes = plt.subplots(1, len(preds), figsize=(4.2 * len(preds), 3.8), squeeze=False)
    for ax, (name, p) in zip(axes[0], preds.items()):
        mean, diff = (p + y) / 2, p - y
        bias, sd = diff.mean(), diff.std(ddof=1)
        ax.scatter(mean, diff, s=8, alpha=0.6)
        for v, style in ((bias, "-"), (bias - 1.96 * sd, "--"), (bias + 1.96 * sd, "--")):
            ax.axhline(v, color="k", ls=style, lw=1)
        ax.set_xlabel(f"mean of predicted and true {unit}")
        ax.set_ylabel(f"predicted - true {unit}")
        ax.set_title(f"Bland-Altman, {name}: bias {bias:.2f}")
        ax.grid(alpha=0.3)
    paths.append(_save(fig, path_ba))
    return paths


def run_network(ctx, x, y):
    import engine.nn.functional as F
    from models import build_model
    from tasks.training import predict

    config = ctx.config
    mean, std = float(y["train"].mean()), float(y["train"].std() + 1e-12)
    kwargs = {"width": config.width} if config.backbone in ("vgg", "alexnet", "resnet18") else {}
    try:
        model = build_model(config.backbone, x["train"].shape[1], 1, x["train"].shape[2:], **kwargs)
    except ValueError as e:
        raise UsageError(str(e)) from None
    model.to(config.device)

    def loss_fn(out, target):
        out = out.reshape(-1)
        return F.mse_loss(out, target) if config.loss == "mse" else F.huber_loss(out, target, delta=1.0)

    def mae(out, target):  # in the target's own unit
        return float(np.mean(np.abs(out.reshape(-1) - target))) * std

    scaled = {s: ((v - mean) / std).astype(np.float32) for s, v in y.items()}
    result = fit_network(ctx, model, loss_fn, (x["train"], scaled["train"]), (x["val"], scaled["val"]),
                         metrics={"mae": mae}, monitor="val_mae", mode="min")
    preds = {s: predict(ctx, model, x[s], 256).reshape(-1).astype(np.float64) * std + mean for s in ("val", "test")}
    info = {"parameters": model.num_parameters(), "best_epoch": result.best_epoch,
            "train_seconds": result.train_seconds, "target_mean": mean, "target_std": std}
    return info, preds, result.history


class RegressionExperiment(Experiment):
    name = "regression"
    description = ("regression: a CNN (MSE/Huber) vs ridge regression on radiomics, predicting lesion diameter or your "
                   "folder's numeric label; MAE, RMSE, Pearson r with CIs, Bland-Altman")
    options = (
        Option("dataset", str, "lesion-size", "lesion-size (phantoms, target: equivalent diameter in pixels) or a "
               "folder with images/ and labels.csv holding numbers (images resized to --size)"),
        Option("size", int, 28, "side length user-folder images are resized to", low=8, high=512),
        Option("n_samples", int, 2000, "number of lesion phantoms", quick=300, low=40, high=1_000_000),
        Option("loss", str, "mse", "training loss on the standardised target", choices=("mse", "huber")),
        Option("backbone", str, "vgg", "the network", choices=BACKBONES),
        Option("width", int, 16, "channel width of vgg/alexnet/resnet18", low=1, high=1024),
        *training_options(epochs=8, lr=2e-3, batch_size=64, quick_epochs=2),
    )

    def run(self, ctx) -> dict:
        config = ctx.config
        x, y, name, unit = load_data(config)
        started = time.time()
        feats = {s: radiomics(v) for s, v in x.items()}
        mu, sd = feats["train"].mean(0), feats["train"].std(0) + 1e-8  # training statistics only
        feats = {s: (f - mu) / sd for s, f in feats.items()}
        ridge, ridge_info = select_ridge(feats["train"], y["train"], feats["val"], y["val"])
        ridge_info["train_seconds"] = time.time() - started
        info, preds, history = run_network(ctx, x, y)
        base = {s: ridge.predict(feats[s]) for s in ("val", "test")}
        n_boot, seed = config.bootstrap, config.seed
        from tasks import figures

        paths = figures_for(y["test"], {"network": preds["test"], "ridge": base["test"]},
                            ctx.figures_dir / "predicted_vs_true.png", ctx.figures_dir / "bland_altman.png", unit)
        paths.append(figures.training_curves(history, ctx.figures_dir / "training_curves.png", metrics=("loss", "mae")))
        return {"experiment": self.name, "dataset": name, "unit": unit, "model": config.backbone, "loss": config.loss,
                "baseline": "ridge regression on radiomics", "split_sizes": {s: int(len(v)) for s, v in y.items()},
                "model_info": {"network": info, "baseline": ridge_info},
                "val": {"network": evaluate(y["val"], preds["val"]), "baseline": evaluate(y["val"], base["val"])},
                "test": {"network": evaluate(y["test"], preds["test"], n_boot, seed),
                         "baseline": evaluate(y["test"], base["test"], n_boot, seed)},
                "figures": paths}

    def summary(self, metrics: dict) -> str:
        n, b = metrics["test"]["network"], metrics["test"]["baseline"]
        return (f"test MAE {format_ci(n, 'mae')} r {format_ci(n, 'pearson_r')} "
                f"[{metrics['model']}, {metrics['loss']}]; "
                f"ridge MAE {format_ci(b, 'mae')} r {format_ci(b, 'pearson_r')}  [{metrics['dataset']}]")


EXPERIMENT = RegressionExperiment()
