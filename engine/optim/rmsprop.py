"""RMSprop: steps scaled by a running root-mean-square of the gradient (optionally centered)."""

from __future__ import annotations

from engine.optim.optimizer import Optimizer, check_hyperparameters

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, Neural Networks for Machine Learning, lecture 6e, 2012); the centered
    variant divides by an estimate of the gradient's variance instead of its second moment
    (Graves, "Generating Sequences With Recurrent Neural Networks", 2013).

    As ``torch.optim.RMSprop`` documents it (PyTorch documentation, algorithm pseudo-code)::

        g_t = -∇f(θ_{t-1}) if maximize else ∇f(θ_{t-1})
        if λ ≠ 0:  g_t = g_t + λ θ_{t-1}
        v_t = α v_{t-1} + (1 - α) g_t²                   (square_avg)
        ṽ_t = v_t
        if centered:
            ḡ_t = α ḡ_{t-1} + (1 - α) g_t                 (grad_avg)
            ṽ_t = ṽ_t - ḡ_t²
        if μ > 0:
            b_t = μ b_{t-1} + g_t / (√ṽ_t + ε)            (momentum_buffer)
            θ_t = θ_{t-1} - γ b_t
        else:
            θ_t = θ_{t-1} - γ g_t / (√ṽ_t + ε)

    γ = lr, α = alpha, μ = momentum, λ = weight_decay; v, ḡ and b start at zero.
    State per parameter: ``step``, ``square_avg``, and ``momentum_buffer`` / ``grad_avg`` when used.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ):
        check_hyperparameters("RMSprop", {"lr": lr, "eps": eps, "momentum": momentum, "weight_decay": weight_decay,
                                          "alpha": alpha})
        defaults = {
            "lr": lr,
            "alpha": alpha,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "centered": centered,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        xp = param._xp
        lr, alpha, eps, wd, mu = (
            group["lr"],
            group["alpha"],
            group["eps"],
            group["weight_decay"],
            group["momentum"],
        )
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param.data)
            if mu > 0:
                state["momentum_buffer"] = xp.zeros_like(param.data)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(param.data)
        state["step"] += 1
        if wd != 0:
            grad = grad + wd * param.data
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1.0 - alpha) * (grad * grad)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg *= alpha
            grad_avg += (1.0 - alpha) * grad
            denom = xp.sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            denom = xp.sqrt(square_avg) + eps
        if mu > 0:
            buf = state["momentum_buffer"]
            buf *= mu
            buf += grad / denom
            param.data -= lr * buf
        else:
            param.data -= lr * (grad / denom)
