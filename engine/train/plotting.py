"""Training curves as a PNG: losses, validation metrics and the learning rate per epoch.

Uses matplotlib's object-oriented API with the Agg canvas directly (no pyplot), so it works
without a display, never changes the global backend, and leaks no figures in long runs.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from engine.train._atomic import atomic_write

__all__ = ["plot_history"]


def _series(history, key):
    """(epochs, values) of the rows that have a finite number for ``key``."""
    xs, ys = [], []
    for row in history:
        v = row.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            xs.append(row.get("epoch", len(xs) + 1))
            ys.append(v)
    return xs, ys


def plot_history(history, path, title: str | None = None) -> Path:
    """Draw ``history`` (a History or a list of row dicts) to ``path`` (PNG, written atomically).

    Panels: train/validation loss; the other validation metrics (``val_*``) and any other numeric
    columns; the learning rate (log scale). Returns the path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = list(history)
    if not rows:
        raise ValueError(f"plot_history: the history is empty, nothing to draw to {path}")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    losses = [k for k in ("train_loss", "val_loss") if k in columns]
    metrics = [
        k
        for k in columns
        if k not in losses
        and k not in ("epoch", "lr", "time")
        and any(isinstance(r.get(k), (int, float)) for r in rows)
    ]
    panels = [("loss", losses, False)]
    if metrics:
        panels.append(("metrics", metrics, False))
    if "lr" in columns:
        panels.append(("learning rate", ["lr"], True))

    fig = Figure(figsize=(4.2 * len(panels), 3.4), dpi=100)
    FigureCanvasAgg(fig)
    # fixed margins: about twice as fast to draw as a constrained layout, for a per-epoch plot
    fig.subplots_adjust(left=0.07 * 3 / len(panels), right=0.98, bottom=0.15, top=0.78 if title else 0.88, wspace=0.3)
    for i, (name, keys, log_scale) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for key in keys:
            xs, ys = _series(rows, key)
            if xs:
                ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=key)
        if log_scale and any(v > 0 for v in _series(rows, "lr")[1]):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if len(keys) > 1 or name != "learning rate":
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)

    def write(f):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        f.write(buffer.getvalue())

    return atomic_write(path, write)
