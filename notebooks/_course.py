"""Helpers for the medgrad course notebooks: finding the data, a few plots, and exercise checkers.

Import it first in every notebook (the notebooks run with notebooks/ as the working directory)::

    import _course
    from _course import check_knn_predict

Importing puts the repository root on ``sys.path`` so that ``engine``, ``models`` and ``tasks``
import even when medgrad is not pip-installed.

Data. Real public data lives in ``../shared/data`` next to the repository (or wherever
``$MEDGRAD_DATA_DIR`` points). Every loader here falls back to a synthetic phantom when the real
files are absent, and says which one it used, so a notebook always runs.

Checkers. Each ``check_*`` function takes the student's answer (a number, a function or a class),
compares it with a reference computed independently, prints a one-line verdict and returns True or
False. An unanswered exercise (``None``, or a function that raises NotImplementedError) is
reported as "not answered yet" and never stops the notebook.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

QUICK = os.environ.get("QUICK") == "1"


# ============================================================================================
# Data
# ============================================================================================


def synthetic_only() -> bool:
    """True when ``$MEDGRAD_SYNTHETIC_DATA`` is "1": every loader then uses its synthetic fallback, to check
    that the lessons run on a machine without the real data."""
    return os.environ.get("MEDGRAD_SYNTHETIC_DATA") == "1"


def shared_data_dir() -> Path | None:
    """``$MEDGRAD_DATA_DIR`` when set, else ``../shared/data`` beside the repository; None if absent
    (or when synthetic_only())."""
    if synthetic_only():
        return None
    env = os.environ.get("MEDGRAD_DATA_DIR")
    candidates = ([Path(env)] if env else []) + [REPO_ROOT.parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None


def stratified_indices(y: np.ndarray, n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """Sorted indices of a random subset of about n samples with the class proportions of y."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = max(1, round(n * len(idx) / len(y)))
        keep.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    return np.sort(np.concatenate(keep))


def bootstrap_ci(metric, y_true, y_score, n_boot: int = 1000, seed: int = 0, level: float = 0.95):
    """Percentile bootstrap confidence interval of metric(y_true, y_score) over cases: resample the cases
    with replacement, within each class (so every resample has both classes). Returns (low, high)."""
    rng = np.random.default_rng(seed)
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    groups = [np.flatnonzero(y_true == c) for c in np.unique(y_true)]
    values = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(g, size=len(g)) for g in groups])
        values.append(metric(y_true[idx], y_score[idx]))
    tail = (1 - level) / 2 * 100
    return tuple(float(v) for v in np.percentile(values, [tail, 100 - tail]))


def paired_bootstrap_ci(metric, y_true, score_a, score_b, n_boot: int = 1000, seed: int = 0, level: float = 0.95):
    """Bootstrap interval of metric(y, score_a) - metric(y, score_b) on the same resampled cases (paired), within
    each class. An interval that excludes 0 says the difference is larger than the case-sampling noise."""
    rng = np.random.default_rng(seed)
    y_true, score_a, score_b = np.asarray(y_true), np.asarray(score_a), np.asarray(score_b)
    groups = [np.flatnonzero(y_true == c) for c in np.unique(y_true)]
    values = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(g, size=len(g)) for g in groups])
        values.append(metric(y_true[idx], score_a[idx]) - metric(y_true[idx], score_b[idx]))
    tail = (1 - level) / 2 * 100
    return tuple(float(v) for v in np.percentile(values, [tail, 100 - tail]))


def _subsample(x: np.ndarray, y: np.ndarray, n: int | None, rng: np.random.Generator):
    """A stratified random subset of n samples; everything when n is None."""
    if n is None or n >= len(y):
        return x, y
    keep = stratified_indices(y, n, rng)
    return x[keep], y[keep]


# BreastMNIST's training set is 147 malignant of 546 (26.9 %); the phantom fallback keeps that imbalance.
PHANTOM_MALIGNANT_FRACTION = 0.27


