"""fit(): training wired from the run's options; selection on validation, never by accident."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine import nn
from engine.data import DataLoader, TensorDataset
from tasks.context import RunContext
from tasks.errors import UsageError
from tasks.experiment import Experiment
from tasks.options import COMMON, Config, training_options
from tasks.training import fit, make_scheduler, predict


def _ctx(tmp_path, **overrides):
    values = {o.name: o.default for o in (*COMMON, *training_options(epochs=4, lr=0.1))}
    values.update(quiet=True, **overrides)
    exp = Experiment()
    exp.name = "toy"
    return RunContext(exp, Config(values), tmp_path)


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return x, y


def test_fit_loads_the_best_validation_epoch(tmp_path):
    ctx = _ctx(tmp_path)
    x, y = _data()
    model = nn.Linear(2, 2)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=0)
    val = DataLoader(TensorDataset(x, y), batch_size=64)
    acc = {"acc": lambda out, t: float((out.argmax(1) == t).mean())}
    result = fit(ctx, model, F.cross_entropy, loader, val, metrics=acc, monitor="val_loss", mode="min")
    losses = [row["val_loss"] for row in result.history]
    assert result.best_epoch == int(np.argmin(losses)) + 1
    # the model holds the best epoch's weights: its validation loss is the best one logged
    with engine.no_grad():
        best = float(F.cross_entropy(model(engine.tensor(x)), engine.tensor(y)).item())
    assert best == pytest.approx(min(losses), rel=1e-5)
    assert (tmp_path / "history.jsonl").is_file() and (tmp_path / "checkpoints" / "last.npz").is_file()
    assert predict(ctx, model, x, batch_size=10).shape == (64, 2)


def test_a_missing_selected_checkpoint_stops_the_run(tmp_path, monkeypatch):
    from engine.train import ModelCheckpoint

    monkeypatch.setattr(ModelCheckpoint, "on_epoch_end", lambda self, trainer, epoch, logs: None)
    ctx = _ctx(tmp_path, epochs=1)
    x, y = _data()
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    with pytest.raises(UsageError, match="best.npz.*missing"):
        fit(ctx, nn.Linear(2, 2), F.cross_entropy, loader, loader, monitor="val_loss")


def test_step_schedule_is_the_medmnist_recipe(tmp_path):
    ctx = _ctx(tmp_path, epochs=100, schedule="step", lr=1e-3)
    opt = engine.optim.Adam(nn.Linear(2, 2).parameters(), lr=1e-3)
    sched = make_scheduler(ctx.config, opt)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert lrs[49] == pytest.approx(1e-3) and lrs[50] == pytest.approx(1e-4) and lrs[75] == pytest.approx(1e-5)
    assert make_scheduler(_ctx(tmp_path, schedule="constant").config, opt) is None


def test_rng_streams_are_seeded_and_independent(tmp_path):
    a, b = _ctx(tmp_path, seed=3), _ctx(tmp_path, seed=3)
    assert a.rng("split").random() == b.rng("split").random()
    assert a.rng("split").random() != a.rng("augment").random()
    assert _ctx(tmp_path, seed=4).rng("split").random() != a.rng("split").random()
