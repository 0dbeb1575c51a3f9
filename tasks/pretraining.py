"""Does unsupervised pre-training help when labels are scarce? A label-efficiency curve.

A stacked denoising auto-encoder (SDAE; Vincent et al. 2010, models/autoencoder.py) is pre-trained
greedily, layer by layer, on *all* training images without their labels; a classifier layer is put on
top and the network is fine-tuned on a labelled fraction of the training split. The same network from
random initialisation is fine-tuned on the same labelled images with the same recipe, and a
logistic regression on standardised pixels is the classical baseline. Fractions default to 1, 5, 10,
25 and 100% of the training labels; every point is repeated over ``--seeds`` seeds (a new labelled
subset, pre-training and initialisation each time).

The recipe is fixed in advance, with no model selection at all (a labelled validation set would be
as scarce as the training labels): pre-training ``--pretrain-updates`` Adam updates per layer on
masking-noise-corrupted inputs (``--noise`` of the inputs zeroed), fine-tuning ``--finetune-updates``
updates whatever the fraction, then the last weights are evaluated on the test split. Reported per
fraction and method: the test AUC's mean over seeds with a 95% t-interval across seeds, and for the
paired difference pretrained - random (same labelled subset per seed) the same. The honest answer can
be that pre-training helps only at the smallest fractions, or not at all; the table says which.

Progress is saved after every (seed, fraction) in ``progress.json``: an interrupted run continues with
``medgrad run pretraining --resume RUN_DIR`` and redoes nothing that was finished.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tasks.classification import check_image_data, image_data_options
from tasks.errors import UsageError
from tasks.experiment import Experiment
from tasks.options import Option

METHODS = ("pretrained", "random", "logreg")


def parse_fractions(text: str) -> list[float]:
    """"0.01,0.05,1" -> [0.01, 0.05, 1.0]; every fraction must be in (0, 1]."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--fractions must be comma-separated numbers such as 0.01,0.1,1; got {text!r}") from None
    bad = [v for v in values if not 0.0 < v <= 1.0]
    if not values or bad:
        raise UsageError(f"--fractions: every label fraction must be in (0, 1]; got {text!r}")
    return sorted(set(values))


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise UsageError(f"--hidden must be comma-separated positive layer sizes such as 256,64; got {text!r}")
    return sizes