def lesion_data(n_train: int | None = None, n_val: int | None = None, n_test: int | None = None,
                source: str = "auto", seed: int = 0) -> dict:
    """Benign vs malignant breast lesions, 28 x 28, for classification lessons.

    source: "breastmnist" (real ultrasound, MedMNIST v2; 546/78/156 images), "phantoms" (synthetic
    lesions from tasks.data.phantoms.lesions, 600/150/150) or "auto" (BreastMNIST when its file is
    found, else phantoms). n_train/n_val/n_test: stratified random subsets (None = all).
    The phantoms are as imbalanced as BreastMNIST (27 % malignant, PHANTOM_MALIGNANT_FRACTION), so the
    lessons' remarks on class imbalance hold with either source.

    Getting BreastMNIST: ``tasks.data.medmnist.load_medmnist("breastmnist", "train", download=True)``
    downloads breastmnist.npz (MedMNIST v2, CC BY 4.0) into the user cache, where this function finds it.

    Labels are 1 = malignant (the disease is the positive class), 0 = benign or normal. BreastMNIST
    stores the opposite (0 malignant), so its labels are flipped here.
    Returns a dict with x_train, y_train, x_val, y_val, x_test, y_test (x: (N, 1, 28, 28) float32 in
    [0, 1], y: (N,) int64), ``class_names`` ("benign/normal", "malignant") and ``source``.
    """
    if source not in ("auto", "breastmnist", "phantoms"):
        raise ValueError(f"lesion_data: source must be 'auto', 'breastmnist' or 'phantoms', got {source!r}")
    rng = np.random.default_rng(seed)
    out: dict = {}
    if source == "breastmnist" or (source == "auto" and not synthetic_only()):
        from tasks.data.medmnist import find_medmnist_file, load_medmnist

        if find_medmnist_file("breastmnist", data_dir=shared_data_dir()) is not None:
            for split in ("train", "val", "test"):
                s = load_medmnist("breastmnist", split, data_dir=shared_data_dir())
                out[f"x_{split}"] = s.as_float_channels_first()
                out[f"y_{split}"] = 1 - s.targets()  # 1 = malignant
            out["source"] = "BreastMNIST (real breast ultrasound, MedMNIST v2)"
        elif source == "breastmnist":
            raise FileNotFoundError("lesion_data: breastmnist.npz not found in ../shared/data/medmnist "
                                    "or $MEDGRAD_DATA_DIR; use source='auto' to fall back to phantoms")
    if not out:
        from tasks.data.phantoms.lesions import make_lesion_dataset

        sizes = {"train": 600, "val": 150, "test": 150}
        for i, (split, n) in enumerate(sizes.items()):
            d = make_lesion_dataset(n, image_size=28, malignant_fraction=PHANTOM_MALIGNANT_FRACTION,
                                    seed=seed + 1000 * (i + 1))
            out[f"x_{split}"], out[f"y_{split}"] = d["images"], d["labels"]
        out["source"] = "synthetic lesion phantoms (tasks.data.phantoms.lesions)"
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        out[f"x_{split}"], out[f"y_{split}"] = _subsample(out[f"x_{split}"], out[f"y_{split}"], n, rng)
    out["class_names"] = ("benign/normal", "malignant")
    return out


def chest_xray_data(n_train: int | None = None, seed: int = 0) -> dict:
    """A second 28 x 28 binary task, for transfer learning: chest X-rays, normal (0) vs pneumonia (1).

    PneumoniaMNIST (MedMNIST v2; 4708 training and 624 test images) when its file is found, else a different
    phantom task (tasks.data.phantoms.lesions with stronger noise and subtler irregularity, 2000/500 images) so
    that the lesson still runs. n_train: a stratified random subset of the training images.
    Returns x_train, y_train, x_test, y_test (x: (N, 1, 28, 28) float32 in [0, 1]) and ``source``.

    Getting PneumoniaMNIST: ``tasks.data.medmnist.load_medmnist("pneumoniamnist", "train", download=True)``.
    """
    rng = np.random.default_rng(seed)
    out: dict = {}
    if not synthetic_only():
        from tasks.data.medmnist import find_medmnist_file, load_medmnist

        if find_medmnist_file("pneumoniamnist", data_dir=shared_data_dir()) is not None:
            for split in ("train", "test"):
                s = load_medmnist("pneumoniamnist", split, data_dir=shared_data_dir())
                out[f"x_{split}"], out[f"y_{split}"] = s.as_float_channels_first(), s.targets()
            out["source"] = "PneumoniaMNIST (real chest X-rays, MedMNIST v2)"
    if not out:
        from tasks.data.phantoms.lesions import make_lesion_dataset

        for i, (split, n) in enumerate((("train", 2000), ("test", 500))):
            d = make_lesion_dataset(n, image_size=28, noise=0.12, irregularity=0.6, seed=seed + 7000 + i)
            out[f"x_{split}"], out[f"y_{split}"] = d["images"], d["labels"]
        out["source"] = "synthetic phantoms of another kind (no PneumoniaMNIST found)"
    out["x_train"], out["y_train"] = _subsample(out["x_train"], out["y_train"], n_train, rng)
    return out


