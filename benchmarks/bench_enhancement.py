"""DnCNN training steps (and an ESPCN step), medgrad vs PyTorch CPU, one framework per process.

    python benchmarks/bench_enhancement.py --framework medgrad [--threads 2] [--case dncnn17]
    python benchmarks/bench_enhancement.py --framework torch

Cases (from the enhancement issue):
  dncnn17   one DnCNN training step: batch 16 of 1x64x64, 17 layers of width 64 (3x3 convolutions,
            batch norm in the 15 middle layers; Zhang et al. 2017), MSE loss on the residual
            prediction, Adam.
  espcn     one ESPCN x2 step: batch 16 of 1x32x32 -> 1x64x64 (5x5 64, 3x3 32, 3x3 4, pixel shuffle).
The PyTorch networks are the same architectures, written here with torch.nn.
Prints one JSON line per case: case, framework, median_ms, min_ms, max_ms, peak_mb (peak RSS of the
process from getrusage, the framework's own footprint included).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=("medgrad", "torch"), required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--case", choices=tuple(CASES), action="append")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before the framework (and its BLAS) is imported
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    torch = None
    if args.framework == "torch":
        import torch

        torch.set_num_threads(args.threads)
    for name in args.case or ["dncnn17"]:
        case = CASES[name]
        step = _torch_step(torch, case) if args.framework == "torch" else _medgrad_step(case)
        step()  # warm-up (allocations, BLAS start-up)
        times = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            step()
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"case": name, "framework": args.framework, "median_ms": round(times[len(times) // 2], 1),
                          "min_ms": round(times[0], 1), "max_ms": round(times[-1], 1), "peak_mb": round(peak_mb)}),
              flush=True)


if __name__ == "__main__":
    main()
