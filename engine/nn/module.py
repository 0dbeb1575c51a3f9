"""Module: the base class of every layer and network (``torch.nn.Module``'s semantics).

A Module owns Parameters (trainable tensors), buffers (state that is saved but not trained,
such as BatchNorm's running mean) and child Modules, discovered by attribute assignment:

    class Perceptron(Module):
        def __init__(self, n):
            super().__init__()
            self.fc = Linear(n, 1)          # a child module
        def forward(self, x):               # x: (N, n)
            return sigmoid(self.fc(x))

Parameter names are dotted paths ("fc.weight"), exactly as PyTorch names them, so a state
dict moves between the two frameworks unchanged.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from engine import backend
from engine.nn.hooks import RemovableHandle, call_with_hooks
from engine.tensor import Parameter, Tensor, to_numpy

__all__ = ["Module"]


class Module:
    """Base class for layers and networks."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        for store in ("_forward_pre_hooks", "_forward_hooks", "_backward_hooks"):  # engine/nn/hooks.py
            object.__setattr__(self, store, OrderedDict())

    # --- registration by assignment ---------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if name in self._buffers and (value is None or isinstance(value, Tensor)) and not isinstance(value, Parameter):
            self._buffers[name] = value  # updating a registered buffer (e.g. a running mean)
            return
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is None:
            self._parameters[name] = None
            self.__dict__.pop(name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """State that belongs to the module and moves with it, but is not trained."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name} must be a Tensor or None, got {type(tensor).__name__}")
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        self._modules[name] = module

    # --- running ---------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def __call__(self, *args, **kwargs):
        d = self.__dict__
        if d.get("_forward_pre_hooks") or d.get("_forward_hooks") or d.get("_backward_hooks"):
            return call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # --- hooks (engine/nn/hooks.py) --------------------------------------------------------------
    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """hook(module, args) -> None or new args, before every forward."""
        return self._add_hook("_forward_pre_hooks", hook)

    def register_forward_hook(self, hook) -> RemovableHandle:
        """hook(module, args, output) -> None or a new output, after every forward."""
        return self._add_hook("_forward_hooks", hook)

    def register_full_backward_hook(self, hook) -> RemovableHandle:
        """hook(module, grad_input, grad_output) -> None or new grad_input, once the gradients with
        respect to the module's inputs are known (grad_output: with respect to its output)."""
        return self._add_hook("_backward_hooks", hook)

    def _add_hook(self, store: str, hook) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"{type(self).__name__}.register hook: expected a callable, got {type(hook).__name__}")
        hooks = self.__dict__.setdefault(store, OrderedDict())
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    # --- traversal --------------------------------------------------------------------------
    def named_modules(self, prefix: str = "", memo=None):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Parameter) pairs; shared parameters appear once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{mod_prefix}.{name}" if mod_prefix else name), b

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # --- modes and housekeeping -----------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active, batch norm uses batch statistics) or not."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:  # a fresh array: gradients may share memory with other tensors
                p.grad = Tensor(p._xp.zeros_like(p.grad.data))

    def apply(self, fn) -> Module:
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _map_tensors(self, convert) -> Module:
        """Replace every parameter's and buffer's array by ``convert(array)``, in place."""
        for module in self.modules():
            for p in module._parameters.values():
                if p is not None:
                    p.data = convert(p.data)
                    if p.grad is not None:
                        p.grad = Tensor(convert(p.grad.data))
            for b in module._buffers.values():
                if b is not None:
                    b.data = convert(b.data)
        return self

    def to(self, device=None, dtype=None) -> Module:
        """Move (and/or cast) parameters and buffers in place; returns self, as PyTorch does.
        Only floating-point tensors are cast; integer buffers (counters) keep their dtype."""
        if isinstance(device, (type, np.dtype)) and dtype is None:
            device, dtype = None, device
        if device is not None:
            target = backend.normalize_device(device)
            self._map_tensors(lambda a: backend.to_device(a, target))
        if dtype is not None:
            dt = np.dtype(dtype)
            self._map_tensors(lambda a: a.astype(dt) if a.dtype.kind == "f" else a)
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    def float(self) -> Module:
        return self.to(dtype=np.float32)

    def double(self) -> Module:
        return self.to(dtype=np.float64)

    # --- state dict ---------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict:
        """Dotted name -> Tensor (detached, sharing memory) for every parameter and persistent buffer."""
        out = OrderedDict()
        for mod_prefix, module in self.named_modules():
            for name, p in module._parameters.items():
                if p is not None:
                    out[f"{mod_prefix}.{name}" if mod_prefix else name] = p.detach()
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    out[f"{mod_prefix}.{name}" if mod_prefix else name] = b.detach()
        return out

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values into this module's parameters and buffers (on their current device).

        Values may be Tensors, NumPy arrays or anything with ``.numpy()`` / ``__array__``
        (a ``torch.Tensor`` state dict loads directly). Shapes must match; with strict=True
        missing and unexpected keys are errors. Every problem is listed in one error.
        Returns (missing_keys, unexpected_keys).
        """
        own = self.state_dict()
        targets = {}
        for mod_prefix, module in self.named_modules():
            for store in (module._parameters, module._buffers):
                for name, t in store.items():
                    if t is not None:
                        targets[f"{mod_prefix}.{name}" if mod_prefix else name] = t
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        converted = {}
        for key, value in state_dict.items():
            if key not in own:
                continue
            host = to_numpy(value)
            target = targets[key]
            if tuple(host.shape) != tuple(target.shape):
                problems.append(
                    f"{key}: shape {tuple(host.shape)} in the state dict, {tuple(target.shape)} in the model"
                )
                continue
            converted[key] = host
        if strict and (missing or unexpected):
            if missing:
                problems.append("missing keys: " + ", ".join(missing))
            if unexpected:
                problems.append("unexpected keys: " + ", ".join(unexpected))
        if problems:
            raise RuntimeError(f"load_state_dict into {type(self).__name__} failed:\n  " + "\n  ".join(problems))
        for key, host in converted.items():
            target = targets[key]
            target.data = backend.to_device(host.astype(target.dtype, copy=True), target.device)
        return missing, unexpected

    # --- printing -------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def __repr__(self):
        lines = []
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {child_repr}")
        extra = self.extra_repr()
        own = sum(p.numel() for p in self._parameters.values() if p is not None)
        head = f"{type(self).__name__}({extra}"
        if not lines:
            return head + ")" + (f"  # {own:,} params" if own else "")
        total = self.num_parameters()
        return head + "\n  " + "\n  ".join(lines) + f"\n)  # {total:,} params"

