"""Survival cohorts from a proportional-hazards (Cox) model with known risk and censoring.

Model. Subject i has features x_i and linear risk eta_i = x_i . beta. Its hazard is

    h(t | x_i) = h0(t) exp(eta_i),   h0(t) = (nu / s) (t / s)^(nu - 1)       (Weibull baseline),

so the survival function is S(t | x_i) = exp(-(t / s)^nu exp(eta_i)) (nu = 1: exponential baseline).
Event times are drawn by inverse transform sampling, U ~ U(0, 1):

    T_i = s * (-log U / exp(eta_i))^(1 / nu)

(Bender, Augustin and Blettner, "Generating survival times to simulate Cox proportional hazards
models", Statistics in Medicine 24:1713-1723, 2005). A positive coefficient raises the hazard and
shortens survival (hazard ratio exp(beta) per unit of the feature).

Censoring is independent of T: C_i ~ Exponential(rate c), with c solved (bisection) so that the
expected censored fraction given the drawn times, mean_i (1 - exp(-c T_i)), equals the requested
fraction. The observed data are time_i = min(T_i, C_i) and event_i = [T_i <= C_i].

With ``with_images`` the first feature is the (standardised) radius of a lesion drawn in an image and
the second whether it looks malignant (lesions.render_lesion_images), so an image model can learn the
risk from pixels.
"""

from __future__ import annotations

import numpy as np

from ._common import as_rng, check_float, check_int

BASELINES = ("weibull", "exponential")


def cox_event_times(
    risk, baseline: str = "weibull", shape: float = 1.5, scale: float = 10.0, seed=0
) -> np.ndarray:
    """Event times (N,) float64 from a Cox model with linear risk ``risk`` (N,), by inverse transform."""
    fn = "cox_event_times"
    if baseline not in BASELINES:
        raise ValueError(f"{fn}: baseline must be one of {BASELINES}, got {baseline!r}")
    risk = np.asarray(risk, dtype=np.float64)
    nu = 1.0 if baseline == "exponential" else check_float(shape, "shape", fn, low=1e-3)
    scale = check_float(scale, "scale", fn, low=1e-12)
    u = as_rng(seed, fn).random(risk.shape)
    return scale * (-np.log1p(-u) / np.exp(risk)) ** (1.0 / nu)  # 1 - U is also U(0, 1), never 0


def censoring_rate(event_times, fraction: float) -> float:
    """The exponential censoring rate c with mean_i(1 - exp(-c T_i)) = fraction (bisection on log c)."""
    fn = "censoring_rate"
    fraction = check_float(fraction, "fraction", fn, low=0.0, high=1.0)
    t = np.asarray(event_times, dtype=np.float64)
    if fraction == 0.0:
        return 0.0
    if fraction >= 1.0:
        raise ValueError(f"{fn}: a censoring fraction of 1 leaves no events")
    lo, hi = np.log(1e-12 / t.max()), np.log(1e12 / t.min())
    for _ in range(200):  # the expected fraction increases monotonically with c
        mid = 0.5 * (lo + hi)
        if np.mean(-np.expm1(-np.exp(mid) * t)) < fraction:
            lo = mid
        else:
            hi = mid
    return float(np.exp(0.5 * (lo + hi)))


def make_survival_cohort(
    n_subjects: int = 500,
    n_features: int = 4,
    coefficients=None,
    baseline: str = "weibull",
    weibull_shape: float = 1.5,
    baseline_scale: float = 10.0,
    censoring_fraction: float = 0.3,
    with_images: bool = False,
    image_size: int = 32,
    seed=0,
) -> dict:
    """A censored survival cohort with known risk (module docstring).

    Features: standard normal (N, P) unless ``with_images``, where feature 0 is the lesion radius
    standardised by its distribution U(0.1, 0.3) * image_size and feature 1 is 0/1 malignant look
    (half of the subjects), the rest standard normal. ``coefficients`` default (0.8, 0.6, 0.3, 0, 0, ...):
    the last ones carry no risk. Returns a dict:
      ``features`` (N, P) float32, ``coefficients`` (P,) float32, ``risk`` (N,) float32 linear predictor,
      ``times`` (N,) float32 observed min(T, C), ``events`` (N,) bool (True = event observed),
      ``event_times``, ``censoring_times`` (N,) float32 (inf when nothing is censored),
      and with images: ``images`` (N, 1, S, S) float32, ``masks`` (N, S, S) bool, ``lesion_radius`` (N,)
      float32 pixels.
    """
    fn = "make_survival_cohort"
    n = check_int(n_subjects, "n_subjects", fn)
    p = check_int(n_features, "n_features", fn, minimum=2 if with_images else 1)
    frac = check_float(censoring_fraction, "censoring_fraction", fn, low=0.0, high=0.99)
    rng = as_rng(seed, fn)
    if coefficients is None:
        beta = np.zeros(p)
        default = np.array([0.8, 0.6, 0.3])
        beta[: min(p, 3)] = default[: min(p, 3)]
    else:
        beta = np.asarray(coefficients, dtype=np.float64)
        if beta.shape != (p,):
            raise ValueError(f"{fn}: coefficients must have shape ({p},), got {beta.shape}")

    x = rng.standard_normal((n, p))
    out = {}
    if with_images:
        from .lesions import render_lesion_images

        size = check_int(image_size, "image_size", fn, minimum=16)
        lo, hi = 0.1 * size, 0.3 * size
        radius = rng.uniform(lo, hi, n)
        malignant = rng.permutation(np.arange(n) < n // 2).astype(np.int64)
        x[:, 0] = (radius - (lo + hi) / 2) / ((hi - lo) / np.sqrt(12.0))  # exact mean/std of U(lo, hi)
        x[:, 1] = malignant
        drawn = render_lesion_images(malignant, radius, size, 2, seed=rng)
        out = {"images": drawn["images"], "masks": drawn["masks"], "lesion_radius": radius.astype(np.float32)}

    risk = x @ beta
    t = cox_event_times(risk, baseline, weibull_shape, baseline_scale, seed=rng)
    rate = censoring_rate(t, frac)
    c = rng.exponential(1.0 / rate, n) if rate > 0 else np.full(n, np.inf)
    events = t <= c
    return {
        "features": x.astype(np.float32),
        "coefficients": beta.astype(np.float32),
        "risk": risk.astype(np.float32),
        "times": np.minimum(t, c).astype(np.float32),
        "events": events,
        "event_times": t.astype(np.float32),
        "censoring_times": c.astype(np.float32),
        **out,
    }
