"""Computer-aided diagnosis (CADx): classify images, with CNNs and classical baselines.

Data: ``lesions`` (generated benign vs malignant lesion phantoms, the offline default; a
stratified 70/15/15 split) or any MedMNIST dataset found on disk (its official
train/val/test split). The model is selected on the validation split only (best validation
AUC for networks, a hyperparameter grid for baselines); the test split is touched once, at
the end, for the reported metrics and their bootstrap 95% intervals.

Metrics follow the official MedMNIST evaluator so numbers compare with the published table:
binary tasks score the positive class and threshold it at 0.5; multi-class tasks use the
argmax for ACC and the mean one-vs-rest AUC; multi-label tasks average over labels.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from tasks.config import UsageError
from tasks.experiments import Experiment

BASELINES = ("knn", "svm", "logreg")
DATA_SEED = 0  # generated data and its split are fixed, so runs with different --seed compare on the same data


@dataclasses.dataclass
class ClassificationData:
    name: str
    task: str  # "binary-class", "multi-class", "multi-label, binary-class", "ordinal-regression"
    class_names: list
    x_train: np.ndarray  # (N, C, *spatial) float32 in [0, 1]
    y_train: np.ndarray  # (N,) int64, or (N, L) float32 for multi-label
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def multilabel(self) -> bool:
        return self.task.startswith("multi-label")

    @property
    def n_outputs(self) -> int:
        return self.y_train.shape[1] if self.multilabel else len(self.class_names)

    @property
    def in_channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def spatial(self) -> tuple:
        return tuple(self.x_train.shape[2:])


def load_data(config) -> ClassificationData:
    """The dataset named by ``config.dataset``, as float32 channel-first arrays."""
    name = config.dataset.lower()
    if name in ("lesions", "lesions3d"):
        from engine.data import train_val_test_split
        from tasks.data.phantoms import make_lesion_dataset

        ndim = 3 if name == "lesions3d" else 2
        data = make_lesion_dataset(config.n_samples, image_size=28 if ndim == 2 else 24, ndim=ndim, seed=DATA_SEED)
        x, y = data["images"].astype(np.float32), data["labels"]
        tr, va, te = train_val_test_split(y, fractions=(0.7, 0.15, 0.15), stratify=y, seed=DATA_SEED)
        out = ClassificationData(name, "binary-class", ["benign", "malignant"], x[tr], y[tr], x[va], y[va],
                                 x[te], y[te])
    else:
        from tasks.data.medmnist import INFO, load_medmnist

        if name not in INFO:
            raise UsageError(f"unknown dataset {config.dataset!r}; use 'lesions', 'lesions3d' or a MedMNIST name "
                             f"({', '.join(sorted(INFO))})")
        try:
            splits = load_medmnist(name, split=None, size=config.size, data_dir=config.data_dir)
        except FileNotFoundError as e:
            raise UsageError(str(e).splitlines()[0]) from None
        except ValueError as e:
            raise UsageError(str(e).splitlines()[0]) from None
        info = INFO[name]
        arrays = {s: (splits[s].as_float_channels_first(), splits[s].targets()) for s in ("train", "val", "test")}
        out = ClassificationData(name, info.task, list(info.class_names), *arrays["train"], *arrays["val"],
                                 *arrays["test"])
    if config.limit:
        rng = np.random.default_rng(DATA_SEED)
        keep = np.sort(rng.choice(len(out.x_train), size=min(config.limit, len(out.x_train)), replace=False))
        out.x_train, out.y_train = out.x_train[keep], out.y_train[keep]
        n_eval = max(config.limit // 2, 40)
        out.x_val, out.y_val = out.x_val[:n_eval], out.y_val[:n_eval]
        out.x_test, out.y_test = out.x_test[:n_eval], out.y_test[:n_eval]
    return out


# --------------------------------------------------------------------------------------- metrics
def _scores_for_task(data: ClassificationData, probs: np.ndarray) -> np.ndarray:
    """What the MedMNIST evaluator scores: the positive-class probability for binary tasks."""
    if data.task == "binary-class":
        return probs[:, -1]
    return probs


def evaluate(data: ClassificationData, y_true, probs, n_boot: int, seed: int, with_ci: bool) -> dict:
    """MedMNIST ACC/AUC plus balanced accuracy, sensitivity, specificity (binary) and bootstrap CIs."""
    from tasks import metrics as M

    task = "multi-class" if data.task == "ordinal-regression" else data.task
    scores = _scores_for_task(data, probs)
    out = dict(M.medmnist_evaluate(task, y_true, scores))
    if data.multilabel:
        pred = (probs > 0.5).astype(int)
        per_label = [M.balanced_accuracy(y_true[:, j].astype(int), pred[:, j], n_classes=2)
                     for j in range(y_true.shape[1])]
        out["balanced_accuracy"] = float(np.mean(per_label))
    else:
        pred = (scores > 0.5).astype(int) if data.task == "binary-class" else probs.argmax(1)
        out["balanced_accuracy"] = M.balanced_accuracy(y_true, pred, n_classes=len(data.class_names))
        if data.task == "binary-class":
            out["sensitivity"], out["specificity"] = M.sensitivity_specificity(y_true, pred)
    if with_ci:
        rng = np.random.default_rng(seed)

        def ci(fn, *arrays):
            try:
                r = M.bootstrap_ci(fn, *arrays, n_boot=n_boot, seed=rng,
                                   stratify=None if data.multilabel else y_true)
                return [float(r.low), float(r.high)]
            except ValueError:
                return None

        out["auc_ci"] = ci(lambda t, s: M.medmnist_evaluate(task, t, s)["auc"], y_true, scores)
        out["acc_ci"] = ci(lambda t, s: M.medmnist_evaluate(task, t, s)["acc"], y_true, scores)
        if not data.multilabel:
            out["balanced_accuracy_ci"] = ci(
                lambda t, p: M.balanced_accuracy(t, p, n_classes=len(data.class_names)), y_true, pred)
            if data.task == "binary-class":
                out["sensitivity_ci"] = ci(lambda t, p: M.sensitivity_specificity(t, p)[0], y_true, pred)
                out["specificity_ci"] = ci(lambda t, p: M.sensitivity_specificity(t, p)[1], y_true, pred)
        out["n_boot"] = n_boot
    out["n"] = int(len(y_true))
    return out


def write_figures(data: ClassificationData, probs: np.ndarray, history, fig_dir: Path) -> list[str]:
    from tasks import figures
    from tasks import metrics as M

    paths = []
    if history:
        paths.append(figures.training_curves(history, fig_dir / "training_curves.png"))
    if data.multilabel:
        return paths
    y = data.y_test
    paths.append(figures.roc_curves(y, _scores_for_task(data, probs), fig_dir / "roc.png", data.class_names))
    pred = (probs[:, -1] > 0.5).astype(int) if data.task == "binary-class" else probs.argmax(1)
    cm = M.confusion_matrix(y, pred, n_classes=len(data.class_names))
    paths.append(figures.confusion_matrix_plot(cm, fig_dir / "confusion_matrix.png", data.class_names))
    paths.append(figures.image_grid(data.x_test, y, pred, probs[np.arange(len(pred)), pred],
                                    fig_dir / "test_images.png", data.class_names))
    return paths


# --------------------------------------------------------------------------------------- baselines
def _baseline_inputs(data: ClassificationData, features: str):
    if features == "radiomics":
        from tasks.features import extract_features

        if len(data.spatial) != 2:
            raise UsageError("radiomics features are defined for 2D images only")
        f = [extract_features(x)[0] for x in (data.x_train, data.x_val, data.x_test)]
    else:
        f = [x.reshape(len(x), -1) for x in (data.x_train, data.x_val, data.x_test)]
    from models.classical import StandardScaler

    scaler = StandardScaler().fit(f[0])
    return [scaler.transform(a) for a in f]


def run_baseline(config, data: ClassificationData) -> tuple[dict, np.ndarray, np.ndarray, list]:
    """Fit a classical model for each value of its hyperparameter grid; keep the best on validation."""
    from models.classical import KNeighborsClassifier, LinearSVC, LogisticRegression

    if data.multilabel:
        raise UsageError(f"baseline {config.model!r} supports binary and multi-class tasks, not multi-label")
    f_train, f_val, f_test = _baseline_inputs(data, config.features)
    grids = {
        "knn": [dict(n_neighbors=k) for k in (1, 3, 5, 9, 15, 25)],
        "svm": [dict(C=c, seed=config.seed) for c in (0.01, 0.1, 1.0)],
        "logreg": [dict(C=c) for c in (0.01, 0.1, 1.0)],
    }
    classes = {"knn": KNeighborsClassifier, "svm": LinearSVC, "logreg": LogisticRegression}
    task = "multi-class" if data.task == "ordinal-regression" else data.task
    from tasks import metrics as M

    trials = []
    best = None
    for params in grids[config.model]:
        model = classes[config.model](**params).fit(f_train, data.y_train)
        val_probs = _probabilities(model, f_val, len(data.class_names))
        val_auc = M.medmnist_evaluate(task, data.y_val, _scores_for_task(data, val_probs))["auc"]
        trials.append({"params": {k: v for k, v in params.items() if k != "seed"}, "val_auc": val_auc})
        if best is None or val_auc > best[0]:
            best = (val_auc, model, params, val_probs)
    _, model, params, val_probs = best
    test_probs = _probabilities(model, f_test, len(data.class_names))
    return {"selected": {k: v for k, v in params.items() if k != "seed"}, "trials": trials}, val_probs, test_probs, []


def _probabilities(model, x, n_classes) -> np.ndarray:
    """(N, K) class probabilities; a margin classifier's scores go through a softmax/sigmoid so
    that ranking (AUC) is preserved and 0.5 is the decision threshold for two classes."""
    if hasattr(model, "predict_proba"):
        try:
            return np.asarray(model.predict_proba(x), dtype=np.float64)
        except (AttributeError, NotImplementedError):
            pass
    d = np.asarray(model.decision_function(x), dtype=np.float64)
    if d.ndim == 1:
        p = 1 / (1 + np.exp(-d))
        return np.stack([1 - p, p], 1)
    e = np.exp(d - d.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


# --------------------------------------------------------------------------------------- networks
def run_network(config, data: ClassificationData, run_dir: Path, resume_from=None):
    """Train a network with the engine's Trainer; return (info, val_probs, test_probs, history)."""
    import engine
    import engine.nn.functional as F
    from engine import optim
    from engine.data import ArrayDataset, ClassBalancedSampler, DataLoader, TensorDataset
    from engine.train import EarlyStopping, HistoryLogger, ModelCheckpoint, Trainer
    from models import build_model
    from tasks import metrics as M

    engine.manual_seed(config.seed)
    kwargs = {}
    if config.width and config.model in ("resnet18", "alexnet", "vgg"):
        kwargs["width"] = config.width
    try:
        model = build_model(config.model, data.in_channels, data.n_outputs, data.spatial, **kwargs)
    except ValueError as e:
        raise UsageError(str(e)) from None
    model.to(config.device)

    # class imbalance: a weighted loss (weights inversely proportional to class frequency) or a
    # sampler that draws every class equally often
    weight = pos_weight = None
    if config.imbalance == "weighted":
        if data.multilabel:
            pos = data.y_train.mean(0).clip(1e-3, 1 - 1e-3)
            pos_weight = engine.tensor(((1 - pos) / pos).astype(np.float32), device=config.device)
        else:
            counts = np.bincount(data.y_train, minlength=data.n_outputs).clip(1)
            weight = engine.tensor((len(data.y_train) / (data.n_outputs * counts)).astype(np.float32),
                                   device=config.device)

    def loss_fn(logits, target):
        if data.multilabel:
            return F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)
        return F.cross_entropy(logits, target, weight=weight)

    transform = None
    if config.augment:
        from engine.data import transforms as T

        # left-right flips, small rotations/zooms/shifts: plausible variations of a lesion image
        last_axis = len(data.spatial) - 1
        transform = T.Compose([T.RandomFlip(axes=(last_axis,)),
                               T.RandomAffine(degrees=10, scale=0.1, translate=2.0, mode="nearest")])
    if transform is not None:
        train_set = ArrayDataset(data.x_train, data.y_train, transform=transform, seed=config.seed)
    else:
        train_set = TensorDataset(data.x_train, data.y_train)
    sampler = None
    if config.imbalance == "balanced" and not data.multilabel:
        sampler = ClassBalancedSampler(data.y_train, seed=config.seed)
    train_loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                              seed=config.seed)
    val_loader = DataLoader(TensorDataset(data.x_val, data.y_val), batch_size=256)
    test_loader = DataLoader(TensorDataset(data.x_test, data.y_test), batch_size=256)

    task = "multi-class" if data.task == "ordinal-regression" else data.task

    def to_probs(logits: np.ndarray) -> np.ndarray:
        if data.multilabel:
            return 1 / (1 + np.exp(-logits))
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def auc(logits, target):
        return M.medmnist_evaluate(task, target, _scores_for_task(data, to_probs(logits)))["auc"]

    def acc(logits, target):
        return M.medmnist_evaluate(task, target, _scores_for_task(data, to_probs(logits)))["acc"]

    opt_cls = {"adam": optim.Adam, "adamw": optim.AdamW, "sgd": optim.SGD}[config.optimizer]
    opt_kwargs = dict(lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        opt_kwargs["momentum"] = 0.9
    optimizer = opt_cls(model.parameters(), **opt_kwargs)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    callbacks = [ModelCheckpoint(run_dir / "checkpoints", monitor="val_auc", mode="max"), HistoryLogger(run_dir)]
    if config.patience:
        callbacks.append(EarlyStopping(monitor="val_auc", mode="max", patience=config.patience))
    trainer = Trainer(model, loss_fn, optimizer, metrics={"auc": auc, "acc": acc}, scheduler=scheduler,
                      device=config.device, callbacks=callbacks, seed=config.seed, quiet=config.quiet,
                      config=config.to_dict())
    started = time.time()
    history = list(trainer.fit(train_loader, val_loader, epochs=config.epochs, resume_from=resume_from))
    train_seconds = time.time() - started
    # the model selected on the validation split
    best = run_dir / "checkpoints" / "best.npz"
    if best.exists():
        from engine.train import load_checkpoint

        load_checkpoint(best, model)
    val_probs = to_probs(trainer.predict(val_loader))
    test_probs = to_probs(trainer.predict(test_loader))
    info = {"parameters": model.num_parameters(), "train_seconds": train_seconds,
            "best_epoch": int(np.argmax([r.get("val_auc", -1) for r in history]) + 1) if history else None}
    return info, val_probs, test_probs, history


class ClassificationExperiment(Experiment):
    name = "classification"
    description = ("CADx: benign vs malignant lesions (phantoms) or MedMNIST; CNNs, MLP, perceptron and "
                   "k-NN/SVM/logistic baselines; ACC/AUC with bootstrap 95% CIs")
    defaults = {"model": "vgg", "width": 16, "epochs": 6, "lr": 2e-3}
    quick = {"epochs": 2, "n_samples": 400, "bootstrap": 200}

    def run(self, config, run_dir, resume_from=None) -> dict:
        run_dir = Path(run_dir)
        data = load_data(config)
        started = time.time()
        if config.model in BASELINES:
            info, val_probs, test_probs, history = run_baseline(config, data)
            info["train_seconds"] = time.time() - started
        else:
            info, val_probs, test_probs, history = run_network(config, data, run_dir, resume_from)
        metrics = {
            "experiment": self.name,
            "dataset": data.name,
            "task": data.task,
            "model": config.model,
            "train_seconds": info.get("train_seconds"),
            "model_info": info,
            "val": evaluate(data, data.y_val, val_probs, config.bootstrap, config.seed, with_ci=False),
            "test": evaluate(data, data.y_test, test_probs, config.bootstrap, config.seed, with_ci=True),
            "split_sizes": {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)},
        }
        metrics["figures"] = write_figures(data, test_probs, history, run_dir / "figures")
        if not config.quiet:
            t = metrics["test"]
            ci = t.get("auc_ci") or [float("nan")] * 2
            print(f"test AUC {t['auc']:.3f} (95% CI {ci[0]:.3f}-{ci[1]:.3f})  ACC {t['acc']:.3f}  "
                  f"[{data.name}, {config.model}]")
        return metrics
