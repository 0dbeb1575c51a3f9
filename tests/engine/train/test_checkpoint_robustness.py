"""Checkpoints a hostile user can craft, and the temporary files of killed writes (issue 22).

load_checkpoint reads and checks everything before it changes anything, and turns every
malformed input into one CheckpointError; atomic writes clean up after killed writers and give
their files the usual permissions.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from engine import nn
from engine.optim import Adam
from engine.optim.lr_scheduler import StepLR
from engine.train import CheckpointError, load_checkpoint, read_checkpoint_metadata, save_checkpoint
from engine.train._atomic import atomic_write_text


def _model(seed):
    rng = np.random.default_rng(seed)
    model = nn.Linear(3, 2)
    for p in model.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    return model


def _weights(model):
    return {k: v.data.copy() for k, v in model.state_dict().items()}


def _rewrite(path, change):
    """Rewrite the .npz at path: change(arrays: dict, structure: dict) edits them in place."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    structure = json.loads(arrays["__checkpoint__"].item())
    change(arrays, structure)
    arrays["__checkpoint__"] = np.array(json.dumps(structure))
    np.savez(path, allow_pickle=True, **arrays)


@pytest.fixture
def saved(tmp_path):
    model = _model(0)
    opt = Adam(model.parameters(), lr=0.1)
    sched = StepLR(opt, step_size=2)
    path = save_checkpoint(tmp_path / "last.npz", model, opt, sched, epoch=3, extra_arrays={"ids": np.arange(4)})
    return path


def _fresh():
    model = _model(1)
    opt = Adam(model.parameters(), lr=0.1)
    return model, opt, StepLR(opt, step_size=2)


def test_a_pickled_extra_array_is_refused_before_the_model_changes(saved):
    _rewrite(saved, lambda arrays, _: arrays.__setitem__("extra/ids", np.array([{"x": 1}, None], dtype=object)))
    model, opt, sched = _fresh()
    before = _weights(model)
    with pytest.raises(CheckpointError, match=r"extra/ids.*without pickle"):
        load_checkpoint(saved, model, opt, sched)
    for k, v in _weights(model).items():
        np.testing.assert_array_equal(v, before[k])  # untouched (it was changed before the fix)


CRAFTED = {
    "model section is a string": lambda a, s: s.__setitem__("model", "Linear"),
    "model keys not a list": lambda a, s: s["model"].__setitem__("keys", {"weight": 1}),
    "array key missing": lambda a, s: s["model"]["keys"].append("ghost"),
    "state refers to a missing array": lambda a, s: s["optimizer"]["state"].__setitem__("__dict__", [
        ["state", {"__dict__": [[0, {"__dict__": [["exp_avg", {"__array__": "state/999"}]]}]]}],
        ["param_groups", []]]),
    "optimizer section garbage": lambda a, s: s.__setitem__("optimizer", {"class": "Adam", "state": [1, 2]}),
    "optimizer params not a list": lambda a, s: s["optimizer"]["state"]["__dict__"][1][1][0]["__dict__"].__setitem__(
        -1, ["params", 7]),
    "scheduler state of another shape": lambda a, s: s["scheduler"].__setitem__("state", {"__dict__": [["x", 1]]}),
    "unknown tag": lambda a, s: s.__setitem__("trainer", {"__set__": [1]}),
    "extra names not strings": lambda a, s: s.__setitem__("extra", [1, 2]),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_a_crafted_structure_is_one_checkpoint_error_and_changes_nothing(saved, case):
    _rewrite(saved, CRAFTED[case])
    model, opt, sched = _fresh()
    before, lr_before = _weights(model), sched.state_dict()
    with pytest.raises(CheckpointError):
        load_checkpoint(saved, model, opt, sched)
    for k, v in _weights(model).items():
        np.testing.assert_array_equal(v, before[k])
    assert sched.state_dict() == lr_before and opt.state == {}


def test_a_structure_that_is_not_a_record_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "odd.npz"
    np.savez(path, __checkpoint__=np.array(json.dumps([1, 2, 3])))
    with pytest.raises(CheckpointError, match="not a medgrad checkpoint"):
        load_checkpoint(path, _model(0))
    np.savez(path, __checkpoint__=np.array(json.dumps({"format": "medgrad-checkpoint", "version": 1})))
    with pytest.raises(CheckpointError, match="malformed"):
        read_checkpoint_metadata(path)
    with pytest.raises(CheckpointError, match="no model section"):
        load_checkpoint(path, _model(0))


def test_a_good_checkpoint_still_loads_everything(saved):
    model, opt, sched = _fresh()
    out = load_checkpoint(saved, model, opt, sched)
    np.testing.assert_array_equal(out["extra_arrays"]["ids"], np.arange(4))
    np.testing.assert_array_equal(model.weight.data, _model(0).weight.data)
    assert out["epoch"] == 3


# --- atomic writes --------------------------------------------------------------------------------
def test_temporary_files_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    # a writer killed mid-write leaves its temporary file behind
    code = ("import os, sys; from engine.train._atomic import atomic_write\n"
            "atomic_write(sys.argv[1], lambda f: (f.write(b'half'), f.flush(), os._exit(9)))")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "last.npz")], check=False,
                   cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".last.npz.") and left[0].endswith(".tmp")
    mine = tmp_path / f".other.json.{os.getpid()}.abcdefgh.tmp"  # a live writer's file: kept
    mine.write_text("in progress")
    atomic_write_text(tmp_path / "history.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, "history.json"])


def test_checkpoints_and_histories_get_the_permissions_of_ordinary_files(tmp_path):
    previous = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "last.npz", _model(0))
        atomic_write_text(tmp_path / "history.csv", "epoch\n")
        for p in (path, path.with_suffix(".json"), tmp_path / "history.csv"):
            assert stat.S_IMODE(p.stat().st_mode) == 0o644, p.name  # mkstemp alone gives 0600
        os.chmod(path, 0o640)  # replacing a file keeps the mode its owner chose
        save_checkpoint(path, _model(0))
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    finally:
        os.umask(previous)
    assert zipfile.is_zipfile(path)
