"""The speed suite: each case is one training (or forward+backward) step, medgrad vs PyTorch CPU.

    python benchmarks/run.py                 # all cases, 2 threads each, table on stdout
    python benchmarks/run.py mlp conv        # some cases
    python benchmarks/run.py --memory        # also peak memory (one subprocess per case and framework)

Both frameworks run float32 in the same process with the same thread limit (harness.py),
timed in alternating rounds; the ratio is medgrad's median time over PyTorch's. The GEMM
reference is a plain NumPy float32 1024x1024 matrix multiply on the same machine, so the
convolution's GFLOP/s can be compared with what the BLAS itself reaches.
"""

from __future__ import annotations

import argparse

import harness
import numpy as np

import engine
import engine.nn.functional as F
from engine import nn

CASES = {
    "mlp": "MLP 784-256-256-10 training step, batch 128",
    "lenet": "LeNet-5 training step, batch 128 of 1x28x28",
    "conv": "Conv2d 3x3 32->64 forward+backward on 32x32x64x64",
    "lstm": "LSTM (input 64, hidden 128, 32 steps, batch 32) forward+backward",
    "unet": "two-level U-Net (1->16->32), training step, batch 8 of 64x64",
}
CONV_FLOPS = 3 * 2 * 32 * 64 * 64 * 64 * 32 * 9  # forward + two backward GEMMs


# ------------------------------------------------------------------------------ the networks, twice
class UNetOurs(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.enc2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(32, 32, 3, padding=1), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.dec = nn.Sequential(nn.Conv2d(32, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 1, 1))

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        return self.dec(engine.cat([self.up(e2), e1], dim=1))


def _torch_unet(torch):
    tnn = torch.nn

    class UNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.enc1 = tnn.Sequential(tnn.Conv2d(1, 16, 3, padding=1), tnn.ReLU(), tnn.Conv2d(16, 16, 3, padding=1),
                                       tnn.ReLU())
            self.enc2 = tnn.Sequential(tnn.Conv2d(16, 32, 3, padding=1), tnn.ReLU(), tnn.Conv2d(32, 32, 3, padding=1),
                                       tnn.ReLU())
            self.pool = tnn.MaxPool2d(2)
            self.up = tnn.ConvTranspose2d(32, 16, 2, stride=2)
            self.dec = tnn.Sequential(tnn.Conv2d(32, 16, 3, padding=1), tnn.ReLU(), tnn.Conv2d(16, 1, 1))

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(self.pool(e1))
            return self.dec(torch.cat([self.up(e2), e1], 1))

    return UNet()


def _lenet(lib):
    return lib.Sequential(
        lib.Conv2d(1, 6, 5, padding=2), lib.Tanh(), lib.AvgPool2d(2),
        lib.Conv2d(6, 16, 5), lib.Tanh(), lib.AvgPool2d(2), lib.Flatten(),
        lib.Linear(400, 120), lib.Tanh(), lib.Linear(120, 84), lib.Tanh(), lib.Linear(84, 10))


def _mlp(lib):
    return lib.Sequential(lib.Linear(784, 256), lib.ReLU(), lib.Linear(256, 256), lib.ReLU(), lib.Linear(256, 10))


def _training_step(model, x, y, loss_fn, framework):
    """forward, loss, backward, SGD update: the same four lines in both frameworks."""
    if framework == "torch":
        import torch

        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        tx, ty = torch.tensor(x), torch.tensor(y)

        def step():
            opt.zero_grad()
            loss_fn(model(tx), ty).backward()
            opt.step()
        return step
    opt = engine.optim.SGD(model.parameters(), lr=0.01)
    ex, ey = engine.tensor(x), engine.tensor(y)

    def step():
        opt.zero_grad()
        loss_fn(model(ex), ey).backward()
        opt.step()
    return step


def _copy_weights(ours, theirs):
    """Start both from identical weights (our state dict loaded into PyTorch)."""
    import torch

    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})


