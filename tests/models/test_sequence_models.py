"""Sequence classifiers: shapes for any length, the pooling over time, PyTorch twins, gradients."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.gradcheck import gradcheck_module
from models.sequence import CNNLSTM, CNN1d, RecurrentClassifier, build_sequence_model

NAMES = ("cnn", "lstm", "gru", "bilstm", "bigru", "cnn-lstm")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("length", [17, 96])
def test_any_length_gives_one_logit_row_per_series(name, length):
    engine.manual_seed(0)
    model = build_sequence_model(name, 2, 3)
    x = engine.tensor(np.random.default_rng(0).normal(size=(4, 2, length)).astype(np.float32))
    y = model(x)
    assert y.shape == (4, 3) and y.dtype == np.float32
    y.sum().backward()
    assert all(p.grad is not None and np.isfinite(p.grad.numpy()).all() for p in model.parameters())


def test_images_and_wrong_channels_are_refused_with_the_shape():
    model = build_sequence_model("lstm", 1, 2)
    with pytest.raises(ValueError, match=r"RecurrentClassifier: expected signals \(N, 1, T\), got shape "
                                         r"\(2, 1, 28, 28\) \(images\?"):
        model(engine.zeros((2, 1, 28, 28)))
    with pytest.raises(ValueError, match=r"CNN1d: expected signals \(N, 1, T\), got shape \(2, 3, 50\)"):
        CNN1d(1, 2)(engine.zeros((2, 3, 50)))
    with pytest.raises(ValueError, match="unknown sequence model 'transformer'; available: cnn, lstm"):
        build_sequence_model("transformer", 1, 2)
    with pytest.raises(ValueError, match="pool must be one of mean, last"):
        RecurrentClassifier(pool="max")


def _torch_twin(torch, ours, bidirectional):
    rnn = torch.nn.LSTM(1, 5, batch_first=True, bidirectional=bidirectional).double()
    head = torch.nn.Linear(10 if bidirectional else 5, 2).double()
    with torch.no_grad():
        for q, p in zip(list(rnn.parameters()) + list(head.parameters()), ours.parameters()):
            q.copy_(torch.from_numpy(p.detach().numpy()))
    return rnn, head


@pytest.mark.torch
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pool", ["mean", "last"])
def test_recurrent_classifier_equals_torch_lstm_with_the_documented_pooling(torch, bidirectional, pool):
    engine.manual_seed(0)
    ours = RecurrentClassifier(1, 2, hidden_size=5, bidirectional=bidirectional, pool=pool).double()
    rnn, head = _torch_twin(torch, ours, bidirectional)
    x = np.random.default_rng(1).normal(size=(3, 1, 11))
    out, (h_n, _) = rnn(torch.tensor(x).transpose(1, 2))
    if pool == "mean":
        summary = out.mean(1)
    else:  # the final hidden state of each direction: torch's h_n
        summary = torch.cat([h_n[0], h_n[1]], 1) if bidirectional else h_n[0]
    np.testing.assert_allclose(ours(engine.tensor(x)).detach().numpy(), head(summary).detach().numpy(),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("model", [
    lambda: CNN1d(1, 2, width=3),
    lambda: RecurrentClassifier(1, 2, cell="gru", hidden_size=3, bidirectional=True, pool="last"),
    lambda: CNNLSTM(1, 2, width=2, hidden_size=3),
])
def test_gradients_of_inputs_and_parameters_in_float64(model):
    engine.manual_seed(0)
    m = model()
    m.eval()  # batch norm with running statistics: a fixed function of the input
    x = engine.tensor(np.random.default_rng(0).normal(size=(2, 1, 12)), requires_grad=True)
    report = gradcheck_module(m, x, raise_exception=False)
    assert report.passed and report.checked > 20, report
