"""Proportional-hazards models: the linear Cox model and DeepSurv.

Both output a risk score eta(x) (higher = earlier event) and are trained with the same loss, the
negative Cox partial log-likelihood (engine.nn.functional.cox_ph_loss). They differ only in
what maps covariates to the score:

* ``LinearCox``: eta = x . beta (Cox 1972), the classical baseline. ``fit`` maximises the
  penalised partial likelihood by Newton's method, with the Hessian from the engine's second
  derivatives, so its coefficients can be checked against any standard Cox fit.
* ``DeepSurv``: eta = an MLP of x (Katzman et al., "DeepSurv: personalized treatment recommender
  system using a Cox proportional hazards deep neural network", BMC Med. Res. Methodol. 18:24,
  2018), trained by gradient descent like any network.

An image Cox model is any CNN with one output trained with the same loss (the survival task
builds one from ``models.build_model``).
"""

from __future__ import annotations

import numpy as np

import engine
from engine import nn
from engine.nn.functional.survival_loss import cox_ph_loss
from models.mlp import MLP


class LinearCox(nn.Module):
    """eta = x beta. x: (N, P) -> (N, 1). No intercept: the partial likelihood cannot see one
    (it cancels between each event and its risk set), so it would be an untrained parameter."""

    def __init__(self, in_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, 1, bias=False)
        with engine.no_grad():
            self.linear.weight.data[...] = 0.0  # beta = 0: the usual starting point of Newton's method

    @property
    def coefficients(self) -> np.ndarray:
        """beta (P,) as a host float64 array; exp(beta_k) is the hazard ratio per unit of x_k."""
        return self.linear.weight.detach().numpy().reshape(-1).astype(np.float64)

    def forward(self, x):
        return self.linear(x)

    def objective(self, x, time, event, l2: float = 0.0, ties: str = "efron"):
        """-log L / N + (l2 / 2) ||beta||^2: lifelines' CoxPHFitter objective with ``penalizer=l2``
        (its penalty applies to standardised covariates, so standardise x first to compare)."""
        n = x.shape[0]
        loss = cox_ph_loss(self(x), time, event, ties=ties, reduction="sum") / float(n)
        if l2 > 0:
            w = self.linear.weight
            loss = loss + (w * w).sum() * (0.5 * l2)
        return loss

    def fit(self, x, time, event, l2: float = 0.0, ties: str = "efron", max_iter: int = 100,
            tol: float = 1e-10) -> LinearCox:
        """Newton-Raphson on ``objective`` with step halving; x: (N, P) array or Tensor.

        Each step solves H delta = g, where g and the Hessian H (P, P) come from the engine:
        H's row k is the gradient of g_k (create_graph=True makes g differentiable). Stops when
        the objective improves by less than ``tol``. Returns self.
        """
        device = self.linear.weight.device
        x = engine.tensor(np.asarray(x, dtype=np.float64), device=device) if not isinstance(x, engine.Tensor) else x
        weight = self.linear.weight
        if weight.dtype != x.dtype:
            self.to(dtype=x.dtype)
            weight = self.linear.weight
        p = weight.shape[1]
        current = float(self.objective(x, time, event, l2, ties).detach().numpy())
        for _ in range(max_iter):
            loss = self.objective(x, time, event, l2, ties)
            (g,) = engine.grad(loss, [weight], create_graph=True)
            g = g.reshape(-1)
            rows = [engine.grad(g[k], [weight], retain_graph=True)[0].detach().numpy().reshape(-1) for k in range(p)]
            hessian = np.stack(rows)
            step = np.linalg.solve(hessian + 1e-12 * np.eye(p), g.detach().numpy())
            start = weight.detach().numpy().copy()
            scale = 1.0
            while True:  # halve the step until the objective does not increase
                with engine.no_grad():
                    weight.data[...] = engine.tensor(start - scale * step.reshape(start.shape), device=device).data
                new = float(self.objective(x, time, event, l2, ties).detach().numpy())
                if new <= current + 1e-15 or scale < 1e-6:
                    break
                scale *= 0.5
            improvement, current = current - new, new
            if abs(improvement) < tol:
                break
        return self


class DeepSurv(nn.Module):
    """eta = MLP(x): Katzman et al. 2018. x: (N, P) -> (N, 1) risk scores.

    hidden: widths of the hidden layers; dropout after each activation. Differences from the paper:
    ReLU instead of SELU by default, and the output layer has no bias (the partial likelihood
    ignores it, so it would never be trained).
    """

    def __init__(self, in_features: int, hidden=(32, 32), dropout: float = 0.1, activation: str = "relu",
                 batchnorm: bool = False):
        super().__init__()
        self.mlp = MLP(in_features, 1, hidden=hidden, activation=activation, dropout=dropout, batchnorm=batchnorm)
        last = self.mlp.net[len(self.mlp.net) - 1]
        self.mlp.net[len(self.mlp.net) - 1] = nn.Linear(last.in_features, 1, bias=False)

    def forward(self, x):
        return self.mlp(x)
