"""Sequence classification: heartbeats (and any UCR-format time series) with 1D CNNs and RNNs, beside the
UCR archive's 1-nearest-neighbour baselines (Euclidean and DTW).

Data (``--dataset``):

* ``beats`` - synthetic heartbeats, normal vs infarct-like (tasks/data/phantoms/ecg.py); always there;
* ``ecg200`` - the UCR ECG200 set (Olszewski 2001; normal vs myocardial infarction, 96 samples), its
  official TRAIN/TEST files from ``--ucr-dir``;
* ``mitdb`` - beats cut from a MIT-BIH record (default record 100) around the annotated R peaks:
  normal (N) vs atrial premature (A) beats, 2,239 vs 33 in record 100, so a strongly imbalanced task;
* ``--data-file X_TRAIN.txt [--test-file X_TEST.txt]`` - your own UCR-format text files: the label in
  column 0 (any values: they are sorted and numbered 0..K-1), then the samples (any length, the same in
  every line).

Splits: with a test file, the training file is split 80/20 into train/validation (stratified, seeded);
without one, 60/20/20 into train/validation/test. The split is saved as ``split.csv`` (line number of
the training file, split). MIT-BIH beats come from one patient: the split is across beats, not
patients, so its numbers describe within-patient recognition.

Every series is z-normalised (zero mean, unit standard deviation), as the UCR archive stores them, so a
model never sees the recording's gain or offset. Networks are selected on the validation loss; the
1-NN baselines choose the DTW window on validation balanced accuracy and then, as the UCR archive
runs them, use every training-file series (train and validation) as references. The test split is
used once. Reported: accuracy,
balanced accuracy, per-class recall, ROC AUC and PR AUC (average precision) with bootstrap 95% intervals
over test series (stratified). The imbalance options (``--imbalance``) default to a class-weighted loss:
on balanced data it changes nothing, on MIT-BIH it keeps the network from ignoring the rare class.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from tasks.errors import UsageError
from tasks.evaluation import format_ci, metric_ci
from tasks.experiment import Experiment
from tasks.options import Option, training_options

NETWORKS = ("cnn", "lstm", "gru", "bilstm", "bigru", "cnn-lstm")
BASELINES = ("1nn-euclidean", "1nn-dtw")
DTW_WINDOWS = (0.0, 0.02, 0.05, 0.1, 0.2)  # Sakoe-Chiba half-widths, fractions of the length
SHARED_ECG = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg"
MITDB_WINDOW_S = (0.6, 0.4)  # before / after the R peak: the previous R peak falls inside for a premature beat
MITDB_DECIMATE = 3  # 360 Hz -> 120 Hz, by averaging 3 samples (a boxcar anti-alias filter)
DATA_SEED = 0


@dataclasses.dataclass
class SequenceData:
    name: str
    class_names: list
    x_train: np.ndarray  # (N, 1, T) float32, each series z-normalised
    y_train: np.ndarray  # (N,) int64 in 0..K-1
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    split: tuple | None = None  # (row ids, split names) of the training file, saved as split.csv

    n_classes = property(lambda self: len(self.class_names))
    length = property(lambda self: self.x_train.shape[-1])


def znormalize(x: np.ndarray) -> np.ndarray:
    """Each series (last axis) to zero mean and unit standard deviation (a flat series to zeros)."""
    x = np.asarray(x, np.float64)
    std = x.std(-1, keepdims=True)
    return ((x - x.mean(-1, keepdims=True)) / np.where(std > 1e-8, std, 1.0)).astype(np.float32)


def encode_labels(raw: np.ndarray, known: list | None = None) -> tuple[np.ndarray, list]:
    """Raw UCR labels -> (codes 0..K-1, class names as text). Without ``known`` the names are the
    distinct labels in numeric order; with it (a test file), labels must be among the training names."""
    text = [f"{v:g}" for v in raw]
    names = [f"{v:g}" for v in np.unique(raw)] if known is None else list(known)
    unknown = sorted(set(text) - set(names))
    if unknown:
        raise UsageError(f"--test-file has labels {unknown} that the training file does not have ({names})")
    index = {name: k for k, name in enumerate(names)}
    return np.array([index[t] for t in text], dtype=np.int64), names


def _read_ucr(path, option: str) -> tuple[np.ndarray, np.ndarray]:
    from tasks.data.ecg import read_ucr

    try:
        return read_ucr(path)
    except (OSError, ValueError) as e:
        raise UsageError(f"{option} {' '.join(str(e).split()).removeprefix('read_ucr: ')}") from None


def _split(y: np.ndarray, fractions) -> tuple[np.ndarray, ...]:
    from engine.data import train_val_test_split

    counts = np.bincount(y)
    if (counts[counts > 0] < 3).any():
        raise UsageError(f"every class needs at least 3 series to be split into train/validation/test; the "
                         f"class counts are {counts.tolist()}")
    return train_val_test_split(y, fractions=fractions, stratify=y, seed=DATA_SEED)


def _assemble(name, names, x, y, x_test=None, y_test=None) -> SequenceData:
    """Split (x, y) into train/val (and test when no test set is given); keep the split for split.csv."""
    rows = np.arange(1, len(y) + 1)
    if x_test is None:
        tr, va, te = _split(y, (0.6, 0.2, 0.2))
        split = np.empty(len(y), dtype=object)
        split[tr], split[va], split[te] = "train", "val", "test"
        x_test, y_test = x[te], y[te]
    else:
        tr, _, va = _split(y, (0.8, 0.2))  # a 2-tuple of fractions: (train, held out)
        split = np.where(np.isin(rows - 1, tr), "train", "val").astype(object)
    return SequenceData(name, names, x[tr][:, None], y[tr], x[va][:, None], y[va], x_test[:, None], y_test,
                        split=(rows, split))


def load_mitdb_beats(stem) -> tuple[np.ndarray, np.ndarray]:
    """N and A beats of a MIT-BIH record's first lead: (x (B, T) z-normalised at 120 Hz, symbols (B,))."""
    from tasks.ecg_beats import open_annotated_record

    record, ann = open_annotated_record(Path(stem))
    signal = record.signal[:, 0].astype(np.float64)
    before, after = (int(round(s * record.fs)) for s in MITDB_WINDOW_S)
    keep = np.isin(ann.symbol, ("N", "A")) & (ann.sample >= before) & (ann.sample + after <= len(signal))
    peaks, symbols = ann.sample[keep], ann.symbol[keep]
    windows = signal[peaks[:, None] + np.arange(-before, after)[None, :]]
    usable = windows.shape[1] // MITDB_DECIMATE * MITDB_DECIMATE
    windows = windows[:, :usable].reshape(len(peaks), -1, MITDB_DECIMATE).mean(2)
    return znormalize(windows), symbols