def build(case: str, framework: str):
    """A zero-argument callable running one step of ``case`` in ``framework``."""
    rng = np.random.default_rng(0)
    torch = harness.torch_or_none() if framework == "torch" else None
    engine.manual_seed(0)
    if case in ("mlp", "lenet"):
        x = rng.normal(size=(128, 784) if case == "mlp" else (128, 1, 28, 28)).astype(np.float32)
        y = rng.integers(0, 10, 128)
        ours = _mlp(nn) if case == "mlp" else _lenet(nn)
        if framework == "torch":
            theirs = _mlp(torch.nn) if case == "mlp" else _lenet(torch.nn)
            _copy_weights(ours, theirs)
            return _training_step(theirs, x, y, torch.nn.functional.cross_entropy, "torch")
        return _training_step(ours, x, y, F.cross_entropy, "medgrad")
    if case == "unet":
        x = rng.normal(size=(8, 1, 64, 64)).astype(np.float32)
        y = (rng.random((8, 1, 64, 64)) > 0.5).astype(np.float32)
        ours = UNetOurs()
        if framework == "torch":
            theirs = _torch_unet(torch)
            _copy_weights(ours, theirs)
            return _training_step(theirs, x, y, torch.nn.functional.binary_cross_entropy_with_logits, "torch")
        return _training_step(ours, x, y, F.binary_cross_entropy_with_logits, "medgrad")
    if case == "conv":
        x = rng.normal(size=(32, 32, 64, 64)).astype(np.float32)
        g = rng.normal(size=(32, 64, 64, 64)).astype(np.float32)
        ours = nn.Conv2d(32, 64, 3, padding=1)
        if framework == "torch":
            theirs = torch.nn.Conv2d(32, 64, 3, padding=1)
            _copy_weights(ours, theirs)
            tx, tg = torch.tensor(x, requires_grad=True), torch.tensor(g)

            def step():
                tx.grad = None
                theirs.zero_grad()
                theirs(tx).backward(tg)
            return step
        ex, eg = engine.tensor(x, requires_grad=True), engine.tensor(g)

        def step():
            ex.grad = None
            ours.zero_grad()
            ours(ex).backward(eg)
        return step
    if case == "lstm":
        x = rng.normal(size=(32, 32, 64)).astype(np.float32)
        ours = nn.LSTM(64, 128)
        if framework == "torch":
            theirs = torch.nn.LSTM(64, 128)
            _copy_weights(ours, theirs)
            tx = torch.tensor(x, requires_grad=True)

            def step():
                tx.grad = None
                theirs.zero_grad()
                out, _ = theirs(tx)
                out.sum().backward()
            return step
        ex = engine.tensor(x, requires_grad=True)

        def step():
            ex.grad = None
            ours.zero_grad()
            out, _ = ours(ex)
            out.sum().backward()
        return step
    raise ValueError(f"unknown case {case!r}; choose from {sorted(CASES)}")


def gemm_gflops(rounds: int = 7) -> float:
    a = np.random.default_rng(0).normal(size=(1024, 1024)).astype(np.float32)
    times = harness.time_step(lambda: a @ a, rounds, 3)
    return 2 * 1024**3 / float(np.median(times)) / 1e9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=list(CASES))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--memory", action="store_true", help="also measure peak memory (slower)")
    args = parser.parse_args(argv)
    torch = harness.torch_or_none()
    print(f"threads: {harness.THREADS}; numpy {np.__version__}" + (f"; torch {torch.__version__}" if torch else
                                                                      "; torch not installed (no ratios)"))
    gemm = gemm_gflops()
    print(f"NumPy float32 1024x1024 matmul: {gemm:.1f} GFLOP/s")
    print("| case | medgrad (ms) | PyTorch (ms) | ratio | peak MB medgrad / PyTorch |")
    print("|---|---|---|---|---|")
    for case in args.cases:
        ours, theirs = harness.compare(build(case, "medgrad"), build(case, "torch") if torch else None,
                                       rounds=args.rounds, inner=3 if case in ("conv", "unet") else 5)
        ratio = f"{ours / theirs:.2f}x" if theirs else "–"
        mem = "–"
        if args.memory:
            m1 = harness.peak_rss_mb("run", case, "medgrad")
            m2 = harness.peak_rss_mb("run", case, "torch") if torch else None
            mem = f"{m1:.0f} / {m2:.0f}" if m1 is not None and m2 is not None else f"{m1}"
        extra = ""
        if case == "conv":
            extra = f" ({CONV_FLOPS / ours / 1e9:.1f} GFLOP/s = {CONV_FLOPS / ours / 1e9 / gemm:.2f} of the GEMM)"
        print(f"| {CASES[case]}{extra} | {ours * 1e3:.1f} | {theirs * 1e3 if theirs else float('nan'):.1f} | "
              f"{ratio} | {mem} |", flush=True)


if __name__ == "__main__":
    main()
