"""Computer-aided diagnosis (CADx): classify images, with networks and classical baselines.

Data: ``lesions``/``lesions3d`` (generated benign vs malignant lesion phantoms, a stratified
70/15/15 split), any MedMNIST dataset found on disk (its official split), or your own folder
(``images/`` + ``labels.csv``, tasks/userdata.py). The model is selected on the validation split
only (best validation AUC for networks, a hyperparameter grid for baselines); the test split is
used once, for the reported metrics and their bootstrap 95% intervals. ``--cv-folds K --fold I`` pools
train and val and validates on fold I of K instead (tasks/crossval.py; a sweep's ``cv`` runs every fold).

Output contract: a network returns (N, K) logits, trained with cross-entropy, or — a binary
model with a single output, such as the perceptron — one logit per image, trained with binary
cross-entropy on it. The loss follows from the model's output, never the other way round.
Metrics follow the official MedMNIST evaluator (binary: positive-class score at threshold 0.5;
multi-class: argmax ACC and mean one-vs-rest AUC; multi-label: averaged over labels).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from tasks.crossval import CV_OPTIONS, check_cv
from tasks.errors import UsageError
from tasks.evaluation import format_ci, metric_ci
from tasks.experiment import Experiment
from tasks.options import Option, training_options

NETWORKS = ("perceptron", "mlp", "lenet5", "alexnet", "vgg", "resnet18")
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
    split_file: tuple | None = None  # (files, split) of a user folder, saved in the run folder
    groups_train: np.ndarray | None = None  # (N,) patient ids, where the data has them
    groups_val: np.ndarray | None = None

    multilabel = property(lambda self: self.task.startswith("multi-label"))
    n_outputs = property(lambda self: self.y_train.shape[1] if self.multilabel else len(self.class_names))
    in_channels = property(lambda self: self.x_train.shape[1])
    spatial = property(lambda self: tuple(self.x_train.shape[2:]))
    metric_task = property(lambda self: "multi-class" if self.task == "ordinal-regression" else self.task)


def _user_folder(config) -> ClassificationData:
    from tasks.userdata import load_labelled_folder, normalize_intensity, resize

    folder = load_labelled_folder(config.dataset, seed=DATA_SEED)
    shape = (config.size or 28,) * folder.ndim
    x = np.stack([resize(normalize_intensity(im), shape) for im in folder.images]).astype(np.float32)
    task = "binary-class" if len(folder.class_names) == 2 else "multi-class"
    parts = [folder.indices(s) for s in ("train", "val", "test")]
    groups = (None, None) if folder.groups is None else (folder.groups[parts[0]], folder.groups[parts[1]])
    return ClassificationData(Path(config.dataset).name, task, folder.class_names,
                              *[a for idx in parts for a in (x[idx], folder.labels[idx])],
                              split_file=(folder.files, folder.split), groups_train=groups[0], groups_val=groups[1])


def cross_validation_fold(data: ClassificationData, k: int, fold: int) -> ClassificationData:
    """``data`` with train+val pooled and fold ``fold`` of ``k`` as the validation set (tasks/crossval.py)."""
    from tasks.crossval import fold_indices

    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    groups = None if data.groups_train is None else np.concatenate([data.groups_train, data.groups_val])
    tr, va = fold_indices(len(y), k, fold, labels=None if data.multilabel else y, groups=groups, seed=DATA_SEED)
    return dataclasses.replace(data, x_train=x[tr], y_train=y[tr], x_val=x[va], y_val=y[va],
                               groups_train=None if groups is None else groups[tr],
                               groups_val=None if groups is None else groups[va])


def load_data(config) -> ClassificationData:
    """The dataset named by ``config.dataset``, as float32 channel-first arrays."""
    name = config.dataset.lower()
    if name in ("lesions", "lesions3d"):
        from engine.data import train_val_test_split
        from tasks.data.phantoms import make_lesion_dataset

        ndim = 3 if name == "lesions3d" else 2
        size = config.size if config.size is not None else (28 if ndim == 2 else 24)
        data = make_lesion_dataset(config.n_samples, image_size=size, ndim=ndim,
                                   irregularity=config.irregularity, seed=DATA_SEED)
        x, y = data["images"].astype(np.float32), data["labels"]
        tr, va, te = train_val_test_split(y, fractions=(0.7, 0.15, 0.15), stratify=y, seed=DATA_SEED)
        out = ClassificationData(name, "binary-class", ["benign", "malignant"], x[tr], y[tr], x[va], y[va],
                                 x[te], y[te])
    elif Path(config.dataset).is_dir():
        out = _user_folder(config)
    else:
        from tasks.data.medmnist import INFO, load_medmnist

        try:
            splits = load_medmnist(name, split=None, size=config.size or 28, data_dir=config.data_dir)
        except (FileNotFoundError, ValueError) as e:
            raise UsageError(" ".join(str(e).split())) from None  # one line, with every folder searched
        info = INFO[name]
        arrays = [a for s in ("train", "val", "test")
                  for a in (splits[s].as_float_channels_first(), splits[s].targets())]
        out = ClassificationData(name, info.task, list(info.class_names), *arrays)
    if getattr(config, "cv_folds", None):  # experiments that share load_data need not have the cv options
        out = cross_validation_fold(out, config.cv_folds, config.fold)
    if config.limit:
        rng = np.random.default_rng(DATA_SEED)
        keep = np.sort(rng.choice(len(out.x_train), size=min(config.limit, len(out.x_train)), replace=False))
        out.x_train, out.y_train = out.x_train[keep], out.y_train[keep]
        n_eval = max(config.limit // 2, 40)
        out.x_val, out.y_val = out.x_val[:n_eval], out.y_val[:n_eval]
        out.x_test, out.y_test = out.x_test[:n_eval], out.y_test[:n_eval]
    return out


# --------------------------------------------------------------------------------------- evaluation
def scores_for_task(data: ClassificationData, probs: np.ndarray) -> np.ndarray:
    """What the MedMNIST evaluator scores: the positive-class probability for binary tasks."""
    return probs[:, -1] if data.task == "binary-class" else probs


def predictions(data: ClassificationData, probs: np.ndarray) -> np.ndarray:
    if data.multilabel:
        return (probs > 0.5).astype(int)
    return (probs[:, -1] > 0.5).astype(int) if data.task == "binary-class" else probs.argmax(1)


def evaluate(data: ClassificationData, y_true, probs, n_boot: int, seed: int, with_ci: bool) -> dict:
    """MedMNIST ACC/AUC plus balanced accuracy, sensitivity, specificity (binary) and bootstrap CIs."""
    from tasks import metrics as M

    task, scores, pred = data.metric_task, scores_for_task(data, probs), predictions(data, probs)
    out = dict(M.medmnist_evaluate(task, y_true, scores))
    k = len(data.class_names)
    if data.multilabel:
        out["balanced_accuracy"] = float(np.mean([M.balanced_accuracy(y_true[:, j].astype(int), pred[:, j], 2)
                                                  for j in range(y_true.shape[1])]))
    else:
        out["balanced_accuracy"] = M.balanced_accuracy(y_true, pred, n_classes=k)
        if data.task == "binary-class":
            out["sensitivity"], out["specificity"] = M.sensitivity_specificity(y_true, pred)
    if with_ci:
        ci = dict(n_boot=n_boot, seed=seed, stratify=None if data.multilabel else y_true)
        out["auc_ci"] = metric_ci(lambda t, s: M.medmnist_evaluate(task, t, s)["auc"], y_true, scores, **ci)
        out["acc_ci"] = metric_ci(lambda t, s: M.medmnist_evaluate(task, t, s)["acc"], y_true, scores, **ci)
        if not data.multilabel:
            out["balanced_accuracy_ci"] = metric_ci(lambda t, p: M.balanced_accuracy(t, p, n_classes=k),
                                                    y_true, pred, **ci)
            if data.task == "binary-class":
                out["sensitivity_ci"] = metric_ci(lambda t, p: M.sensitivity_specificity(t, p)[0], y_true, pred, **ci)
                out["specificity_ci"] = metric_ci(lambda t, p: M.sensitivity_specificity(t, p)[1], y_true, pred, **ci)
        out["n_boot"] = n_boot
    out["n"] = int(len(y_true))
    return out


def write_figures(data: ClassificationData, probs: np.ndarray, history, fig_dir: Path) -> list[str]:
    from tasks import figures
    from tasks import metrics as M

    paths = [figures.training_curves(history, fig_dir / "training_curves.png")] if history else []
    if data.multilabel:
        return paths
    y, pred = data.y_test, predictions(data, probs)
    paths.append(figures.roc_curves(y, scores_for_task(data, probs), fig_dir / "roc.png", data.class_names))
    cm = M.confusion_matrix(y, pred, n_classes=len(data.class_names))
    paths.append(figures.confusion_matrix_plot(cm, fig_dir / "confusion_matrix.png", data.class_names))
    if len(data.spatial) == 2:
        paths.append(figures.image_grid(data.x_test, y, pred, probs[np.arange(len(pred)), pred],
                                        fig_dir / "test_images.png", data.class_names))
    return paths


# --------------------------------------------------------------------------------------- baselines
def run_baseline(config, data: ClassificationData) -> tuple[dict, np.ndarray, np.ndarray]:
    """Fit a classical model for each value of its hyperparameter grid; keep the best on validation."""
    from models.classical import KNeighborsClassifier, LinearSVC, LogisticRegression, StandardScaler, probabilities
    from tasks import metrics as M

    if data.multilabel:
        raise UsageError(f"baseline {config.model!r} supports binary and multi-class tasks, not multi-label")
    if config.features == "radiomics":
        from tasks.features import extract_features

        if len(data.spatial) != 2:
            raise UsageError("--features radiomics is defined for 2D images only; use --features pixels for 3D")
        feats = [extract_features(x)[0] for x in (data.x_train, data.x_val, data.x_test)]
    else:
        feats = [x.reshape(len(x), -1) for x in (data.x_train, data.x_val, data.x_test)]
    scaler = StandardScaler().fit(feats[0])
    f_train, f_val, f_test = (scaler.transform(a) for a in feats)
    grids = {"knn": [dict(n_neighbors=k) for k in (1, 3, 5, 9, 15, 25)],
             "svm": [dict(C=c, seed=config.seed) for c in (0.01, 0.1, 1.0)],
             "logreg": [dict(C=c) for c in (0.01, 0.1, 1.0)]}
    classes = {"knn": KNeighborsClassifier, "svm": LinearSVC, "logreg": LogisticRegression}
    trials, best = [], None
    for params in grids[config.model]:
        model = classes[config.model](**params).fit(f_train, data.y_train)
        val_probs = probabilities(model, f_val)
        val_auc = M.medmnist_evaluate(data.metric_task, data.y_val, scores_for_task(data, val_probs))["auc"]
        shown = {k: v for k, v in params.items() if k != "seed"}
        trials.append({"params": shown, "val_auc": val_auc})
        if best is None or val_auc > best[0]:
            best = (val_auc, model, shown, val_probs)
    _, model, shown, val_probs = best
    return {"selected": shown, "trials": trials}, val_probs, probabilities(model, f_test)


# --------------------------------------------------------------------------------------- networks
def single_logit(model, data: ClassificationData) -> bool:
    """Whether the network answers with one logit per image (a binary model trained with BCE)."""
    import engine

    was_training = model.training
    model.eval()  # a probe must not move batch-norm statistics
    with engine.no_grad():
        out = model(engine.tensor(data.x_train[:2]))
    model.train(was_training)
    if out.ndim == 1 or out.shape[1] == 1:
        if data.n_outputs != 2 or data.multilabel:
            raise UsageError(f"model {type(model).__name__} gives one output, which fits a two-class task only")
        return True
    if out.shape[1] != data.n_outputs:
        raise RuntimeError(f"model gives {out.shape[1]} outputs for {data.n_outputs} classes")
    return False


def build_network(config, data: ClassificationData):
    """(the network ``config.model`` names for this data, its width); also rebuilds a saved run's model."""
    from models import build_model

    width = config.width if config.width is not None else (16 if config.model == "vgg" else None)
    kwargs = {"width": width} if width is not None and config.model in ("resnet18", "alexnet", "vgg") else {}
    try:
        return build_model(config.model, data.in_channels, data.n_outputs, data.spatial, **kwargs), width
    except ValueError as e:
        raise UsageError(str(e)) from None