def brain_slice() -> tuple[np.ndarray, str]:
    """A 2-D brain MRI slice as float32 (H, W) scaled to [0, 1], and where it came from.

    The simulated T1 slice ``mri/brain_slices_2d/BrainT1Slice.png`` (BrainWeb via the ITK project,
    217 x 181) when present, else the Shepp-Logan head phantom (256 x 256).
    """
    root = shared_data_dir()
    path = None if root is None else root / "mri" / "brain_slices_2d" / "BrainT1Slice.png"
    if path is not None and path.is_file():
        import matplotlib.image as mpimg

        img = mpimg.imread(path).astype(np.float32)
        if img.ndim == 3:  # stored as RGB(A) grey: average the colour channels
            img = img[..., :3].mean(axis=-1)
        where = "BrainWeb T1 slice (../shared/data/mri/brain_slices_2d/BrainT1Slice.png)"
    else:
        from tasks.data.phantoms.anatomy import shepp_logan

        img = shepp_logan((256, 256)).astype(np.float32)
        where = "Shepp-Logan phantom (no MRI slice found)"
    img = (img - img.min()) / max(float(img.max() - img.min()), 1e-8)
    return img.astype(np.float32), where


def ecg_data(seed: int = 0) -> dict:
    """Heartbeats for recurrent networks: x (N, 96) float32, y (N,) int64 (1 = normal, 0 = abnormal).

    The real UCR ECG200 set (100 train + 100 test beats, 69/64 of them normal; Olszewski 2001) when present,
    else synthetic beats with the same class counts: a Gaussian P-QRS-T template whose abnormal class has a
    flatter T wave and a slight ST depression. Returns a dict with x_train, y_train, x_test, y_test and ``source``.

    Getting ECG200: download ECG200.zip from the UCR/UEA archive (https://www.timeseriesclassification.com,
    dataset "ECG200"; Dau et al. 2019) and put ECG200_TRAIN.txt and ECG200_TEST.txt in
    ``<data>/ecg/ucr/`` (``<data>`` = ``$MEDGRAD_DATA_DIR`` or ``../shared/data``).
    """
    root = shared_data_dir()
    folder = None if root is None else root / "ecg" / "ucr"
    if folder is not None and (folder / "ECG200_TRAIN.txt").is_file():
        from tasks.data.ecg import load_ecg200

        x_tr, y_tr = load_ecg200(folder, "train")
        x_te, y_te = load_ecg200(folder, "test")
        return dict(x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
                    source="ECG200 (real heartbeats, UCR archive)")
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 96)

    def beats(n, normal):
        shift = rng.normal(0, 0.02, (n, 1))

        def wave(centre, width, amplitude):  # one Gaussian bump of the P-QRS-T complex
            return amplitude * np.exp(-((t - centre - shift) / width) ** 2)

        # the classes overlap: a flatter T wave and a slight ST depression, in noise
        t_amp = np.where(normal, rng.uniform(0.2, 0.5, n), rng.uniform(0.0, 0.35, n))[:, None]
        st = np.where(normal, 0.0, 0.06)[:, None] * (t > 0.45 + shift) * (t < 0.65 + shift)
        qrs = rng.uniform(1.0, 2.0, (n, 1))
        x = (wave(0.2, 0.04, 0.15) - wave(0.37, 0.012, 0.2) + wave(0.4, 0.015, qrs) - wave(0.43, 0.012, 0.3)
             + wave(0.7, 0.06, t_amp) - st + rng.normal(0, 0.1, (n, 96)))
        return ((x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)).astype(np.float32)

    out = {}
    for split, n_normal in (("train", 69), ("test", 64)):  # ECG200's class counts
        y = rng.permutation(np.arange(100) < n_normal).astype(np.int64)
        out[f"x_{split}"], out[f"y_{split}"] = beats(100, y == 1), y
    out["source"] = "synthetic heartbeats (no ECG200 found)"
    return out


