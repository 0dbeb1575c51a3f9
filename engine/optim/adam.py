"""Adam (with optional AMSGrad) and AdamW (decoupled weight decay)."""

from __future__ import annotations

import math

from engine.optim.optimizer import Optimizer, check_hyperparameters

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam: per-coordinate steps scaled by running moments of the gradient.

    Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015; AMSGrad from Reddi et
    al., "On the Convergence of Adam and Beyond", ICLR 2018. Update as ``torch.optim.Adam``
    documents it (PyTorch documentation, algorithm pseudo-code), at step t = 1, 2, ...::

        g_t = -∇f(θ_{t-1}) if maximize else ∇f(θ_{t-1})
        if λ ≠ 0:  g_t = g_t + λ θ_{t-1}           (L2 penalty added to the gradient)
        m_t = β1 m_{t-1} + (1 - β1) g_t            (first moment)
        v_t = β2 v_{t-1} + (1 - β2) g_t²           (second moment)
        m̂_t = m_t / (1 - β1^t)                     (bias corrections)
        if amsgrad:  v^max_t = max(v^max_{t-1}, v_t);  v̂_t = v^max_t / (1 - β2^t)
        else:        v̂_t = v_t / (1 - β2^t)
        θ_t = θ_{t-1} - γ m̂_t / (√v̂_t + ε)

    γ = lr, (β1, β2) = betas, λ = weight_decay. With ``decoupled_weight_decay=True`` the decay
    is applied to the parameter instead (θ ← θ - γλθ before the step): that is AdamW. The last
    line is evaluated as PyTorch does, θ - (γ / (1-β1^t)) · m_t / (√v_t / √(1-β2^t) + ε), which is
    the same number up to rounding. State per parameter: ``step``, ``exp_avg`` (m),
    ``exp_avg_sq`` (v) and, with amsgrad, ``max_exp_avg_sq``.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ):
        check_hyperparameters(type(self).__name__, {"lr": lr, "eps": eps, "betas": betas,
                                                     "weight_decay": weight_decay})
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        xp = param._xp
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param.data)
            state["exp_avg_sq"] = xp.zeros_like(param.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(param.data)
        state["step"] += 1
        t = state["step"]
        if wd != 0:
            if group["decoupled_weight_decay"]:
                param.data *= 1.0 - lr * wd
            else:
                grad = grad + wd * param.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        scratch = grad * (1.0 - beta1)  # the one temporary of the step, reused below
        m += scratch
        v *= beta2
        xp.multiply(grad, grad, out=scratch)
        scratch *= 1.0 - beta2
        v += scratch
        if group["amsgrad"]:
            if "max_exp_avg_sq" not in state:  # amsgrad switched on after the first steps
                state["max_exp_avg_sq"] = xp.zeros_like(param.data)
            v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        bias1 = 1.0 - beta1**t
        bias2 = 1.0 - beta2**t
        # denom = sqrt(v) / sqrt(bias2) + eps, then the step m / denom, all in the scratch array
        denom = xp.sqrt(v, out=scratch)
        denom /= math.sqrt(bias2)
        denom += eps
        step = xp.divide(m, denom, out=denom)
        step *= lr / bias1
        param.data -= step


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, "Decoupled Weight Decay
    Regularization", ICLR 2019), as ``torch.optim.AdamW``::

        θ_t = θ_{t-1} - γ λ θ_{t-1}                then the Adam step above without the L2 term

    The decay shrinks the weights directly instead of passing through the moment estimates, so
    it does not get rescaled by 1/√v̂. Default weight_decay is 1e-2, as in PyTorch.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, decoupled_weight_decay=True
        )

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # whatever the saved flag, AdamW decays decoupled
            group["decoupled_weight_decay"] = True
