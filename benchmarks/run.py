"""The speed suite: medgrad vs PyTorch CPU, each (framework, case) in its own fresh process.

    python benchmarks/run.py                       # every case, 2 threads, 3 processes each
    python benchmarks/run.py conv resnet18_train   # some cases
    python benchmarks/run.py --frameworks medgrad  # medgrad alone (PyTorch is optional)

How it measures (benchmarks/harness.py): each measurement is a new Python process with
OMP/OPENBLAS/MKL_NUM_THREADS set to the same value before import; the processes of the two
frameworks are interleaved; each warms up, then times several rounds; the table gives the
median over every round of every process, the spread of the process medians, and each
process's peak memory (with the step's own working memory in brackets). Both frameworks run
float32 from identical weights (our state dict loaded into PyTorch). ``gemm`` is the BLAS
reference: a 1024x1024 float32 matrix product in NumPy ("medgrad" column) and in PyTorch, so
the convolution's GFLOP/s can be read against what the BLAS itself reaches.
"""

from __future__ import annotations

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
    "resnet18_train": "ResNet-18 (MedMNIST, 28x28) training step, batch 128, SGD",
    "resnet18_eval": "ResNet-18 (MedMNIST, 28x28) evaluation forward, batch 128",
    "op_add": "per-op overhead: (a + b).sum() and backward on 4-element tensors",
    "op_chain": "per-op overhead: a chain of 20 element-wise ops on 64 elements, and backward",
    "gemm": "BLAS reference: 1024x1024 float32 matmul (NumPy in the medgrad column)",
    "gemm_conv": "BLAS floor of `conv`: only the matrix products medgrad's convolution makes",
    "gemm_mlp": "BLAS floor of `mlp`: only the matrix products medgrad's MLP step makes",
}
INNER = {"mlp": 5, "lenet": 3, "conv": 1, "lstm": 3, "unet": 1, "resnet18_train": 1, "resnet18_eval": 1,
         "op_add": 500, "op_chain": 50, "gemm": 3,
         "gemm_conv": 1, "gemm_mlp": 5}
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


def _torch_resnet18(torch):
    """PyTorch's twin of models/resnet.py's ResNet18(1, 2) (28x28 MedMNIST variant), with the same
    parameter names, so that our state dict loads into it (strictly: a mismatch is an error)."""
    tnn = torch.nn

    class Block(tnn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
            self.bn1 = tnn.BatchNorm2d(c_out)
            self.conv2 = tnn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
            self.bn2 = tnn.BatchNorm2d(c_out)
            self.relu = tnn.ReLU()
            self.shortcut = (tnn.Sequential(tnn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                            tnn.BatchNorm2d(c_out)) if stride != 1 or c_in != c_out else tnn.Identity())

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))

    class ResNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.stem = tnn.Sequential(tnn.Conv2d(1, 64, 3, padding=1, bias=False), tnn.BatchNorm2d(64), tnn.ReLU())
            blocks, c = [], 64
            for i in range(4):
                for j in range(2):
                    blocks.append(Block(c, 64 * 2**i, 2 if (j == 0 and i > 0) else 1))
                    c = 64 * 2**i
            self.layers = tnn.Sequential(*blocks)
            self.pool = tnn.AdaptiveAvgPool2d(1)
            self.fc = tnn.Linear(c, 2)

        def forward(self, x):
            return self.fc(self.pool(self.layers(self.stem(x))).flatten(1))

    return ResNet()


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


# ------------------------------------------------------------------------------ a peer: DeZero
PEER_CASES = ("mlp", "conv", "op_add", "op_chain")  # what DeZero 0.0.13 expresses directly


def _dezero():
    """DeZero (Saito, "Deep Learning from Scratch 3"; the `bench` extra), or None. Its last release,
    0.0.13, predates NumPy 1.24 and still names ``np.int``: the alias is restored here, in the DeZero
    worker's own process, before it is imported."""
    if not hasattr(np, "int"):
        np.int = int  # noqa: NPY001 - DeZero 0.0.13 needs the removed alias
    try:
        import dezero
    except ImportError:
        return None
    return dezero


