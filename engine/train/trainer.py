"""Trainer: the training loop, written once (fit / evaluate / predict).

    trainer = Trainer(model, F.cross_entropy, Adam(model.parameters(), lr=1e-3),
                      metrics={"auc": roc_auc}, device="cuda", seed=0,
                      callbacks=[ModelCheckpoint("runs/a"), EarlyStopping(patience=5),
                                 HistoryLogger("runs/a"), PlotHistory("runs/a/curves.png")])
    history = trainer.fit(train_loader, val_loader, epochs=30)
    trainer.fit(train_loader, val_loader, epochs=30, resume_from="runs/a/last.npz")  # after a crash

One training step, per batch::

    x, y = batch moved to the device      (batches are host NumPy arrays: the move is explicit)
    optimizer.zero_grad(); loss = loss_fn(model(x), y); loss.backward()
    [clip_grad_norm_]; optimizer.step()

Batches: ``(inputs, targets, *ignored)`` tuples/lists, dicts with an input key ("input",
"inputs", "image", "x") and a target key ("target", "targets", "label", "mask", "y"), or bare
inputs (predict). Inputs that are tuples are passed as ``model(*inputs)``. ``unpack=fn`` (batch
-> (inputs, targets)) handles any other layout.

Metrics are callables on host NumPy arrays, ``metric(predictions, targets) -> float``, computed
once per evaluation over the whole loader (so AUC and Dice are exact, not batch averages).
Losses are averaged over samples (each batch's mean loss weighted by its size).

Reproducibility: with ``seed`` the engine's random generators are seeded when a fresh fit
starts; with a seeded DataLoader, two runs give bit-identical losses on the CPU. A checkpoint
(ModelCheckpoint, or ``trainer.save_checkpoint``) stores the model, optimizer, scheduler, the
random generators, the loader's shuffling state, the history and the callbacks' state, so
``fit(..., resume_from=path)`` continues as if training had not stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

import engine
from engine import backend
from engine.autograd import no_grad
from engine.optim.clip import clip_grad_norm_
from engine.tensor import Tensor
from engine.train import checkpoint as _checkpoint
from engine.train.callbacks import Callback, LRSchedulerCallback
from engine.train.history import History
from engine.train.progress import ProgressBar

__all__ = ["Trainer", "NonFiniteLossError"]

INPUT_KEYS = ("input", "inputs", "image", "x")
TARGET_KEYS = ("target", "targets", "label", "mask", "y")


class NonFiniteLossError(FloatingPointError):
    """The loss became nan or inf; training stopped before the update that would spread it."""


def _metric_dict(metrics) -> dict:
    if metrics is None:
        return {}
    if isinstance(metrics, Mapping):
        out = dict(metrics)
    else:
        if callable(metrics):
            metrics = [metrics]
        out = {}
        for fn in metrics:
            name = getattr(fn, "__name__", type(fn).__name__)
            if name in out:
                raise ValueError(f"Trainer: two metrics are named {name!r}; pass a dict {{name: metric}}")
            out[name] = fn
    for name, fn in out.items():
        if not callable(fn):
            raise TypeError(f"Trainer: metric {name!r} is a {type(fn).__name__}, not a callable")
        if name == "loss":
            raise ValueError("Trainer: 'loss' is reserved for the loss; rename that metric")
    return out


def _batch_size(obj) -> int:
    """Samples in a batch: the length of the first array found."""
    if isinstance(obj, Tensor) or backend.is_array(obj):
        return int(obj.shape[0]) if len(obj.shape) else 1
    if isinstance(obj, Mapping):
        obj = list(obj.values())
    if isinstance(obj, (tuple, list)):
        for item in obj:
            n = _batch_size(item)
            if n:
                return n
    return 0


def _to_host(obj):
    """Model outputs (Tensors, possibly nested) as host NumPy arrays."""
    if isinstance(obj, Tensor):
        return backend.asnumpy(obj.data)
    if backend.is_array(obj):
        return backend.asnumpy(obj)
    if isinstance(obj, Mapping):
        return {k: _to_host(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_host(v) for v in obj)
    return obj


def _concat(parts: list):
    """Batch results joined along the first axis (per field for tuples and dicts)."""
    first = parts[0]
    if isinstance(first, Mapping):
        return {k: _concat([p[k] for p in parts]) for k in first}
    if isinstance(first, (tuple, list)) and not isinstance(first, str):
        return type(first)(_concat([p[i] for p in parts]) for i in range(len(first)))
    if isinstance(first, np.ndarray):
        return np.concatenate([np.atleast_1d(p) for p in parts], axis=0)
    return list(parts)


class Trainer:
    """Fit, evaluate and predict with a model.

    model: an engine Module (moved to ``device``). loss_fn: ``loss_fn(outputs, targets) -> scalar
    Tensor``. optimizer: an engine.optim optimizer over the model's parameters.
    metrics: {name: fn} or a list of fns (named by ``__name__``), fn(predictions, targets) -> float
    on host arrays; reported as ``val_<name>`` in fit.
    scheduler: a learning-rate scheduler, stepped per epoch (per batch for OneCycleLR; see
    ``scheduler_interval``); ReduceLROnPlateau gets ``scheduler_monitor`` (default val_loss, or
    train_loss without validation data).
    device: "cpu", "cuda" or "strict". callbacks: list of Callback. seed: seeds the engine's
    random generators when a fresh fit starts. quiet: no progress bar.
    grad_clip_norm: clip the gradients' global 2-norm to this value before each step.
    unpack: batch -> (inputs, targets), for batch layouts not described in the module docstring.
    config: JSON-able description of the run, stored in every checkpoint's metadata.
    """

    def __init__(
        self,
        model,
        loss_fn,
        optimizer,
        metrics=None,
        scheduler=None,
        device="cpu",
        callbacks: list[Callback] | None = None,
        seed: int | None = None,
        quiet: bool = False,
        grad_clip_norm: float | None = None,
        scheduler_interval: str | None = None,
        scheduler_monitor: str | None = None,
        unpack=None,
        config: dict | None = None,
    ):
        if not callable(loss_fn):
            raise TypeError(f"Trainer: loss_fn must be callable, got {type(loss_fn).__name__}")
        self.device = backend.normalize_device(device)
        self.model = model.to(self.device)
        self.loss_fn, self.optimizer, self.scheduler = loss_fn, optimizer, scheduler
        self.metrics = _metric_dict(metrics)
        self.seed, self.quiet, self.grad_clip_norm, self.unpack = seed, quiet, grad_clip_norm, unpack
        self.config = dict(config or {})
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"Trainer: callbacks must be Callback instances, got {type(cb).__name__}")
        if scheduler is not None:
            callbacks.append(LRSchedulerCallback(scheduler, scheduler_interval, scheduler_monitor))
        if not quiet and not any(isinstance(cb, ProgressBar) for cb in callbacks):
            callbacks.append(ProgressBar())
        self.callbacks = sorted(callbacks, key=lambda cb: cb.order)  # stable: keeps the user's order
        self.history = History()
        self.epoch = 0  # completed epochs
        self.global_step = 0  # optimizer steps taken
        self.epochs: int | None = None  # the target of the current fit
        self.num_batches: int | None = None
        self.stop_training = False
        self.stop_reason: str | None = None
        self.last_checkpoint: Path | None = None
        self._last_checkpoint_epoch = 0
        self._train_loader = None

    # --- batches -----------------------------------------------------------------------------------
    def _split(self, batch, who: str):
        """(inputs, targets or None) of a batch."""
        if self.unpack is not None:
            return self.unpack(batch)
        if isinstance(batch, Mapping):
            inp = next((k for k in INPUT_KEYS if k in batch), None)
            tgt = next((k for k in TARGET_KEYS if k in batch), None)
            if inp is None:
                raise ValueError(
                    f"Trainer.{who}: a dict batch needs an input key {INPUT_KEYS}, got keys "
                    f"{sorted(map(str, batch))}; pass unpack=fn to Trainer"
                )
            return batch[inp], (batch[tgt] if tgt is not None else None)
        if isinstance(batch, (tuple, list)):
            if not batch:
                raise ValueError(f"Trainer.{who}: empty batch")
            return batch[0], (batch[1] if len(batch) > 1 else None)
        return batch, None

    def _to_device(self, obj):
        """Host arrays (possibly nested) as Tensors on the trainer's device: the explicit transfer."""
        if isinstance(obj, Tensor):
            return obj.to(self.device)
        if isinstance(obj, np.ndarray) or backend.is_array(obj):
            return engine.tensor(obj, device=self.device)
        if isinstance(obj, Mapping):
            return {k: self._to_device(v) for k, v in obj.items()}
        if isinstance(obj, (tuple, list)):
            return type(obj)(self._to_device(v) for v in obj)
        return obj

    def _forward(self, inputs):
        if isinstance(inputs, (tuple, list)):
            return self.model(*inputs)
        return self.model(inputs)

    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    # --- training ------------------------------------------------------------------------------------
    def _nonfinite(self, value: float, where: str) -> NonFiniteLossError:
        if self.last_checkpoint is not None:
            saved = (
                f"The last checkpoint, {self.last_checkpoint} (epoch {self._last_checkpoint_epoch}), "
                f"is intact: resume with fit(..., resume_from=...)."
            )
        else:
            saved = "No checkpoint was written in this run."
        return NonFiniteLossError(
            f"Trainer.fit: the {where} is {value}; training stopped before the update that would spread "
            f"it. {saved} Try a lower learning rate, gradient clipping (grad_clip_norm=...), or look "
            f"for nan/inf in the inputs."
        )

    def _train_epoch(self, loader, epoch: int) -> float:
        self.model.train()
        total, count, batch = 0.0, 0, 0
        for batch, raw in enumerate(loader, start=1):
            inputs, targets = self._split(raw, "fit")
            if targets is None:
                raise ValueError(f"Trainer.fit: batch {batch} of epoch {epoch} has no targets")
            self.optimizer.zero_grad()
            loss = self.loss_fn(self._forward(self._to_device(inputs)), self._to_device(targets))
            value = float(loss.item())
            if not math.isfinite(value):
                of = f"/{self.num_batches}" if self.num_batches else ""
                raise self._nonfinite(value, f"training loss at epoch {epoch}, batch {batch}{of}")
            loss.backward()
            if self.grad_clip_norm is not None:
                clip_grad_norm_(self.model.parameters(), self.grad_clip_norm)
            self.optimizer.step()
            n = _batch_size(targets)
            total += value * n
            count += n
            self.global_step += 1
            self._call(
                "on_batch_end", batch, {"loss": value, "batch_size": n, "lr": self.optimizer.param_groups[0]["lr"]}
            )
        if count == 0:
            raise ValueError(f"Trainer.fit: the training loader gave no samples in epoch {epoch}")
        return total / count

    def fit(self, train_loader, val_loader=None, epochs: int = 1, resume_from=None) -> History:
        """Train until ``epochs`` epochs are completed (counting those of a resumed run).

        train_loader / val_loader: iterables of batches (engine.data.DataLoader, or any re-iterable
        such as a list of (x, y) tuples). resume_from: a checkpoint written by this Trainer's
        ModelCheckpoint / ``save_checkpoint``; model, optimizer, scheduler, random generators, the
        train loader's shuffling, history and callbacks continue from it.
        Returns the history (one row per epoch). Raises NonFiniteLossError on a nan/inf loss.
        """
        if int(epochs) < 1:
            raise ValueError(f"Trainer.fit: epochs must be >= 1, got {epochs}")
        self._train_loader = train_loader
        if resume_from is not None:
            self._resume(resume_from, train_loader)
        elif self.epoch == 0 and self.seed is not None:
            engine.manual_seed(self.seed)
        self.epochs = int(epochs)
        self.stop_training, self.stop_reason = False, None
        self.num_batches = len(train_loader) if hasattr(train_loader, "__len__") else None
        self._call("on_train_begin")
        try:
            for epoch in range(self.epoch + 1, self.epochs + 1):
                self._call("on_epoch_begin", epoch)
                start = time.perf_counter()
                logs = {
                    "epoch": epoch,
                    "lr": self.optimizer.param_groups[0]["lr"],
                    "train_loss": self._train_epoch(train_loader, epoch),
                }
                if val_loader is not None:
                    results = self.evaluate(val_loader)
                    if not math.isfinite(results["loss"]):
                        raise self._nonfinite(results["loss"], f"validation loss after epoch {epoch}")
                    logs.update({f"val_{k}": v for k, v in results.items()})
                logs["time"] = time.perf_counter() - start
                self.epoch = epoch
                self.history.append(logs)
                self._call("on_epoch_end", epoch, logs)
                if self.stop_training:
                    break
        finally:
            self._call("on_train_end")
        return self.history

    # --- evaluation -------------------------------------------------------------------------------------
    def evaluate(self, loader) -> dict:
        """Mean loss over the samples of ``loader`` and every metric: {"loss": ..., name: ...}."""
        was_training = self.model.training
        self.model.eval()
        total, count = 0.0, 0
        predictions, targets_seen = [], []
        try:
            with no_grad():
                for batch, raw in enumerate(loader, start=1):
                    inputs, targets = self._split(raw, "evaluate")
                    if targets is None:
                        raise ValueError(f"Trainer.evaluate: batch {batch} has no targets; use predict()")
                    outputs = self._forward(self._to_device(inputs))
                    value = float(self.loss_fn(outputs, self._to_device(targets)).item())
                    n = _batch_size(targets)
                    total += value * n
                    count += n
                    if self.metrics:
                        predictions.append(_to_host(outputs))
                        targets_seen.append(_to_host(targets))
        finally:
            self.model.train(was_training)
        if count == 0:
            raise ValueError("Trainer.evaluate: the loader gave no samples")
        results = {"loss": total / count}
        if self.metrics:
            preds, targs = _concat(predictions), _concat(targets_seen)
            for name, fn in self.metrics.items():
                value = fn(preds, targs)
                try:
                    results[name] = float(value)
                except (TypeError, ValueError) as exc:
                    raise TypeError(
                        f"Trainer.evaluate: metric {name!r} returned {type(value).__name__}, expected a number"
                    ) from exc
        return results

    def predict(self, loader):
        """Model outputs for every batch of ``loader``, concatenated on the host (NumPy)."""
        was_training = self.model.training
        self.model.eval()
        outputs = []
        try:
            with no_grad():
                for raw in loader:
                    inputs, _ = self._split(raw, "predict")
                    outputs.append(_to_host(self._forward(self._to_device(inputs))))
        finally:
            self.model.train(was_training)
        if not outputs:
            raise ValueError("Trainer.predict: the loader gave no batches")
        return _concat(outputs)

    # --- checkpoints --------------------------------------------------------------------------------------
    def _callback_keys(self) -> list[str]:
        counts: dict = {}
        keys = []
        for cb in self.callbacks:
            name = type(cb).__name__
            keys.append(f"{name}#{counts.get(name, 0)}")
            counts[name] = counts.get(name, 0) + 1
        return keys

    def state_dict(self) -> dict:
        """Progress, history and the callbacks' state (not the model/optimizer: see save_checkpoint)."""
        return {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "history": self.history.state_dict(),
            "callbacks": {key: cb.state_dict() for key, cb in zip(self._callback_keys(), self.callbacks)},
        }

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.global_step = int(state["epoch"]), int(state["global_step"])
        self.history.load_state_dict(state["history"])
        saved = state.get("callbacks", {})
        for key, cb in zip(self._callback_keys(), self.callbacks):
            if key in saved:
                cb.load_state_dict(saved[key])

    def save_checkpoint(self, path, metrics: dict | None = None) -> Path:
        """Save everything needed to resume (engine/train/checkpoint.py) to ``path`` (.npz)."""
        path = _checkpoint.save_checkpoint(
            path,
            self.model,
            self.optimizer,
            self.scheduler,
            epoch=self.epoch,
            rng=True,
            loader=self._train_loader,
            trainer_state=self.state_dict(),
            metadata={"metrics": metrics or {}, "config": self.config, "global_step": self.global_step},
        )
        self.last_checkpoint, self._last_checkpoint_epoch = path, self.epoch
        return path

    def _resume(self, path, loader) -> None:
        info = _checkpoint.load_checkpoint(
            path, self.model, self.optimizer, self.scheduler, loader=loader, restore_rng=True
        )
        if info["trainer_state"] is None:
            raise _checkpoint.CheckpointError(
                f"Trainer.fit: {path} holds no trainer state (it was not written by a Trainer), so training "
                f"cannot resume from it; load its weights with load_checkpoint instead"
            )
        self.load_state_dict(info["trainer_state"])