# ============================================================================================
# Plots
# ============================================================================================


def show_images(images, titles=None, ncols: int = 8, cmap: str = "gray", size: float = 1.6, suptitle=None):
    """Show a list/array of 2-D images (or (N, 1, H, W)) in a grid; returns the figure."""
    import matplotlib.pyplot as plt

    images = [np.asarray(im) for im in images]
    images = [im[0] if im.ndim == 3 and im.shape[0] == 1 else im for im in images]
    n = len(images)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_decision_regions(ax, predict, X, y, resolution: int = 200, margin: float = 0.5, cmap="coolwarm"):
    """Shade the plane by ``predict`` (a function of an (M, 2) array returning labels or scores)
    and scatter the 2-D points X coloured by y."""
    x0, x1 = X[:, 0].min() - margin, X[:, 0].max() + margin
    y0, y1 = X[:, 1].min() - margin, X[:, 1].max() + margin
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    z = np.asarray(predict(np.c_[gx.ravel(), gy.ravel()]), dtype=float).reshape(gx.shape)
    ax.imshow(z, extent=(x0, x1, y0, y1), origin="lower", aspect="auto", cmap=cmap, alpha=0.35,
              interpolation="nearest")
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, edgecolors="k", s=18, linewidths=0.5)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


# ============================================================================================
# Checkers
# ============================================================================================


def _verdict(ok: bool, exercise: str, detail: str = "") -> bool:
    mark = "Correct" if ok else "Not yet"
    print(f"[{exercise}] {mark}{': ' + detail if detail else '.'}")
    return bool(ok)


def _call(exercise: str, fn, *args):
    """Run the student's function; returns (ok, value) — ok False when unanswered or crashing."""
    if fn is None:
        _verdict(False, exercise, "not answered yet")
        return False, None
    try:
        return True, fn(*args)
    except NotImplementedError:
        _verdict(False, exercise, "not answered yet (the function raises NotImplementedError)")
    except Exception as e:  # a student's bug: report it, keep the notebook running
        _verdict(False, exercise, f"your function raised {type(e).__name__}: {e}")
    return False, None


def _close(a, b, rtol=1e-4, atol=1e-6) -> bool:
    try:
        return bool(np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol))
    except (TypeError, ValueError):
        return False


# --- 01 traditional machine learning ----------------------------------------------------------


def _knn_reference(X_train, y_train, x_query, k):
    d = ((X_train - x_query) ** 2).sum(axis=1)
    nearest = np.argsort(d, kind="stable")[:k]
    return np.bincount(y_train[nearest]).argmax()


def check_knn_predict(knn_predict) -> bool:
    """knn_predict(X_train (N, D), y_train (N,) ints, x_query (D,), k) -> the majority label of the
    k training points nearest to x_query (Euclidean distance)."""
    name = "k-NN by hand"
    rng = np.random.default_rng(7)
    for _ in range(20):
        X = rng.normal(size=(40, 3))
        y = (X[:, 0] + 0.5 * rng.normal(size=40) > 0).astype(np.int64)
        q = rng.normal(size=3)
        k = int(rng.choice([1, 3, 5, 7]))
        ok, got = _call(name, knn_predict, X, y, q, k)
        if not ok:
            return False
        want = _knn_reference(X, y, q, k)
        if np.ndim(got) != 0 or int(got) != want:
            return _verdict(False, name, f"for k={k} the nearest labels are "
                            f"{y[np.argsort(((X - q) ** 2).sum(1))[:k]].tolist()}, majority {want}, you gave {got!r}")
    return _verdict(True, name, "your vote agrees with the reference on 20 random queries")


def check_balanced_accuracy(balanced_accuracy) -> bool:
    """balanced_accuracy(y_true, y_pred) for binary 0/1 labels = (sensitivity + specificity) / 2."""
    name = "balanced accuracy"
    from tasks.metrics import balanced_accuracy as reference

    rng = np.random.default_rng(3)
    for _ in range(10):
        t = (rng.random(50) < 0.3).astype(np.int64)
        t[:2] = [0, 1]
        p = np.where(rng.random(50) < 0.7, t, 1 - t)
        ok, got = _call(name, balanced_accuracy, t, p)
        if not ok:
            return False
        if not _close(got, reference(t, p)):
            return _verdict(False, name, f"expected {reference(t, p):.4f}, got {got!r} "
                            f"(plain accuracy is {np.mean(t == p):.4f})")
    return _verdict(True, name)