def _build_dezero(case: str):
    dz = _dezero()
    if dz is None:
        raise SystemExit("dezero is not installed (pip install -e .[bench])")
    if case not in PEER_CASES:
        raise SystemExit(f"the DeZero column has the cases {', '.join(PEER_CASES)}, not {case}")
    import dezero.functions as DF
    import dezero.layers as DL

    rng = np.random.default_rng(0)
    engine.manual_seed(0)
    if case == "mlp":
        ours = _mlp(nn)
        x = rng.normal(size=(128, 784)).astype(np.float32)
        y = rng.integers(0, 10, 128)
        layers = []
        for m in (m for m in ours if isinstance(m, nn.Linear)):
            layer = DL.Linear(m.out_features, in_size=m.in_features)
            layer.W.data, layer.b.data = m.weight.data.T.copy(), m.bias.data.copy()  # DeZero: x @ W
            layers.append(layer)
        model = dz.Model()
        for i, layer in enumerate(layers):
            setattr(model, f"l{i}", layer)
        opt = dz.optimizers.SGD(lr=0.01).setup(model)

        def step():
            h = x
            for layer in layers[:-1]:
                h = DF.relu(layer(h))
            loss = DF.softmax_cross_entropy(layers[-1](h), y)
            model.cleargrads()
            loss.backward()
            opt.update()
        return step
    if case == "conv":
        ours = nn.Conv2d(32, 64, 3, padding=1)
        conv = DL.Conv2d(64, 3, stride=1, pad=1, in_channels=32)
        conv.W.data, conv.b.data = ours.weight.data.copy(), ours.bias.data.copy()
        x = dz.Variable(rng.normal(size=(32, 32, 64, 64)).astype(np.float32))
        g = rng.normal(size=(32, 64, 64, 64)).astype(np.float32)

        def step():
            x.cleargrad()
            conv.cleargrads()
            y = conv(x)
            y.grad = dz.Variable(g)
            y.backward()
        return step
    n = 4 if case == "op_add" else 64
    a = dz.Variable(rng.normal(size=n).astype(np.float32))
    b = dz.Variable(rng.normal(size=n).astype(np.float32))

    def chain(a, b):
        h = a
        for _ in range(5):
            h = DF.tanh(h * b + a) - b
        return h

    def step():
        a.cleargrad()
        b.cleargrad()
        DF.sum(a + b if case == "op_add" else chain(a, b)).backward()
    return step


def build(case: str, framework: str):
    """A zero-argument callable running one step of ``case`` in ``framework``."""
    if framework == "dezero":
        return _build_dezero(case)
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
    if case.startswith("resnet18"):
        x = rng.normal(size=(128, 1, 28, 28)).astype(np.float32)
        y = rng.integers(0, 2, 128)
        from models.resnet import ResNet18

        ours = ResNet18(in_channels=1, num_classes=2)  # the model `--model resnet18` trains
        theirs = _torch_resnet18(torch) if framework == "torch" else None
        if theirs is not None:
            _copy_weights(ours, theirs)
        if case == "resnet18_train":
            return (_training_step(theirs, x, y, torch.nn.functional.cross_entropy, "torch") if theirs is not None
                    else _training_step(ours, x, y, F.cross_entropy, "medgrad"))
        lib, model = (torch, theirs) if theirs is not None else (engine, ours)
        model.eval()
        tx = lib.tensor(x)

        def step():
            with lib.no_grad():
                model(tx)
        return step
    if case in ("op_add", "op_chain"):
        n = 4 if case == "op_add" else 64
        a0, b0 = rng.normal(size=n).astype(np.float32), rng.normal(size=n).astype(np.float32)
        lib = torch if framework == "torch" else engine
        a, b = lib.tensor(a0, requires_grad=True), lib.tensor(b0, requires_grad=True)

        def chain(a, b):
            h = a
            for _ in range(5):  # 4 ops a turn, 20 in all
                h = (h * b + a).tanh() - b
            return h

        def step():
            a.grad = b.grad = None
            ((a + b) if case == "op_add" else chain(a, b)).sum().backward()
        return step
    if case in ("gemm_conv", "gemm_mlp"):
        return _blas_floor(case, rng, torch)
    if case == "gemm":
        m = rng.normal(size=(1024, 1024)).astype(np.float32)
        if framework == "torch":
            tm = torch.tensor(m)
            return lambda: tm @ tm
        return lambda: m @ m
    raise ValueError(f"unknown case {case!r}; choose from {sorted(CASES)}")