def labelled_subset(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of a stratified ``fraction`` of the labels, at least 2 per class (sorted)."""
    picked = []
    for k in np.unique(y):
        members = np.flatnonzero(y == k)
        n = min(len(members), max(2, int(round(fraction * len(members)))))
        picked.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(picked))


def t_interval(values) -> list[float] | None:
    """95% t-interval of the mean of a few values (None for fewer than two)."""
    from scipy import stats

    v = np.asarray(values, np.float64)
    if len(v) < 2:
        return None
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return [float(v.mean() - half), float(v.mean() + half)]


def _batches(n: int, batch: int, updates: int, rng: np.random.Generator):
    """``updates`` mini-batches of indices: shuffled epochs over n items, concatenated."""
    order = np.concatenate([rng.permutation(n) for _ in range(updates * batch // n + 2)])
    for u in range(updates):
        yield order[u * batch:(u + 1) * batch]


def _train(model, loss_fn, x, y, updates, batch, lr, rng, device):
    import engine
    from engine import optim

    opt = optim.Adam(model.parameters(), lr=lr)
    model.train()
    for idx in _batches(len(x), min(batch, len(x)), updates, rng):
        loss = loss_fn(model(engine.tensor(x[idx], device=device)), engine.tensor(y[idx], device=device))
        opt.zero_grad()
        loss.backward()
        opt.step()


def pretrain(x: np.ndarray, sizes: list[int], config, rng, device) -> list:
    """Greedy layer-wise denoising pre-training on unlabelled (N, D) inputs in [0, 1]: one
    DenoisingAutoencoder per layer, each trained on the clean codes of the layers below."""
    import engine
    import engine.nn.functional as F
    from models.autoencoder import DenoisingAutoencoder, masking_noise

    codes, daes = x, []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        dae = DenoisingAutoencoder(n_in, n_out).to(device)
        noisy = masking_noise(codes, config.noise, rng)
        _train(dae, lambda logits, target: F.binary_cross_entropy_with_logits(logits, target), noisy, codes,
               config.pretrain_updates, config.batch_size, config.lr, rng, device)
        dae.eval()
        with engine.no_grad():
            codes = np.concatenate([dae.encode(engine.tensor(codes[i:i + 1024], device=device)).numpy()
                                    for i in range(0, len(codes), 1024)])
        daes.append(dae)
    return daes


def _probs(model, x, device) -> np.ndarray:
    import engine

    model.eval()
    with engine.no_grad():
        logits = np.concatenate([model(engine.tensor(x[i:i + 1024], device=device)).numpy()
                                 for i in range(0, len(x), 1024)])
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def one_seed(config, data, x_train, x_test, sizes, seed: int, fraction: float, daes) -> dict:
    """Test AUC/ACC of the three methods on one labelled subset."""
    import engine
    import engine.nn.functional as F
    from models.autoencoder import SDAEClassifier
    from models.classical import LogisticRegression, StandardScaler, probabilities
    from tasks import metrics as M
    from tasks.classification import scores_for_task

    rng = np.random.default_rng([seed, int(round(fraction * 1e6))])
    lab = labelled_subset(data.y_train, fraction, rng)
    out = {"n_labelled": int(len(lab))}

    def score(probs):
        r = M.medmnist_evaluate(data.metric_task, data.y_test, scores_for_task(data, probs))
        return {"auc": float(r["auc"]), "acc": float(r["acc"])}

    for method in ("pretrained", "random"):
        engine.manual_seed(seed)  # the same initial head (and random encoder) for both
        model = SDAEClassifier(sizes, data.n_outputs)
        if method == "pretrained":
            model.load_pretrained(daes)
        model.to(config.device)
        _train(model, F.cross_entropy, x_train[lab], data.y_train[lab], config.finetune_updates,
               config.batch_size, config.lr, np.random.default_rng([seed, 7]), config.device)
        out[method] = score(_probs(model, x_test, config.device))
    scaler = StandardScaler().fit(x_train[lab])
    logreg = LogisticRegression(C=1.0, max_iter=200).fit(scaler.transform(x_train[lab]), data.y_train[lab])
    out["logreg"] = score(probabilities(logreg, scaler.transform(x_test)))
    return out


def summarize(progress: dict, fractions, seeds) -> dict:
    """Per fraction: each method's mean test AUC/ACC over seeds with a t-interval, and the paired
    pretrained - random difference."""
    table = {}
    for f in fractions:
        rows = [progress[f"{s}:{f}"] for s in seeds]
        entry = {"n_labelled": [r["n_labelled"] for r in rows]}
        for method in METHODS:
            for key in ("auc", "acc"):
                values = [r[method][key] for r in rows]
                entry[f"{method}_{key}"] = float(np.mean(values))
                entry[f"{method}_{key}_ci"] = t_interval(values)
                entry[f"{method}_{key}_per_seed"] = values
        diff = [r["pretrained"]["auc"] - r["random"]["auc"] for r in rows]
        entry["auc_gain"], entry["auc_gain_ci"] = float(np.mean(diff)), t_interval(diff)
        table[str(f)] = entry
    return table


def write_figure(table: dict, path: Path, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tasks import figures

    fractions = [float(f) for f in table]
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, label in (("pretrained", "SDAE pre-trained"), ("random", "random init"),
                          ("logreg", "logistic regression")):
        mean = np.array([table[f][f"{method}_auc"] for f in table])
        ci = [table[f][f"{method}_auc_ci"] for f in table]
        ax.plot(fractions, mean, "o-", label=label)
        if all(c is not None for c in ci):
            ax.fill_between(fractions, [c[0] for c in ci], [c[1] for c in ci], alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("fraction of training labels")
    ax.set_ylabel("test AUC (mean, 95% CI over seeds)")
    ax.set_title(title)
    ax.legend()
    return figures._save(fig, path)


class PretrainingExperiment(Experiment):
    name = "pretraining"
    description = ("label efficiency: stacked denoising auto-encoder pre-training vs random init vs logistic "
                   "regression at 1-100% of the training labels; test AUC with t-intervals over seeds")
    options = (
        # irregularity 3: pixel-level networks such as this MLP reach AUC ~0.8 (at 1 they stay near 0.6)
        *image_data_options(n_samples=2000, quick_samples=300, irregularity=3.0),
        Option("fractions", str, "0.01,0.05,0.1,0.25,1", "label fractions, comma-separated, each in (0, 1]"),
        Option("seeds", int, 5, "repetitions per fraction (new labelled subset, pre-training and init)", quick=2,
               low=1, high=1000),
        Option("hidden", str, "256,64", "sizes of the encoder layers, comma-separated"),
        Option("noise", float, 0.25, "masking noise: fraction of inputs zeroed during pre-training", low=0.0,
               high=0.95),
        Option("pretrain_updates", int, 2000, "Adam updates per pre-trained layer", quick=30, low=1),
        Option("finetune_updates", int, 500, "Adam updates of fine-tuning, at every fraction", quick=20, low=1),
        Option("batch_size", int, 64, "mini-batch size (at most the number of labelled images)", low=1),
        Option("lr", float, 1e-3, "Adam learning rate (pre-training and fine-tuning)", low=0.0, open_low=True,
               high=10.0),
    )

    def check(self, config) -> None:
        parse_fractions(config.fractions)
        parse_sizes(config.hidden)
        check_image_data(config)

    def run(self, ctx) -> dict:
        import engine
        from tasks.classification import load_data

        config = ctx.config
        fractions, sizes = parse_fractions(config.fractions), parse_sizes(config.hidden)
        data = load_data(config)
        if data.multilabel:
            raise UsageError(f"{data.name} is multi-label; the pre-training curve needs one class per image")
        x_train = np.clip(data.x_train.reshape(len(data.x_train), -1), 0, 1).astype(np.float32)
        x_test = np.clip(data.x_test.reshape(len(data.x_test), -1), 0, 1).astype(np.float32)
        sizes = [x_train.shape[1], *sizes]
        seeds = [config.seed + s for s in range(config.seeds)]
        progress_path = ctx.run_dir / "progress.json"
        progress = {}
        if progress_path.is_file():  # a resumed run: keep what was finished
            import json

            progress = json.loads(progress_path.read_text())
        started = time.time()
        for seed in seeds:
            if all(f"{seed}:{f}" in progress for f in fractions):
                continue
            engine.manual_seed(seed)
            daes = pretrain(x_train, sizes, config, np.random.default_rng([seed, 1]), config.device)
            for f in fractions:
                key = f"{seed}:{f}"
                if key not in progress:
                    progress[key] = one_seed(config, data, x_train, x_test, sizes, seed, f, daes)
                    ctx.save_json("progress.json", progress)
                    r = progress[key]
                    ctx.log(f"seed {seed} fraction {f:g} ({r['n_labelled']} labels): test AUC pretrained "
                            f"{r['pretrained']['auc']:.3f}  random {r['random']['auc']:.3f}  "
                            f"logreg {r['logreg']['auc']:.3f}")
        table = summarize(progress, fractions, seeds)
        figure = write_figure(table, ctx.figures_dir / "label_efficiency.png", f"{data.name}: label efficiency")
        return {"experiment": self.name, "dataset": data.name, "encoder_sizes": sizes, "seeds": seeds,
                "split_sizes": {"train": len(data.y_train), "test": len(data.y_test)},
                "seconds": time.time() - started, "test": table, "figures": [figure]}

    def summary(self, metrics: dict) -> str:
        table = metrics["test"]
        parts = []
        for f in (min(table, key=float), max(table, key=float)):
            t = table[f]
            parts.append(f"{float(f):.0%} labels: pretrained {t['pretrained_auc']:.3f} vs random "
                         f"{t['random_auc']:.3f} (gain {t['auc_gain']:+.3f}), logreg {t['logreg_auc']:.3f}")
        return f"test AUC  {';  '.join(parts)}  [{metrics['dataset']}]"


EXPERIMENT = PretrainingExperiment()
