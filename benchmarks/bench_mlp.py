"""MLP 784-256-256-10 training step (forward + backward + SGD update) at batch 128:
medgrad vs PyTorch CPU, float32, same threads.

    python benchmarks/bench_mlp.py
"""

from __future__ import annotations

import harness  # noqa: F401  (sets thread limits before NumPy is imported)
import numpy as np

import engine
import engine.nn.functional as F


def build(case: str = "mlp", framework: str = "medgrad"):
    rng = np.random.default_rng(0)
    sizes = [784, 256, 256, 10]
    Ws = [rng.normal(0, 1 / np.sqrt(i), (o, i)).astype(np.float32) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(o, np.float32) for o in sizes[1:]]
    x = rng.normal(size=(128, 784)).astype(np.float32)
    y = rng.integers(0, 10, 128)
    if framework == "torch":
        torch = harness.torch_or_none()
        params = [torch.tensor(a, requires_grad=True) for pair in zip(Ws, bs) for a in pair]
        tx, ty = torch.tensor(x), torch.tensor(y)

        def step():
            h = tx
            for i in range(3):
                h = torch.nn.functional.linear(h, params[2 * i], params[2 * i + 1])
                if i < 2:
                    h = torch.relu(h)
            loss = torch.nn.functional.cross_entropy(h, ty)
            for p in params:
                p.grad = None
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p -= 0.01 * p.grad
        return step

    params = [engine.Parameter(a) for pair in zip(Ws, bs) for a in pair]
    ex, ey = engine.tensor(x), engine.tensor(y)

    def step():
        h = ex
        for i in range(3):
            h = h @ params[2 * i].T + params[2 * i + 1]
            if i < 2:
                h = h.relu()
        loss = F.cross_entropy(h, ey)
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data -= 0.01 * p.grad.data
    return step


if __name__ == "__main__":
    torch = harness.torch_or_none()
    ours, theirs = harness.compare(build("mlp", "medgrad"), build("mlp", "torch") if torch else None)
    print(f"MLP 784-256-256-10 step, batch 128, {harness.THREADS} threads: medgrad {ours * 1e3:.2f} ms", end="")
    if theirs:
        print(f", PyTorch {theirs * 1e3:.2f} ms, ratio {ours / theirs:.2f}x")
    else:
        print(" (PyTorch not installed: no ratio)")
