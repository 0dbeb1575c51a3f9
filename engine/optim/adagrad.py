"""Adagrad: per-coordinate learning rates that shrink with the accumulated squared gradient."""

from __future__ import annotations

from engine.optim.optimizer import Optimizer, check_hyperparameters

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization", JMLR 2011), as ``torch.optim.Adagrad`` documents it (PyTorch
    documentation, algorithm pseudo-code)::

        state_sum_0 = initial_accumulator_value
        γ̃ = γ / (1 + (t - 1) η)                            (learning-rate decay)
        g_t = -∇f(θ_{t-1}) if maximize else ∇f(θ_{t-1})
        if λ ≠ 0:  g_t = g_t + λ θ_{t-1}
        state_sum_t = state_sum_{t-1} + g_t²
        θ_t = θ_{t-1} - γ̃ g_t / (√state_sum_t + ε)

    γ = lr, η = lr_decay, λ = weight_decay. State per parameter: ``step``, ``sum``.
    PyTorch creates the state when the optimizer is built; here it is created at the first step
    (on the parameter's device at that time), with the same values.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ):
        check_hyperparameters("Adagrad", {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                          "initial_accumulator_value": initial_accumulator_value, "eps": eps})
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        xp = param._xp
        if not state:
            state["step"] = 0
            state["sum"] = xp.full_like(param.data, group["initial_accumulator_value"])
        state["step"] += 1
        t = state["step"]
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param.data
        clr = group["lr"] / (1.0 + (t - 1) * group["lr_decay"])
        state_sum = state["sum"]
        state_sum += grad * grad
        param.data -= clr * (grad / (xp.sqrt(state_sum) + group["eps"]))
