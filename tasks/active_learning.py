"""Semi-automatic labelling: pool-based active learning against random labelling.

A simulated annotator holds the training labels. Labelling starts from a small stratified seed set;
each round a network (models/dropout_cnn.py) is trained from scratch on the labelled images, its test
AUC is recorded, and it chooses the next ``--query`` images of the unlabelled pool to be labelled:

* ``random``   - uniformly at random (the baseline every strategy must beat);
* ``entropy``  - the largest predictive entropy H[p] = -sum_k p_k log p_k;
* ``margin``   - the smallest gap between the two most probable classes;
* ``bald``     - the largest mutual information between the label and the weights, estimated with
                 Monte-Carlo dropout (T samples p_t): H[mean_t p_t] - mean_t H[p_t] (Houlsby et al.
                 2011; Gal et al. 2017). It prefers images the sampled networks *disagree* on, rather
                 than images that are merely ambiguous.

Every strategy and seed uses the same seed set and the same training recipe (a fixed number of Adam
updates, no model selection: a validation set would cost labels too). The network trained on all
training labels gives the reference AUC; the report gives, per strategy, the test AUC against the
number of labels (mean over seeds with a 95% t-interval) and the labels needed to come within
``--tolerance`` of the full-data AUC, next to random labelling's. Progress is saved after every round
(``progress.json``): ``--resume`` continues where the run stopped.
"""

from __future__ import annotations

import time

import numpy as np

from tasks.classification import check_image_data, image_data_options
from tasks.errors import UsageError
from tasks.experiment import Experiment
from tasks.options import Option, parse_choices

STRATEGIES = ("random", "entropy", "margin", "bald")


def entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.clip(p, 1e-12, 1.0))).sum(-1)


def acquisition_scores(strategy: str, mc_probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Higher = label first. mc_probs: (T, N, K) Monte-Carlo dropout probabilities of the pool."""
    mean = mc_probs.mean(0)
    if strategy == "random":
        return rng.random(mean.shape[0])
    if strategy == "entropy":
        return entropy(mean)
    if strategy == "margin":
        top2 = np.sort(mean, axis=1)[:, -2:]
        return -(top2[:, 1] - top2[:, 0])
    if strategy == "bald":
        return entropy(mean) - entropy(mc_probs).mean(0)
    raise ValueError(f"unknown strategy {strategy!r}; available: {', '.join(STRATEGIES)}")


def train_and_score(config, data, labelled: np.ndarray, seed: int):
    """A DropoutCNN trained on the labelled images; returns (model, test AUC)."""
    import engine
    import engine.nn.functional as F
    from engine import optim
    from models.dropout_cnn import DropoutCNN
    from tasks import metrics as M
    from tasks.classification import scores_for_task

    engine.manual_seed(seed)
    model = DropoutCNN(data.in_channels, data.n_outputs, data.spatial, width=config.width).to(config.device)
    opt = optim.Adam(model.parameters(), lr=config.lr)
    rng = np.random.default_rng([seed, len(labelled)])
    x, y = data.x_train[labelled], data.y_train[labelled]
    batch = min(config.batch_size, len(labelled))
    model.train()
    for _ in range(config.updates):
        idx = rng.choice(len(labelled), batch, replace=False)
        loss = F.cross_entropy(model(engine.tensor(x[idx], device=config.device)),
                               engine.tensor(y[idx], device=config.device))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with engine.no_grad():
        logits = np.concatenate([model(engine.tensor(data.x_test[i:i + 512], device=config.device)).numpy()
                                 for i in range(0, len(data.x_test), 512)])
    e = np.exp(logits - logits.max(1, keepdims=True))
    probs = e / e.sum(1, keepdims=True)
    auc = M.medmnist_evaluate(data.metric_task, data.y_test, scores_for_task(data, probs))["auc"]
    return model, float(auc)


def seed_set(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A stratified random set of n labelled indices (at least one per class)."""
    classes = np.unique(y)
    per = np.maximum(1, np.round(n * np.bincount(y)[classes] / len(y)).astype(int))
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False)
                                   for c, k in zip(classes, per)]))


def labels_to_reach(curve: list, target: float) -> int | None:
    """The first number of labels whose AUC reaches the target, or None."""
    for n, auc in curve:
        if auc >= target:
            return int(n)
    return None


