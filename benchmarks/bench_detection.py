"""Detection speed, medgrad vs PyTorch CPU, one framework per process.

    python benchmarks/bench_detection.py --framework medgrad [--threads 2] [--case heatmap_step|peaks_128cube]
    python benchmarks/bench_detection.py --framework torch

Cases (from the detection issue):
  heatmap_step   one training step of the centre-heatmap network (models/heatmap_detector.py: a U-Net of depth
                 2, width 16, batch norm, nearest up-sampling, heatmap + radius heads), batch 8 of 1x128x128,
                 penalty-reduced focal loss + masked L1 on the radius, Adam. PyTorch runs the same network
                 and loss written with torch.nn.
  peaks_128cube  candidate extraction on one 128^3 heatmap: max pooling 3x3x3 (stride 1, padding 1), keep
                 where the map equals its pooled value and exceeds 0.5, list the coordinates and scores.
Prints one JSON line per case: case, framework, median_ms, min_ms, max_ms, peak_mb (peak RSS of the process,
getrusage; it includes the framework's own footprint).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

CASES = ("heatmap_step", "peaks_128cube")
WIDTH, DEPTH, BATCH, SIZE = 16, 2, 8, 128


def _data():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, 1, SIZE, SIZE)).astype(np.float32)
    target = np.zeros((BATCH, 2, SIZE, SIZE), np.float32)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for b in range(BATCH):  # three Gaussian centres per image (set-up, not timed)
        for cy, cx in rng.integers(10, SIZE - 10, (3, 2)):
            target[b, 0] = np.maximum(target[b, 0], np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0))
            target[b, 1, cy, cx] = 4.0
    heat = rng.random((1, 1, SIZE, SIZE, SIZE)).astype(np.float32)
    return x, target, heat


def _torch_cases(torch):
    tnn, F = torch.nn, torch.nn.functional
    x_np, t_np, heat_np = _data()

    def block(a, b):
        return tnn.Sequential(tnn.Conv2d(a, b, 3, padding=1, bias=False), tnn.BatchNorm2d(b), tnn.ReLU(),
                              tnn.Conv2d(b, b, 3, padding=1, bias=False), tnn.BatchNorm2d(b), tnn.ReLU())

    widths = [WIDTH * 2**i for i in range(DEPTH + 1)]

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.down = tnn.ModuleList([block(a, b) for a, b in zip([1, *widths[:-1]], widths)])
            self.up = tnn.ModuleList([block(widths[i] + widths[i + 1], widths[i]) for i in reversed(range(DEPTH))])
            self.heads = tnn.Conv2d(widths[0], 2, 1)

        def forward(self, x):
            skips = []
            for i, b in enumerate(self.down):
                x = b(x if i == 0 else F.max_pool2d(x, 2))
                skips.append(x)
            for b, s in zip(self.up, reversed(skips[:-1])):
                x = b(torch.cat([F.interpolate(x, scale_factor=2, mode="nearest"), s], 1))
            return self.heads(x)

    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, t = torch.from_numpy(x_np), torch.from_numpy(t_np)
    centre = t[:, :1] == 1

    def step():
        opt.zero_grad()
        out = model(x)
        z, y = out[:, :1], t[:, :1]
        ls = F.logsigmoid
        terms = torch.where(y == 1, torch.sigmoid(-z) ** 2 * ls(z), (1 - y) ** 4 * torch.sigmoid(z) ** 2 * ls(-z))
        focal = -terms.sum() / centre.sum().clamp(min=1)
        size = ((out[:, 1:] - t[:, 1:]).abs() * centre).sum() / centre.sum().clamp(min=1)
        (focal + 0.1 * size).backward()
        opt.step()

    heat = torch.from_numpy(heat_np)

    def peaks():
        with torch.no_grad():
            pooled = F.max_pool3d(heat, 3, stride=1, padding=1)
            keep = (heat == pooled) & (heat >= 0.5)
            return keep.nonzero(), heat[keep]

    return {"heatmap_step": step, "peaks_128cube": peaks}


def _medgrad_cases():
    import engine
    import engine.nn.functional as F
    from models.heatmap_detector import HeatmapDetector, heatmap_peaks

    x_np, t_np, heat_np = _data()
    engine.manual_seed(0)
    model = HeatmapDetector(1, dims=2, width=WIDTH, depth=DEPTH, size_head=True)
    opt = engine.optim.Adam(model.parameters(), lr=1e-3)
    x = engine.tensor(x_np)
    t = engine.tensor(t_np)
    centre = t_np[:, :1] == 1

    def step():
        opt.zero_grad()
        out = model(x)
        loss = F.heatmap_focal_loss(out[:, :1], t[:, :1]) + 0.1 * F.masked_l1_loss(out[:, 1:], t[:, 1:], centre)
        loss.backward()
        opt.step()

    heat = engine.tensor(heat_np)
    return {"heatmap_step": step, "peaks_128cube": lambda: heatmap_peaks(heat, kernel_size=3, threshold=0.5)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=("medgrad", "torch"), required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--case", choices=CASES, action="append")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before the framework (and its BLAS) is imported
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.framework == "torch":
        import torch

        torch.set_num_threads(args.threads)
        cases = _torch_cases(torch)
    else:
        cases = _medgrad_cases()
    for name in args.case or list(CASES):
        fn = cases[name]
        fn()  # warm-up (allocations, BLAS start-up)
        times = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"case": name, "framework": args.framework, "median_ms": round(times[len(times) // 2], 1),
                          "min_ms": round(times[0], 1), "max_ms": round(times[-1], 1), "peak_mb": round(peak_mb)}),
              flush=True)


if __name__ == "__main__":
    main()
