"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_`` (torch.nn.utils names).

Call between ``loss.backward()`` and ``optimizer.step()``. Clipping the global norm keeps the
direction of the update and bounds its size, the usual cure for exploding gradients in
recurrent networks (Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural
networks", ICML 2013).

Both functions bind a new array to each ``p.grad.data`` instead of writing into it, because the
engine may let several parameters share one gradient array (e.g. both inputs of an addition),
and an in-place write would clip the shared array twice.
"""

from __future__ import annotations

import math

import numpy as np

from engine import backend
from engine.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(parameters, who: str) -> list:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = []
    for i, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise TypeError(f"{who}: parameters[{i}] is a {type(p).__name__}, expected a Tensor/Parameter")
        if p.grad is not None:
            params.append(p)
    return params


def clip_grad_norm_(
    parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> Tensor:
    """Rescale the gradients so that their joint norm is at most ``max_norm``.

    The total norm is the ``norm_type``-norm of all gradients taken as one vector, i.e. the
    norm of the vector of per-parameter norms (``norm_type=inf``: the largest |g|). Every gradient
    is multiplied by ``min(1, max_norm / (total + 1e-6))`` (the 1e-6, as in PyTorch, avoids a
    division by zero).

    parameters: a Tensor or an iterable of Tensors; those without ``.grad`` are ignored.
    error_if_nonfinite: raise RuntimeError when the total norm is nan or inf (costs a device sync).
    Returns the total norm before clipping, as a 0-d Tensor on the gradients' device.
    """
    params = _with_grads(parameters, "clip_grad_norm_")
    norm_type = float(norm_type)
    if not (norm_type > 0 or norm_type == math.inf):
        raise ValueError(f"clip_grad_norm_: norm_type must be positive or inf, got {norm_type}")
    if max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    if not params:
        return Tensor(np.asarray(0.0, dtype=np.float32))
    xp = backend.get_array_module(params[0].grad.data)
    grads = [p.grad.data for p in params if p.grad.data.size > 0]
    if not grads:
        return Tensor(xp.zeros((), dtype=params[0].grad.dtype))
    if norm_type == math.inf:
        total = xp.max(xp.stack([xp.max(xp.abs(g)) for g in grads]))
    elif norm_type == 2.0:
        total = xp.sqrt(xp.sum(xp.stack([xp.sum(g * g) for g in grads])))
    else:
        # sum_i |g_i|^p over every gradient, then the p-th root
        total = xp.sum(xp.stack([xp.sum(xp.abs(g) ** norm_type) for g in grads])) ** (1.0 / norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients of {len(params)} "
            f"parameters is {float(backend.asnumpy(total))}; the gradients cannot be clipped "
            f"(set error_if_nonfinite=False to clip anyway)"
        )
    # computed on the device: no host round trip per step. An infinite norm gives coef 0 and
    # inf * 0 = nan gradients, as in PyTorch; NumPy's warning about it is silenced.
    with np.errstate(invalid="ignore", over="ignore"):
        coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
        for p in params:
            p.grad.data = p.grad.data * coef.astype(p.grad.dtype)
    return Tensor(total)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value].

    parameters: a Tensor or an iterable of Tensors; those without ``.grad`` are ignored.
    """
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    clip_value = float(clip_value)
    for p in _with_grads(parameters, "clip_grad_value_"):
        p.grad.data = p.grad._xp.clip(p.grad.data, -clip_value, clip_value)
