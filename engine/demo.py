"""A one-minute demonstration: a small MLP learns two interleaved spirals by back-propagation.

    python -m engine.demo

Written with nothing but tensors and ops (no layers), so every line is the textbook: a
forward pass, a loss, ``loss.backward()``, and a gradient-descent step on each parameter.
"""

from __future__ import annotations

import numpy as np

import engine
import engine.nn.functional as F


def two_spirals(n: int, seed: int = 0):
    """n points per class on two interleaved spirals (a classic non-linearly-separable set)."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.random(n)) * 3 * np.pi
    a = np.stack([t * np.cos(t), t * np.sin(t)], 1) / (3 * np.pi)
    x = np.concatenate([a, -a]) + rng.normal(0, 0.02, (2 * n, 2))
    y = np.concatenate([np.zeros(n), np.ones(n)]).astype(np.int64)
    return x.astype(np.float32), y


def main(steps: int = 400, seed: int = 0) -> list[float]:
    engine.manual_seed(seed)
    x_np, y_np = two_spirals(200, seed)
    x, y = engine.tensor(x_np), engine.tensor(y_np)
    sizes = [2, 64, 64, 2]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = engine.randn(fan_in, fan_out) * float(np.sqrt(2.0 / fan_in))  # He initialisation
        params += [engine.Parameter(w), engine.Parameter(engine.zeros(fan_out))]
    losses = []
    for step in range(steps + 1):
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]  # Output = W^T x + b ...
            if i < len(params) - 2:
                h = engine.relu(h)  # ... passed through phi
        loss = F.cross_entropy(h, y)
        for p in params:
            p.grad = None
        loss.backward()
        with engine.no_grad():
            for p in params:
                p.data -= 0.5 * p.grad.data  # gradient descent
        losses.append(loss.item())
        if step % 50 == 0:
            acc = float((h.argmax(dim=1) == y).numpy().mean())
            print(f"step {step:4d}  loss {loss.item():.4f}  accuracy {acc:.3f}")
    return losses


if __name__ == "__main__":
    main()