def run_network(ctx, data: ClassificationData):
    """Train with the framework's fit(); returns (info, val_probs, test_probs, history)."""
    import engine
    import engine.nn.functional as F
    from engine.data import ArrayDataset, ClassBalancedSampler, DataLoader, TensorDataset
    from tasks import metrics as M
    from tasks.training import fit, predict

    config = ctx.config
    model, width = build_network(config, data)
    one = single_logit(model, data)
    model.to(config.device)

    # class imbalance: a loss weighted inversely to class frequency, or balanced sampling
    weight = pos_weight = None
    if config.imbalance == "weighted":
        if data.multilabel or one:
            pos = (data.y_train.mean(0) if data.multilabel else np.array(data.y_train.mean())).clip(1e-3, 1 - 1e-3)
            pos_weight = engine.tensor(((1 - pos) / pos).astype(np.float32), device=config.device)
        else:
            counts = np.bincount(data.y_train, minlength=data.n_outputs).clip(1)
            weight = engine.tensor((len(data.y_train) / (data.n_outputs * counts)).astype(np.float32),
                                   device=config.device)

    def loss_fn(logits, target):
        if config.imbalance == "focal" and not data.multilabel:
            if one:  # one logit: the sigmoid focal loss on (N, 1, 1)
                return F.focal_loss(logits.reshape(-1, 1, 1), target.float().reshape(-1, 1, 1), gamma=2.0,
                                    activation="sigmoid")
            return F.focal_loss(logits.reshape(*logits.shape, 1), target.reshape(-1, 1), gamma=2.0,
                                activation="softmax")
        if one:
            return F.binary_cross_entropy_with_logits(logits.reshape(-1), target.float(), pos_weight=pos_weight)
        if data.multilabel:
            return F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)
        return F.cross_entropy(logits, target, weight=weight)

    def to_probs(logits: np.ndarray) -> np.ndarray:
        if one:
            p = 1 / (1 + np.exp(-logits.reshape(-1)))
            return np.stack([1 - p, p], 1)
        if data.multilabel:
            return 1 / (1 + np.exp(-logits))
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def evaluator(key):
        return lambda logits, target: M.medmnist_evaluate(data.metric_task, target,
                                                          scores_for_task(data, to_probs(logits)))[key]

    transform = None
    if config.augment:
        from engine.data import transforms as T

        # left-right flips, small rotations/zooms/shifts: plausible variations of a lesion image
        transform = T.Compose([T.RandomFlip(axes=(len(data.spatial) - 1,)),
                               T.RandomAffine(degrees=10, scale=0.1, translate=2.0, mode="nearest")])
    train_set = (ArrayDataset(data.x_train, data.y_train, transform=transform, seed=config.seed) if transform
                 else TensorDataset(data.x_train, data.y_train))
    sampler = (ClassBalancedSampler(data.y_train, seed=config.seed)
               if config.imbalance == "balanced" and not data.multilabel else None)
    train_loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                              seed=config.seed)
    val_loader = DataLoader(TensorDataset(data.x_val, data.y_val), batch_size=256)
    result = fit(ctx, model, loss_fn, train_loader, val_loader, metrics={"auc": evaluator("auc"),
                                                                         "acc": evaluator("acc")},
                 monitor="val_auc", mode="max")
    info = {"parameters": model.num_parameters(), "train_seconds": result.train_seconds,
            "best_epoch": result.best_epoch, "output": "one logit (BCE)" if one else f"{data.n_outputs} logits",
            "width": width}
    return (info, to_probs(predict(ctx, model, data.x_val, 256)), to_probs(predict(ctx, model, data.x_test, 256)),
            result.history)


