"""Ordinal grading: predict a severity grade 0 < 1 < ... < K-1 from an image.

Data: ``graded-lesions`` (phantoms whose grade is the boundary irregularity, a 70/15/15 split
stratified by grade), an ordinal MedMNIST dataset found on disk (``retinamnist``, its official
split), or your folder (``images/`` + ``labels.csv`` whose labels are the integer grades).

Models: a CNN whose single output f feeds an ordinal head — ``--loss coral`` (Cao et al. 2020:
K-1 rank-consistent binary logits) or ``cumulative`` (the proportional-odds cumulative link
model) — or the nominal control ``--loss ce`` (K logits, cross-entropy: the grades as unordered
classes). The classical baseline beside it: multinomial logistic regression on radiomics features
of an Otsu segmentation, its C chosen on the validation QWK. The network's epoch is chosen on the
validation QWK too.

Metrics (test split, bootstrap 95% intervals over cases): quadratic weighted kappa (QWK), MAE in
grades, accuracy, and the mean one-vs-rest AUC of the class probabilities (MedMNIST's convention).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from tasks._prediction_common import fit_network, radiomics
from tasks.errors import UsageError
from tasks.evaluation import format_ci, metric_ci
from tasks.experiment import Experiment
from tasks.options import Option, training_options

BACKBONES = ("vgg", "lenet5", "alexnet", "resnet18", "mlp")
LOSSES = ("coral", "cumulative", "ce")
DATA_SEED = 0


@dataclasses.dataclass
class GradedImages:
    name: str
    n_grades: int
    x: dict  # split -> (N, C, H, W) float32
    y: dict  # split -> (N,) int64 grades


def load_data(config) -> GradedImages:
    from engine.data import train_val_test_split

    name = config.dataset.lower()
    if name == "graded-lesions":
        from tasks.data.phantoms.graded_lesions import make_graded_lesion_dataset

        d = make_graded_lesion_dataset(config.n_samples, n_grades=config.n_grades, seed=DATA_SEED)
        x, y = d["images"], d["grades"]
        parts = train_val_test_split(y, (0.7, 0.15, 0.15), stratify=y, seed=DATA_SEED)
        return GradedImages(name, config.n_grades, *[dict(zip(("train", "val", "test"), [a[p] for p in parts]))
                                                     for a in (x, y)])
    if Path(config.dataset).is_dir():
        from tasks.userdata import load_labelled_folder, normalize_intensity, resize

        folder = load_labelled_folder(config.dataset, seed=DATA_SEED)
        if not all(n.lstrip("-").isdigit() for n in folder.class_names):
            raise UsageError(f"{config.dataset}/labels.csv: grades must be integers, got {folder.class_names}")
        grades = [int(n) for n in folder.class_names]
        if grades != list(range(len(grades))):
            raise UsageError(f"{config.dataset}/labels.csv: grades must be 0..K-1 with every grade present, "
                             f"got {grades}")
        shape = (config.size,) * folder.ndim
        x = np.stack([resize(normalize_intensity(im), shape) for im in folder.images]).astype(np.float32)
        if x.ndim == 3:
            x = x[:, None]
        splits = {s: folder.indices(s) for s in ("train", "val", "test")}
        return GradedImages(Path(config.dataset).name, len(grades), {s: x[i] for s, i in splits.items()},
                            {s: folder.labels[i] for s, i in splits.items()})
    from tasks.data.medmnist import INFO, load_medmnist

    if name not in INFO or INFO[name].task != "ordinal-regression":
        ordinal = [k for k, v in INFO.items() if v.task == "ordinal-regression"]
        raise UsageError(f"--dataset {config.dataset}: use graded-lesions, a folder of graded images, or an ordinal "
                         f"MedMNIST dataset ({', '.join(ordinal)})")
    try:
        splits = load_medmnist(name, split=None, size=config.size, data_dir=config.data_dir)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e).splitlines()[0]) from None
    return GradedImages(name, len(INFO[name].class_names),
                        {s: splits[s].as_float_channels_first() for s in splits},
                        {s: splits[s].targets().reshape(-1).astype(np.int64) for s in splits})


# ----------------------------------------------------------------------------------------- outputs
def to_probs(outputs: np.ndarray, loss: str) -> np.ndarray:
    from models.ordinal import ordinal_probabilities

    if loss == "ce":
        e = np.exp(outputs - outputs.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    return ordinal_probabilities(outputs)


def to_grades(outputs: np.ndarray, loss: str) -> np.ndarray:
    from models.ordinal import ordinal_predict

    return outputs.argmax(1) if loss == "ce" else ordinal_predict(outputs)


def evaluate(y, probs, pred, k, n_boot=None, seed=0) -> dict:
    from tasks import metrics as M

    fns = {"qwk": lambda t, p, s: M.quadratic_weighted_kappa(t, p, n_classes=k),
           "mae": lambda t, p, s: M.mean_absolute_error(t.astype(float), p.astype(float)),
           "acc": lambda t, p, s: M.accuracy(t, p),
           "auc": lambda t, p, s: M.roc_auc(t, s)}
    out = {}
    for name, fn in fns.items():
        try:
            out[name] = float(fn(y, pred, probs))
        except M.UndefinedMetricError:
            out[name] = None
        if n_boot is not None and out[name] is not None:
            out[f"{name}_ci"] = metric_ci(fn, y, pred, probs, n_boot=n_boot, seed=seed, stratify=y)
    out["n"] = int(len(y))
    return out


# ----------------------------------------------------------------------------------------- models
def run_baseline(data: GradedImages):
    """Multinomial logistic regression on radiomics features; C chosen on the validation QWK."""
    from models.classical import LogisticRegression, StandardScaler
    from tasks import metrics as M

    feats = {s: radiomics(x) for s, x in data.x.items()}
    scaler = StandardScaler().fit(feats["train"])
    feats = {s: scaler.transform(f) for s, f in feats.items()}
    best, trials = None, []
    for c in (0.01, 0.1, 1.0):
        model = LogisticRegression(C=c, max_iter=500).fit(feats["train"], data.y["train"])
        qwk = M.quadratic_weighted_kappa(data.y["val"], model.predict(feats["val"]), n_classes=data.n_grades)
        trials.append({"C": c, "val_qwk": qwk})
        if best is None or qwk > best[0]:
            best = (qwk, c, model)
    _, c, model = best
    probs = {s: model.predict_proba(feats[s]) for s in ("val", "test")}
    return {"selected_C": c, "trials": trials}, probs


def run_network(ctx, data: GradedImages):
    import engine.nn.functional as F
    from engine import nn
    from models import build_model
    from models.ordinal import CoralHead, CumulativeLinkHead
    from tasks import metrics as M
    from tasks.training import predict

    config, k = ctx.config, data.n_grades
    spatial = data.x["train"].shape[2:]
    kwargs = {"width": config.width} if config.backbone in ("vgg", "alexnet", "resnet18") else {}
    try:
        backbone = build_model(config.backbone, data.x["train"].shape[1], k if config.loss == "ce" else 1, spatial,
                               **kwargs)
    except ValueError as e:
        raise UsageError(str(e)) from None
    head = {"coral": CoralHead, "cumulative": CumulativeLinkHead}.get(config.loss)
    model = backbone if head is None else nn.Sequential(backbone, head(k))
    model.to(config.device)

    def loss_fn(out, target):
        if config.loss == "ce":
            return F.cross_entropy(out, target)
        return (F.coral_loss if config.loss == "coral" else F.cumulative_link_loss)(out, target)

    def qwk(out, target):
        return M.quadratic_weighted_kappa(target, to_grades(out, config.loss), n_classes=k)

    result = fit_network(ctx, model, loss_fn, (data.x["train"], data.y["train"]), (data.x["val"], data.y["val"]),
                         metrics={"qwk": qwk}, monitor="val_qwk", mode="max")
    outputs = {s: predict(ctx, model, data.x[s], 256) for s in ("val", "test")}
    info = {"parameters": model.num_parameters(), "best_epoch": result.best_epoch,
            "train_seconds": result.train_seconds}
    return info, outputs, result.history


# ----------------------------------------------------------------------------------------- the experiment
class GradingExperiment(Experiment):
    name = "grading"
    description = ("ordinal grading: CORAL / cumulative-link / cross-entropy CNNs vs logistic regression on radiomics; "
                   "graded lesion phantoms, RetinaMNIST or your folder; QWK, MAE, ACC, AUC with CIs")
    options = (
        Option("dataset", str, "graded-lesions", "graded-lesions (phantoms), retinamnist, or a folder with images/ "
               "and labels.csv holding integer grades 0..K-1 (images resized to --size, intensities scaled by their "
               "0.5/99.5 percentiles)"),
        Option("data_dir", str, None, "folder with the MedMNIST .npz files", nullable=True),
        Option("size", int, 28, "MedMNIST size, or the side user-folder images are resized to", low=8, high=512),
        Option("n_samples", int, 2400, "number of graded lesion phantoms", quick=300, low=40, high=1_000_000),
        Option("n_grades", int, 4, "grades of the phantoms", low=2, high=10),
        Option("loss", str, "coral", "ordinal head and loss, or ce for the nominal control", choices=LOSSES),
        Option("backbone", str, "vgg", "the network that computes the score", choices=BACKBONES),
        Option("width", int, 16, "channel width of vgg/alexnet/resnet18", low=1, high=1024),
        *training_options(epochs=10, lr=2e-3, batch_size=64, quick_epochs=2),
    )

    def run(self, ctx) -> dict:
        config = ctx.config
        data = load_data(config)
        k = data.n_grades
        started = time.time()
        base_info, base_probs = run_baseline(data)
        base_info["train_seconds"] = time.time() - started
        info, outputs, history = run_network(ctx, data)
        probs = {s: to_probs(o, config.loss) for s, o in outputs.items()}
        grades = {s: to_grades(o, config.loss) for s, o in outputs.items()}
        n_boot, seed = config.bootstrap, config.seed
        test = {"network": evaluate(data.y["test"], probs["test"], grades["test"], k, n_boot, seed),
                "baseline": evaluate(data.y["test"], base_probs["test"], base_probs["test"].argmax(1), k, n_boot,
                                     seed)}
        val = {"network": evaluate(data.y["val"], probs["val"], grades["val"], k),
               "baseline": evaluate(data.y["val"], base_probs["val"], base_probs["val"].argmax(1), k)}
        from tasks import figures
        from tasks import metrics as M

        names = [str(g) for g in range(k)]
        cm = M.confusion_matrix(data.y["test"], grades["test"], n_classes=k)
        paths = [figures.confusion_matrix_plot(cm, ctx.figures_dir / "confusion_matrix.png", names,
                                               title=f"Grades (test), {config.loss}"),
                 figures.training_curves(history, ctx.figures_dir / "training_curves.png", metrics=("loss", "qwk"))]
        return {"experiment": self.name, "dataset": data.name, "n_grades": k, "loss": config.loss,
                "model": f"{config.backbone}+{config.loss}", "baseline": "logistic regression on radiomics",
                "split_sizes": {s: int(len(v)) for s, v in data.y.items()},
                "model_info": {"network": info, "baseline": base_info}, "val": val, "test": test, "figures": paths}

    def summary(self, metrics: dict) -> str:
        n, b = metrics["test"]["network"], metrics["test"]["baseline"]
        return (f"test QWK {format_ci(n, 'qwk')} MAE {format_ci(n, 'mae')} ACC {format_ci(n, 'acc')} "
                f"[{metrics['model']}]; baseline QWK {format_ci(b, 'qwk')} MAE {format_ci(b, 'mae')}  "
                f"[{metrics['dataset']}]")


EXPERIMENT = GradingExperiment()
