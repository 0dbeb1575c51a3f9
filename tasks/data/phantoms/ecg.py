"""Synthetic heartbeats: one ECG cycle as a sum of Gaussian waves, normal or infarct-like.

The morphology model follows McSharry et al. ("A dynamical model for generating synthetic
electrocardiogram signals", IEEE Trans. Biomed. Eng. 50(3):289-294, 2003), who write one beat as
five Gaussian events P, Q, R, S, T. Here the sum is taken directly in time, about the R peak at t = 0::

    x(t) = sum over w in {P, Q, R, S, T} of  a_w exp(-(t - c_w)^2 / (2 s_w^2))  +  baseline(t) + noise

with centres c_w (seconds) and widths s_w scaled by the beat's RR interval as physiology does (the
QT interval grows roughly with sqrt(RR), Bazett 1920), amplitudes jittered per beat, a slow baseline
wander and white noise.

The "abnormal" class imitates the ECG of a myocardial infarction, the distinction of the UCR ECG200
set (Olszewski 2001): ST-segment elevation (a raised plateau from the S wave to the T wave), a
deeper, wider Q wave, and - in some beats - an inverted T wave. Each abnormal beat draws a *severity*
in [0, 1] that scales all three changes, so mild cases overlap with normal beats and no classifier is
perfect. Beats are z-normalised (zero mean, unit standard deviation), as the UCR archive stores them.
"""

from __future__ import annotations

import numpy as np

from ._common import as_rng, check_float, check_int

ECG_CLASSES = ("normal", "abnormal")

# P, Q, R, S, T: centre (s, at RR = 0.8 s), width (s), amplitude (mV)
_WAVES = np.array([
    [-0.20, 0.025, 0.15],
    [-0.035, 0.010, -0.12],
    [0.0, 0.011, 1.00],
    [0.035, 0.012, -0.25],
    [0.26, 0.045, 0.30],
])


def _smooth_step(t, start, stop, edge):
    """~1 on [start, stop], falling to 0 outside over ``edge`` seconds (a product of two logistics)."""
    return 1.0 / ((1 + np.exp(-(t - start) / edge)) * (1 + np.exp((t - stop) / edge)))


def make_ecg_beats(n_samples: int = 600, length: int = 96, abnormal_fraction: float = 0.35,
                   noise: float = 0.04, seed=0) -> dict:
    """Labelled synthetic heartbeats.

    Returns ``{"signals": (N, length) float32 z-normalised beats, "labels": (N,) int64 (1 = abnormal),
    "severity": (N,) float64 (0 for normal beats), "fs": sampling rate in Hz}``. The window spans
    0.35 s before to 0.55 s after the R peak, whatever ``length`` is (so ``fs = length / 0.9``).
    """
    fn = "make_ecg_beats"
    n = check_int(n_samples, "n_samples", fn, minimum=2)
    length = check_int(length, "length", fn, minimum=16)
    frac = check_float(abnormal_fraction, "abnormal_fraction", fn, low=0.0, high=1.0)
    noise = check_float(noise, "noise", fn, low=0.0)
    rng = as_rng(seed, fn)

    labels = (rng.permutation(n) < round(frac * n)).astype(np.int64)
    t = np.linspace(-0.35, 0.55, length)[None, :]  # (1, L) seconds about the R peak
    rr = rng.uniform(0.6, 1.1, (n, 1))  # heart rate 55-100 beats per minute
    qt_scale = np.sqrt(rr / 0.8)  # Bazett: repolarisation timing scales with sqrt(RR)
    centres = _WAVES[:, 0][None, :] * np.where(np.arange(5) >= 3, qt_scale, 1.0)  # S and T move with RR
    centres = centres + rng.normal(0, 0.006, (n, 5))
    widths = _WAVES[:, 1][None, :] * rng.uniform(0.85, 1.15, (n, 5))
    amps = _WAVES[:, 2][None, :] * rng.uniform(0.75, 1.25, (n, 5))
    shift = rng.normal(0, 0.008, (n, 1))  # the R peak is never exactly centred

    severity = np.where(labels == 1, rng.uniform(0.0, 1.0, n), 0.0)
    sev = severity[:, None]
    # infarct changes, all scaled by severity: deeper and wider Q, ST elevation, T flattening/inversion
    amps[:, 1] *= 1 + 3.0 * severity
    widths[:, 1] *= 1 + 0.8 * severity
    inverted = (labels == 1) & (rng.random(n) < 0.5)
    amps[:, 4] *= np.where(inverted, 1 - 2.2 * severity, 1 - 0.6 * severity)

    tt = t - shift
    x = (amps[:, :, None] * np.exp(-(tt[:, None, :] - centres[:, :, None]) ** 2
                                   / (2 * widths[:, :, None] ** 2))).sum(1)
    st_end = centres[:, 4:5] - 0.5 * widths[:, 4:5]
    x += 0.25 * sev * _smooth_step(tt, centres[:, 3:4], st_end, 0.01)
    wander_f = rng.uniform(0.1, 0.5, (n, 1))
    x += rng.uniform(0, 0.1, (n, 1)) * np.sin(2 * np.pi * wander_f * t + rng.uniform(0, 2 * np.pi, (n, 1)))
    x += rng.normal(0, noise, x.shape)
    x = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    return {"signals": x.astype(np.float32), "labels": labels, "severity": severity, "fs": length / 0.9}