class ActiveLearningExperiment(Experiment):
    name = "active-learning"
    description = ("semi-automatic labelling: pool-based active learning (entropy, margin, MC-dropout BALD) vs random "
                   "queries; test AUC vs labels with t-intervals over seeds, labels saved to reach the full-data AUC")
    options = (
        *image_data_options(n_samples=2000, quick_samples=300, irregularity=3.0),
        Option("strategies", str, ",".join(STRATEGIES), f"comma-separated, from {', '.join(STRATEGIES)}"),
        Option("initial", int, 20, "labelled seed set (stratified)", quick=10, low=2),
        Option("query", int, 20, "images labelled per round", quick=10, low=1),
        Option("rounds", int, 8, "query rounds", quick=2, low=1, high=1000),
        Option("seeds", int, 3, "repetitions (new seed set and initialisation)", quick=1, low=1, high=100),
        Option("updates", int, 300, "Adam updates per training (from scratch, every round)", quick=20, low=1),
        Option("mc_samples", int, 10, "Monte-Carlo dropout samples for BALD", quick=3, low=2, high=1000),
        Option("width", int, 8, "channels of the first convolution of the CNN", low=1, high=256),
        Option("batch_size", int, 32, "mini-batch size (at most the labelled set)", low=1),
        Option("lr", float, 1e-3, "Adam learning rate", low=0.0, open_low=True, high=10.0),
        Option("tolerance", float, 0.02, "target: the full-data AUC minus this", low=0.0, high=0.5),
    )

    def check(self, config) -> None:
        check_image_data(config)
        self.strategies(config)

    @staticmethod
    def strategies(config) -> list[str]:
        return parse_choices(config.strategies, "--strategies", STRATEGIES)

    def run(self, ctx) -> dict:
        import json

        from models.dropout_cnn import mc_dropout_probabilities
        from tasks.classification import load_data
        from tasks.pretraining import t_interval

        config = ctx.config
        data = load_data(config)
        if data.multilabel:
            raise UsageError(f"{data.name} is multi-label; active learning here needs one class per image")
        budget = config.initial + config.rounds * config.query
        if budget > len(data.y_train):
            raise UsageError(f"--initial + --rounds x --query = {budget} labels, but the training split has only "
                             f"{len(data.y_train)} images")
        strategies = self.strategies(config)
        path = ctx.run_dir / "progress.json"
        progress = json.loads(path.read_text()) if path.is_file() else {}
        started = time.time()
        for s in range(config.seeds):
            seed = config.seed + s
            if f"full:{seed}" not in progress:
                progress[f"full:{seed}"] = train_and_score(config, data, np.arange(len(data.y_train)), seed)[1]
                ctx.save_json("progress.json", progress)
            initial = seed_set(data.y_train, config.initial, np.random.default_rng([seed, 99]))
            for strategy in strategies:
                key = f"{strategy}:{seed}"
                state = progress.get(key, {"labelled": initial.tolist(), "curve": []})
                while len(state["curve"]) <= config.rounds:
                    labelled = np.array(state["labelled"])
                    model, auc = train_and_score(config, data, labelled, seed)
                    state["curve"].append([len(labelled), auc])
                    if len(state["curve"]) <= config.rounds:
                        pool = np.setdiff1d(np.arange(len(data.y_train)), labelled)
                        mc = mc_dropout_probabilities(model, data.x_train[pool],
                                                      config.mc_samples if strategy == "bald" else 1)
                        scores = acquisition_scores(strategy, mc, np.random.default_rng([seed, len(labelled), 7]))
                        chosen = pool[np.argsort(-scores, kind="stable")[:config.query]]
                        state["labelled"] = sorted(labelled.tolist() + chosen.tolist())
                    progress[key] = state
                    ctx.save_json("progress.json", progress)  # a finished round is never redone
                ctx.log(f"seed {seed} {strategy:8s} AUC by labels: "
                        + "  ".join(f"{n}:{a:.3f}" for n, a in state["curve"]))
        seeds = [config.seed + s for s in range(config.seeds)]
        full = [progress[f"full:{seed}"] for seed in seeds]
        target = float(np.mean(full)) - config.tolerance
        table = {}
        for strategy in strategies:
            curves = [progress[f"{strategy}:{seed}"]["curve"] for seed in seeds]
            labels = [n for n, _ in curves[0]]
            aucs = np.array([[a for _, a in c] for c in curves])
            needed = [labels_to_reach(c, target) for c in curves]
            table[strategy] = {"labels": labels, "auc": aucs.mean(0).tolist(),
                               "auc_ci": [t_interval(aucs[:, j]) for j in range(aucs.shape[1])],
                               "auc_per_seed": aucs.tolist(), "labels_to_target": needed}
        figure = self._figure(table, float(np.mean(full)), target, ctx.figures_dir / "active_learning.png", data.name)
        return {"experiment": self.name, "dataset": data.name, "seeds": seeds, "full_data_auc": full,
                "full_data_auc_mean": float(np.mean(full)), "target_auc": target,
                "split_sizes": {"train": len(data.y_train), "test": len(data.y_test)},
                "seconds": time.time() - started, "test": table, "figures": [figure]}

    @staticmethod
    def _figure(table, full, target, path, name) -> str:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from tasks import figures

        fig, ax = plt.subplots(figsize=(6, 4))
        for strategy, row in table.items():
            ax.plot(row["labels"], row["auc"], "o-", label=strategy)
            cis = row["auc_ci"]
            if all(c is not None for c in cis):
                ax.fill_between(row["labels"], [c[0] for c in cis], [c[1] for c in cis], alpha=0.15)
        ax.axhline(full, color="k", lw=1, label="all training labels")
        ax.axhline(target, color="k", lw=1, ls="--", label="target")
        ax.set(xlabel="labelled images", ylabel="test AUC (mean over seeds)", title=f"{name}: active learning")
        ax.legend(fontsize=8)
        return figures._save(fig, path)

    def summary(self, metrics: dict) -> str:
        parts = []
        for strategy, row in metrics["test"].items():
            needed = [n for n in row["labels_to_target"] if n is not None]
            reach = f"target in {len(needed)}/{len(row['labels_to_target'])} seeds"
            parts.append(f"{strategy} {row['auc'][-1]:.3f} ({reach})")
        return (f"test AUC at {metrics['test'][next(iter(metrics['test']))]['labels'][-1]} labels: "
                + ", ".join(parts) + f"; all labels {metrics['full_data_auc_mean']:.3f}  [{metrics['dataset']}]")


EXPERIMENT = ActiveLearningExperiment()
