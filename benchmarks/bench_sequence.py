"""Sequence-classification speed, medgrad vs PyTorch CPU, one framework per process.

    python benchmarks/bench_sequence.py                  # every case, medgrad and PyTorch, 2 threads
    python benchmarks/bench_sequence.py gru_step --frameworks medgrad --threads 1

Cases (the ``medgrad run sequence`` models on ECG-length series):
  lstm_step   one training step (forward, cross-entropy, backward, Adam) of RecurrentClassifier: an LSTM
              1 -> 64 over 140 steps, mean over time, Linear(64, 2); batch 64.
  gru_step    the same with a GRU.
  cnn_step    the same with CNN1d (the FCN baseline, width 64).
PyTorch runs the same architecture (torch.nn.LSTM/GRU with batch_first, .mean(1), Linear) from the same
initial weights. Each (framework, case) runs in its own fresh process, interleaved (benchmarks/harness.py).
"""

from __future__ import annotations

import os

import harness

CASES = ("lstm_step", "gru_step", "cnn_step")
BATCH, LENGTH, HIDDEN = 64, 140, 64


def _data():
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.normal(size=(BATCH, 1, LENGTH)).astype(np.float32), rng.integers(0, 2, BATCH)


def _ours(case):
    from models.sequence import build_sequence_model

    return build_sequence_model(case.removesuffix("_step"), 1, 2, **({} if case == "cnn_step" else
                                                                        {"hidden_size": HIDDEN}))


def build_medgrad(case):
    import engine
    import engine.nn.functional as F

    engine.manual_seed(0)
    x, y = _data()
    model = _ours(case)
    opt = engine.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = engine.tensor(x), engine.tensor(y)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(xt), yt).backward()
        opt.step()
    return step


def build_torch(case, threads):
    import torch

    import engine

    torch.set_num_threads(threads)
    tnn = torch.nn
    engine.manual_seed(0)
    ours = _ours(case)

    class Recurrent(tnn.Module):
        def __init__(self, cell):
            super().__init__()
            self.rnn = cell(1, HIDDEN, batch_first=True)
            self.classifier = tnn.Linear(HIDDEN, 2)

        def forward(self, x):
            return self.classifier(self.rnn(x.transpose(1, 2))[0].mean(1))

    class FCN(tnn.Module):
        def __init__(self, w=64):
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Conv1d(1, w, 8, padding="same"), tnn.BatchNorm1d(w), tnn.ReLU(),
                tnn.Conv1d(w, 2 * w, 5, padding="same"), tnn.BatchNorm1d(2 * w), tnn.ReLU(),
                tnn.Conv1d(2 * w, w, 3, padding="same"), tnn.BatchNorm1d(w), tnn.ReLU())
            self.classifier = tnn.Linear(w, 2)

        def forward(self, x):
            return self.classifier(self.features(x).mean(2))

    model = {"lstm_step": lambda: Recurrent(tnn.LSTM), "gru_step": lambda: Recurrent(tnn.GRU),
             "cnn_step": FCN}[case]()
    model.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = _data()
    xt, yt = torch.tensor(x), torch.tensor(y)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return step


def build(case, framework):
    if framework == "torch":
        return build_torch(case, int(os.environ.get("OMP_NUM_THREADS", "2")))
    return build_medgrad(case)


if __name__ == "__main__":
    harness.main(__file__, dict.fromkeys(CASES), build)