# --- 02 the artificial neuron -----------------------------------------------------------------


def check_sigmoid_derivative(dsigmoid) -> bool:
    """dsigmoid(x: ndarray) -> d sigma / dx elementwise, compared with the engine's backward."""
    name = "sigmoid derivative"
    import engine

    x = np.linspace(-8, 8, 33)
    t = engine.tensor(x, requires_grad=True)
    engine.sigmoid(t).sum().backward()
    ok, got = _call(name, dsigmoid, x.copy())
    if not ok:
        return False
    if np.shape(got) != x.shape:
        return _verdict(False, name, f"expected an array of shape {x.shape}, got shape {np.shape(got)}")
    if not _close(got, t.grad.numpy(), rtol=1e-6, atol=1e-9):
        i = int(np.argmax(np.abs(np.asarray(got, float) - t.grad.numpy())))
        return _verdict(False, name, f"at x={x[i]:.2f} the derivative is {t.grad.numpy()[i]:.6f}, you gave "
                        f"{float(np.asarray(got)[i]):.6f}")
    return _verdict(True, name, "matches the engine's backward of engine.sigmoid")


def _perceptron_reference(w, b, x, y, lr):
    y_hat = 1.0 if float(np.dot(w, x) + b) > 0 else 0.0
    return w + lr * (y - y_hat) * x, b + lr * (y - y_hat)


def check_perceptron_step(perceptron_step) -> bool:
    """perceptron_step(w (D,), b, x (D,), y in {0, 1}, lr) -> (w_new, b_new) with the prediction
    y_hat = 1 if w.x + b > 0 else 0 and the update w += lr (y - y_hat) x, b += lr (y - y_hat)."""
    name = "perceptron step"
    rng = np.random.default_rng(11)
    for _ in range(20):
        w, x = rng.normal(size=3), rng.normal(size=3)
        b, y, lr = float(rng.normal()), int(rng.integers(0, 2)), float(rng.choice([0.1, 0.5, 1.0]))
        ok, got = _call(name, perceptron_step, w.copy(), b, x.copy(), y, lr)
        if not ok:
            return False
        want_w, want_b = _perceptron_reference(w, b, x, y, lr)
        try:
            got_w, got_b = got
        except (TypeError, ValueError):
            return _verdict(False, name, f"return a pair (w_new, b_new), got {got!r}")
        if not (_close(got_w, want_w) and _close(got_b, want_b)):
            return _verdict(False, name, f"for w={np.round(w, 2)}, b={b:.2f}, x={np.round(x, 2)}, y={y}, lr={lr} "
                            f"expected w={np.round(want_w, 3)}, b={want_b:.3f}; got w={np.round(got_w, 3)}, b={got_b}")
    return _verdict(True, name, "20 random updates agree with the rule")


_GATES = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "NAND": [1, 1, 1, 0], "XOR": [0, 1, 1, 0]}


def check_logic_gate(gate: str, w, b) -> bool:
    """Does the step neuron y = [w . x + b > 0] compute ``gate`` ("AND", "OR", "NAND") on {0,1}^2?"""
    name = f"{gate} neuron"
    if gate not in _GATES:
        raise ValueError(f"check_logic_gate: gate must be one of {sorted(_GATES)}, got {gate!r}")
    if w is None or b is None:
        return _verdict(False, name, "not answered yet")
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    try:
        out = (X @ np.asarray(w, dtype=float).reshape(2) + float(b) > 0).astype(int)
    except (TypeError, ValueError) as e:
        return _verdict(False, name, f"w must be two numbers and b one number ({e})")
    want = np.array(_GATES[gate])
    if (out == want).all():
        return _verdict(True, name, f"outputs {out.tolist()} for inputs 00, 01, 10, 11")
    return _verdict(False, name, f"your neuron outputs {out.tolist()} for inputs 00, 01, 10, 11; "
                    f"{gate} is {want.tolist()}")


# --- 03 automatic differentiation -------------------------------------------------------------


def backprop_exercise_values():
    """The numbers of the back-propagation-by-hand exercise: x, w, b, target t."""
    return 1.5, -0.8, 0.4, 1.0


