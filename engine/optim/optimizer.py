"""Optimizer: the base class of every update rule (``torch.optim.Optimizer``'s semantics).

An optimizer holds *parameter groups*: a list of dicts, each with its ``"params"`` (a list of
Parameters) and its hyperparameters (``"lr"``, ``"weight_decay"``...). Different groups may use
different learning rates, e.g. a small one for a pretrained backbone and a larger one for a new
head:

    opt = SGD([{"params": backbone.parameters(), "lr": 1e-4},
               {"params": head.parameters()}], lr=1e-2, momentum=0.9)

Per-parameter state (momentum buffers, Adam's moment estimates) lives in ``optimizer.state``,
keyed by the Parameter object, and is created lazily at the first ``step()`` with the
parameter's own array module, so it sits on the parameter's device.

``state_dict()`` has PyTorch's layout, so it round-trips and a PyTorch optimizer's state dict
loads directly::

    {"state": {0: {"step": 3, "exp_avg": Tensor, ...}, 1: {...}},      # keyed by parameter index
     "param_groups": [{"lr": 0.001, ..., "params": [0, 1]}, ...]}       # params as index lists

Parameters are numbered consecutively through the groups in order. One difference from
PyTorch: ``"step"`` is a Python int here, not a 0-d tensor (a tensor or array step is accepted
when loading).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from engine import backend
from engine.autograd import enable_grad, no_grad
from engine.tensor import Tensor, to_numpy

__all__ = ["Optimizer", "required", "check_hyperparameters"]


class _Required:
    """Marks a hyperparameter that has no default and must be given (e.g. SGD's lr)."""

    def __repr__(self):
        return "<required parameter>"


required = _Required()


def _is_array_like(value) -> bool:
    return (
        isinstance(value, (Tensor, np.ndarray, np.generic))
        or backend.is_array(value)
        or (hasattr(value, "detach") and hasattr(value, "cpu"))
    )


class Optimizer:
    """Base class: owns the parameter groups and the per-parameter state; subclasses define
    ``_update(param, grad, state, group)``, the update of one parameter from its gradient.

    params: an iterable of Parameters, or of dicts (parameter groups) with a ``"params"`` entry
        and hyperparameters that override ``defaults`` for that group.
    defaults: hyperparameter name -> default value (``required`` if it must be given).
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict = {}  # Parameter -> {name: array or number}
        self.param_groups: list[dict] = []
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params must be an iterable of Tensors or of dicts (parameter groups), got a single "
                f"Tensor of shape {params.shape}; wrap it in a list"
            )
        if isinstance(params, set):
            raise TypeError(
                f"{name}: parameters must be given in a fixed order (a list), not a set: the order "
                f"numbers them in state_dict()"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list (did the model create its parameters?)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # --- parameter groups --------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (e.g. a newly unfrozen layer) with its own hyperparameters;
        hyperparameters it does not give take the optimizer's defaults."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: expected a dict, got {type(param_group).__name__}")
        params = param_group.get("params")
        if params is None:
            raise ValueError(f"{name}.add_param_group: the group has no 'params' entry")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                f"{name}: parameters must be given in a fixed order (a list), not a set: the order "
                f"numbers them in state_dict()"
            )
        else:
            params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: params[{i}] is a {type(p).__name__}, expected a Tensor/Parameter")
            if not p.is_leaf:
                raise ValueError(
                    f"{name}: params[{i}] (shape {p.shape}) is not a leaf tensor (it was computed by an "
                    f"operation); optimise the leaves it came from"
                )
        group = dict(param_group)
        group["params"] = params
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(
                    f"{name}: parameter group didn't specify a value of the required hyperparameter '{key}'"
                )
            group.setdefault(key, default)
        check_hyperparameters(name, group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(
                f"{name}.add_param_group: some parameters appear in more than one parameter group"
            )
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}.add_param_group: the group lists a parameter more than once")
        self.param_groups.append(group)

    # --- the update ------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients before the next backward pass.

        set_to_none: drop ``.grad`` (saves memory; ``step`` then skips the parameter). Otherwise
        each gradient becomes zeros; a fresh array is bound rather than writing zeros in place,
        because the engine may share one gradient array between several parameters.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data = p.grad._xp.zeros_like(p.grad.data)

    def step(self, closure=None):
        """Update every parameter that has a gradient, once.

        closure: optional ``closure() -> loss`` that re-evaluates the model (zero_grad, forward,
        backward); it is called with gradient recording on and its loss is returned.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():  # the update itself is never part of a graph
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = p.grad.data
                    if grad.shape != p.data.shape:
                        raise RuntimeError(
                            f"{type(self).__name__}.step: gradient of shape {grad.shape} for a parameter of "
                            f"shape {p.data.shape}"
                        )
                    if group.get("maximize", False):
                        grad = -grad  # ascend: follow +gradient (a new array: .grad is left untouched)
                    self._update(p, grad, self.state.setdefault(p, {}), group)
        return loss

    def _update(self, param: Tensor, grad, state: dict, group: dict) -> None:
        """Update ``param.data`` in place from ``grad`` (a raw array on the parameter's device)."""
        raise NotImplementedError(f"{type(self).__name__} does not define its update rule (_update)")

    # --- state dict ------------------------------------------------------------------------------
    def _index_of_params(self) -> dict:
        """id(parameter) -> its index in state_dict(): consecutive through the groups."""
        index: dict = {}
        for group in self.param_groups:
            for p in group["params"]:
                index.setdefault(id(p), len(index))
        return index

    def state_dict(self) -> dict:
        """The optimizer's state in PyTorch's layout (see the module docstring).

        Arrays are returned as Tensors sharing memory with the live state (as PyTorch returns
        references); copy them (or save a checkpoint) before stepping again if you need a snapshot.
        """
        index = self._index_of_params()
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {
                        k: (Tensor(v) if backend.is_array(v) else v) for k, v in self.state[p].items()
                    }
        return {"state": state, "param_groups": groups}

    def _state_dict_problems(self, state_dict) -> list[str]:
        """Everything that prevents ``state_dict`` from loading into this optimizer (empty if none)."""
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            return ["expected a dict with 'state' and 'param_groups' (from Optimizer.state_dict())"]
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            return [
                f"the state dict has {len(saved_groups)} parameter group(s), this optimizer has "
                f"{len(self.param_groups)}"
            ]
        problems = []
        params_by_index = {}
        for g, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                problems.append(
                    f"param_groups[{g}] has {len(saved['params'])} parameters in the state dict, "
                    f"{len(group['params'])} in this optimizer"
                )
                continue
            params_by_index.update({int(i): p for i, p in zip(saved["params"], group["params"])})
        if problems:
            return problems
        for key, entries in state_dict["state"].items():
            p = params_by_index.get(int(key))
            if p is None:
                problems.append(f"state[{key}] belongs to no parameter of the groups")
                continue
            for name, value in entries.items():
                if _is_array_like(value) and name != "step":
                    shape = tuple(to_numpy(value).shape)
                    if shape != tuple(p.shape) and shape != ():
                        problems.append(
                            f"state[{key}][{name!r}] has shape {shape}, its parameter has shape "
                            f"{tuple(p.shape)}"
                        )
        return problems

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore state and hyperparameters saved by ``state_dict()`` (ours or PyTorch's).

        The groups must hold the same numbers of parameters as when saved; the parameters
        themselves are this optimizer's. Floating-point state is cast to each parameter's dtype
        and moved to its device. Every mismatch is reported in one ValueError.
        """
        problems = self._state_dict_problems(state_dict)
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict failed:\n  " + "\n  ".join(problems))
        params_by_index = {}
        for group, saved in zip(self.param_groups, state_dict["param_groups"]):
            params_by_index.update({int(i): p for i, p in zip(saved["params"], group["params"])})
        new_state = {}
        for key, entries in state_dict["state"].items():
            p = params_by_index[int(key)]
            new_state[p] = {name: self._restore_value(name, value, p) for name, value in entries.items()}
        new_groups = []
        for group, saved in zip(self.param_groups, state_dict["param_groups"]):
            merged = dict(group)
            for k, v in saved.items():
                if k == "params":
                    continue
                if isinstance(group.get(k), tuple) and isinstance(v, list):
                    v = tuple(v)  # JSON turns tuples (Adam's betas) into lists
                merged[k] = v
            new_groups.append(merged)
        self.state = new_state
        self.param_groups = new_groups

    @staticmethod
    def _restore_value(name: str, value, param: Tensor):
        if not _is_array_like(value):
            return value
        host = to_numpy(value)
        if name == "step":  # PyTorch keeps the step count in a 0-d float tensor
            return int(round(float(host.reshape(()))))
        if host.dtype.kind == "f":
            host = host.astype(param.dtype)
        return backend.to_device(np.array(host, copy=True), param.device)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"


# Hyperparameters that must be finite numbers >= 0 wherever an optimiser has them. A NaN slips
# through "lr < 0" (every comparison with NaN is false) and would silently turn every weight
# into NaN at the first step, so each value is checked for finiteness explicitly.
_NON_NEGATIVE = {
    "lr": "learning rate",
    "eps": "eps",
    "weight_decay": "weight_decay",
    "momentum": "momentum",
    "dampening": "dampening",
    "alpha": "alpha",
    "lr_decay": "lr_decay",
    "initial_accumulator_value": "initial_accumulator_value",
}


def _finite_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_hyperparameters(name: str, group: dict) -> None:
    """Raise ValueError naming the optimiser and the value for a NaN, infinite, negative or
    non-numeric hyperparameter (torch.optim's messages as a guide), and for betas outside [0, 1)."""
    for key, label in _NON_NEGATIVE.items():
        value = group.get(key)
        if value is None or value is required:
            continue
        if not _finite_number(value) or value < 0:
            raise ValueError(f"{name}: invalid {label} {value!r} (must be a finite number >= 0)")
    if "betas" in group:
        betas = group["betas"]
        try:
            valid = len(betas) == 2 and all(_finite_number(b) and 0.0 <= b < 1.0 for b in betas)
        except TypeError:
            valid = False
        if not valid:
            raise ValueError(f"{name}: invalid betas {betas!r} (must be two finite numbers in [0, 1))")
