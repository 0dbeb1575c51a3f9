"""Semi-automatic labelling for segmentation: the model proposes a mask, the annotator corrects it.

Drawing a lesion mask from scratch costs the annotator every foreground pixel; correcting a proposal costs
only the pixels the proposal got wrong (false positives erased, false negatives painted). This experiment
measures that saving, round by round, as the model improves:

1. a small U-Net (models/unet.py) is trained from scratch on the labelled images (a fixed number of
   Adam updates, cross-entropy + Dice; no model selection);
2. its test Dice is recorded;
3. it proposes masks for the next ``--query`` images, chosen at random or by uncertainty (``entropy``:
   the mean per-pixel predictive entropy, so the images the model is least sure about come first);
4. the simulated annotator corrects them: the pixels corrected = |proposal XOR truth|, against the
   pixels a from-scratch drawing paints = |truth|; the corrected masks join the labelled set.

Reported per strategy: test Dice against labelled images, and the cumulative pixels corrected as a
fraction of the pixels drawn from scratch (mean over seeds with t-intervals). Lesion phantoms (2D) with
their exact masks. Progress is saved after every round (``--resume`` continues).
"""

from __future__ import annotations

import json
import time

import numpy as np

from tasks.errors import UsageError
from tasks.experiment import Experiment
from tasks.options import Option, parse_choices

STRATEGIES = ("random", "entropy")


def pixel_entropy(probs: np.ndarray) -> np.ndarray:
    """Mean over pixels of the predictive entropy of (N, K, H, W) probabilities: (N,)."""
    return -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(1).mean((1, 2))


