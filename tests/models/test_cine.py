"""CineNet: one packed output per cine, frames handled in one batched call, gradients."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.gradcheck import gradcheck_module
from models.cine import CineNet, split_outputs


@pytest.mark.parametrize("temporal", ["pool", "lstm", "convlstm"])
def test_output_layout_and_any_number_of_frames(temporal):
    engine.manual_seed(0)
    model = CineNet(temporal, width=4, hidden_size=6)
    model.eval()
    for frames in (5, 12):
        x = engine.tensor(np.random.default_rng(frames).random((3, frames, 1, 16, 16)).astype(np.float32))
        out = model(x)
        assert out.shape == (3, 1 + 2 * frames)
        ef, ed, es = split_outputs(out.detach().numpy())
        assert ef.shape == (3,) and ed.shape == es.shape == (3, frames)


def test_the_frame_wise_model_scores_each_frame_from_that_frame_alone():
    # temporal="pool": changing frame 2 changes the scores of frame 2 only (and the pooled EF)
    engine.manual_seed(0)
    model = CineNet("pool", width=4)
    model.eval()
    x = np.random.default_rng(0).random((1, 6, 1, 16, 16)).astype(np.float32)
    y = x.copy()
    y[0, 2] = 1 - y[0, 2]
    with engine.no_grad():
        a, b = model(engine.tensor(x)).numpy(), model(engine.tensor(y)).numpy()
    changed = np.flatnonzero(~np.isclose(a[0], b[0]))
    assert changed.tolist() == [0, 1 + 2, 1 + 6 + 2]
    # the LSTM version lets every frame's score depend on the others
    lstm = CineNet("lstm", width=4, hidden_size=4)
    lstm.eval()
    with engine.no_grad():
        a, b = lstm(engine.tensor(x)).numpy(), lstm(engine.tensor(y)).numpy()
    assert (~np.isclose(a[0], b[0])).sum() == 13


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"CineNet: expected cines \(N, T, 1, H, W\) with H and W divisible by 4, "
                                         r"got shape \(2, 5, 1, 18, 16\)"):
        CineNet("pool")(engine.zeros((2, 5, 1, 18, 16)))
    with pytest.raises(ValueError, match="temporal must be one of pool, lstm, convlstm"):
        CineNet("gru")


@pytest.mark.parametrize("temporal", ["pool", "lstm", "convlstm"])
def test_gradients_in_float64(temporal):
    engine.manual_seed(0)
    model = CineNet(temporal, width=2, hidden_size=2).double()
    model.eval()
    x = engine.tensor(np.random.default_rng(0).random((1, 3, 1, 8, 8)), requires_grad=True)
    report = gradcheck_module(model, x, raise_exception=False, mode="directional")
    assert report.passed, report
