"""DC-CNN training steps, medgrad vs PyTorch CPU, one framework per process.

    python benchmarks/bench_reconstruction.py                  # every case, medgrad and PyTorch, 2 threads
    python benchmarks/bench_reconstruction.py CASE --frameworks medgrad --threads 1

Case (from the reconstruction issue): one DC-CNN training step, batch 4 of 2x128x128 complex images,
5 cascades of 5 3x3 convolutions with 32 feature maps (Schlemper et al. 2018 use 5 cascades of 5
convolutions with 64), hard data consistency with centred orthonormal FFTs, MSE loss, Adam.
``dccnn64`` is the same at 64x64. The PyTorch network is the same architecture, written here with
torch.fft on complex tensors.
Each (framework, case) runs in its own fresh process, interleaved (benchmarks/harness.py); the table gives
medians, the spread of the process medians, peak memory and the step's own memory (--json keeps every round).
"""

from __future__ import annotations

import harness

CASES = {"dccnn128": dict(batch=4, size=128, cascades=5, convs=5, nf=32),
         "dccnn64": dict(batch=4, size=64, cascades=5, convs=5, nf=32)}


def _data(case):
    import numpy as np

    rng = np.random.default_rng(0)
    n, s = case["batch"], case["size"]
    target = rng.standard_normal((n, s, s)) + 1j * rng.standard_normal((n, s, s))
    mask = np.zeros((n, s, s), np.float32)
    mask[:, :, rng.random(s) < 0.25] = 1
    mask[:, :, s // 2 - 4:s // 2 + 4] = 1
    ax = (-2, -1)
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(target, axes=ax), norm="ortho"), axes=ax) * mask
    zf = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=ax), norm="ortho"), axes=ax)
    return zf.astype(np.complex64), k.astype(np.complex64), mask, target.astype(np.complex64)


def _torch_step(torch, case):
    tnn = torch.nn
    zf, k, mask, target = (torch.from_numpy(a) for a in _data(case))
    dims = (-2, -1)

    def fft2c(z):
        return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(z, dim=dims), norm="ortho"), dim=dims)

    def ifft2c(z):
        return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(z, dim=dims), norm="ortho"), dim=dims)

    def cnn():
        nf, layers = case["nf"], [tnn.Conv2d(2, case["nf"], 3, padding=1), tnn.ReLU()]
        for _ in range(case["convs"] - 2):
            layers += [tnn.Conv2d(nf, nf, 3, padding=1), tnn.ReLU()]
        return tnn.Sequential(*layers, tnn.Conv2d(nf, 2, 3, padding=1))

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.cnns = tnn.ModuleList([cnn() for _ in range(case["cascades"])])

        def forward(self, x):  # x complex (N, H, W)
            for c in self.cnns:
                ch = torch.view_as_real(x).permute(0, 3, 1, 2)
                ch = ch + c(ch)
                kp = fft2c(torch.view_as_complex(ch.permute(0, 2, 3, 1).contiguous()))
                x = ifft2c(kp + mask * (k - kp))
            return x

    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = (torch.view_as_real(model(zf) - target) ** 2).mean()
        loss.backward()
        opt.step()

    return step


def _medgrad_step(case):
    import engine
    from engine.fft import to_complex_layout
    from models.dccnn import DCCNN

    zf, k, mask, target = _data(case)
    engine.manual_seed(0)
    model = DCCNN(n_cascades=case["cascades"], nf=case["nf"], n_convs=case["convs"])
    opt = engine.optim.Adam(model.parameters(), lr=1e-3)
    x, k0, y = (engine.tensor(to_complex_layout(a)) for a in (zf, k, target))
    m = engine.tensor(mask)

    def step():
        opt.zero_grad()
        loss = ((model(x, k0, m) - y) ** 2).mean()
        loss.backward()
        opt.step()

    return step


def build(case, framework):
    if framework == "torch":
        return _torch_step(harness.torch_or_none(), CASES[case])
    return _medgrad_step(CASES[case])


if __name__ == "__main__":
    harness.main(__file__, CASES, build)
