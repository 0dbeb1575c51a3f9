"""Learning-curve extrapolation: will this run beat the best one? (Domhan, Springenberg & Hutter 2015)

A run's validation curve y_1..y_t (one value per epoch) is fitted by several parametric families
of learning curves. Their weighted mixture predicts the value y_T at the last planned epoch T as
a probability distribution, and the run is stopped when

    P(y_T > y_best) < threshold          (y_best: the best finished run's score)

i.e. when it is unlikely to beat what we already have; its remaining epochs are saved.

The families (x = epoch >= 1; increasing towards an asymptote c for the usual parameter signs)::

    pow3        y = c - a * x^(-alpha)
    exp3        y = c - a * exp(-b * x)
    log_linear  y = a * log(x) + b
    ilog2       y = c - a / log(x + 1)

How this differs from the paper: Domhan et al. sample the parameters of a weighted combination
of eleven families by MCMC. Here each family is fitted by least squares; its prediction at T
gets a Gaussian spread from the residual noise plus the parameter uncertainty (the delta method,
var = sigma^2 + J Cov J^T with J = d f(T) / d theta); the families are weighted by their small-
sample Akaike weights, w_k ~ exp(-AICc_k / 2). Cheaper and deterministic (no sampler), with the
paper's decision rule. A family needs at least (its parameter count + 2) points to be weighed, so
no decision is made on the first 3 epochs. A curve to minimise (a loss) is negated first, so
"higher is better" throughout.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from engine.train.callbacks import Callback, _check_mode, monitored_value


def _pow3(x, c, a, alpha):
    return c - a * x ** (-alpha)


def _exp3(x, c, a, b):
    return c - a * np.exp(-b * x)


def _log_linear(x, a, b):
    return a * np.log(x) + b


def _ilog2(x, c, a):
    return c - a / np.log(x + 1.0)


# name -> (function, initial guess from (x, y), bounds (low, high) per parameter)
FAMILIES = {
    "pow3": (_pow3, lambda x, y: (y[-1], y[-1] - y[0], 0.5), ([-np.inf, -np.inf, 1e-3], [np.inf, np.inf, 5.0])),
    "exp3": (_exp3, lambda x, y: (y[-1], (y[-1] - y[0]) * math.e ** 0.5, 0.5),
             ([-np.inf, -np.inf, 1e-3], [np.inf, np.inf, 5.0])),
    "log_linear": (_log_linear, lambda x, y: (0.0, y[0]), ([-np.inf] * 2, [np.inf] * 2)),
    "ilog2": (_ilog2, lambda x, y: (y[-1], 0.0), ([-np.inf] * 2, [np.inf] * 2)),
}


@dataclasses.dataclass
class CurveFit:
    """One family fitted to a curve and its prediction at ``x_final``."""

    family: str
    params: np.ndarray
    rss: float  # residual sum of squares
    aicc: float
    mean: float  # predicted y at x_final
    std: float  # its predictive standard deviation (noise + parameter uncertainty)
    weight: float = 0.0  # Akaike weight within the ensemble


def fit_family(family: str, x, y, x_final: float, min_sigma: float = 1e-3) -> CurveFit | None:
    """Least-squares fit of one family; None when it has too few points or the fit fails.

    x, y: (n,) epochs and values; x_final: the epoch to predict. min_sigma: a floor on the noise
    standard deviation (a perfect fit of few points must not make the prediction certain).
    """
    from scipy.optimize import curve_fit

    f, guess, bounds = FAMILIES[family]
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n, k = len(x), len(bounds[0])
    if n < k + 2:
        return None
    p0 = np.clip(np.asarray(guess(x, y), dtype=np.float64), bounds[0], bounds[1])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # OptimizeWarning: covariance not estimable (handled below)
            params, _ = curve_fit(f, x, y, p0=p0, bounds=bounds, maxfev=2000)
    except (RuntimeError, ValueError):
        return None
    residual = y - f(x, *params)
    rss = float(residual @ residual)
    sigma2 = max(rss / (n - k), min_sigma ** 2)
    # parameter covariance sigma^2 (J^T J)^-1 with J the Jacobian of the fit (central differences)
    jac = _jacobian(f, x, params)
    try:
        cov = sigma2 * np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        cov = np.full((k, k), np.inf)
    grad = _jacobian(f, np.array([float(x_final)]), params)[0]
    var = sigma2 + float(grad @ cov @ grad) if np.all(np.isfinite(cov)) else np.inf
    mean = float(f(np.float64(x_final), *params))
    rss_eff = max(rss, n * min_sigma ** 2)  # log(0) for a perfect fit would outweigh every other family
    aicc = n * math.log(rss_eff / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)
    if not (np.isfinite(mean) and var >= 0):
        return None
    return CurveFit(family, params, rss, aicc, mean, math.sqrt(var))


def _jacobian(f, x, params, rel: float = 1e-6) -> np.ndarray:
    """(len(x), len(params)) derivatives of f(x; params) by central differences."""
    cols = []
    for i in range(len(params)):
        h = rel * max(1.0, abs(params[i]))
        up, down = params.copy(), params.copy()
        up[i] += h
        down[i] -= h
        cols.append((f(x, *up) - f(x, *down)) / (2 * h))
    return np.stack(cols, axis=1)


def extrapolate(y, x_final: int, mode: str = "max", families=tuple(FAMILIES),
                min_sigma: float = 1e-3) -> list[CurveFit]:
    """The weighted ensemble's members for the curve ``y`` (values at epochs 1..len(y)) at ``x_final``.

    mode "min": the curve is negated before fitting (means are then of -y). Returns [] when no
    family has enough points.
    """
    _check_mode(mode, "extrapolate")
    y = np.asarray(y, dtype=np.float64) * (1.0 if mode == "max" else -1.0)
    x = np.arange(1, len(y) + 1, dtype=np.float64)
    fits = [fit for name in families if (fit := fit_family(name, x, y, x_final, min_sigma)) is not None]
    if fits:
        aicc = np.array([fit.aicc for fit in fits])
        w = np.exp(-(aicc - aicc.min()) / 2)
        for fit, weight in zip(fits, w / w.sum()):
            fit.weight = float(weight)
    return fits


def probability_to_beat(y, x_final: int, best: float, mode: str = "max", **kwargs) -> float:
    """P(y at ``x_final`` is better than ``best``) under the ensemble; 1.0 when it cannot tell yet.

    y: the curve so far (epochs 1..t). For mode "min" "better" means lower.
    """
    from scipy.special import ndtr

    fits = extrapolate(y, x_final, mode, **kwargs)
    if not fits:
        return 1.0
    target = best if mode == "max" else -best
    p = 0.0
    for fit in fits:
        # an unbounded spread says nothing either way: that member votes 1/2
        p_fit = 0.5 if not np.isfinite(fit.std) else float(1.0 - ndtr((target - fit.mean) / fit.std))
        p += fit.weight * p_fit
    return p


class LearningCurveStopping(Callback):
    """Stop a run whose ``monitor`` curve is unlikely to beat ``best`` by its last epoch.

    best: the best finished run's score, or a callable returning it (None: nothing to beat yet,
    so the run continues). threshold: stop when P(beat best) < threshold (Domhan et al. use 0.05).
    min_epochs: no decision before this epoch. After a stop, ``stopped_epoch``, ``probability``
    and ``trainer.stop_reason`` say why; ``decisions`` lists (epoch, probability) of every check.
    A run whose curve already reached ``best`` is never stopped. require_monitor=False: a run whose
    epochs do not log ``monitor`` is left alone (``missing`` becomes True) instead of raising.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min", best=None, threshold: float = 0.05,
                 min_epochs: int = 4, require_monitor: bool = True):
        _check_mode(mode, "LearningCurveStopping")
        if not 0 < threshold < 1:
            raise ValueError(f"LearningCurveStopping: threshold must be in (0, 1), got {threshold}")
        self.monitor, self.mode, self.best, self.threshold = monitor, mode, best, float(threshold)
        self.min_epochs = max(int(min_epochs), 4)
        self.curve: list[float] = []
        self.decisions: list[tuple[int, float]] = []
        self.stopped_epoch, self.probability, self.planned_epochs = 0, None, None
        self.require_monitor, self.missing = require_monitor, False

    def on_train_begin(self, trainer):
        self.planned_epochs = trainer.epochs

    def on_epoch_end(self, trainer, epoch, logs):
        if self.monitor not in logs and not self.require_monitor:
            self.missing = True
            return
        self.curve.append(monitored_value(logs, self.monitor, "LearningCurveStopping"))
        best = self.best() if callable(self.best) else self.best
        if best is None or epoch < self.min_epochs or epoch >= self.planned_epochs:
            return
        sign = 1.0 if self.mode == "max" else -1.0
        if np.nanmax(sign * np.asarray(self.curve)) >= sign * best:
            return
        p = probability_to_beat(self.curve, self.planned_epochs, best, self.mode)
        self.decisions.append((epoch, p))
        if p < self.threshold:
            self.stopped_epoch, self.probability = epoch, p
            trainer.stop_training = True
            trainer.stop_reason = (f"learning-curve stop at epoch {epoch} of {self.planned_epochs}: P({self.monitor} "
                                   f"at epoch {self.planned_epochs} beats {best:.4g}) = {p:.3f} < {self.threshold}")

    def state_dict(self):
        return {"curve": list(self.curve), "decisions": [list(d) for d in self.decisions],
                "stopped_epoch": self.stopped_epoch, "probability": self.probability}

    def load_state_dict(self, state):
        self.curve = list(state.get("curve", []))
        self.decisions = [tuple(d) for d in state.get("decisions", [])]
        self.stopped_epoch, self.probability = state.get("stopped_epoch", 0), state.get("probability")
