"""Studies of two limits of deep learning in medicine: small data and class imbalance.

``medgrad study data-size`` (= ``medgrad run study-data-size``): learning curves. The network of
``--model`` is trained on stratified fractions of the training split (``--fractions``), with and without
augmentation (flips, small rotations, zooms and shifts), ``--seeds`` times each; every training is a
complete ``medgrad run classification`` training (selected on the *full* validation split: the study
varies how much the network learns from, not how it is chosen) of at least ``--updates`` optimiser
steps (``--epochs``, or more for a small subset). Test AUC per fraction: mean over seeds
with a 95% t-interval.

``medgrad study imbalance`` (= ``medgrad run study-imbalance``): the positive class of the training split
is subsampled to induced ratios (``--ratios`` negatives per positive; the validation and test splits keep
their balance), and each ratio is trained with each remedy: none, a class-weighted loss, class-balanced
sampling and the focal loss. Reported: test balanced accuracy (at the 0.5 threshold, where imbalance
hurts) and PR AUC of the positive class, mean over seeds with t-intervals.

Both save each finished training in ``progress.json`` (``--resume`` continues), and each training's own
history and checkpoints under ``trainings/``. Binary single-label data only (lesions, BreastMNIST,
PneumoniaMNIST or a two-class folder).
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from tasks.classification import NETWORKS, check_image_data, image_data_options
from tasks.errors import UsageError
from tasks.experiment import Experiment
from tasks.options import Option, parse_choices, training_options

REMEDIES = ("none", "weighted", "balanced", "focal")


def parse_numbers(text: str, option: str, low: float, high: float, open_low: bool = True) -> list[float]:
    try:
        values = sorted({float(v) for v in text.split(",") if v.strip()})
    except ValueError:
        values = []
    bad = [v for v in values if (v <= low if open_low else v < low) or v > high]
    if not values or bad:
        bound = f"({low:g}, {high:g}]" if open_low else f"[{low:g}, {high:g}]"
        raise UsageError(f"{option}: comma-separated numbers in {bound} expected; got {text!r}")
    return values


def train_once(ctx, data, key: str, **overrides) -> dict:
    """One complete classification training on ``data`` in ``trainings/<key>``; test metrics."""
    from tasks import metrics as M
    from tasks.classification import run_network
    from tasks.context import RunContext
    from tasks.options import Config

    folder = ctx.run_dir / "trainings" / key
    folder.mkdir(parents=True, exist_ok=True)
    # at least --updates optimiser steps, whatever the training-set size: with a fixed number of epochs a
    # 10% subset would get a tenth of the updates, and batch norm's running statistics would not settle
    batches = -(-len(data.y_train) // ctx.config.batch_size)
    epochs = max(ctx.config.epochs, -(-ctx.config.updates // batches))
    config = Config({"augment": False, "imbalance": "none", **ctx.config.to_dict(), "quiet": True, "epochs": epochs,
                     **overrides})
    child = RunContext(ctx.experiment, config, folder)
    _, _, test_probs, _ = run_network(child, data)
    y, p = data.y_test, test_probs[:, 1]
    return {"auc": float(M.roc_auc(y, p)), "pr_auc": float(M.average_precision(y, p)),
            "balanced_accuracy": float(M.balanced_accuracy(y, (p > 0.5).astype(int), n_classes=2))}


def subset(data, keep: np.ndarray):
    return dataclasses.replace(data, x_train=data.x_train[keep], y_train=data.y_train[keep])


def summarize(progress: dict, keys: dict, metrics) -> dict:
    """{row: {metric: mean, metric_ci, metric_per_seed}} over the seeds of each row's keys."""
    from tasks.pretraining import t_interval

    table = {}
    for row, row_keys in keys.items():
        entry = {}
        for m in metrics:
            values = [progress[k][m] for k in row_keys]
            entry[m], entry[f"{m}_ci"], entry[f"{m}_per_seed"] = float(np.mean(values)), t_interval(values), values
        table[row] = entry
    return table


class _Study(Experiment):
    """Shared: binary data, the progress file, one training per key."""

    common = (*image_data_options(n_samples=2000, quick_samples=300, irregularity=1.0),
              Option("model", str, "vgg", "network", choices=NETWORKS),
              Option("width", int, None, "channel width of alexnet/vgg/resnet18", low=1, high=1024, nullable=True),
              Option("seeds", int, 3, "repetitions (new subsample and initialisation)", quick=1, low=1, high=100),
              Option("updates", int, 600, "at least this many optimiser updates per training (more epochs for small "
                     "training sets)", quick=5, low=1),
              *training_options(epochs=6, lr=2e-3, batch_size=64, quick_epochs=1))

    def check(self, config) -> None:
        check_image_data(config)

    def load(self, config):
        from tasks.classification import load_data

        data = load_data(config)
        if data.task != "binary-class":
            raise UsageError(f"{data.name}: the studies need a two-class task, got {data.task}")
        return data

    def trainings(self, ctx, plan):
        """Run every (key, data, overrides) of ``plan`` not already in progress.json."""
        path = ctx.run_dir / "progress.json"
        progress = json.loads(path.read_text()) if path.is_file() else {}
        for key, data, overrides in plan:
            if key not in progress:
                progress[key] = train_once(ctx, data, key, **overrides)
                ctx.save_json("progress.json", progress)
                ctx.log(f"{key}: " + "  ".join(f"{m} {v:.3f}" for m, v in progress[key].items()))
        return progress