def check_backprop_by_hand(dL_dw, dL_dx, dL_db) -> bool:
    """For z = w x + b, a = sigmoid(z), L = (a - t)^2 at the values of backprop_exercise_values()."""
    name = "back-propagation by hand"
    if dL_dw is None or dL_dx is None or dL_db is None:
        return _verdict(False, name, "not answered yet")
    x, w, b, t = backprop_exercise_values()
    a = 1 / (1 + math.exp(-(w * x + b)))
    dz = 2 * (a - t) * a * (1 - a)
    want = {"dL/dw": dz * x, "dL/dx": dz * w, "dL/db": dz}
    got = {"dL/dw": dL_dw, "dL/dx": dL_dx, "dL/db": dL_db}
    wrong = [k for k in want if not _close(got[k], want[k], rtol=1e-3, atol=1e-5)]
    if wrong:
        hint = "; ".join(f"{k}: you gave {got[k]}" for k in wrong)
        return _verdict(False, name, f"{hint}. Hint: dL/da = 2 (a - t) and da/dz = a (1 - a)")
    return _verdict(True, name, ", ".join(f"{k} = {v:.5f}" for k, v in want.items()))


def check_softsign_function(Softsign) -> bool:
    """Softsign: an engine.autograd.Function subclass with y = x / (1 + |x|), dy/dx = 1 / (1 + |x|)^2.
    Checks the forward against NumPy and the backward with engine.gradcheck."""
    name = "Softsign Function"
    import engine

    if Softsign is None:
        return _verdict(False, name, "not answered yet")
    if not (isinstance(Softsign, type) and issubclass(Softsign, engine.Function)):
        return _verdict(False, name, "Softsign must be a class deriving from engine.Function")
    x = np.random.default_rng(5).normal(size=(3, 4)) * 3
    ok, y = _call(name, lambda v: Softsign()(engine.tensor(v)), x)
    if not ok:
        return False
    if not _close(y.numpy(), x / (1 + np.abs(x))):
        return _verdict(False, name, "the forward pass is not x / (1 + |x|)")
    try:
        report = engine.gradcheck(lambda v: Softsign()(v), [engine.tensor(x, requires_grad=True)],
                                  raise_exception=False)
    except NotImplementedError:
        return _verdict(False, name, "forward works; backward is not written yet")
    except Exception as e:
        return _verdict(False, name, f"backward raised {type(e).__name__}: {e}")
    if not report.passed:
        return _verdict(False, name, f"forward is right but gradcheck fails: {report}")
    return _verdict(True, name, f"forward matches and {report}")


# --- 04 multilayer perceptrons ----------------------------------------------------------------


def check_parameter_count(n_parameters) -> bool:
    """How many trainable numbers in the MLP 784 -> 128 -> 64 -> 2 (Linear layers with biases)?"""
    name = "parameter count"
    if n_parameters is None:
        return _verdict(False, name, "not answered yet")
    sizes = [784, 128, 64, 2]
    want = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if n_parameters == want:
        return _verdict(True, name, "784*128+128 + 128*64+64 + 64*2+2 = 108,866")
    no_bias = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    hint = " (did you forget the biases?)" if n_parameters == no_bias else ""
    return _verdict(False, name, f"{n_parameters} is not right{hint}; a Linear(a, b) layer has a*b weights "
                    f"and b biases")


def check_cross_entropy_grad(ce_grad) -> bool:
    """ce_grad(logits (N, K), y (N,) ints) -> dL/dlogits for the mean cross-entropy
    L = -(1/N) sum_i log softmax(logits_i)[y_i]; compared with the engine's backward."""
    name = "cross-entropy gradient"
    import engine
    import engine.nn.functional as F

    rng = np.random.default_rng(2)
    for _ in range(5):
        n, k = int(rng.integers(2, 9)), int(rng.integers(2, 6))
        z = rng.normal(size=(n, k)) * 3
        y = rng.integers(0, k, n)
        zt = engine.tensor(z, requires_grad=True)
        F.cross_entropy(zt, engine.tensor(y)).backward()
        ok, got = _call(name, ce_grad, z.copy(), y.copy())
        if not ok:
            return False
        if np.shape(got) != z.shape:
            return _verdict(False, name, f"expected shape {z.shape}, got {np.shape(got)}")
        if not _close(got, zt.grad.numpy(), rtol=1e-5, atol=1e-8):
            ratio = np.asarray(got, float) / np.where(zt.grad.numpy() == 0, np.nan, zt.grad.numpy())
            hint = " (off by a factor N: the loss is a mean)" if np.allclose(np.nanmean(ratio), n, rtol=1e-3) else ""
            return _verdict(False, name, f"does not match the engine's gradient{hint}")
    return _verdict(True, name, "softmax(z) - onehot(y), divided by N")


