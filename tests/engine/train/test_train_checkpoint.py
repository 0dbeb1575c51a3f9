"""Checkpoints: one pickle-free .npz plus a JSON sidecar, atomic writes, validation, RNG state,
PyTorch state dicts."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import engine
from engine import backend
from engine.nn import Module, Parameter
from engine.optim import SGD, Adam
from engine.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from engine.tensor import Tensor
from engine.train import (
    CheckpointError,
    export_torch_state_dict,
    import_torch_state_dict,
    load_checkpoint,
    read_checkpoint_metadata,
    save_checkpoint,
)


def _step(model, opt, n=2):
    for _ in range(n):
        opt.zero_grad()
        x = Tensor(backend.to_device(np.ones((2, 4), np.float32), model.w1.device))
        (model(x) * model(x)).sum().backward()
        opt.step()


def _setup(tiny, device="cpu"):
    model = tiny.model(noise=0.0)  # deterministic forward: the optimizer alone decides the next steps
    model.to(device)
    opt = Adam([{"params": [model.w1, model.b1]}, {"params": [model.w2, model.b2], "lr": 0.01}], lr=0.05, amsgrad=True)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    _step(model, opt)
    sched.step()
    return model, opt, sched


def test_round_trip_restores_model_optimizer_scheduler_and_extras(tiny, tmp_path, device):
    model, opt, sched = _setup(tiny, device)
    path = save_checkpoint(
        tmp_path / "ck.npz",
        model,
        opt,
        sched,
        epoch=7,
        extra_arrays={"mask": np.arange(6).reshape(2, 3), "names": np.array(["a", "bb"])},
        metadata={"config": {"lr": 0.05, "tags": ("x", "y")}, "metrics": {"auc": np.float32(0.75)}},
    )
    with np.load(path, allow_pickle=False) as npz:  # readable without pickle
        assert {"model/w1", "model/b2", "extra/mask", "__checkpoint__"} <= set(npz.files)
    fresh, opt2, sched2 = _setup(tiny, "cpu")  # other weights, other optimizer state
    fresh.w1.data = fresh.w1.data + 1.0
    info = load_checkpoint(path, fresh, opt2, sched2)
    assert info["epoch"] == 7 and info["metadata"]["config"] == {"lr": 0.05, "tags": ["x", "y"]}
    assert info["metadata"]["metrics"]["auc"] == 0.75
    np.testing.assert_array_equal(info["extra_arrays"]["mask"], np.arange(6).reshape(2, 3))
    assert info["extra_arrays"]["names"].tolist() == ["a", "bb"]
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[key].numpy(), value.numpy())
    assert sched2.state_dict() == sched.state_dict()
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
    # the optimizer continues identically (the original on its device, the loaded copy on the CPU)
    _step(model, opt)
    _step(fresh, opt2)
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(fresh.state_dict()[key].numpy(), value.numpy(), rtol=1e-6)
    sidecar = json.loads((tmp_path / "ck.json").read_text())
    assert sidecar["epoch"] == 7 and sidecar["optimizer"] == "Adam" and sidecar["scheduler"] == "StepLR"
    assert sidecar["versions"]["numpy"] == np.__version__ and sidecar["versions"]["medgrad"] == engine.__version__


def test_non_finite_values_survive_and_the_sidecar_is_strict_json(tiny, tmp_path):
    model = tiny.model()
    opt = SGD(model.parameters(), lr=0.1)
    sched = ReduceLROnPlateau(opt)  # its initial best is inf
    path = save_checkpoint(tmp_path / "p.npz", model, opt, sched, metadata={"metrics": {"val_loss": float("nan")}})
    sched2 = ReduceLROnPlateau(SGD(model.parameters(), lr=0.1))
    load_checkpoint(path, model, None, sched2)
    assert sched2.best == float("inf")
    sidecar = (tmp_path / "p.json").read_text()
    assert json.loads(sidecar, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert read_checkpoint_metadata(path)["metadata"]["metrics"]["val_loss"] == "nan"


def test_a_crash_mid_save_keeps_the_previous_checkpoint(tiny, tmp_path, monkeypatch):
    model, opt, sched = _setup(tiny)
    path = save_checkpoint(tmp_path / "last.npz", model, opt, sched, epoch=1)
    before = path.read_bytes()
    _step(model, opt)

    def crash(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half a zip file")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, model, opt, sched, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.json", "last.npz"]  # no temporary left
    assert (
        load_checkpoint(
            path,
            tiny.model(),
            Adam(
                [
                    {"params": [Parameter(np.zeros((4, 8), np.float32)), Parameter(np.zeros(8, np.float32))]},
                    {"params": [Parameter(np.zeros((8, 3), np.float32)), Parameter(np.zeros(3, np.float32))]},
                ],
                amsgrad=True,
            ),
        )["epoch"]
        == 1
    )


class _Other(Module):
    def __init__(self):
        super().__init__()
        self.w1 = Parameter(np.zeros((4, 5), np.float32))  # other shape
        self.b1 = Parameter(np.zeros(8, np.float64))  # other dtype
        self.w2 = Parameter(np.zeros((8, 3), np.float32))
        self.extra = Parameter(np.zeros(2, np.float32))  # not in the checkpoint


def test_mismatches_are_all_named_in_one_error(tiny, tmp_path):
    model, opt, _ = _setup(tiny)
    path = save_checkpoint(tmp_path / "ck.npz", model, opt)
    other = _Other()
    before = {k: v.numpy().copy() for k, v in other.state_dict().items()}
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, other, SGD(other.parameters(), lr=0.1), StepLR(SGD(other.parameters(), lr=1), 1))
    msg = str(err.value)
    for expected in [
        "model keys missing from the checkpoint: extra",
        "checkpoint keys the model does not have: b2",
        "model w1: shape (4, 8) in the checkpoint, (4, 5) in the model",
        "model b1: dtype float32 in the checkpoint, float64 in the model",
        "optimizer: the checkpoint holds a Adam, a SGD was given",
        "the checkpoint holds no scheduler state, but a StepLR was given",
    ]:
        assert expected in msg
    for key, value in before.items():  # nothing was loaded
        np.testing.assert_array_equal(other.state_dict()[key].numpy(), value)


def test_optimizer_size_mismatch_is_reported(tiny, tmp_path):
    model, opt, _ = _setup(tiny)
    path = save_checkpoint(tmp_path / "ck.npz", model, opt)
    with pytest.raises(CheckpointError, match="optimizer: the state dict has 2 parameter group"):
        load_checkpoint(path, tiny.model(), Adam(tiny.model().parameters()))


def test_unreadable_files_get_clear_errors(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.npz", tiny.model())
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="is not a readable .npz checkpoint"):
        load_checkpoint(tmp_path / "junk.npz", tiny.model())
    np.savez(tmp_path / "plain.npz", w=np.zeros(2))
    with pytest.raises(CheckpointError, match="is not a medgrad checkpoint"):
        load_checkpoint(tmp_path / "plain.npz", tiny.model())
    with pytest.raises(TypeError, match="dtype object"):
        save_checkpoint(tmp_path / "o.npz", tiny.model(), extra_arrays={"o": np.array([{}, 1], dtype=object)})


def test_random_state_is_restored_only_when_asked(tiny, tmp_path):
    model = tiny.model()
    engine.manual_seed(42)
    path = save_checkpoint(tmp_path / "ck.npz", model)
    expected = (engine.random.default_generator().standard_normal(3), np.random.rand(), __import__("random").random())
    load_checkpoint(path, model)
    assert engine.random.default_generator().standard_normal(3)[0] != expected[0][0]  # not restored
    load_checkpoint(path, model, restore_rng=True)
    again = (engine.random.default_generator().standard_normal(3), np.random.rand(), __import__("random").random())
    np.testing.assert_array_equal(again[0], expected[0])
    assert again[1:] == expected[1:]
    no_rng = save_checkpoint(tmp_path / "norng.npz", model, rng=False)
    with pytest.raises(CheckpointError, match="rng=False"):
        load_checkpoint(no_rng, model, restore_rng=True)


def test_loader_state_is_saved_and_restored(tiny, tmp_path):
    train, _ = tiny.loaders()
    list(train), list(train)  # two epochs consumed
    path = save_checkpoint(tmp_path / "ck.npz", tiny.model(), loader=train)
    expected = [b[1].tolist() for b in train]  # the third epoch's order
    fresh, _ = tiny.loaders()
    load_checkpoint(path, tiny.model(), loader=fresh)
    assert [b[1].tolist() for b in fresh] == expected


@pytest.mark.torch
def test_torch_state_dict_export_and_import(torch, tiny, tmp_path):
    model = tiny.model()
    path = export_torch_state_dict(model, tmp_path / "model.pt")
    state = torch.load(path, weights_only=True)
    assert list(state) == ["w1", "b1", "w2", "b2"]
    np.testing.assert_array_equal(state["w1"].numpy(), model.w1.data)
    state["w2"] = state["w2"] * 2
    torch.save({"state_dict": state}, tmp_path / "wrapped.pt")
    other = tiny.model(seed=5)
    import_torch_state_dict(other, tmp_path / "wrapped.pt")
    np.testing.assert_array_equal(other.w2.data, 2 * model.w2.data)
    np.testing.assert_array_equal(other.b1.data, model.b1.data)


def test_torch_functions_explain_a_missing_torch(tiny, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(ImportError, match="export_torch_state_dict needs PyTorch.*pip install torch"):
        export_torch_state_dict(tiny.model(), tmp_path / "m.pt")
    with pytest.raises(ImportError, match="import_torch_state_dict needs PyTorch"):
        import_torch_state_dict(tiny.model(), tmp_path / "m.pt")