# --------------------------------------------------------------------------------------- a saved run
def load_trained_run(run_dir):
    """(model in eval mode with its best weights, ClassificationData, config) of a finished classification
    run folder: what medgrad explain and medgrad retrieve read."""
    import json

    from engine.train import load_checkpoint
    from tasks.options import Config

    run_dir = Path(run_dir)
    config_path, best = run_dir / "config.json", run_dir / "checkpoints" / "best.npz"
    if not config_path.is_file():
        raise UsageError(f"{run_dir}: not a run folder (no config.json)")
    values = json.loads(config_path.read_text())
    experiment = values.pop("experiment", None)
    if experiment != "classification":
        raise UsageError(f"{run_dir}: this needs a classification run (retrieval also reads codes runs); this is a "
                         f"{experiment!r} run")
    if values.get("model") in BASELINES:
        raise UsageError(f"{run_dir}: a {values['model']} baseline has no gradients to explain; explain a network run")
    if not best.is_file():
        raise UsageError(f"{run_dir}: no trained model (checkpoints/best.npz is missing; did the run finish?)")
    config = Config(values)
    data = load_data(config)
    model, _ = build_network(config, data)
    load_checkpoint(best, model)
    model.eval()
    return model, data, config


# --------------------------------------------------------------------------------------- data options
def image_data_options(n_samples: int, quick_samples: int, irregularity: float) -> tuple[Option, ...]:
    """The options ``load_data`` reads, for every experiment that takes classification images
    (classification, pretraining, codes), with that experiment's phantom defaults."""
    return (
        Option("dataset", str, "lesions", "lesions, lesions3d, a MedMNIST name (e.g. breastmnist), or a folder "
               "with images/ and labels.csv (images resized to --size per side, intensities scaled to [0, 1] by "
               "their 0.5/99.5 percentiles)"),
        Option("data_dir", str, None, "folder with the MedMNIST .npz files (must exist when given)", nullable=True),
        Option("size", int, None, "side length: of the lesion phantoms (default 28 in 2D, 24 in 3D), of the MedMNIST "
               "images (28, 64, 128 or 224; default 28), or that user-folder images are resized to (default 28)",
               low=8, high=512, nullable=True),
        Option("n_samples", int, n_samples, "number of generated lesion phantoms", quick=quick_samples, low=60,
               high=1_000_000),
        Option("irregularity", float, irregularity, "boundary irregularity of malignant phantoms (higher is easier)",
               low=0.0, open_low=True, high=10.0),
        Option("limit", int, None, "use at most this many training images (and half as many for val/test, at least "
               "40)", low=10, nullable=True),
    )