def check_dropout(dropout) -> bool:
    """dropout(x, p, rng) -> inverted dropout in training mode: each element is zeroed with
    probability p, the survivors are divided by (1 - p), so the expected output equals x."""
    name = "inverted dropout"
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, size=(400, 50))
    for p in (0.2, 0.5):
        ok, got = _call(name, dropout, x.copy(), p, np.random.default_rng(1))
        if not ok:
            return False
        got = np.asarray(got, dtype=float)
        if got.shape != x.shape:
            return _verdict(False, name, f"the output must have the input's shape {x.shape}, got {got.shape}")
        zero = got == 0
        if not np.allclose(got[~zero], x[~zero] / (1 - p)):
            return _verdict(False, name, f"with p = {p} the kept values must be x / (1 - p) = x / {1 - p}")
        if abs(zero.mean() - p) > 0.02:
            return _verdict(False, name, f"with p = {p} about {p:.0%} of the values should be zero, got "
                            f"{zero.mean():.1%}")
    masks = []
    for seed in (1, 2):
        ok, got = _call(name, dropout, x.copy(), 0.5, np.random.default_rng(seed))
        if not ok:
            return False
        masks.append(np.asarray(got) == 0)
    if np.array_equal(masks[0], masks[1]):
        return _verdict(False, name, "the mask must be random: draw it from the rng argument")
    return _verdict(True, name, "right fraction dropped, survivors scaled by 1/(1-p)")


# --- 05 convolutional networks ----------------------------------------------------------------


def check_conv_output_size(conv_output_size) -> bool:
    """conv_output_size(n, k, s, p) -> output length of a convolution (or pooling) along one axis:
    input length n, kernel k, stride s, zero padding p on both sides."""
    name = "convolution output size"
    cases = [(28, 5, 1, 0), (28, 5, 1, 2), (32, 3, 2, 1), (7, 3, 3, 0), (224, 7, 2, 3), (10, 2, 2, 0), (5, 5, 1, 0),
             (217, 3, 1, 1), (9, 4, 3, 1)]
    for n, k, s, p in cases:
        ok, got = _call(name, conv_output_size, n, k, s, p)
        if not ok:
            return False
        want = (n + 2 * p - k) // s + 1
        if got != want:
            return _verdict(False, name, f"for n={n}, k={k}, s={s}, p={p} the output has {want} positions, "
                            f"you gave {got!r}")
    return _verdict(True, name, "floor((n + 2p - k) / s) + 1")


def receptive_field(layers) -> int:
    """Receptive field of a stack of (kernel, stride) layers: r += (k - 1) * jump; jump *= stride."""
    r, jump = 1, 1
    for k, s in layers:
        r += (k - 1) * jump
        jump *= s
    return r


def check_receptive_field(r) -> bool:
    """Receptive field (pixels along one axis) of conv3 -> conv3 -> maxpool2 -> conv3 -> maxpool2 -> conv3
    (stride 1 convolutions, stride 2 pools)."""
    name = "receptive field"
    if r is None:
        return _verdict(False, name, "not answered yet")
    want = receptive_field([(3, 1), (3, 1), (2, 2), (3, 1), (2, 2), (3, 1)])
    if r == want:
        return _verdict(True, name, f"{want} x {want} input pixels")
    if r == 1 + 2 * 4:
        return _verdict(False, name, "the pooling layers widen the field too (a 2 x 2 window adds one pixel "
                        "of its input)")
    if r == 1 + 2 * 4 + 1 * 2:
        return _verdict(False, name, "a stride-2 layer doubles the step (the 'jump') between the input pixels "
                        "seen by neighbouring units of every later layer")
    return _verdict(False, name, f"{r} is not right; use r <- r + (k - 1) * jump, jump <- jump * stride, "
                    f"layer by layer from the input")


# --- 06 auto-encoders -------------------------------------------------------------------------