def correction_cost(proposal: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pixels corrected, pixels drawn from scratch) per image of (N, H, W) boolean masks."""
    return (proposal != truth).sum((1, 2)), truth.sum((1, 2))


def train_segmenter(config, x, y, seed: int):
    import engine
    import engine.nn.functional as F
    from engine import optim
    from models.unet import UNet

    engine.manual_seed(seed)
    model = UNet(1, 2, dims=2, depth=2, width=config.width).to(config.device)
    opt = optim.Adam(model.parameters(), lr=config.lr)
    rng = np.random.default_rng([seed, len(x)])
    batch = min(config.batch_size, len(x))
    model.train()
    for _ in range(config.updates):
        idx = rng.choice(len(x), batch, replace=False)
        logits = model(engine.tensor(x[idx], device=config.device))
        target = engine.tensor(y[idx].astype(np.int64), device=config.device)
        loss = F.cross_entropy(logits, target) + F.dice_loss(logits, target, activation="softmax")
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


def predict_probs(model, x: np.ndarray, device: str) -> np.ndarray:
    import engine

    with engine.no_grad():
        logits = np.concatenate([model(engine.tensor(x[i:i + 128], device=device)).numpy()
                                 for i in range(0, len(x), 128)])
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


class ActiveSegmentationExperiment(Experiment):
    name = "active-segmentation"
    description = ("semi-automatic segmentation labelling: the U-Net proposes masks, a simulated annotator corrects "
                   "them; pixels corrected vs drawn from scratch and test Dice, random vs entropy queries")
    options = (
        Option("n_samples", int, 600, "number of generated lesion images", quick=120, low=40, high=100_000),
        Option("size", int, 32, "image side", low=16, high=256),
        Option("irregularity", float, 1.0, "boundary irregularity of malignant lesions", low=0.0, high=10.0),
        Option("strategies", str, ",".join(STRATEGIES), f"comma-separated, from {', '.join(STRATEGIES)}"),
        Option("initial", int, 10, "images drawn from scratch to start with", quick=5, low=1),
        Option("query", int, 10, "images proposed and corrected per round", quick=5, low=1),
        Option("rounds", int, 6, "query rounds", quick=2, low=1, high=1000),
        Option("seeds", int, 3, "repetitions", quick=1, low=1, high=100),
        Option("updates", int, 300, "Adam updates per training (from scratch, every round)", quick=20, low=1),
        Option("width", int, 8, "U-Net channels at the first level", low=1, high=256),
        Option("batch_size", int, 16, "mini-batch size", low=1),
        Option("lr", float, 2e-3, "Adam learning rate", low=0.0, open_low=True, high=10.0),
    )

    @staticmethod
    def strategies(config) -> list[str]:
        return parse_choices(config.strategies, "--strategies", STRATEGIES)

    def check(self, config) -> None:
        self.strategies(config)

    def folder_name(self, config) -> str:
        return self.name

    def run(self, ctx) -> dict:
        from engine.data import train_val_test_split
        from tasks import metrics as M
        from tasks.data.phantoms import make_lesion_dataset
        from tasks.pretraining import t_interval

        config = ctx.config
        d = make_lesion_dataset(config.n_samples, image_size=config.size, irregularity=config.irregularity, seed=0)
        x, masks = d["images"].astype(np.float32), d["masks"]
        train, _, test = train_val_test_split(len(x), fractions=(0.6, 0.2, 0.2), seed=0)
        if config.initial + config.rounds * config.query > len(train):
            raise UsageError(f"--initial + --rounds x --query exceeds the {len(train)} training images")
        path = ctx.run_dir / "progress.json"
        progress = json.loads(path.read_text()) if path.is_file() else {}
        started = time.time()
        seeds = [config.seed + s for s in range(config.seeds)]
        strategies = self.strategies(config)
        for seed in seeds:
            initial = np.sort(np.random.default_rng([seed, 5]).choice(train, config.initial, replace=False))
            for strategy in strategies:
                key = f"{strategy}:{seed}"
                state = progress.get(key, {"labelled": initial.tolist(), "rounds": []})
                while len(state["rounds"]) <= config.rounds:
                    labelled = np.array(state["labelled"])
                    model = train_segmenter(config, x[labelled], masks[labelled], seed)
                    test_pred = predict_probs(model, x[test], config.device).argmax(1).astype(bool)
                    row = {"labels": int(len(labelled)),
                           "dice": float(np.mean(M.dice(test_pred, masks[test], per_sample=True)))}
                    if len(state["rounds"]) < config.rounds:
                        pool = np.setdiff1d(train, labelled)
                        probs = predict_probs(model, x[pool], config.device)
                        rng = np.random.default_rng([seed, len(labelled), 3])
                        score = rng.random(len(pool)) if strategy == "random" else pixel_entropy(probs)
                        pick = np.argsort(-score, kind="stable")[:config.query]
                        corrected, scratch = correction_cost(probs[pick].argmax(1).astype(bool), masks[pool[pick]])
                        row["corrected"], row["scratch"] = int(corrected.sum()), int(scratch.sum())
                        state["labelled"] = sorted(labelled.tolist() + pool[pick].tolist())
                    state["rounds"].append(row)
                    progress[key] = state
                    ctx.save_json("progress.json", progress)
                ctx.log(f"seed {seed} {strategy}: Dice " + "  ".join(f"{r['labels']}:{r['dice']:.3f}"
                                                                      for r in state["rounds"]))
        table = {}
        for strategy in strategies:
            runs = [progress[f"{strategy}:{seed}"]["rounds"] for seed in seeds]
            dice = np.array([[r["dice"] for r in rr] for rr in runs])
            fraction = np.array([sum(r.get("corrected", 0) for r in rr) / max(sum(r.get("scratch", 0) for r in rr), 1)
                                 for rr in runs])
            per_round = np.array([[r["corrected"] / max(r["scratch"], 1) for r in rr if "corrected" in r]
                                  for rr in runs])
            table[strategy] = {"labels": [r["labels"] for r in runs[0]], "dice": dice.mean(0).tolist(),
                               "dice_ci": [t_interval(dice[:, j]) for j in range(dice.shape[1])],
                               "corrected_fraction": float(fraction.mean()),
                               "corrected_fraction_ci": t_interval(fraction),
                               "corrected_fraction_per_round": per_round.mean(0).tolist()}
        return {"experiment": self.name, "seeds": seeds, "split_sizes": {"train": len(train), "test": len(test)},
                "seconds": time.time() - started, "test": table}

    def summary(self, metrics: dict) -> str:
        parts = [f"{s}: Dice {row['dice'][-1]:.3f} at {row['labels'][-1]} labels, corrections "
                 f"{row['corrected_fraction']:.0%} of drawing from scratch" for s, row in metrics["test"].items()]
        return "; ".join(parts)


EXPERIMENT = ActiveSegmentationExperiment()
