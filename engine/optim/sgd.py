"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from engine.optim.optimizer import Optimizer, check_hyperparameters, required

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, exactly as ``torch.optim.SGD`` documents it.

    For each parameter θ with gradient ∇f(θ_{t-1}) at step t (PyTorch documentation,
    torch.optim.SGD, algorithm pseudo-code)::

        g_t = -∇f(θ_{t-1}) if maximize else ∇f(θ_{t-1})
        if λ ≠ 0:  g_t = g_t + λ θ_{t-1}                       (L2 weight decay)
        if μ ≠ 0:
            b_t = g_t                       if t = 1
                  μ b_{t-1} + (1 - τ) g_t   otherwise           (momentum buffer)
            g_t = g_t + μ b_t   if nesterov else   b_t
        θ_t = θ_{t-1} - γ g_t

    γ = lr, μ = momentum, τ = dampening, λ = weight_decay. Nesterov momentum in this form is
    Sutskever et al., "On the importance of initialization and momentum in deep learning",
    ICML 2013. State per parameter: ``momentum_buffer`` (only when μ ≠ 0).
    """

    def __init__(
        self,
        params,
        lr: float = required,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ):
        check_hyperparameters("SGD", {"lr": lr, "momentum": momentum, "dampening": dampening,
                                      "weight_decay": weight_decay})
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd != 0:
            grad = grad + wd * param.data
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = grad.copy()  # a copy: grad may be the .grad array itself
                state["momentum_buffer"] = buf
            else:
                buf *= mu
                buf += (1.0 - group["dampening"]) * grad
            grad = grad + mu * buf if group["nesterov"] else buf
        param.data -= lr * grad