class DataSizeStudy(_Study):
    name = "study-data-size"
    description = ("learning curves: test AUC vs training-set fraction, with and without augmentation, t-intervals "
                   "over seeds (medgrad study data-size)")
    options = (*_Study.common,
               Option("fractions", str, "0.1,0.25,0.5,1", "training-set fractions, each in (0, 1]"),
               Option("augmentation", str, "both", "train without, with, or both", choices=("both", "off", "on")))

    def check(self, config) -> None:
        super().check(config)
        parse_numbers(config.fractions, "--fractions", 0.0, 1.0)

    def run(self, ctx) -> dict:
        from engine.data import train_val_test_split

        config = ctx.config
        data = self.load(config)
        fractions = parse_numbers(config.fractions, "--fractions", 0.0, 1.0)
        augments = {"both": (False, True), "off": (False,), "on": (True,)}[config.augmentation]
        seeds = [config.seed + s for s in range(config.seeds)]
        plan, keys = [], {}
        for f in fractions:
            for aug in augments:
                row = f"{f:g} {'augmented' if aug else 'plain'}"
                keys[row] = []
                for seed in seeds:
                    keep = (np.arange(len(data.y_train)) if f == 1.0 else
                            train_val_test_split(data.y_train, fractions=(f, 1 - f), stratify=data.y_train,
                                                 seed=seed)[0])
                    key = f"fraction{f:g}-{'aug' if aug else 'plain'}-seed{seed}"
                    keys[row].append(key)
                    plan.append((key, subset(data, keep), {"augment": aug, "seed": seed}))
        started = time.time()
        progress = self.trainings(ctx, plan)
        table = summarize(progress, keys, ("auc", "balanced_accuracy"))
        figure = _curve_figure(table, fractions, augments, ctx.figures_dir / "learning_curve.png", data.name)
        return {"experiment": self.name, "dataset": data.name, "model": config.model, "seeds": seeds,
                "train_size": len(data.y_train), "seconds": time.time() - started, "test": table,
                "figures": [figure]}

    def summary(self, metrics: dict) -> str:
        rows = "  ".join(f"{k}: {v['auc']:.3f}" for k, v in metrics["test"].items())
        return f"test AUC by training fraction: {rows}  [{metrics['dataset']}, {metrics['model']}]"


class ImbalanceStudy(_Study):
    name = "study-imbalance"
    description = ("class imbalance: induced ratios x remedies (none, weighted loss, balanced sampling, focal loss); "
                   "balanced accuracy and PR AUC with t-intervals (medgrad study imbalance)")
    options = (*_Study.common,
               Option("ratios", str, "1,5,20", "negatives per positive in the training split (>= 1)"),
               Option("remedies", str, ",".join(REMEDIES), f"comma-separated, from {', '.join(REMEDIES)}"))

    def check(self, config) -> None:
        super().check(config)
        parse_numbers(config.ratios, "--ratios", 1.0, 1000.0, open_low=False)
        self.remedies(config)

    @staticmethod
    def remedies(config) -> list[str]:
        return parse_choices(config.remedies, "--remedies", REMEDIES)

    def run(self, ctx) -> dict:
        config = ctx.config
        data = self.load(config)
        ratios = parse_numbers(config.ratios, "--ratios", 1.0, 1000.0, open_low=False)
        remedies = self.remedies(config)
        seeds = [config.seed + s for s in range(config.seeds)]
        neg, pos = np.flatnonzero(data.y_train == 0), np.flatnonzero(data.y_train == 1)
        plan, keys = [], {}
        for ratio in ratios:
            n_pos = int(min(len(pos), max(2, round(len(neg) / ratio))))
            for remedy in remedies:
                row = f"{ratio:g}:1 {remedy}"
                keys[row] = []
                for seed in seeds:
                    rng = np.random.default_rng([seed, int(ratio * 100)])
                    keep = np.sort(np.concatenate([neg, rng.choice(pos, n_pos, replace=False)]))
                    key = f"ratio{ratio:g}-{remedy}-seed{seed}"
                    keys[row].append(key)
                    plan.append((key, subset(data, keep), {"imbalance": remedy, "seed": seed}))
        started = time.time()
        progress = self.trainings(ctx, plan)
        table = summarize(progress, keys, ("balanced_accuracy", "pr_auc", "auc"))
        return {"experiment": self.name, "dataset": data.name, "model": config.model, "seeds": seeds,
                "ratios": ratios, "remedies": remedies, "seconds": time.time() - started, "test": table}

    def summary(self, metrics: dict) -> str:
        worst = max(metrics["ratios"])
        rows = "  ".join(f"{r}: {metrics['test'][f'{worst:g}:1 {r}']['balanced_accuracy']:.3f}"
                         for r in metrics["remedies"])
        return f"test balanced accuracy at {worst:g}:1 — {rows}  [{metrics['dataset']}, {metrics['model']}]"


def _curve_figure(table, fractions, augments, path, name) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tasks import figures

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for aug in augments:
        label = "augmented" if aug else "plain"
        rows = [table[f"{f:g} {label}"] for f in fractions]
        ax.plot(fractions, [r["auc"] for r in rows], "o-", label=label)
        if all(r["auc_ci"] for r in rows):
            ax.fill_between(fractions, [r["auc_ci"][0] for r in rows], [r["auc_ci"][1] for r in rows], alpha=0.2)
    ax.set_xscale("log")
    ax.set(xlabel="fraction of the training split", ylabel="test AUC (mean over seeds)", title=f"{name}")
    ax.legend()
    return figures._save(fig, path)


DATA_SIZE = DataSizeStudy()
IMBALANCE = ImbalanceStudy()
