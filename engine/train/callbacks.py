"""Callbacks: code the Trainer runs at fixed points of training (Keras/Lightning style).

Hooks, in the order the Trainer calls them::

    on_train_begin(trainer)
      per epoch:  on_epoch_begin(trainer, epoch)
                  on_batch_end(trainer, batch, logs)     logs: {"loss", "batch_size", "lr"}
                  on_epoch_end(trainer, epoch, logs)     logs: the epoch's history row
    on_train_end(trainer)                                 also after an error, for cleanup

Epochs and batches are numbered from 1. Callbacks run in increasing ``order`` (stable within the
same order): the LR scheduler first (-100), then the default 0 (early stopping, logging,
plotting, progress), then ModelCheckpoint (100), so that a checkpoint captures the state after
every other callback has updated it. A callback with state that must survive a resume
(counters, best values) returns it from ``state_dict()``; the Trainer stores it in checkpoints.

This module has the general-purpose callbacks; ProgressBar is in engine/train/progress.py and
HistoryLogger in engine/train/history.py.
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "LRSchedulerCallback", "PlotHistory"]


class Callback:
    """Base class: every hook does nothing."""

    order = 0

    def on_train_begin(self, trainer) -> None:
        pass

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        pass

    def on_batch_end(self, trainer, batch: int, logs: dict) -> None:
        pass

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        pass

    def on_train_end(self, trainer) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def monitored_value(logs: dict, monitor: str, who: str) -> float:
    """``logs[monitor]`` as a float, or a ValueError that lists what is available."""
    if monitor not in logs:
        hint = " (val_* values need a val_loader in fit())" if monitor.startswith("val_") else ""
        raise ValueError(f"{who}: monitor {monitor!r} is not in the epoch's logs {sorted(logs)}{hint}")
    return float(logs[monitor])


def _check_mode(mode: str, who: str) -> None:
    if mode not in ("min", "max"):
        raise ValueError(f"{who}: mode must be 'min' or 'max', got {mode!r}")


def improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` (nan never improves)."""
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs in a row. mode: "min" for losses, "max" for accuracy/AUC/Dice.

    After stopping, ``trainer.stop_reason`` says why, and ``best``/``best_epoch`` hold the best value.
    To get the best weights back, combine with ModelCheckpoint and load its ``best_path``.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min", patience: int = 5, min_delta: float = 0.0):
        _check_mode(mode, "EarlyStopping")
        if patience < 0 or min_delta < 0:
            raise ValueError(f"EarlyStopping: patience and min_delta must be >= 0, got {patience}, {min_delta}")
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, int(patience), float(min_delta)
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch = 0

    def on_epoch_end(self, trainer, epoch, logs):
        value = monitored_value(logs, self.monitor, "EarlyStopping")
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True
            trainer.stop_reason = (
                f"early stopping at epoch {epoch}: {self.monitor} has not improved for {self.wait} epochs "
                f"(best {self.best:.6g} at epoch {self.best_epoch})"
            )

    def state_dict(self):
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
        }

    def load_state_dict(self, state):
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.wait, self.stopped_epoch = state["wait"], state["stopped_epoch"]


class ModelCheckpoint(Callback):
    """Keep two checkpoints in ``dirpath``: ``last.npz`` (after every epoch: resume from it) and
    ``best.npz`` (the epoch with the best ``monitor`` so far), each with its ``.json`` sidecar.

    Saves are atomic (engine/train/checkpoint.py): a crash mid-save keeps the previous file. An
    epoch that ends with a non-finite loss stops training before this callback runs, so ``last``
    is always the last good epoch.
    """

    order = 100  # after the scheduler, early stopping and the loggers have updated their state

    def __init__(
        self,
        dirpath,
        monitor: str = "val_loss",
        mode: str = "min",
        save_best: bool = True,
        save_last: bool = True,
        min_delta: float = 0.0,
    ):
        _check_mode(mode, "ModelCheckpoint")
        if not (save_best or save_last):
            raise ValueError("ModelCheckpoint: save_best and save_last are both False: nothing to save")
        self.dirpath = Path(dirpath)
        self.monitor, self.mode, self.min_delta = monitor, mode, float(min_delta)
        self.save_best, self.save_last = save_best, save_last
        self.best: float | None = None
        self.best_epoch = 0

    @property
    def best_path(self) -> Path:
        return self.dirpath / "best.npz"

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last.npz"

    def on_epoch_end(self, trainer, epoch, logs):
        is_best = False
        if self.save_best:
            value = monitored_value(logs, self.monitor, "ModelCheckpoint")
            if improved(value, self.best, self.mode, self.min_delta):
                self.best, self.best_epoch, is_best = value, epoch, True
        # the state saved below includes this callback's updated best value
        if is_best:
            trainer.save_checkpoint(self.best_path, metrics=logs)
        if self.save_last:
            trainer.save_checkpoint(self.last_path, metrics=logs)

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state):
        self.best, self.best_epoch = state["best"], state["best_epoch"]


class LRSchedulerCallback(Callback):
    """Step a learning-rate scheduler: after every batch (``interval="batch"``, e.g. OneCycleLR) or
    every epoch. ReduceLROnPlateau is stepped with the epoch's ``monitor`` value (default:
    val_loss when there is a validation set, else train_loss).

    ``Trainer(scheduler=...)`` creates this callback for you; interval None picks "batch" for
    OneCycleLR and "epoch" otherwise.
    """

    order = -100  # first, so that checkpoints and logs see the stepped schedule

    def __init__(self, scheduler, interval: str | None = None, monitor: str | None = None):
        from engine.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau

        if interval is None:
            interval = "batch" if isinstance(scheduler, OneCycleLR) else "epoch"
        if interval not in ("batch", "epoch"):
            raise ValueError(f"LRSchedulerCallback: interval must be 'batch' or 'epoch', got {interval!r}")
        self.needs_metric = isinstance(scheduler, ReduceLROnPlateau)
        if self.needs_metric and interval == "batch":
            raise ValueError("LRSchedulerCallback: ReduceLROnPlateau is stepped per epoch, with a metric")
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor

    def on_batch_end(self, trainer, batch, logs):
        if self.interval == "batch":
            self.scheduler.step()

    def on_epoch_end(self, trainer, epoch, logs):
        if self.interval != "epoch":
            return
        if self.needs_metric:
            monitor = self.monitor or ("val_loss" if "val_loss" in logs else "train_loss")
            self.scheduler.step(monitored_value(logs, monitor, "LRSchedulerCallback(ReduceLROnPlateau)"))
        else:
            self.scheduler.step()


class PlotHistory(Callback):
    """Draw the training/validation curves to a PNG (``path``) every ``every`` epochs and at the end
    (engine/train/plotting.py; matplotlib's Agg renderer, no display needed)."""

    def __init__(self, path, every: int = 1):
        if every < 1:
            raise ValueError(f"PlotHistory: every must be >= 1, got {every}")
        self.path, self.every = Path(path), int(every)
        self._drawn_rows = 0

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch % self.every == 0:
            self._plot(trainer)

    def on_train_end(self, trainer):
        if len(trainer.history) != self._drawn_rows:  # epochs not drawn yet (stopped early, every > 1)
            self._plot(trainer)

    def _plot(self, trainer):
        from engine.train.plotting import plot_history

        plot_history(trainer.history, self.path)
        self._drawn_rows = len(trainer.history)