def check_psnr(psnr) -> bool:
    """psnr(reference, test, data_range) -> 10 log10(data_range^2 / MSE) in dB."""
    name = "PSNR"
    from tasks.metrics import psnr as reference

    rng = np.random.default_rng(4)
    for data_range, sigma in ((1.0, 0.1), (255.0, 10.0), (1.0, 0.01)):
        a = rng.uniform(0, data_range, (28, 28))
        b = a + rng.normal(0, sigma, a.shape)
        ok, got = _call(name, psnr, a.copy(), b.copy(), data_range)
        if not ok:
            return False
        want = reference(a, b, data_range)
        if not _close(got, want, rtol=1e-6):
            hint = ""
            if _close(got, want / 2, rtol=1e-6):
                hint = " (PSNR uses the squared range over the MSE: 10 log10(R^2 / MSE) = 20 log10(R / RMSE))"
            return _verdict(False, name, f"expected {want:.3f} dB for data_range={data_range}, got {got!r}{hint}")
    return _verdict(True, name, "10 log10(R^2 / MSE)")


# --- 07 recurrent networks --------------------------------------------------------------------


def rnn_exercise_values():
    """Scalar RNN h_t = tanh(w_x x_t + w_h h_{t-1} + b) of the exercise: (w_x, w_h, b, inputs, h_0)."""
    return 0.5, 0.9, 0.1, (1.0, 0.0, -1.0), 0.0


def check_rnn_by_hand(h3, dh3_dx1) -> bool:
    """h_3 of the scalar RNN of rnn_exercise_values(), and the derivative dh_3/dx_1."""
    name = "RNN by hand"
    if h3 is None or dh3_dx1 is None:
        return _verdict(False, name, "not answered yet")
    w_x, w_h, b, xs, h = rnn_exercise_values()
    hs = []
    for x in xs:
        h = math.tanh(w_x * x + w_h * h + b)
        hs.append(h)
    grad = w_x * (1 - hs[0] ** 2) * w_h * (1 - hs[1] ** 2) * w_h * (1 - hs[2] ** 2)
    if not _close(h3, hs[2], rtol=1e-3, atol=1e-5):
        return _verdict(False, name, f"h_3 is not {h3}; compute h_1 = tanh(w_x x_1 + w_h h_0 + b) first "
                        f"(h_1 = {hs[0]:.4f})")
    if not _close(dh3_dx1, grad, rtol=1e-3, atol=1e-6):
        return _verdict(False, name, f"h_3 = {hs[2]:.5f} is right, dh_3/dx_1 is not: multiply the local "
                        f"derivatives back through time, w_x (1 - h_1^2) w_h (1 - h_2^2) w_h (1 - h_3^2)")
    return _verdict(True, name, f"h_3 = {hs[2]:.5f}, dh_3/dx_1 = {grad:.5f}")


def check_lstm_step(lstm_step) -> bool:
    """lstm_step(x (N, I), h (N, H), c (N, H), W_ih (4H, I), W_hh (4H, H), b_ih (4H,), b_hh (4H,)) -> (h', c'),
    gates stacked in PyTorch's order i, f, g, o; compared with engine.nn.LSTMCell."""
    name = "LSTM step"
    import engine
    from engine import nn

    rng = np.random.default_rng(8)
    n, i_size, h_size = 3, 4, 5
    cell = nn.LSTMCell(i_size, h_size, dtype=np.float64)
    x = rng.normal(size=(n, i_size))
    h, c = rng.normal(size=(n, h_size)), rng.normal(size=(n, h_size))
    with engine.no_grad():
        want_h, want_c = cell(engine.tensor(x), (engine.tensor(h), engine.tensor(c)))
    weights = [p.detach().numpy().copy() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
    ok, got = _call(name, lstm_step, x, h, c, *weights)
    if not ok:
        return False
    try:
        got_h, got_c = got
    except (TypeError, ValueError):
        return _verdict(False, name, f"return the pair (h_new, c_new), got {type(got).__name__}")
    if not _close(got_c, want_c.numpy(), rtol=1e-6, atol=1e-9):
        return _verdict(False, name, "the new cell state c' = f * c + i * g is wrong (gate order i, f, g, o; "
                        "g uses tanh, the others the sigmoid)")
    if not _close(got_h, want_h.numpy(), rtol=1e-6, atol=1e-9):
        return _verdict(False, name, "c' is right but h' = o * tanh(c') is not")
    return _verdict(True, name, "matches engine.nn.LSTMCell")