def load_data(config) -> SequenceData:
    if config.data_file is not None:
        x, raw = _read_ucr(config.data_file, "--data-file")
        y, names = encode_labels(raw)
        if config.test_file is None:
            return _assemble(Path(config.data_file).stem, names, znormalize(x), y)
        x_test, raw_test = _read_ucr(config.test_file, "--test-file")
        if x_test.shape[1] != x.shape[1]:
            raise UsageError(f"--test-file {config.test_file}: series of length {x_test.shape[1]}, but the training "
                             f"file's have length {x.shape[1]}")
        y_test, _ = encode_labels(raw_test, names)
        return _assemble(Path(config.data_file).stem, names, znormalize(x), y, znormalize(x_test), y_test)
    if config.dataset == "beats":
        from tasks.data.phantoms import ECG_CLASSES, make_ecg_beats

        d = make_ecg_beats(config.n_samples, seed=DATA_SEED)
        return _assemble("beats", list(ECG_CLASSES), d["signals"], d["labels"])
    if config.dataset == "ecg200":
        folder = Path(config.ucr_dir)
        x, raw = _read_ucr(folder / "ECG200_TRAIN.txt", "--ucr-dir")
        x_test, raw_test = _read_ucr(folder / "ECG200_TEST.txt", "--ucr-dir")
        y, _ = encode_labels(raw)
        y_test, _ = encode_labels(raw_test, ["-1", "1"])
        return _assemble("ecg200", ["abnormal (-1)", "normal (1)"], znormalize(x), y, znormalize(x_test), y_test)
    x, symbols = load_mitdb_beats(config.record)
    return _assemble("mitdb-" + Path(config.record).name, ["N", "A"], x, (symbols == "A").astype(np.int64))


