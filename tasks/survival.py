"""Survival prediction: Cox models of time to an event under right censoring.

Data: ``ncctg`` (the NCCTG advanced lung-cancer cohort, 228 patients, ../shared/data/survival),
``file`` (any CSV: ``--data-file --time-col --event-col --drop-cols``), ``phantom`` (a simulated
Cox cohort with known coefficients) or ``phantom-images`` (lesion images whose size and look set
the hazard). Tabular covariates are imputed, standardised and one-hot coded with statistics of
the training split only (tasks/_prediction_common.py).

Models, both trained with the negative Cox partial log-likelihood (engine cox_ph_loss):
the network (DeepSurv, an MLP on the covariates; or a CNN on the images: an image Cox model)
and, always beside it, the classical linear Cox model (Newton's method; its L2 penalty chosen
from a grid on the validation partial likelihood; on images it sees radiomics features of an
Otsu segmentation). The network's epoch is chosen on the validation partial likelihood too.

Evaluation: one stratified split (train/val/test 60/20/20, stratified by event, fixed by the
data seed) gives Harrell's C-index on the test split with a bootstrap 95% interval, and
Kaplan-Meier curves of the predicted low/high-risk halves (cut at the training median risk, so
the cut never sees the test split) with the log-rank p-value, and the integrated Brier score of
the predicted survival curves (Breslow baseline hazard) beside that of the Kaplan-Meier curve,
which ignores the covariates. Small cohorts make one split
noisy, so tabular data also get repeated stratified k-fold cross-validation (each fold: an inner
80/20 train/val split for selection, the held-out fold for the C-index), reported as mean and
standard deviation over folds.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from tasks._prediction_common import (
    Table,
    TabularPreprocessor,
    column,
    find_shared_file,
    fit_network,
    read_table,
)
from tasks.errors import UsageError
from tasks.evaluation import format_ci, metric_ci
from tasks.experiment import Experiment
from tasks.options import Option, training_options

DATASETS = ("ncctg", "file", "phantom", "phantom-images")
DATA_SEED = 0  # the data and the headline split are fixed: runs with different --seed compare on the same cases
L2_GRID = (1e-3, 1e-2, 1e-1, 1.0)


@dataclasses.dataclass
class SurvivalData:
    name: str
    time: np.ndarray  # (N,) float64 > 0
    event: np.ndarray  # (N,) bool
    table: Table | None = None  # covariates (tabular data)
    covariates: list | None = None
    images: np.ndarray | None = None  # (N, 1, S, S) float32 (image data)
    radiomics: np.ndarray | None = None  # (N, F) classical features of the images

    is_images = property(lambda self: self.images is not None)

    def features(self, train_rows, *other_rows):
        """Covariate matrices for the given rows, preprocessing fitted on ``train_rows`` only."""
        if self.is_images:
            raw = self.radiomics
            mean, std = raw[train_rows].mean(0), raw[train_rows].std(0) + 1e-8
            return [((raw[r] - mean) / std).astype(np.float32) for r in (train_rows, *other_rows)], None
        prep = TabularPreprocessor().fit(self.table, self.covariates, train_rows)
        return [prep.transform(self.table, r) for r in (train_rows, *other_rows)], prep.feature_names


def _check_outcome(path, time_, event) -> tuple[np.ndarray, np.ndarray]:
    if np.isnan(time_).any():
        raise UsageError(f"{path}: the time column has {int(np.isnan(time_).sum())} missing values (row "
                         f"{int(np.flatnonzero(np.isnan(time_))[0]) + 1})")
    if (time_ <= 0).any():
        raise UsageError(f"{path}: survival times must be positive, found {time_[time_ <= 0][0]:g} "
                         f"(row {int(np.flatnonzero(time_ <= 0)[0]) + 1})")
    if np.isnan(event).any() or not np.isin(event, (0, 1)).all():
        bad = event[np.isnan(event) | ~np.isin(event, (0, 1))][0]
        raise UsageError(f"{path}: the event column must hold 1 (event) or 0 (censored), found {bad:g}")
    if not (event == 1).any():
        raise UsageError(f"{path}: no events (every patient censored): a Cox model has nothing to learn")
    return time_, event.astype(bool)


def load_data(config) -> SurvivalData:
    if config.dataset in ("ncctg", "file"):
        if config.dataset == "file" and not config.data_file:
            raise UsageError("--dataset file needs --data-file x.csv (and --time-col, --event-col)")
        path = find_shared_file("survival/ncctg_lung.csv", config.data_file)
        table = read_table(path)
        t, e = _check_outcome(path, column(table, config.time_col, "time"), column(table, config.event_col, "event"))
        drop = config.drop_cols.split(",") if config.drop_cols is not None else (["inst"] if config.dataset == "ncctg"
                                                                               else [])
        drop = [d.strip() for d in drop if d.strip()]
        unknown = [d for d in drop if d not in table.columns]
        if unknown:
            raise UsageError(f"{path}: --drop-cols names unknown columns {unknown}; columns are {table.columns}")
        covariates = [c for c in table.columns if c not in (config.time_col, config.event_col, *drop)]
        if not covariates:
            raise UsageError(f"{path}: no covariate columns left after the time, event and dropped columns")
        return SurvivalData(path.stem, t, e, table=table, covariates=covariates)
    from tasks.data.phantoms import make_survival_cohort

    images = config.dataset == "phantom-images"
    d = make_survival_cohort(config.n_subjects, n_features=6, with_images=images, image_size=32,
                             censoring_fraction=0.3, seed=DATA_SEED)
    t, e = d["times"].astype(np.float64), d["events"]
    if images:
        from tasks._prediction_common import radiomics

        return SurvivalData("phantom-images", t, e, images=d["images"], radiomics=radiomics(d["images"]))
    names = [f"x{j}" for j in range(d["features"].shape[1])]
    table = Table("phantom", names, {n: d["features"][:, j].astype(np.float64) for j, n in enumerate(names)}, {},
                  len(t))
    return SurvivalData("phantom", t, e, table=table, covariates=names)


def _check_events(data: SurvivalData, parts: dict) -> None:
    for name, rows in parts.items():
        if data.event[rows].sum() < 2:
            raise UsageError(f"{data.name}: the {name} split has {int(data.event[rows].sum())} events among "
                             f"{len(rows)} patients; a C-index needs at least 2 (use a larger cohort)")


# ----------------------------------------------------------------------------------------- models
def fit_linear_cox(x_tr, t_tr, e_tr, x_va, t_va, e_va, ties: str):
    """The linear Cox model for each L2 penalty of the grid; keep the best validation likelihood."""
    import engine
    from engine.nn.functional import cox_ph_loss
    from models.deepsurv import LinearCox

    best, trials, start = None, [], None
    for l2 in sorted(L2_GRID, reverse=True):  # strongest penalty first; each fit starts from the previous one
        model = LinearCox(x_tr.shape[1])
        if start is not None:
            with engine.no_grad():
                model.linear.weight.data[...] = engine.tensor(start.reshape(1, -1).astype(np.float32)).data
        model.fit(x_tr.astype(np.float64), t_tr, e_tr, l2=l2, ties=ties)
        start = model.coefficients
        with engine.no_grad():
            val = float(cox_ph_loss(engine.tensor(x_va.astype(np.float64) @ model.coefficients), t_va, e_va,
                                    ties=ties).numpy())
        trials.append({"l2": l2, "val_loss": val})
        if best is None or val < best[0]:
            best = (val, l2, model)
    return best[2], {"selected_l2": best[1], "trials": trials}


def _targets(t, e) -> np.ndarray:
    return np.stack([t, e.astype(np.float64)], axis=1).astype(np.float32)


def settings(config, images: bool, n_train: int) -> dict:
    """The training options whose defaults depend on the data (see the options' help)."""
    auto = {"epochs": (2 if config.quick else 20) if images else (40 if config.quick else 300),
            "batch_size": 64 if images else n_train, "lr": 2e-3 if images else 5e-3, "width": 8 if images else 32}
    return {k: auto[k] if config.get(k) is None else config.get(k) for k in auto}


def fit_net(ctx, data: SurvivalData, x_tr, rows_tr, x_va, rows_va, subdir=None):
    """DeepSurv (tables) or a CNN (images), selected on the validation partial likelihood."""
    import engine.nn.functional as F
    from models import build_model
    from models.deepsurv import DeepSurv
    from tasks.metrics import concordance_index

    config = ctx.config
    resolved = settings(config, data.is_images, len(rows_tr))
    if data.is_images:
        model = build_model("vgg", 1, 1, data.images.shape[2:], width=resolved["width"])
    else:
        model = DeepSurv(x_tr.shape[1], hidden=(resolved["width"],) * config.layers, dropout=config.dropout)
    model.to(config.device)

    def loss_fn(out, target):
        return F.cox_ph_loss(out, target[:, 0], target[:, 1], ties=config.ties)

    def c_index(out, target):
        return concordance_index(target[:, 0], out.reshape(-1), target[:, 1])

    result = fit_network(ctx, model, loss_fn, (x_tr, _targets(data.time[rows_tr], data.event[rows_tr])),
                         (x_va, _targets(data.time[rows_va], data.event[rows_va])),
                         metrics={"c_index": c_index}, monitor="val_loss", mode="min", subdir=subdir,
                         settings={k: v for k, v in resolved.items() if k != "width"})
    return model, result


def _inputs(data, feats, rows):
    return data.images[rows] if data.is_images else feats


def _risks(ctx, model, x) -> np.ndarray:
    from tasks.training import predict

    return predict(ctx, model, x, batch_size=256).reshape(-1).astype(np.float64)


# ----------------------------------------------------------------------------------------- evaluation
def evaluate(data, rows, risk, train_risk, n_boot, seed) -> dict:
    from tasks.metrics import concordance_index
    from tasks.metrics.survival import kaplan_meier, logrank_test, median_survival

    t, e = data.time[rows], data.event[rows]
    high = risk > np.median(train_risk)  # the cut is fixed on training predictions
    out = {"c_index": concordance_index(t, risk, e), "n": int(len(rows)), "events": int(e.sum())}
    out["c_index_ci"] = metric_ci(concordance_index, t, risk, e, n_boot=n_boot, seed=seed, stratify=e)
    if 0 < high.sum() < len(high):
        out["logrank_p"] = logrank_test(t, e, high)["p_value"]
        out["median_survival_low_risk"] = median_survival(kaplan_meier(t[~high], e[~high]))
        out["median_survival_high_risk"] = median_survival(kaplan_meier(t[high], e[high]))
    out["n_high_risk"] = int(high.sum())
    return out


def integrated_brier(data, tr, te, train_risks: dict, risks: dict) -> dict:
    """Integrated Brier score on the test split of each model's survival curves S(t | x) =
    exp(-H0(t) e^eta), with Breslow's baseline H0 from the training split, against the covariate-free
    Kaplan-Meier curve of the training split (the reference a model must beat). Times: 30 points
    between the 10th and 80th percentiles of the test event times; censoring weights from training."""
    from tasks.metrics import UndefinedMetricError
    from tasks.metrics.survival import (
        breslow_cumulative_hazard,
        cox_survival,
        integrated_brier_score,
        kaplan_meier,
        survival_at,
    )

    t, e = data.time[te], data.event[te]
    lo, hi = np.quantile(t[e], [0.1, 0.8])
    grid = np.linspace(lo, hi, 30)
    curves = {k: cox_survival(*breslow_cumulative_hazard(data.time[tr], data.event[tr], train_risks[k]), risks[k], grid)
              for k in risks}
    curves["kaplan_meier"] = np.tile(survival_at(kaplan_meier(data.time[tr], data.event[tr]), grid), (len(te), 1))
    out = {"times": [float(grid[0]), float(grid[-1])]}
    for k, curve in curves.items():
        try:
            out[k] = integrated_brier_score(t, e, curve, grid, data.time[tr], data.event[tr])
        except UndefinedMetricError:
            out[k] = None
    return out


def km_figure(data, rows, risks: dict, train_risks: dict, path) -> str:
    import matplotlib.pyplot as plt

    from tasks.figures import _save
    from tasks.metrics.survival import kaplan_meier, logrank_test

    t, e = data.time[rows], data.event[rows]
    fig, axes = plt.subplots(1, len(risks), figsize=(4.6 * len(risks), 3.6), squeeze=False)
    for ax, (name, risk) in zip(axes[0], risks.items()):
        high = risk > np.median(train_risks[name])
        for mask, label, colour in ((~high, "low risk", "tab:blue"), (high, "high risk", "tab:red")):
            if mask.any():
                km = kaplan_meier(t[mask], e[mask])
                ax.step(km["time"], km["survival"], where="post", color=colour, label=f"{label} (n={mask.sum()})")
        p = logrank_test(t, e, high)["p_value"] if 0 < high.sum() < len(high) else float("nan")
        ax.set_title(f"{name}: log-rank p = {p:.3g}")
        ax.set_xlabel("time")
        ax.set_ylabel("survival probability")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def cross_validate(ctx, data: SurvivalData) -> dict:
    """Repeated stratified k-fold CV of both models: C-index per held-out fold."""
    from engine.data import kfold_indices, train_val_test_split
    from tasks.metrics import concordance_index

    config, scores = ctx.config, {"network": [], "linear_cox": []}
    for r in range(config.cv_repeats):
        for f, (outer, held_out) in enumerate(kfold_indices(len(data.time), config.cv_folds, stratify=data.event,
                                                            seed=DATA_SEED + 1 + r)):
            a, _, b = train_val_test_split(outer, (0.8, 0.2), stratify=data.event[outer], seed=DATA_SEED + r)
            tr, va = outer[a], outer[b]
            _check_events(data, {f"CV repeat {r + 1} fold {f + 1} held-out": held_out})
            (x_tr, x_va, x_te), _ = data.features(tr, va, held_out)
            cox, _ = fit_linear_cox(x_tr, data.time[tr], data.event[tr], x_va, data.time[va], data.event[va],
                                    config.ties)
            scores["linear_cox"].append(concordance_index(data.time[held_out], x_te @ cox.coefficients,
                                                          data.event[held_out]))
            net, _ = fit_net(ctx, data, x_tr, tr, x_va, va, subdir=f"cv/repeat{r + 1}_fold{f + 1}")
            scores["network"].append(concordance_index(data.time[held_out], _risks(ctx, net, x_te),
                                                       data.event[held_out]))
            ctx.log(f"CV repeat {r + 1} fold {f + 1}: C-index network {scores['network'][-1]:.3f}, "
                    f"linear Cox {scores['linear_cox'][-1]:.3f}")
    out = {k: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
               "folds": [float(s) for s in v]} for k, v in scores.items()}
    diff = np.array(scores["network"]) - np.array(scores["linear_cox"])
    out["network_minus_linear_cox"] = {"mean": float(diff.mean()), "std": float(diff.std(ddof=1)) if len(diff) > 1
                                       else 0.0}
    out.update(folds=config.cv_folds, repeats=config.cv_repeats)
    return out


