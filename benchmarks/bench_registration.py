"""Registration speed, medgrad vs PyTorch CPU, one framework per process.

    python benchmarks/bench_registration.py                  # every case, medgrad and PyTorch, 2 threads
    python benchmarks/bench_registration.py CASE --frameworks medgrad --threads 1

Cases (from the registration issue):
  grid_sample2d  grid_sample forward + backward (to input and grid), bilinear, border padding,
                 align_corners=True: input 8x1x128x128, grid 8x128x128x2
  grid_sample3d  the same in 3-D: input 1x1x64^3, grid 1x64^3x3
  vxm2d          one VoxelMorph training step: batch 8 of 2x128x128 (moving + fixed), U-Net encoder
                 16-32-32-32, decoder 32-32-32-32-16-16, flow head, spatial transformer, local NCC (window 9,
                 separable box sums in both frameworks) + diffusion regulariser, Adam
  vxm3d          the same in 3-D: batch 1 of 2x64^3
Each (framework, case) runs in its own fresh process, interleaved (benchmarks/harness.py); the table gives
medians, the spread of the process medians, peak memory and the step's own memory (--json keeps every round).
"""

from __future__ import annotations

import harness

CASES = {
    "grid_sample2d": dict(kind="grid", dims=2, batch=8, size=128),
    "grid_sample3d": dict(kind="grid", dims=3, batch=1, size=64),
    "vxm2d": dict(kind="vxm", dims=2, batch=8, size=128),
    "vxm3d": dict(kind="vxm", dims=3, batch=1, size=64),
}
ENCODER, DECODER = (16, 32, 32, 32), (32, 32, 32, 32, 16, 16)


def _data(case):
    import numpy as np

    rng = np.random.default_rng(0)
    spatial = (case["size"],) * case["dims"]
    image = rng.random((case["batch"], 1, *spatial)).astype(np.float32)
    grid = rng.uniform(-1, 1, (case["batch"], *spatial, case["dims"])).astype(np.float32)
    pair = rng.random((case["batch"], 2, *spatial)).astype(np.float32)
    return image, grid, pair


# ------------------------------------------------------------------------------------------------ PyTorch
def _torch_vxm(torch, dims):
    tnn = torch.nn
    Conv = tnn.Conv2d if dims == 2 else tnn.Conv3d

    def conv(a, b, stride=1):
        return tnn.Sequential(Conv(a, b, 3, stride=stride, padding=1), tnn.LeakyReLU(0.2))

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            c, skips = 2, [2]
            self.down = tnn.ModuleList()
            for w in ENCODER:
                self.down.append(conv(c, w, 2))
                c = w
                skips.append(c)
            skips.pop()
            self.up = tnn.ModuleList()
            for w in DECODER[:len(ENCODER)]:
                self.up.append(conv(c, w))
                c = w + skips.pop()
            self.extra = tnn.ModuleList()
            for w in DECODER[len(ENCODER):]:
                self.extra.append(conv(c, w))
                c = w
            self.flow = Conv(c, dims, 3, padding=1)

        def forward(self, x):
            skips = [x]
            for layer in self.down:
                x = layer(x)
                skips.append(x)
            skips.pop()
            for layer in self.up:
                x = torch.nn.functional.interpolate(layer(x), scale_factor=2, mode="nearest")
                x = torch.cat([x, skips.pop()], 1)
            for layer in self.extra:
                x = layer(x)
            return self.flow(x)

    return Net()


def _torch_warp(torch, moving, flow):
    dims = flow.shape[1]
    sizes = flow.shape[2:]
    mesh = torch.meshgrid(*[torch.arange(s, dtype=flow.dtype) for s in sizes], indexing="ij")
    comps = [2 * (flow[:, a] + mesh[a]) / (sizes[a] - 1) - 1 for a in reversed(range(dims))]
    grid = torch.stack(comps, -1)
    return torch.nn.functional.grid_sample(moving, grid, padding_mode="border", align_corners=True)


def _torch_box(torch, x, window=9):
    dims = x.ndim - 2
    c = x.shape[1]
    conv = torch.nn.functional.conv2d if dims == 2 else torch.nn.functional.conv3d
    for axis in range(dims):
        shape = [1] * dims
        shape[axis] = window
        pad = [0] * dims
        pad[axis] = window // 2
        x = conv(x, torch.ones(c, 1, *shape), padding=tuple(pad), groups=c)
    return x


def _torch_ncc(torch, i, j, window=9):
    size = float(window ** (i.ndim - 2))
    s = _torch_box(torch, torch.cat([i, j, i * i, j * j, i * j], 1), window)
    si, sj, sii, sjj, sij = s.split(1, 1)
    mi, mj = si / size, sj / size
    cross = sij - mj * si - mi * sj + mi * mj * size
    vi = sii - 2 * mi * si + mi * mi * size
    vj = sjj - 2 * mj * sj + mj * mj * size
    return -(cross * cross / (vi * vj + 1e-5)).mean()


def _torch_step(torch, case):
    image, grid, pair = _data(case)
    if case["kind"] == "grid":
        x, g = torch.from_numpy(image).requires_grad_(), torch.from_numpy(grid).requires_grad_()

        def step():
            x.grad = g.grad = None
            out = torch.nn.functional.grid_sample(x, g, padding_mode="border", align_corners=True)
            out.sum().backward()

        return step
    net = _torch_vxm(torch, case["dims"])
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    pair = torch.from_numpy(pair)

    def step():
        opt.zero_grad()
        flow = net(pair)
        warped = _torch_warp(torch, pair[:, :1], flow)
        reg = sum((flow.diff(dim=2 + a) ** 2).mean() for a in range(case["dims"])) / case["dims"]
        loss = _torch_ncc(torch, warped, pair[:, 1:]) + reg
        loss.backward()
        opt.step()

    return step


# ------------------------------------------------------------------------------------------------ medgrad
def _medgrad_step(case):
    import engine
    import engine.nn.functional as F
    from models.voxelmorph import VoxelMorph

    image, grid, pair = _data(case)
    if case["kind"] == "grid":
        x, g = engine.tensor(image, requires_grad=True), engine.tensor(grid, requires_grad=True)

        def step():
            x.grad = g.grad = None
            F.grid_sample(x, g, padding_mode="border", align_corners=True).sum().backward()

        return step
    engine.manual_seed(0)
    net = VoxelMorph(case["dims"], encoder=ENCODER, decoder=DECODER)
    opt = engine.optim.Adam(net.parameters(), lr=1e-4)
    pair = engine.tensor(pair)

    def step():
        opt.zero_grad()
        warped, flow = net(pair[:, :1], pair[:, 1:])
        loss = F.local_ncc_loss(warped, pair[:, 1:]) + F.diffusion_loss(flow)
        loss.backward()
        opt.step()

    return step


def build(case, framework):
    if framework == "torch":
        return _torch_step(harness.torch_or_none(), CASES[case])
    return _medgrad_step(CASES[case])


if __name__ == "__main__":
    harness.main(__file__, CASES, build)