# --------------------------------------------------------------------------------------- evaluation
def _auc(y, p, k):
    from tasks import metrics as M

    return M.roc_auc(y, p[:, 1]) if k == 2 else M.roc_auc(np.eye(k)[y], p)


def _pr_auc(y, p, k):
    from tasks import metrics as M

    return M.average_precision(np.eye(k)[y], p)  # macro over one-vs-rest classes


def evaluate(data: SequenceData, y, probs, n_boot: int, seed: int, with_ci: bool) -> dict:
    from tasks import metrics as M

    k, pred = data.n_classes, probs.argmax(1)
    recalls = M.recall(y, pred, average=None, n_classes=k)
    out = {"accuracy": M.accuracy(y, pred), "balanced_accuracy": M.balanced_accuracy(y, pred, n_classes=k),
           "recall_per_class": {name: float(r) for name, r in zip(data.class_names, recalls)}, "n": int(len(y))}
    present = len(np.unique(y)) == k
    out["auc"] = _auc(y, probs, k) if present else None
    out["pr_auc"] = _pr_auc(y, probs, k) if present else None
    if with_ci:
        ci = dict(n_boot=n_boot, seed=seed, stratify=y)
        out["accuracy_ci"] = metric_ci(M.accuracy, y, pred, **ci)
        out["balanced_accuracy_ci"] = metric_ci(lambda t, q: M.balanced_accuracy(t, q, n_classes=k), y, pred, **ci)
        if present:
            out["auc_ci"] = metric_ci(lambda t, s: _auc(t, s, k), y, probs, **ci)
            out["pr_auc_ci"] = metric_ci(lambda t, s: _pr_auc(t, s, k), y, probs, **ci)
        out["n_boot"] = n_boot
    return out


