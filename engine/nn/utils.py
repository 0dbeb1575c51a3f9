"""``engine.nn.utils``: gradient clipping (implemented in engine/optim/clip.py) and functional_call."""

from __future__ import annotations

import contextlib

from engine.optim.clip import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_", "functional_call", "swap_parameters"]


def functional_call(module, parameters: dict, *args, **kwargs):
    """Call ``module(*args)`` with some parameters replaced by the given tensors (by dotted name),
    as ``torch.func.functional_call``. Gradients then flow to those tensors, which is how a
    gradient check perturbs a layer's weights without touching the layer."""
    with swap_parameters(module, parameters):
        return module(*args, **kwargs)


@contextlib.contextmanager
def swap_parameters(module, parameters: dict):
    """``with swap_parameters(model, {"fc.weight": t}):`` — the module uses ``t`` in place of that
    parameter inside the block, and gets its own parameter back afterwards (even on error)."""
    owners = dict(module.named_modules())
    saved = []
    try:
        for name, tensor in parameters.items():
            prefix, _, leaf = name.rpartition(".")
            owner = owners.get(prefix)
            if owner is None or leaf not in owner._parameters:
                raise KeyError(f"functional_call: {type(module).__name__} has no parameter {name!r}")
            saved.append((owner, leaf, owner._parameters[leaf]))
            owner._parameters[leaf] = tensor
        yield
    finally:
        for owner, leaf, original in reversed(saved):
            owner._parameters[leaf] = original
