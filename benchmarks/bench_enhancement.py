"""DnCNN training steps (and an ESPCN step), medgrad vs PyTorch CPU, one framework per process.

    python benchmarks/bench_enhancement.py                  # every case, medgrad and PyTorch, 2 threads
    python benchmarks/bench_enhancement.py CASE --frameworks medgrad --threads 1

Cases (from the enhancement issue):
  dncnn17   one DnCNN training step: batch 16 of 1x64x64, 17 layers of width 64 (3x3 convolutions,
            batch norm in the 15 middle layers; Zhang et al. 2017), MSE loss on the residual
            prediction, Adam.
  espcn     one ESPCN x2 step: batch 16 of 1x32x32 -> 1x64x64 (5x5 64, 3x3 32, 3x3 4, pixel shuffle).
The PyTorch networks are the same architectures, written here with torch.nn.
Each (framework, case) runs in its own fresh process, interleaved (benchmarks/harness.py); the table gives
medians, the spread of the process medians, peak memory and the step's own memory (--json keeps every round).
"""

from __future__ import annotations

import harness

CASES = {"dncnn17": dict(model="dncnn", batch=16, size=64, depth=17, width=64),
         "espcn": dict(model="espcn", batch=16, size=32, scale=2)}


def _data(case):
    import numpy as np

    rng = np.random.default_rng(0)
    n, s = case["batch"], case["size"]
    x = rng.random((n, 1, s, s), dtype=np.float32)
    out = s * case.get("scale", 1)
    y = rng.random((n, 1, out, out), dtype=np.float32)
    return x, y


def _torch_step(torch, case):
    tnn = torch.nn
    x, y = (torch.from_numpy(a) for a in _data(case))
    if case["model"] == "dncnn":
        w = case["width"]
        layers = [tnn.Conv2d(1, w, 3, padding=1), tnn.ReLU()]
        for _ in range(case["depth"] - 2):
            layers += [tnn.Conv2d(w, w, 3, padding=1, bias=False), tnn.BatchNorm2d(w), tnn.ReLU()]
        body = tnn.Sequential(*layers, tnn.Conv2d(w, 1, 3, padding=1))

        def forward(v):
            return v - body(v)
        model = body
    else:
        r = case["scale"]
        model = tnn.Sequential(tnn.Conv2d(1, 64, 5, padding=2), tnn.Tanh(), tnn.Conv2d(64, 32, 3, padding=1),
                               tnn.Tanh(), tnn.Conv2d(32, r * r, 3, padding=1), tnn.PixelShuffle(r))
        forward = model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = ((forward(x) - y) ** 2).mean()
        loss.backward()
        opt.step()

    return step


def _medgrad_step(case):
    import engine
    from models.dncnn import DnCNN
    from models.srcnn import ESPCN

    engine.manual_seed(0)
    x, y = (engine.tensor(a) for a in _data(case))
    if case["model"] == "dncnn":
        model = DnCNN(depth=case["depth"], width=case["width"])
    else:
        model = ESPCN(case["scale"])
    opt = engine.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()

    return step


def build(case, framework):
    if framework == "torch":
        return _torch_step(harness.torch_or_none(), CASES[case])
    return _medgrad_step(CASES[case])


if __name__ == "__main__":
    harness.main(__file__, CASES, build)