def check_image_data(config) -> None:
    """Refuse, before a run folder exists, a --data-dir that is not there or a dataset nobody knows."""
    from tasks.data.medmnist import INFO

    if config.data_dir is not None and not Path(config.data_dir).is_dir():
        raise UsageError(f"--data-dir {config.data_dir}: no such folder")
    name = config.dataset.lower()
    if name not in ("lesions", "lesions3d") and name not in INFO and not Path(config.dataset).is_dir():
        raise UsageError(f"unknown dataset {config.dataset!r}; use lesions, lesions3d, a folder with images/ and "
                         f"labels.csv, or a MedMNIST name ({', '.join(sorted(INFO))})")


# --------------------------------------------------------------------------------------- the experiment
class ClassificationExperiment(Experiment):
    name = "classification"
    description = ("CADx: benign vs malignant lesions (phantoms 2D/3D), MedMNIST or your folder; CNNs, MLP, "
                   "perceptron and k-NN/SVM/logistic baselines; ACC/AUC with bootstrap 95% CIs")
    options = (
        *image_data_options(n_samples=3000, quick_samples=400, irregularity=1.0),
        Option("model", str, "vgg", "network or classical baseline", choices=NETWORKS + BASELINES),
        Option("width", int, None, "channel width of alexnet/vgg/resnet18 (default: 16 for vgg, the model's own "
               "otherwise)", low=1, high=1024, nullable=True),
        Option("features", str, "pixels", "inputs of the classical baselines", choices=("pixels", "radiomics")),
        Option("augment", bool, False, "random flips, rotations, zooms and shifts of the training images"),
        Option("imbalance", str, "none", "class imbalance: a weighted loss, class-balanced sampling, or the focal "
               "loss (Lin et al. 2017, gamma 2: easy, mostly majority-class, images count less)",
               choices=("none", "weighted", "balanced", "focal")),
        *training_options(epochs=6, lr=2e-3, batch_size=64, quick_epochs=2),
        *CV_OPTIONS,
    )

    def check(self, config) -> None:
        check_image_data(config)
        check_cv(config)

    def run(self, ctx) -> dict:
        config = ctx.config
        data = load_data(config)
        if data.split_file is not None:
            from tasks.userdata import save_split

            save_split(ctx.run_dir / "split.csv", *data.split_file)
        started = time.time()
        if config.model in BASELINES:
            info, val_probs, test_probs = run_baseline(config, data)
            info["train_seconds"], history = time.time() - started, []
        else:
            info, val_probs, test_probs, history = run_network(ctx, data)
        return {
            "experiment": self.name, "dataset": data.name, "task": data.task, "model": config.model,
            "train_seconds": info.get("train_seconds"), "model_info": info,
            "val": evaluate(data, data.y_val, val_probs, config.bootstrap, config.seed, with_ci=False),
            "test": evaluate(data, data.y_test, test_probs, config.bootstrap, config.seed, with_ci=True),
            "split_sizes": {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)},
            **({"cv": {"folds": config.cv_folds, "fold": config.fold}} if config.cv_folds else {}),
            "figures": write_figures(data, test_probs, history, ctx.figures_dir),
        }

    def summary(self, metrics: dict) -> str:
        t = metrics["test"]
        return (f"test AUC {format_ci(t, 'auc')}  ACC {format_ci(t, 'acc')}  "
                f"[{metrics['dataset']}, {metrics['model']}]")


EXPERIMENT = ClassificationExperiment()
