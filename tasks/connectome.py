"""Connectome-based prediction: an outcome from a brain network, with BrainNetCNN.

Data: ``phantom`` (connectomes with a planted sub-network whose strength follows each subject's
latent trait; tasks/data/phantoms/connectome.py) or your ``--data-file x.npz`` holding
``connectomes`` (N, R, R) and ``scores`` (N,). ``--outcome score`` predicts the score
(regression: Pearson r and MAE); ``--outcome class`` predicts whether it lies above the training
median (AUC). Split 70/15/15 (fixed by the data seed); each edge is standardised with training
statistics.

Models: BrainNetCNN (models/brainnetcnn.py: edge-to-edge, edge-to-node, node-to-graph), its
epoch chosen on the validation Pearson r (score) or AUC (class); baseline: ridge regression
(score) or logistic regression (class) on the vectorised upper triangle, its penalty chosen on
validation. Which edges does each model use? The network's gradient saliency |d output / d edge|,
averaged over the test subjects, and the baseline's |coefficient| are compared with the planted
edges (an AUC: 1 = the planted edges rank first), in metrics and a figure.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tasks._prediction_common import fit_network, select_ridge
from tasks.errors import UsageError
from tasks.evaluation import format_ci, metric_ci
from tasks.experiment import Experiment
from tasks.options import Option, training_options

DATA_SEED = 0


def load_data(config) -> dict:
    if config.data_file is None:
        from tasks.data.phantoms import make_connectome_cohort

        d = make_connectome_cohort(n_subjects=config.n_subjects, n_regions=config.n_regions, seed=DATA_SEED)
        return {"connectomes": d["connectomes"], "scores": d["scores"].astype(np.float64),
                "planted_mask": d["planted_mask"], "name": "connectome-phantom"}
    path = Path(config.data_file)
    if not path.is_file():
        raise UsageError(f"--data-file {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read as .npz ({e})") from None
    if "connectomes" not in arrays or "scores" not in arrays:
        raise UsageError(f"{path}: needs arrays 'connectomes' (N, R, R) and 'scores' (N,), found {sorted(arrays)}")
    c, s = arrays["connectomes"], arrays["scores"]
    if c.ndim != 3 or c.shape[1] != c.shape[2]:
        raise UsageError(f"{path}: connectomes must be square matrices (N, R, R), got shape {c.shape}")
    if s.shape != (c.shape[0],):
        raise UsageError(f"{path}: scores must be ({c.shape[0]},), one per connectome, got shape {s.shape}")
    if not (np.isfinite(c).all() and np.isfinite(s).all()):
        raise UsageError(f"{path}: connectomes and scores must be finite numbers")
    if c.shape[0] < 20:
        raise UsageError(f"{path}: {c.shape[0]} subjects are too few to split into train/val/test (need 20)")
    return {"connectomes": c.astype(np.float32), "scores": s.astype(np.float64), "planted_mask": None,
            "name": path.stem}


def _upper(c: np.ndarray) -> np.ndarray:
    iu = np.triu_indices(c.shape[-1], k=1)
    return c[:, iu[0], iu[1]]


def _planted_auc(weights: np.ndarray, mask) -> float | None:
    """AUC of |weights| (R, R) at telling the planted edges from the others (upper triangle)."""
    if mask is None:
        return None
    from tasks.metrics import roc_auc

    iu = np.triu_indices(mask.shape[0], k=1)
    return roc_auc(mask[iu].astype(int), np.abs(weights)[iu])


def saliency(model, x: np.ndarray, device: str) -> np.ndarray:
    """Mean over subjects of |d output / d input edge|, symmetrised: (R, R)."""
    import engine

    model.eval()
    xt = engine.tensor(x, device=device, requires_grad=True)
    model(xt).sum().backward()
    g = np.abs(xt.grad.numpy()[:, 0]).mean(0)
    return (g + g.T) / 2


class ConnectomeExperiment(Experiment):
    name = "connectome"
    description = ("connectome: BrainNetCNN (E2E/E2N/N2G layers) vs ridge/logistic regression on the upper triangle, "
                   "phantoms with a planted sub-network or your .npz; Pearson r or AUC with CIs, edge saliency")
    options = (
        Option("data_file", str, None, "your cohort: .npz with connectomes (N, R, R) and scores (N,) (default: "
               "phantoms)", nullable=True),
        Option("outcome", str, "score", "score (regression) or class (score above the training median)",
               choices=("score", "class")),
        Option("n_subjects", int, 400, "phantom cohort size", quick=150, low=20, high=100_000),
        Option("n_regions", int, 60, "phantom brain regions", quick=30, low=4, high=500),
        Option("e2e", int, 8, "edge-to-edge channels", low=1, high=256),
        Option("e2n", int, 16, "edge-to-node channels", low=1, high=512),
        Option("n2g", int, 32, "node-to-graph channels", low=1, high=1024),
        Option("dropout", float, 0.5, "dropout after node-to-graph", low=0.0, high=0.9),
        *training_options(epochs=60, lr=1e-3, batch_size=32, quick_epochs=8),
    )

    def run(self, ctx) -> dict:
        import engine.nn.functional as F
        from engine.data import train_val_test_split
        from models.brainnetcnn import BrainNetCNN
        from models.classical import LogisticRegression
        from tasks import metrics as M
        from tasks.training import predict

        config = ctx.config
        data = load_data(config)
        c, s = data["connectomes"], data["scores"]
        n, r = c.shape[0], c.shape[1]
        tr, va, te = train_val_test_split(n, (0.7, 0.15, 0.15), seed=DATA_SEED)
        classes = config.outcome == "class"
        y = (s > np.median(s[tr])).astype(np.int64) if classes else s
        mean, std = c[tr].mean(0), c[tr].std(0)
        std = np.where(std > 0, std, 1.0)  # the zero diagonal stays 0
        x = ((c - mean) / std).astype(np.float32)[:, None]
        split = {"train": tr, "val": va, "test": te}

        # the classical baseline on the vectorised upper triangle
        started = time.time()
        v = _upper(x[:, 0]).astype(np.float64)
        if classes:
            best = None
            for cpen in (0.001, 0.01, 0.1, 1.0):
                model = LogisticRegression(C=cpen, max_iter=300).fit(v[tr], y[tr])
                auc = M.roc_auc(y[va], model.predict_proba(v[va])[:, 1])
                if best is None or auc > best[0]:
                    best = (auc, cpen, model)
            base_info, base_model = {"selected_C": best[1]}, best[2]
            base_pred = {k: base_model.predict_proba(v[i])[:, 1] for k, i in split.items()}
            coef = base_model.coef_.reshape(-1) if hasattr(base_model, "coef_") else None
        else:
            base_model, base_info = select_ridge(v[tr], y[tr], v[va], y[va], alphas=(1.0, 10.0, 100.0, 1e3, 1e4))
            base_pred = {k: base_model.predict(v[i]) for k, i in split.items()}
            coef = base_model.coef
        base_info["train_seconds"] = time.time() - started

        # BrainNetCNN
        net = BrainNetCNN(r, 1, e2e=config.e2e, e2n=config.e2n, n2g=config.n2g, dropout=config.dropout)
        net.to(config.device)
        y_mean, y_std = (0.0, 1.0) if classes else (float(y[tr].mean()), float(y[tr].std()))
        target = ((y - y_mean) / y_std).astype(np.float32)

        def loss_fn(out, t):
            out = out.reshape(-1)
            return F.binary_cross_entropy_with_logits(out, t) if classes else F.mse_loss(out, t)

        def score(out, t):
            fn = M.roc_auc if classes else M.pearson_r
            try:
                return fn(t, out.reshape(-1))
            except M.UndefinedMetricError:
                return 0.0

        key = "auc" if classes else "r"
        result = fit_network(ctx, net, loss_fn, (x[tr], target[tr]), (x[va], target[va]), metrics={key: score},
                             monitor=f"val_{key}", mode="max")
        pred = {k: predict(ctx, net, x[i], 256).reshape(-1).astype(np.float64) * y_std + y_mean
                for k, i in split.items()}

        def evaluate(p, rows, with_ci):
            t = y[rows]
            if classes:
                out = {"auc": M.roc_auc(t, p)}
                if with_ci:
                    out["auc_ci"] = metric_ci(M.roc_auc, t, p, n_boot=config.bootstrap, seed=config.seed, stratify=t)
            else:
                out = {"pearson_r": M.pearson_r(t, p), "mae": float(np.mean(np.abs(p - t)))}
                if with_ci:
                    out["pearson_r_ci"] = metric_ci(M.pearson_r, t, p, n_boot=config.bootstrap, seed=config.seed)
                    out["mae_ci"] = metric_ci(lambda a, b: float(np.mean(np.abs(a - b))), t, p,
                                              n_boot=config.bootstrap, seed=config.seed)
            out["n"] = int(len(rows))
            return out

        sal = saliency(net, x[te], config.device)
        coef_map = np.zeros((r, r))
        if coef is not None:
            iu = np.triu_indices(r, k=1)
            coef_map[iu] = coef_map.T[iu] = np.abs(coef)
            coef_map = coef_map + coef_map.T
        paths = [self._figure(data["planted_mask"], sal, coef_map, ctx.figures_dir / "edge_saliency.png")]
        from tasks import figures

        paths.append(figures.training_curves(result.history, ctx.figures_dir / "training_curves.png",
                                             metrics=("loss", key)))
        return {
            "experiment": self.name, "dataset": data["name"], "outcome": config.outcome, "model": "brainnetcnn",
            "baseline": "logistic regression" if classes else "ridge regression", "n_regions": r,
            "split_sizes": {k: int(len(i)) for k, i in split.items()},
            "model_info": {"network": {"parameters": net.num_parameters(), "best_epoch": result.best_epoch,
                                       "train_seconds": result.train_seconds}, "baseline": base_info},
            "val": {"network": evaluate(pred["val"], va, False), "baseline": evaluate(base_pred["val"], va, False)},
            "test": {"network": evaluate(pred["test"], te, True), "baseline": evaluate(base_pred["test"], te, True)},
            "planted_edge_auc": {"network_saliency": _planted_auc(sal, data["planted_mask"]),
                                 "baseline_coefficients": _planted_auc(coef_map, data["planted_mask"])},
            "figures": paths,
        }

    @staticmethod
    def _figure(mask, sal, coef_map, path) -> str:
        import matplotlib.pyplot as plt

        from tasks.figures import _save

        panels = ([("planted sub-network", mask)] if mask is not None else []) + [
            ("BrainNetCNN saliency |d out / d edge|", sal), ("baseline |coefficient|", coef_map)]
        fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.8))
        for ax, (title, m) in zip(np.atleast_1d(axes), panels):
            ax.imshow(m, cmap="magma")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("region")
            ax.set_ylabel("region")
        return _save(fig, path)

    def summary(self, metrics: dict) -> str:
        n, b = metrics["test"]["network"], metrics["test"]["baseline"]
        key = "auc" if metrics["outcome"] == "class" else "pearson_r"
        sal = metrics["planted_edge_auc"]["network_saliency"]
        return (f"test {key} BrainNetCNN {format_ci(n, key)}, {metrics['baseline']} {format_ci(b, key)}"
                + (f"; saliency finds planted edges with AUC {sal:.2f}" if sal is not None else "")
                + f"  [{metrics['dataset']}]")


EXPERIMENT = ConnectomeExperiment()
