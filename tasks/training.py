"""Training a network inside an experiment: the engine's Trainer, wired from the run's options.

``fit`` builds what every experiment's training needs from ``ctx.config`` — the optimiser
(``optimizer``, ``lr``, ``weight_decay``), the learning-rate schedule (``schedule``), checkpoints
selected on a validation metric the experiment chooses (``monitor``), early stopping
(``patience``), the history files — resumes an interrupted run, and finally loads the weights of
the best validation epoch. Model selection therefore happens on the validation split only; the
test split is for the experiment's final evaluation.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import time

import numpy as np

from tasks.errors import UsageError


@dataclasses.dataclass
class FitResult:
    history: list  # one dict per epoch (train_loss, val_loss, val_<metric>, lr, time)
    train_seconds: float
    best_epoch: int  # the epoch whose weights the model now holds
    trainer: object


_EXTRA_CALLBACKS = contextvars.ContextVar("extra_callbacks", default=())


@contextlib.contextmanager
def extra_callbacks(*callbacks):
    """Add Trainer callbacks to every ``fit`` inside the block.

    How a sweep watches a trial it did not write: ``with extra_callbacks(LearningCurveStopping(...)):
    run_experiment(...)`` lets the callback read each epoch's validation values and stop the run.
    """
    token = _EXTRA_CALLBACKS.set(_EXTRA_CALLBACKS.get() + tuple(callbacks))
    try:
        yield
    finally:
        _EXTRA_CALLBACKS.reset(token)


def make_optimizer(config, parameters):
    from engine import optim

    cls = {"adam": optim.Adam, "adamw": optim.AdamW, "sgd": optim.SGD}[config.optimizer]
    kwargs = dict(lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        kwargs["momentum"] = 0.9
    return cls(parameters, **kwargs)


def make_scheduler(config, optimizer, epochs: int | None = None):
    """cosine annealing to 0 over the epochs, constant, or x0.1 at 50% and 75% (MedMNIST v2)."""
    from engine import optim

    epochs = epochs or config.epochs
    if config.schedule == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if config.schedule == "step":
        milestones = sorted({max(1, round(epochs * 0.5)), max(1, round(epochs * 0.75))})
        return optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    return None


def fit(ctx, model, loss_fn, train_loader, val_loader, metrics=None, monitor: str = "val_loss",
        mode: str = "min", grad_clip_norm: float | None = None, epochs: int | None = None) -> FitResult:
    """Train ``model`` and leave it holding the weights of the best ``monitor`` epoch.

    epochs: the number of epochs when the experiment derives it (e.g. from a budget of updates);
    default ``config.epochs``.
    metrics: {name: fn(outputs, targets) -> float} on host arrays, logged as ``val_<name>``.
    monitor/mode: the validation value that selects the checkpoint ("val_auc", "max").
    """
    from engine.train import EarlyStopping, HistoryLogger, ModelCheckpoint, Trainer, load_checkpoint

    config = ctx.config
    optimizer = make_optimizer(config, model.parameters())
    callbacks = [ModelCheckpoint(ctx.checkpoints_dir, monitor=monitor, mode=mode), HistoryLogger(ctx.run_dir)]
    if config.patience:
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=config.patience))
    callbacks.extend(_EXTRA_CALLBACKS.get())
    trainer = Trainer(model, loss_fn, optimizer, metrics=metrics, scheduler=make_scheduler(config, optimizer, epochs),
                      device=config.device, callbacks=callbacks, seed=config.seed, quiet=config.quiet,
                      grad_clip_norm=grad_clip_norm, config={"experiment": ctx.experiment.name, **config.to_dict()})
    started = time.time()
    history = list(trainer.fit(train_loader, val_loader, epochs=epochs or config.epochs, resume_from=ctx.resume_from))
    train_seconds = time.time() - started
    best = ctx.checkpoints_dir / "best.npz"
    if not best.is_file():
        # never evaluate the last epoch in its place: that would be selection by accident
        raise UsageError(f"the checkpoint selected on {monitor} ({best}) is missing; the run cannot be evaluated "
                         f"honestly (was it deleted?)")
    load_checkpoint(best, model)
    scores = [row.get(monitor) for row in history]
    valid = [(s, i) for i, s in enumerate(scores) if s is not None and np.isfinite(s)]
    if valid:
        best_epoch = (max(valid) if mode == "max" else min(valid))[1] + 1
    else:
        best_epoch = len(history)
    return FitResult(history, train_seconds, best_epoch, trainer)


def predict(ctx, model, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Model outputs for the host array ``x`` (N, ...), in eval mode and without a graph."""
    import engine

    was_training = model.training
    model.eval()
    outputs = []
    try:
        with engine.no_grad():
            for start in range(0, len(x), batch_size):
                batch = engine.tensor(np.ascontiguousarray(x[start:start + batch_size]), device=ctx.device)
                outputs.append(model(batch).numpy())
    finally:
        model.train(was_training)
    return np.concatenate(outputs) if outputs else np.zeros((0,), dtype=np.float32)