def write_figures(data: SequenceData, probs, history, fig_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tasks import figures
    from tasks import metrics as M

    y, pred = data.y_test, probs.argmax(1)
    paths = [figures.training_curves(history, fig_dir / "training_curves.png")] if history else []
    paths.append(figures.roc_curves(y, probs[:, 1] if data.n_classes == 2 else probs, fig_dir / "roc.png",
                                    data.class_names))
    cm = M.confusion_matrix(y, pred, n_classes=data.n_classes)
    paths.append(figures.confusion_matrix_plot(cm, fig_dir / "confusion_matrix.png", data.class_names))
    # a few test series per class, green when classified correctly, red when not
    fig, axes = plt.subplots(1, data.n_classes, figsize=(4 * data.n_classes, 3), squeeze=False)
    for k, ax in enumerate(axes[0]):
        for i in np.flatnonzero(y == k)[:8]:
            ax.plot(data.x_test[i, 0], color="tab:green" if pred[i] == k else "tab:red", alpha=0.7, lw=1)
        ax.set_title(f"true: {data.class_names[k]}")
        ax.set_xlabel("sample")
    fig.suptitle("test series (green: correct, red: misclassified)")
    paths.append(figures._save(fig, fig_dir / "test_series.png"))
    return paths


# --------------------------------------------------------------------------------------- models
def run_baseline(config, data: SequenceData) -> tuple[dict, np.ndarray, np.ndarray]:
    """1-NN, as the UCR archive runs it: DTW chooses its window on validation balanced accuracy (w = 0
    is the Euclidean distance; ties go to the smaller window), then the whole training file - train
    and validation series - is the reference set for the test series. Euclidean has nothing to choose.
    """
    from models.classical_sequence import NearestNeighborSeries
    from tasks import metrics as M

    x_tr, x_va, x_te = (a[:, 0] for a in (data.x_train, data.x_val, data.x_test))
    windows = (0.0,) if config.model == "1nn-euclidean" else DTW_WINDOWS
    metric = "euclidean" if config.model == "1nn-euclidean" else "dtw"
    trials, best = [], None
    for w in windows:
        val_probs = NearestNeighborSeries(metric, window=w).fit(x_tr, data.y_train, data.n_classes) \
            .predict_proba(x_va)
        score = M.balanced_accuracy(data.y_val, val_probs.argmax(1), n_classes=data.n_classes)
        trials.append({"window": w, "val_balanced_accuracy": score})
        if best is None or score > best[0]:
            best = (score, w, val_probs)
    _, w, val_probs = best
    reference = NearestNeighborSeries(metric, window=w).fit(np.concatenate([x_tr, x_va]),
                                                            np.concatenate([data.y_train, data.y_val]),
                                                            data.n_classes)
    info = {"selected": {"window": w} if metric == "dtw" else {}, "trials": trials,
            "reference_series": len(x_tr) + len(x_va)}
    return info, val_probs, reference.predict_proba(x_te)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def run_network(ctx, data: SequenceData):
    import engine
    import engine.nn.functional as F
    from engine.data import ClassBalancedSampler, DataLoader, TensorDataset
    from models.sequence import build_sequence_model
    from tasks.training import fit, predict

    config = ctx.config
    kwargs = {"hidden_size": config.hidden_size, "pool": config.pool} if config.model != "cnn" else {}
    model = build_sequence_model(config.model, 1, data.n_classes, **kwargs)
    model.to(config.device)
    weight = None
    if config.imbalance == "weighted":
        counts = np.bincount(data.y_train, minlength=data.n_classes).clip(1)
        weight = engine.tensor((len(data.y_train) / (data.n_classes * counts)).astype(np.float32),
                               device=config.device)

    def loss_fn(logits, target):
        return F.cross_entropy(logits, target, weight=weight)

    sampler = ClassBalancedSampler(data.y_train, seed=config.seed) if config.imbalance == "balanced" else None
    train_loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=config.batch_size,
                              shuffle=sampler is None, sampler=sampler, seed=config.seed)
    val_loader = DataLoader(TensorDataset(data.x_val, data.y_val), batch_size=256)
    k = data.n_classes
    metrics = {"auc": lambda logits, y: _auc(y, _softmax(logits), k) if len(np.unique(y)) == k else float("nan")}
    epochs = config.epochs or int(np.clip(np.ceil(config.updates / len(train_loader)), 1, 1000))
    # selected on the validation loss: AUC ignores the decision threshold, and on a small validation
    # split it can pick an early epoch that still predicts one class for every series
    result = fit(ctx, model, loss_fn, train_loader, val_loader, metrics=metrics, monitor="val_loss", mode="min",
                 grad_clip_norm=config.grad_clip, epochs=epochs)
    info = {"parameters": model.num_parameters(), "train_seconds": result.train_seconds, "epochs": epochs,
            "updates": epochs * len(train_loader), "best_epoch": result.best_epoch}
    return (info, _softmax(predict(ctx, model, data.x_val, 256)), _softmax(predict(ctx, model, data.x_test, 256)),
            result.history)


