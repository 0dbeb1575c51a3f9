"""Module hooks, with PyTorch's names and semantics: look at (or change) what flows through a layer.

    handle = model.layer4.register_forward_hook(lambda module, args, output: saved.append(output))
    handle = model.layer4.register_full_backward_hook(lambda module, grad_input, grad_output: ...)
    handle.remove()                       # or: with model.fc.register_forward_hook(fn): ...

* forward pre-hook ``hook(module, args) -> None or new args`` runs before ``forward``;
* forward hook ``hook(module, args, output) -> None or new output`` runs after it;
* full backward hook ``hook(module, grad_input, grad_output) -> None or new grad_input`` runs when
  the gradients with respect to the module's inputs have been computed. ``grad_output`` holds the
  gradient of the loss with respect to the module's output, ``grad_input`` those with respect to its
  positional Tensor inputs (``None`` for an input that needs no gradient). Grad-CAM reads
  ``grad_output`` of a convolutional layer; guided back-propagation rewrites ``grad_input``.

How the backward hook is wired (the same idea as PyTorch's ``BackwardHook``): the module's tensor
inputs pass through an identity ``Function`` before ``forward``, and its output through another one
after it. In the backward pass the output identity sees the output gradient first and keeps it; the
input identity then sees the input gradients, calls the hooks, and passes on what they return. The
identities copy nothing: forward returns the very arrays it was given.

Differences from PyTorch, stated: a module with a backward hook must return a single Tensor (a
recurrent layer's ``(output, state)`` tuple is refused with a clear error; hook a layer that returns
a Tensor instead), and the hooks see and return Tensors of the engine.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict

from engine.autograd import Function
from engine.tensor import Tensor

__all__ = ["RemovableHandle", "call_with_hooks"]

_ids = itertools.count()


class RemovableHandle:
    """What ``register_*_hook`` returns: ``remove()`` detaches the hook; also a context manager."""

    def __init__(self, hooks: OrderedDict):
        self.hooks, self.id = hooks, next(_ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class _HookState:
    """What the two identities share during one backward pass through a hooked module."""

    def __init__(self, module, hooks, n_inputs: int, grad_positions: list[int]):
        self.module, self.hooks = module, hooks
        self.n_inputs, self.grad_positions = n_inputs, grad_positions
        self.grad_output = None

    def fire(self, grads_in: tuple) -> tuple:
        """Call every hook with (grad_input, grad_output); return the final grad_input."""
        full = [None] * self.n_inputs
        for position, g in zip(self.grad_positions, grads_in):
            full[position] = g
        grad_input = tuple(full)
        for hook in list(self.hooks.values()):
            result = hook(self.module, grad_input, self.grad_output)
            if result is not None:
                result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
                if len(result) != self.n_inputs:
                    raise RuntimeError(f"backward hook on {type(self.module).__name__}: returned {len(result)} "
                                       f"gradients for {self.n_inputs} inputs")
                grad_input = result
        return tuple(grad_input[p] for p in self.grad_positions)


class _BackwardHookInputs(Function):
    """Identity on the module's tensor inputs; its backward calls the hooks."""

    def __init__(self, state: _HookState):
        self.state = state

    def forward(self, *xs):
        return xs if len(xs) > 1 else xs[0]

    def backward(self, *grads):
        return self.state.fire(grads)


class _BackwardHookOutput(Function):
    """Identity on the module's output; its backward keeps the output gradient for the hooks."""

    def __init__(self, state: _HookState, fire_here: bool):
        self.state, self.fire_here = state, fire_here

    def forward(self, y):
        return y

    def backward(self, grad):
        self.state.grad_output = (grad,)
        if self.fire_here:  # no input needs a gradient: the hooks run now, with grad_input all None
            self.state.fire(())
        return grad


def call_with_hooks(module, args: tuple, kwargs: dict):
    """``module(*args, **kwargs)`` with its pre-, forward and backward hooks (Module.__call__)."""
    pre = module.__dict__.get("_forward_pre_hooks")
    for hook in list(pre.values()) if pre else ():
        result = hook(module, args)
        if result is not None:
            args = result if isinstance(result, tuple) else (result,)
    backward_hooks = module.__dict__.get("_backward_hooks")
    state = None
    if backward_hooks:
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        state = _HookState(module, backward_hooks, len(args), positions)
        if positions:
            wrapped = _BackwardHookInputs(state)(*(args[i] for i in positions))
            wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
            args = list(args)
            for i, w in zip(positions, wrapped):
                args[i] = w
            args = tuple(args)
    output = module.forward(*args, **kwargs)
    post = module.__dict__.get("_forward_hooks")
    for hook in list(post.values()) if post else ():
        result = hook(module, args, output)
        if result is not None:
            output = result
    if state is not None:
        if not isinstance(output, Tensor):
            raise TypeError(f"register_full_backward_hook: {type(module).__name__} returns "
                            f"{type(output).__name__}, but a module with a backward hook must return one Tensor; "
                            f"hook a layer that does")
        if output.requires_grad:
            output = _BackwardHookOutput(state, fire_here=not state.grad_positions)(output)
    return output