def _floor_products(case: str, rng):
    """The (A, B) operand pairs of every matrix product that medgrad makes in one step of ``case``,
    with the shapes, chunking and transposed views that conv.py and linear.py use."""
    def normal(*shape):
        return rng.normal(size=shape).astype(np.float32)
    if case == "gemm_mlp":  # y = x W^T forward; dW = g^T x and dx = g W backward (no dx for the data)
        sizes = [784, 256, 256, 10]
        pairs = []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            x, w, g = normal(128, a), normal(b, a), normal(128, b)
            pairs += [(x, w.T), (g.T, x)] + ([(g, w)] if i > 0 else [])
        return pairs
    from engine.nn.functional import _im2col as im2col

    grid = 64 * 66  # the stride-1 "flat" grid: 64 rows of the padded width 66
    w = normal(64, 32 * 9)
    pairs = []
    for chunk in im2col.batch_chunks(32, 32 * 9 * grid * 4):
        cols, gy = normal(32 * 9, (chunk.stop - chunk.start) * grid), normal(64, (chunk.stop - chunk.start) * grid)
        pairs += [(w, cols), (cols, gy.T), (w.T, gy)]  # y = W cols; dW^T = cols dY^T; dcols = W^T dY
    return pairs


def _blas_floor(case: str, rng, torch):
    """One step of only the products (BLAS floor): NumPy's OpenBLAS in the medgrad column, the same
    operands through torch.matmul (MKL / oneDNN) in the PyTorch column. A framework's whole step
    cannot be faster than its products, so medgrad's floor against PyTorch's whole step bounds the
    ratio any NumPy-side change could reach without replacing the products themselves."""
    pairs = _floor_products(case, rng)
    if torch is not None:
        pairs = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in pairs]  # shares memory and strides
        return lambda: [torch.matmul(a, b) for a, b in pairs]
    return lambda: [np.matmul(a, b) for a, b in pairs]


def derived_figures(results, args) -> None:
    """The convolution's GFLOP/s next to the GEMM's, both measured in their own processes; and the
    DeZero column when it was asked for (``--frameworks medgrad,torch,dezero``)."""
    peers = [(case, r) for case, r in results.items() if "median_s" in r.get("dezero", {})]
    if peers:
        print("| case | medgrad ms | DeZero 0.0.13 ms | DeZero / medgrad |\n|---|---|---|---|")
        for case, r in peers:
            m, d = r["medgrad"]["median_s"], r["dezero"]["median_s"]
            print(f"| {CASES[case]} | {m * 1e3:.2f} | {d * 1e3:.2f} | {d / m:.2f}x |")
    conv, gemm = results.get("conv", {}).get("medgrad", {}), results.get("gemm", {}).get("medgrad", {})
    if "median_s" in conv and "median_s" in gemm:
        conv_gflops, gemm_gflops = CONV_FLOPS / conv["median_s"] / 1e9, 2 * 1024**3 / gemm["median_s"] / 1e9
        print(f"conv: {conv_gflops:.1f} GFLOP/s = {conv_gflops / gemm_gflops:.2f} of NumPy's GEMM "
              f"({gemm_gflops:.1f} GFLOP/s)")


if __name__ == "__main__":
    harness.main(__file__, CASES, build, INNER, derived_figures)
