"""Figures every experiment writes: training curves, ROC curves, confusion matrix, image grid.

Matplotlib with the Agg backend (files only, no screen); each function writes one PNG and
returns its path.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tasks.metrics import roc_auc, roc_curve  # noqa: E402


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def training_curves(history: list[dict], path, metrics=("loss", "auc", "acc")):
    """One panel per metric: the train value and the validation value per epoch."""
    panels = [m for m in metrics if any(k in row for row in history for k in (f"train_{m}", f"val_{m}"))]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(4.2 * max(len(panels), 1), 3.2))
    axes = np.atleast_1d(axes)
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    for ax, m in zip(axes, panels):
        for split, style in (("train", "-"), ("val", "--")):
            key = f"{split}_{m}"
            ys = [row.get(key) for row in history]
            if any(y is not None for y in ys):
                ax.plot(epochs, [np.nan if y is None else y for y in ys], style, marker=".", label=split)
        ax.set_xlabel("epoch")
        ax.set_title(m)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def roc_curves(y_true, y_score, path, class_names=None, title="ROC (test)"):
    """Binary: one curve of the positive-class score. Multi-class: one-vs-rest curve per class."""
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    if y_score.ndim == 1 or y_score.shape[1] <= 2:
        s = y_score if y_score.ndim == 1 else y_score[:, -1]
        fpr, tpr, _ = roc_curve(y_true, s)
        ax.plot(fpr, tpr, label=f"AUC = {roc_auc(y_true, s):.3f}")
    else:
        for c in range(y_score.shape[1]):
            positives = (y_true == c).astype(int)
            if 0 < positives.sum() < len(positives):
                fpr, tpr, _ = roc_curve(positives, y_score[:, c])
                name = class_names[c] if class_names else str(c)
                ax.plot(fpr, tpr, lw=1, label=f"{name[:18]} ({roc_auc(positives, y_score[:, c]):.2f})")
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("1 - specificity (FPR)")
    ax.set_ylabel("sensitivity (TPR)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def confusion_matrix_plot(cm, path, class_names=None, title="Confusion matrix (test)"):
    cm = np.asarray(cm)
    n = cm.shape[0]
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n + 2, 0.6 * n + 2))
    ax.imshow(cm, cmap="Blues")
    names = [str(c)[:14] for c in (class_names or range(n))]
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _save(fig, path)


def image_grid(images, y_true, y_pred, probs, path, class_names=None, n: int = 24, seed: int = 0):
    """A grid of test images titled "true / predicted (probability)"; mistakes in red.

    images: (N, C, H, W) or (N, C, D, H, W) (the middle slice is shown) floats.
    """
    images = np.asarray(images)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(images), size=min(n, len(images)), replace=False)
    cols = 6
    rows = int(np.ceil(len(pick) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 1.9 * rows))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    names = class_names or {}
    for ax, i in zip(np.atleast_1d(axes).ravel(), pick):
        img = images[i]
        if img.ndim == 4:  # volume: middle slice
            img = img[:, img.shape[1] // 2]
        img = img[0] if img.shape[0] == 1 else np.moveaxis(img[:3], 0, -1)
        ax.imshow(np.clip(img, 0, 1) if img.ndim == 3 else img, cmap="gray")
        t, p = int(y_true[i]), int(y_pred[i])
        label = lambda c: (names[c] if isinstance(names, (list, tuple)) and c < len(names) else str(c))[:10]  # noqa: E731
        ax.set_title(f"{label(t)} / {label(p)}\n({probs[i]:.2f})", fontsize=7, color="black" if t == p else "red")
    fig.suptitle("true / predicted (probability of the prediction)", fontsize=9)
    return _save(fig, path)