# ----------------------------------------------------------------------------------------- the experiment
class SurvivalExperiment(Experiment):
    name = "survival"
    description = ("survival: Cox partial likelihood; DeepSurv or an image Cox CNN vs the linear Cox model on the "
                   "NCCTG lung cohort, your CSV or phantoms; C-index with CI, Kaplan-Meier + log-rank, repeated CV")
    options = (
        Option("dataset", str, "ncctg", "ncctg (real lung-cancer cohort), file (your CSV: --data-file), phantom "
               "(simulated Cox cohort) or phantom-images (lesion images)", choices=DATASETS),
        Option("data_file", str, None, "CSV file with a header row (default for ncctg: "
               "../shared/data/survival/ncctg_lung.csv)", nullable=True),
        Option("time_col", str, "time", "column with the follow-up time (positive numbers)"),
        Option("event_col", str, "status", "column with 1 = event observed, 0 = censored"),
        Option("drop_cols", str, None, "comma-separated columns that are not covariates (default: inst for ncctg, "
               "none otherwise)", nullable=True),
        Option("n_subjects", int, 500, "phantom cohort size", quick=200, low=30, high=100_000),
        Option("ties", str, "efron", "handling of tied event times in the partial likelihood",
               choices=("efron", "breslow")),
        Option("width", int, None, "DeepSurv hidden width (default 32), or the image CNN's channel width "
               "(default 8)", low=1, high=4096, nullable=True),
        Option("layers", int, 2, "DeepSurv hidden layers", low=1, high=10),
        Option("dropout", float, 0.2, "DeepSurv dropout after each hidden layer", low=0.0, high=0.9),
        Option("cv_folds", int, 5, "cross-validation folds (tabular data)", quick=3, low=2, high=50),
        Option("cv_repeats", int, 3, "repeats of the cross-validation with new folds (0: none)", quick=1, low=0,
               high=100),
        Option("epochs", int, None, "training epochs (default: 300 full-batch steps for tables, 20 epochs for images; "
               "--quick: 40 and 2)", low=1, high=100_000, nullable=True),
        Option("batch_size", int, None, "mini-batch size; the Cox loss compares patients within a batch (default: the "
               "whole training set for tables, 64 for images)", low=2, high=1_000_000, nullable=True),
        Option("lr", float, None, "learning rate (default: 5e-3 for tables, 2e-3 for images)", low=0.0,
               open_low=True, high=10.0, nullable=True),
        *[o for o in training_options(epochs=300, lr=5e-3, schedule="constant")
          if o.name not in ("epochs", "batch_size", "lr")],
    )

    def check(self, config) -> None:
        if config.data_file is not None and config.dataset not in ("ncctg", "file"):
            raise UsageError(f"--data-file applies to --dataset ncctg or file, not {config.dataset}")

    def run(self, ctx) -> dict:
        from engine.data import train_val_test_split

        config = ctx.config
        data = load_data(config)
        tr, va, te = train_val_test_split(len(data.time), (0.6, 0.2, 0.2), stratify=data.event, seed=DATA_SEED)
        _check_events(data, {"training": tr, "validation": va, "test": te})
        (x_tr, x_va, x_te), names = data.features(tr, va, te)
        ctx.log(f"{data.name}: {len(data.time)} patients, {int(data.event.sum())} events; "
                f"{x_tr.shape[1]} covariates; split {len(tr)}/{len(va)}/{len(te)}")

        started = time.time()
        cox, cox_info = fit_linear_cox(x_tr, data.time[tr], data.event[tr], x_va, data.time[va], data.event[va],
                                       config.ties)
        cox_info["train_seconds"] = time.time() - started
        if names is not None:
            cox_info["hazard_ratio_per_sd"] = dict(zip(names, np.exp(cox.coefficients).round(4).tolist()))
        net, result = fit_net(ctx, data, _inputs(data, x_tr, tr), tr, _inputs(data, x_va, va), va)
        risks = {"network": _risks(ctx, net, _inputs(data, x_te, te)), "linear_cox": x_te @ cox.coefficients}
        train_risks = {"network": _risks(ctx, net, _inputs(data, x_tr, tr)), "linear_cox": x_tr @ cox.coefficients}
        from tasks.metrics import concordance_index

        val = {"network": concordance_index(data.time[va], _risks(ctx, net, _inputs(data, x_va, va)), data.event[va]),
               "linear_cox": concordance_index(data.time[va], x_va @ cox.coefficients, data.event[va])}
        test = {k: evaluate(data, te, risks[k], train_risks[k], config.bootstrap, config.seed) for k in risks}
        brier = integrated_brier(data, tr, te, train_risks, risks)
        for k in risks:
            test[k]["integrated_brier"] = brier[k]
        from tasks import figures

        paths = [km_figure(data, te, risks, train_risks, ctx.figures_dir / "kaplan_meier_test.png"),
                 figures.training_curves(result.history, ctx.figures_dir / "training_curves.png",
                                         metrics=("loss", "c_index"))]
        cv = cross_validate(ctx, data) if config.cv_repeats > 0 and not data.is_images else None
        return {
            "experiment": self.name, "dataset": data.name, "model": "cnn" if data.is_images else "deepsurv",
            "network": "image Cox CNN (VGG-style)" if data.is_images else "DeepSurv",
            "split_sizes": {"train": len(tr), "val": len(va), "test": len(te)},
            "training": settings(config, data.is_images, len(tr)),
            "model_info": {"network": {"parameters": net.num_parameters(), "best_epoch": result.best_epoch,
                                       "train_seconds": result.train_seconds},
                           "linear_cox": cox_info},
            "val": {"c_index": val}, "test": test, "integrated_brier_kaplan_meier": brier["kaplan_meier"],
            "brier_times": brier["times"], "cross_validation": cv, "figures": paths,
        }

    def summary(self, metrics: dict) -> str:
        t = metrics["test"]
        line = (f"test C-index {metrics['network']} {format_ci(t['network'], 'c_index')}, linear Cox "
                f"{format_ci(t['linear_cox'], 'c_index')}")
        cv = metrics.get("cross_validation")
        if cv:
            line += (f"; {cv['repeats']}x{cv['folds']}-fold CV {cv['network']['mean']:.3f} +- "
                     f"{cv['network']['std']:.3f} vs {cv['linear_cox']['mean']:.3f} +- {cv['linear_cox']['std']:.3f}")
        return line + f"  [{metrics['dataset']}]"


EXPERIMENT = SurvivalExperiment()
