"""Callbacks: early stopping, model checkpoints, history files, progress bar, curves."""

from __future__ import annotations

import csv
import io
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from engine.optim import SGD
from engine.train import (
    EarlyStopping,
    History,
    HistoryLogger,
    ModelCheckpoint,
    PlotHistory,
    ProgressBar,
    Trainer,
    plot_history,
    read_checkpoint_metadata,
)
from engine.train.callbacks import improved


def _feed(callback, values, monitor="val_loss"):
    """Run a callback over epochs whose logs hold ``values``; returns the fake trainer."""
    trainer = SimpleNamespace(stop_training=False, stop_reason=None)
    for epoch, v in enumerate(values, start=1):
        callback.on_epoch_end(trainer, epoch, {"epoch": epoch, monitor: v})
        if trainer.stop_training:
            break
    return trainer


def _trainer(tiny, callbacks, metrics=None, quiet=True):
    model = tiny.model()
    return Trainer(
        model, tiny.loss, SGD(model.parameters(), lr=0.1), metrics=metrics, callbacks=callbacks, quiet=quiet, seed=0
    )


def test_early_stopping_waits_patience_epochs_without_improvement():
    stop = EarlyStopping(patience=2, min_delta=0.01)
    trainer = _feed(stop, [1.0, 0.8, 0.795, 0.9, 0.5])  # 0.795 is not better by more than 0.01
    assert trainer.stop_training and stop.stopped_epoch == 4
    assert (stop.best, stop.best_epoch) == (0.8, 2)
    assert "val_loss has not improved for 2 epochs (best 0.8 at epoch 2)" in trainer.stop_reason


def test_early_stopping_in_max_mode_and_with_nan():
    stop = EarlyStopping(monitor="val_auc", mode="max", patience=1)
    trainer = _feed(stop, [0.6, 0.7, math.nan], monitor="val_auc")
    assert trainer.stop_training and stop.best == 0.7
    assert improved(0.5, None, "min") and not improved(math.nan, 1.0, "min") and improved(2.0, 1.0, "max")


def test_early_stopping_stops_the_trainer(tiny):
    train, val = tiny.loaders()
    trainer = _trainer(
        tiny, [EarlyStopping(monitor="val_const", mode="max", patience=2)], metrics={"const": lambda p, t: 0.5}
    )
    history = trainer.fit(train, val, epochs=10)
    assert len(history) == 3 and "early stopping at epoch 3" in trainer.stop_reason


def test_monitoring_a_missing_value_says_what_exists():
    with pytest.raises(
        ValueError,
        match=r"monitor 'val_loss' is not in the epoch's logs \['epoch', 'train_loss'\]"
        r" \(val_\* values need a val_loader",
    ):
        EarlyStopping().on_epoch_end(SimpleNamespace(), 1, {"epoch": 1, "train_loss": 1.0})
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        ModelCheckpoint(".", mode="lowest")


def test_model_checkpoint_keeps_best_and_last(tiny, tmp_path):
    train, val = tiny.loaders()
    scores = iter([0.3, 0.9, 0.6, 0.8])
    checkpoint = ModelCheckpoint(tmp_path, monitor="val_score", mode="max")
    trainer = _trainer(tiny, [checkpoint], metrics={"score": lambda p, t: next(scores)})
    trainer.fit(train, val, epochs=4)
    assert (checkpoint.best, checkpoint.best_epoch) == (0.9, 2)
    best, last = read_checkpoint_metadata(checkpoint.best_path), read_checkpoint_metadata(checkpoint.last_path)
    assert best["epoch"] == 2 and best["metadata"]["metrics"]["val_score"] == 0.9
    assert last["epoch"] == 4 and last["optimizer"] == "SGD"
    sidecar = json.loads((tmp_path / "best.json").read_text())
    assert sidecar["epoch"] == 2 and sidecar["checkpoint"] == "best.npz"
    assert set(sidecar["versions"]) == {"medgrad", "numpy", "python"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.json", "best.npz", "last.json", "last.npz"]


def test_history_logger_writes_csv_and_jsonl(tiny, tmp_path):
    train, val = tiny.loaders()
    logger = HistoryLogger(tmp_path / "logs")
    trainer = _trainer(tiny, [logger], metrics=[tiny.accuracy])
    trainer.fit(train, val, epochs=3)
    with open(logger.csv_path) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert list(rows[0]) == ["epoch", "lr", "train_loss", "val_loss", "val_accuracy", "time"]
    assert [float(r["train_loss"]) for r in rows] == trainer.history["train_loss"]  # full precision
    lines = [json.loads(line) for line in logger.jsonl_path.read_text().splitlines()]
    assert lines == [dict(r) for r in trainer.history]


def test_history_columns_and_non_finite_values():
    history = History([{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": math.inf, "val_loss": 0.4}])
    assert history.columns == ["epoch", "train_loss", "val_loss"]
    assert history["val_loss"] == [None, 0.4] and history[-1]["epoch"] == 2
    assert json.loads(history.to_jsonl().splitlines()[1])["train_loss"] is None  # strict JSON
    with pytest.raises(KeyError, match="no column 'auc'"):
        history["auc"]


def test_progress_bar_on_a_terminal_redraws_one_line_per_epoch(tiny):
    train, val = tiny.loaders()
    out = io.StringIO()
    trainer = _trainer(tiny, [ProgressBar(out, dynamic=True, min_interval=0.0)], quiet=False)
    trainer.fit(train, val, epochs=2)
    text = out.getvalue()
    lines = text.split("\n")
    assert len(lines) == 3 and lines[-1] == ""  # two epochs, each ends with a newline
    assert lines[0].count("\r") == len(train) + 1  # one redraw per batch and the summary
    assert "epoch 1/2 [=====>    " in text and "samples/s" in text and "loss " in text
    assert "train_loss" in lines[1].split("\r")[-1] and "val_loss" in lines[1]


def test_progress_bar_in_a_log_file_writes_only_summaries(tiny):
    train, _ = tiny.loaders()
    out = io.StringIO()
    trainer = _trainer(tiny, [ProgressBar(out)], quiet=False)  # StringIO is not a terminal
    trainer.fit(train, epochs=2)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in out.getvalue()
    assert lines[1].startswith("epoch 2/2 [====================] 4/4") and "train_loss" in lines[1]


def test_quiet_trainers_print_nothing(tiny, capsys):
    train, _ = tiny.loaders()
    _trainer(tiny, []).fit(train, epochs=1)
    assert capsys.readouterr().err == ""


def test_plot_history_writes_a_png(tiny, tmp_path):
    train, val = tiny.loaders()
    path = tmp_path / "curves.png"
    plotter = PlotHistory(path, every=2)
    trainer = _trainer(tiny, [plotter], metrics=[tiny.accuracy])
    trainer.fit(train, val, epochs=3)
    assert plotter._drawn_rows == 3  # drawn at epoch 2 and, for the last epoch, at the end
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    assert imread(path).shape[1] > imread(path).shape[0] > 100  # three panels side by side
    with pytest.raises(ValueError, match="history is empty"):
        plot_history(History(), tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()
    assert list(tmp_path.glob(".*.tmp")) == []


def test_plot_history_accepts_plain_rows(tmp_path):
    rows = [{"epoch": e, "train_loss": 1.0 / e, "lr": 0.1 * 0.5**e} for e in range(1, 5)]
    out = plot_history(rows, tmp_path / "rows.png", title="run")
    assert out.stat().st_size > 1000
    assert np.isfinite(np.asarray(rows[0]["lr"]))
