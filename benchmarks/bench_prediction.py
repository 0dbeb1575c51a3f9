"""Prediction speed, medgrad vs PyTorch CPU, one framework per process.

    python benchmarks/bench_prediction.py                  # every case, medgrad and PyTorch, 2 threads
    python benchmarks/bench_prediction.py CASE --frameworks medgrad --threads 1

Cases:
  cox_loss_4096     forward + backward of the negative Cox partial log-likelihood (Breslow) of 4096 risk
                    scores with distinct times (PyTorch: sort, torch.logcumsumexp, the same formula).
  deepsurv_step     one full-batch training step of DeepSurv (MLP 7-32-32-1, dropout 0.2, Adam) on 512
                    patients with the Cox loss.
  brainnetcnn_step  one training step of BrainNetCNN (E2E 8, E2N 16, N2G 32, FC 1; 90 regions), batch 32,
                    MSE, Adam. PyTorch: E2E and E2N as (1, R) and (R, 1) convolutions (Kawahara's code).
Each (framework, case) runs in its own fresh process, interleaved (benchmarks/harness.py); the table gives
medians, the spread of the process medians, peak memory and the step's own memory (--json keeps every round).
"""

from __future__ import annotations

import os

import harness

CASES = ("cox_loss_4096", "deepsurv_step", "brainnetcnn_step")
R = 90


def _data(case):
    import numpy as np

    rng = np.random.default_rng(0)
    if case == "cox_loss_4096":
        return rng.normal(size=4096).astype(np.float32), rng.exponential(1.0, 4096), rng.random(4096) < 0.7
    if case == "deepsurv_step":
        return rng.normal(size=(512, 7)).astype(np.float32), rng.exponential(1.0, 512), rng.random(512) < 0.7
    x = rng.normal(size=(32, 1, R, R)).astype(np.float32)
    return (x + x.transpose(0, 1, 3, 2)) / 2, rng.normal(size=32).astype(np.float32)


def build_medgrad(case):
    import numpy as np

    import engine
    import engine.nn.functional as F
    from models.brainnetcnn import BrainNetCNN
    from models.deepsurv import DeepSurv

    engine.manual_seed(0)
    if case == "cox_loss_4096":
        eta, t, e = _data(case)
        tt, te = engine.tensor(t.astype(np.float32)), engine.tensor(e.astype(np.float32))

        def step():
            x = engine.tensor(eta, requires_grad=True)
            F.cox_ph_loss(x, tt, te, ties="breslow").backward()
        return step
    if case == "deepsurv_step":
        x, t, e = _data(case)
        model = DeepSurv(7, hidden=(32, 32), dropout=0.2)
        opt = engine.optim.Adam(model.parameters(), lr=1e-3)
        xt, tt, te = engine.tensor(x), engine.tensor(t.astype(np.float32)), engine.tensor(e.astype(np.float32))

        def step():
            opt.zero_grad()
            F.cox_ph_loss(model(xt), tt, te).backward()
            opt.step()
        return step
    x, y = _data(case)
    model = BrainNetCNN(R, 1, e2e=8, e2n=16, n2g=32, dropout=0.5)
    opt = engine.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = engine.tensor(x), engine.tensor(y)

    def step():
        opt.zero_grad()
        F.mse_loss(model(xt).reshape(-1), yt).backward()
        opt.step()
    return step


def build_torch(case, threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tnn = torch.nn

    def cox(eta, t, e):  # Breslow, distinct times: risk sets are prefixes of the time-descending order
        order = torch.argsort(t, descending=True)
        s, ev = eta.reshape(-1)[order], e[order]
        return ((torch.logcumsumexp(s, 0) - s) * ev).sum() / ev.sum()

    if case in ("cox_loss_4096", "deepsurv_step"):
        data = _data(case)
        t, e = torch.tensor(data[1], dtype=torch.float32), torch.tensor(data[2], dtype=torch.float32)
        if case == "cox_loss_4096":
            eta = torch.tensor(data[0])

            def step():
                x = eta.clone().requires_grad_(True)
                cox(x, t, e).backward()
            return step
        model = tnn.Sequential(tnn.Linear(7, 32), tnn.ReLU(), tnn.Dropout(0.2), tnn.Linear(32, 32), tnn.ReLU(),
                               tnn.Dropout(0.2), tnn.Linear(32, 1, bias=False))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.tensor(data[0])

        def step():
            opt.zero_grad()
            cox(model(x), t, e).backward()
            opt.step()
        return step

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.row, self.col = tnn.Conv2d(1, 8, (1, R)), tnn.Conv2d(1, 8, (R, 1), bias=False)
            self.e2n = tnn.Conv2d(8, 16, (1, R))
            self.n2g = tnn.Conv2d(16, 32, (R, 1))
            self.fc = tnn.Linear(32, 1)
            self.act, self.drop = tnn.LeakyReLU(0.33), tnn.Dropout(0.5)

        def forward(self, a):
            h = self.act(self.row(a) + self.col(a))
            h = self.drop(self.act(self.n2g(self.act(self.e2n(h)))))
            return self.fc(h.flatten(1))

    x, y = (torch.tensor(a) for a in _data(case))
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x).reshape(-1), y).backward()
        opt.step()
    return step


def build(case, framework):
    if framework == "torch":
        return build_torch(case, int(os.environ.get("OMP_NUM_THREADS", "2")))
    return build_medgrad(case)


if __name__ == "__main__":
    harness.main(__file__, dict.fromkeys(CASES), build)
