"""Detection speed, medgrad vs PyTorch CPU, one framework per process.

    python benchmarks/bench_detection.py                  # every case, medgrad and PyTorch, 2 threads
    python benchmarks/bench_detection.py CASE --frameworks medgrad --threads 1

Cases (from the detection issue):
  heatmap_step   one training step of the centre-heatmap network (models/heatmap_detector.py: a U-Net of depth
                 2, width 16, batch norm, nearest up-sampling, heatmap + radius heads), batch 8 of 1x128x128,
                 penalty-reduced focal loss + masked L1 on the radius, Adam. PyTorch runs the same network
                 and loss written with torch.nn.
  peaks_128cube  candidate extraction on one 128^3 heatmap: max pooling 3x3x3 (stride 1, padding 1), keep
                 where the map equals its pooled value and exceeds 0.5, list the coordinates and scores.
Each (framework, case) runs in its own fresh process, interleaved (benchmarks/harness.py); the table gives
medians, the spread of the process medians, peak memory and the step's own memory (--json keeps every round).
"""

from __future__ import annotations

import harness

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


def build(case, framework):
    if framework == "torch":
        return _torch_cases(harness.torch_or_none())[case]
    return _medgrad_cases()[case]


if __name__ == "__main__":
    harness.main(__file__, dict.fromkeys(CASES), build)