# --------------------------------------------------------------------------------------- the experiment
class SequenceExperiment(Experiment):
    name = "sequence"
    description = ("ECG/time-series classification: synthetic beats, UCR ECG200, MIT-BIH beats or your UCR files; "
                   "1D CNN, LSTM/GRU (bi), CNN+LSTM vs 1-NN Euclidean/DTW; balanced accuracy, AUC, PR AUC with CIs")
    options = (
        Option("dataset", str, "beats", "beats (synthetic, always there), ecg200 (UCR, from --ucr-dir) or mitdb "
               "(N vs A beats of --record); ignored when --data-file is given", choices=("beats", "ecg200", "mitdb")),
        Option("data_file", str, None, "your UCR-format training file (label, then samples, one series per line)",
               nullable=True),
        Option("test_file", str, None, "its test file (without one, a fifth of --data-file is held out for testing)",
               nullable=True),
        Option("ucr_dir", str, str(SHARED_ECG / "ucr"), "folder with ECG200_TRAIN.txt and ECG200_TEST.txt"),
        Option("record", str, str(SHARED_ECG / "mitdb_100" / "100"), "WFDB record (path without extension) "
               "for --dataset mitdb"),
        Option("model", str, "cnn", "network or 1-NN baseline", choices=NETWORKS + BASELINES),
        Option("hidden_size", int, 64, "hidden units of the recurrent layers", low=1, high=4096),
        Option("pool", str, "mean", "how recurrent models summarise their outputs over time",
               choices=("mean", "last")),
        Option("n_samples", int, 600, "number of synthetic beats", quick=200, low=30, high=1_000_000),
        Option("imbalance", str, "weighted", "class imbalance: weighted loss, balanced sampling, or none",
               choices=("none", "weighted", "balanced")),
        Option("grad_clip", float, 1.0, "clip the gradient's global norm (recurrent networks; none: off)",
               low=0.0, open_low=True, nullable=True),
        Option("updates", int, 1500, "training length in optimiser updates; the epochs follow from the size of "
               "the training split (a fixed number of epochs would give a 100-series set 40 times fewer updates "
               "than a 4,000-series one)", quick=10, low=1, high=10_000_000),
        *(o.replace(default=None, nullable=True, help="training epochs (default: as many as --updates needs, "
                    "at most 1000)") if o.name == "epochs" else o
          for o in training_options(epochs=0, lr=1e-3, batch_size=32, quick_epochs=2)),
    )

    def check(self, config) -> None:
        if config.test_file is not None and config.data_file is None:
            raise UsageError("--test-file needs --data-file (the training file it belongs to)")
        for option in ("data_file", "test_file"):
            path = config.get(option)
            if path is not None and not Path(path).is_file():
                kind = "a folder (sequence models read UCR text files, not images)" if Path(path).is_dir() \
                    else "no such file"
                raise UsageError(f"--{option.replace('_', '-')} {path}: {kind}")
        if config.data_file is None and config.dataset == "ecg200" and not Path(config.ucr_dir).is_dir():
            raise UsageError(f"--ucr-dir {config.ucr_dir}: no such folder (ECG200 is in ../shared/data/ecg/ucr)")

    def folder_name(self, config) -> str:
        data = Path(config.data_file).stem if config.data_file else config.dataset
        return f"{self.name}-{data}-{config.model}"

    def run(self, ctx) -> dict:
        config = ctx.config
        data = load_data(config)
        if data.split is not None:
            from tasks.runfolder import write_text_atomic

            rows = [f"{line},{part}" for line, part in zip(*data.split)]
            write_text_atomic(ctx.run_dir / "split.csv", "\n".join(["line,split", *rows]) + "\n")
        ctx.log(f"{data.name}: {len(data.y_train)} train / {len(data.y_val)} val / {len(data.y_test)} test series "
                f"of length {data.length}, classes {data.class_names} (train counts "
                f"{np.bincount(data.y_train, minlength=data.n_classes).tolist()})")
        started = time.time()
        if config.model in BASELINES:
            info, val_probs, test_probs = run_baseline(config, data)
            info["train_seconds"], history = time.time() - started, []
        else:
            info, val_probs, test_probs, history = run_network(ctx, data)
        return {
            "experiment": self.name, "dataset": data.name, "model": config.model, "classes": data.class_names,
            "length": data.length, "model_info": info,
            "split_sizes": {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)},
            "val": evaluate(data, data.y_val, val_probs, config.bootstrap, config.seed, with_ci=False),
            "test": evaluate(data, data.y_test, test_probs, config.bootstrap, config.seed, with_ci=True),
            "figures": write_figures(data, test_probs, history, ctx.figures_dir),
        }

    def summary(self, metrics: dict) -> str:
        t = metrics["test"]
        return (f"test balanced accuracy {format_ci(t, 'balanced_accuracy')}  AUC {format_ci(t, 'auc')}  "
                f"[{metrics['dataset']}, {metrics['model']}]")


EXPERIMENT = SequenceExperiment()
