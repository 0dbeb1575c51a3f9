"""U-Net training steps, medgrad vs PyTorch CPU, one framework per process.

    python benchmarks/bench_segmentation.py                  # every case, medgrad and PyTorch, 2 threads
    python benchmarks/bench_segmentation.py CASE --frameworks medgrad --threads 1

Cases (from the segmentation issue): a U-Net 2D training step (batch 8 of 1x128x128, depth 4,
width 16, batch norm, transposed convolutions, 2 classes, Dice + cross-entropy, Adam) and a 3D
step (batch 2 of 1x64^3, depth 3, width 8). The PyTorch network is the same architecture
(tests/models/test_unet.py checks that both give the same outputs and gradients).
Each (framework, case) runs in its own fresh process, interleaved (benchmarks/harness.py); the table gives
medians, the spread of the process medians, peak memory and the step's own memory (--json keeps every round).

Memory cases (medgrad only, one inference each): ``window2d`` segments a 512x512 image with a 2D U-Net
(depth 4, width 16) by sliding 128x128 windows, ``window3d`` a 128^3 volume with a 3D U-Net (depth 3,
width 8) by 64^3 windows; overlap 0.5, Gaussian blending (tasks/inference.py).
"""

from __future__ import annotations

import harness

CASES = {"unet2d": dict(dims=2, batch=8, size=128, depth=4, width=16),
         "unet3d": dict(dims=3, batch=2, size=64, depth=3, width=8)}
WINDOW_CASES = {"window2d": dict(dims=2, size=512, patch=128, depth=4, width=16, batch=4),
                "window3d": dict(dims=3, size=128, patch=64, depth=3, width=8, batch=2)}


def _sliding_window(case):
    import numpy as np

    import engine
    from models.unet import UNet
    from tasks.inference import sliding_window_inference

    engine.manual_seed(0)
    model = UNet(1, 2, dims=case["dims"], depth=case["depth"], width=case["width"])
    model.eval()
    image = np.random.default_rng(0).random((1,) + (case["size"],) * case["dims"]).astype(np.float32)

    def probabilities(batch):
        with engine.no_grad():
            return engine.nn.functional.softmax(model(engine.tensor(batch)), dim=1).numpy()

    def step():
        sliding_window_inference(probabilities, image, (case["patch"],) * case["dims"], 2, overlap=0.5,
                                 batch_size=case["batch"])

    return step


def _torch_unet(torch, dims, depth, width):
    tnn = torch.nn
    Conv = tnn.Conv2d if dims == 2 else tnn.Conv3d
    ConvT = tnn.ConvTranspose2d if dims == 2 else tnn.ConvTranspose3d
    BN = tnn.BatchNorm2d if dims == 2 else tnn.BatchNorm3d
    pool = tnn.MaxPool2d(2) if dims == 2 else tnn.MaxPool3d(2)

    def block(a, b):
        return tnn.Sequential(Conv(a, b, 3, padding=1, bias=False), BN(b), tnn.ReLU(),
                              Conv(b, b, 3, padding=1, bias=False), BN(b), tnn.ReLU())

    chans = [width * 2**i for i in range(depth)]

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.enc = tnn.ModuleList([block(1 if i == 0 else chans[i - 1], c) for i, c in enumerate(chans)])
            self.ups = tnn.ModuleList([ConvT(chans[i], chans[i - 1], 2, stride=2) for i in range(depth - 1, 0, -1)])
            self.dec = tnn.ModuleList([block(2 * chans[i - 1], chans[i - 1]) for i in range(depth - 1, 0, -1)])
            self.head = Conv(chans[0], 2, 1)

        def forward(self, x):
            feats = []
            for i, b in enumerate(self.enc):
                x = b(x if i == 0 else pool(x))
                feats.append(x)
            y = feats[-1]
            for u, b, s in zip(self.ups, self.dec, reversed(feats[:-1])):
                y = b(torch.cat([u(y), s], 1))
            return self.head(y)

    return Net()


def _torch_step(torch, case):
    model = _torch_unet(torch, case["dims"], case["depth"], case["width"])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    import numpy as np

    rng = np.random.default_rng(0)
    shape = (case["batch"], 1) + (case["size"],) * case["dims"]
    x = torch.from_numpy(rng.normal(size=shape).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 2, (shape[0],) + shape[2:]))
    onehot = torch.nn.functional.one_hot(y, 2).movedim(-1, 1).float()
    axes = list(range(2, x.ndim))

    def step():
        opt.zero_grad()
        logits = model(x)
        p = torch.softmax(logits, 1)
        dice = 1 - (2 * (p * onehot).sum(axes) + 1e-5) / (p.sum(axes) + onehot.sum(axes) + 1e-5)
        loss = dice.mean() + torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        opt.step()

    return step


def _medgrad_step(case):
    import numpy as np

    import engine
    import engine.nn.functional as F
    from models.unet import UNet

    engine.manual_seed(0)
    model = UNet(1, 2, dims=case["dims"], depth=case["depth"], width=case["width"])
    opt = engine.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    shape = (case["batch"], 1) + (case["size"],) * case["dims"]
    x = engine.tensor(rng.normal(size=shape).astype(np.float32))
    y = engine.tensor(rng.integers(0, 2, (shape[0],) + shape[2:]))

    def step():
        opt.zero_grad()
        loss = F.dice_ce_loss(model(x), y)
        loss.backward()
        opt.step()

    return step


def build(case, framework):
    if case in WINDOW_CASES:
        if framework != "medgrad":
            raise SystemExit(f"case {case} measures medgrad's sliding-window inference only")
        return _sliding_window(WINDOW_CASES[case])
    if framework == "torch":
        return _torch_step(harness.torch_or_none(), CASES[case])
    return _medgrad_step(CASES[case])


if __name__ == "__main__":
    harness.main(__file__, {**CASES, **WINDOW_CASES}, build)
