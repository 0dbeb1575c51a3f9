"""Trainer: fitting, evaluation, prediction, reproducibility, resuming, non-finite losses, devices."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.optim import SGD, Adam
from engine.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau, StepLR
from engine.train import (
    Callback,
    CheckpointError,
    EarlyStopping,
    HistoryLogger,
    ModelCheckpoint,
    NonFiniteLossError,
    Trainer,
    load_checkpoint,
    save_checkpoint,
)

NUMERIC = ("epoch", "lr", "train_loss", "val_loss", "val_accuracy")


def _columns(history, keys=NUMERIC):
    return {k: history[k] for k in keys if k in history.columns}


def _params(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _trainer(tiny, model=None, scheduler=None, callbacks=None, lr=0.05, **kwargs):
    model = model if model is not None else tiny.model()
    opt = Adam(model.parameters(), lr=lr)
    sched = scheduler(opt) if scheduler is not None else None
    return Trainer(
        model,
        tiny.loss,
        opt,
        metrics=[tiny.accuracy],
        scheduler=sched,
        callbacks=callbacks,
        seed=3,
        quiet=True,
        **kwargs,
    )


def test_fit_learns_and_records_one_row_per_epoch(tiny):
    train, val = tiny.loaders()
    trainer = _trainer(tiny)
    history = trainer.fit(train, val, epochs=6)
    assert len(history) == 6 and history["epoch"] == [1, 2, 3, 4, 5, 6]
    assert history.columns == ["epoch", "lr", "train_loss", "val_loss", "val_accuracy", "time"]
    assert history["train_loss"][-1] < 0.7 * history["train_loss"][0]
    assert history["val_accuracy"][-1] > 0.7  # chance is about 0.4
    results = trainer.evaluate(val)
    assert set(results) == {"loss", "accuracy"}
    assert results["loss"] == pytest.approx(history["val_loss"][-1])
    assert trainer.epoch == 6 and trainer.global_step == 6 * len(train)
    assert trainer.model.training  # evaluate restores the mode


def test_the_same_seed_gives_bit_identical_runs(tiny):
    runs = []
    for _ in range(2):
        train, val = tiny.loaders()
        trainer = _trainer(tiny, scheduler=lambda o: StepLR(o, step_size=2, gamma=0.5))
        trainer.fit(train, val, epochs=4)
        runs.append((_columns(trainer.history), _params(trainer.model)))
    assert runs[0][0] == runs[1][0]  # exact equality of every loss and metric
    for key in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][key], runs[1][1][key])


def test_resuming_continues_exactly_as_if_uninterrupted(tiny, tmp_path):
    def run(folder, epochs, resume_from=None):
        train, val = tiny.loaders()
        trainer = _trainer(
            tiny,
            scheduler=lambda o: CosineAnnealingLR(o, T_max=5),
            callbacks=[ModelCheckpoint(folder), EarlyStopping(patience=10), HistoryLogger(folder)],
        )
        trainer.fit(train, val, epochs=epochs, resume_from=resume_from)
        return trainer

    straight = run(tmp_path / "straight", 4)
    run(tmp_path / "interrupted", 2)
    # a new process: fresh model (other initial weights), optimizer, scheduler, loader
    engine.manual_seed(123)
    resumed = run(tmp_path / "interrupted", 4, resume_from=tmp_path / "interrupted" / "last.npz")
    assert resumed.history["epoch"] == [1, 2, 3, 4]
    assert _columns(resumed.history) == _columns(straight.history)
    for key, value in _params(straight.model).items():
        np.testing.assert_array_equal(_params(resumed.model)[key], value)
    assert resumed.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"]
    assert resumed.global_step == straight.global_step
    csv_rows = (tmp_path / "interrupted" / "history.csv").read_text().strip().splitlines()
    assert len(csv_rows) == 1 + 4  # header + one row per epoch, none duplicated


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tiny, tmp_path):
    calls = {"n": 0}

    def flaky_loss(outputs, targets):
        calls["n"] += 1
        loss = tiny.loss(outputs, targets)
        return loss * float("nan") if calls["n"] == 2 * 4 + 2 else loss  # epoch 3, batch 2

    class Snapshot(Callback):
        order = 200

        def on_epoch_end(self, trainer, epoch, logs):
            self.params = _params(trainer.model)

    train, _ = tiny.loaders()
    model = tiny.model()
    snapshot = Snapshot()
    trainer = Trainer(
        model,
        flaky_loss,
        SGD(model.parameters(), lr=0.1),
        quiet=True,
        callbacks=[ModelCheckpoint(tmp_path, monitor="train_loss"), snapshot],
    )
    with pytest.raises(NonFiniteLossError, match=r"training loss at epoch 3, batch 2/4 is nan") as err:
        trainer.fit(train, epochs=5)
    assert "last.npz (epoch 2), is intact" in str(err.value)
    assert len(trainer.history) == 2
    fresh = tiny.model(seed=9)
    info = load_checkpoint(tmp_path / "last.npz", fresh)
    assert info["epoch"] == 2
    for key, value in snapshot.params.items():
        np.testing.assert_array_equal(_params(fresh)[key], value)


def test_a_nan_validation_loss_also_stops(tiny):
    train, val = tiny.loaders()
    model = tiny.model()

    def loss_fn(outputs, targets):
        loss = tiny.loss(outputs, targets)
        return loss if model.training else loss * float("inf")

    trainer = Trainer(model, loss_fn, SGD(model.parameters(), lr=0.1), quiet=True)
    with pytest.raises(NonFiniteLossError, match="validation loss after epoch 1 is inf.*No checkpoint"):
        trainer.fit(train, val, epochs=2)


def test_trains_on_every_device_like_on_the_cpu(tiny, device):
    results = {}
    for dev in ("cpu", device):
        train, val = tiny.loaders()
        trainer = _trainer(tiny, device=dev)
        trainer.fit(train, val, epochs=2)
        assert all(p.device == dev for p in trainer.model.parameters())
        results[dev] = (_columns(trainer.history), trainer.predict(val))
    for key in NUMERIC:
        np.testing.assert_allclose(results[device][0][key], results["cpu"][0][key], rtol=1e-5)
    assert isinstance(results[device][1], np.ndarray)
    np.testing.assert_allclose(results[device][1], results["cpu"][1], rtol=1e-4, atol=1e-5)


def test_dict_batches_lists_of_batches_and_predict(tiny):
    x, y = tiny.data(40)
    batches = [{"image": x[i : i + 16], "label": y[i : i + 16]} for i in range(0, 40, 16)]
    trainer = _trainer(tiny)
    trainer.fit(batches, batches, epochs=2)
    assert trainer.num_batches == 3
    predictions = trainer.predict([b["image"] for b in batches])
    assert predictions.shape == (40, 3) and predictions.dtype == np.float32
    np.testing.assert_allclose(trainer.predict(batches), predictions)
    results = trainer.evaluate([(x, y)])
    assert results["accuracy"] == pytest.approx(tiny.accuracy(predictions, y))


def test_one_cycle_is_stepped_per_batch(tiny):
    train, val = tiny.loaders()
    trainer = _trainer(tiny, scheduler=lambda o: OneCycleLR(o, max_lr=0.1, epochs=3, steps_per_epoch=len(train)))
    trainer.fit(train, val, epochs=3)  # a 13th step would raise: the schedule has 12
    assert trainer.scheduler.last_epoch == 3 * len(train)
    assert trainer.history["lr"][0] == pytest.approx(0.1 / 25)


def test_reduce_on_plateau_is_fed_the_monitored_metric(tiny):
    def constant(predictions, targets):
        return 1.0

    train, val = tiny.loaders()
    model = tiny.model()
    opt = SGD(model.parameters(), lr=0.1)
    trainer = Trainer(
        model,
        tiny.loss,
        opt,
        metrics={"const": constant},
        quiet=True,
        scheduler=ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5),
        scheduler_monitor="val_const",
    )
    trainer.fit(train, val, epochs=4)
    assert trainer.history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.025])


def test_gradient_clipping_bounds_every_update(tiny):
    train, _ = tiny.loaders()
    model = tiny.model()
    before = _params(model)
    trainer = Trainer(model, tiny.loss, SGD(model.parameters(), lr=1.0), quiet=True, grad_clip_norm=1e-3)
    trainer.fit([next(iter(train))], epochs=1)
    moved = np.sqrt(sum(np.sum((_params(model)[k] - v) ** 2) for k, v in before.items()))
    assert moved == pytest.approx(1e-3, rel=1e-4)  # unclipped, lr=1 would move it far more


def test_bad_use_is_reported_clearly(tiny, tmp_path):
    x, y = tiny.data(8)
    trainer = _trainer(tiny)
    with pytest.raises(ValueError, match="batch 1 of epoch 1 has no targets"):
        trainer.fit([x], epochs=1)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        trainer.fit([(x, y)], epochs=0)
    with pytest.raises(ValueError, match="needs an input key"):
        trainer.fit([{"pixels": x, "label": y}], epochs=1)
    with pytest.raises(TypeError, match="Callback instances"):
        Trainer(tiny.model(), tiny.loss, SGD(tiny.model().parameters(), lr=0.1), callbacks=[print])
    with pytest.raises(ValueError, match="'loss' is reserved"):
        Trainer(tiny.model(), tiny.loss, SGD(tiny.model().parameters(), lr=0.1), metrics={"loss": tiny.accuracy})
    with pytest.raises(TypeError, match="metric 'shape' returned tuple"):
        Trainer(
            tiny.model(),
            tiny.loss,
            SGD(tiny.model().parameters(), lr=0.1),
            metrics={"shape": lambda p, t: p.shape},
            quiet=True,
        ).evaluate([(x, y)])
    plain = save_checkpoint(tmp_path / "weights.npz", trainer.model, trainer.optimizer)
    with pytest.raises(CheckpointError, match="holds no trainer state"):
        trainer.fit([(x, y)], epochs=2, resume_from=plain)
