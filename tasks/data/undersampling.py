"""Cartesian k-space undersampling masks for MRI reconstruction (fastMRI's rules, variable density, k-t).

A 2-D Cartesian acquisition reads k-space one line at a time: the readout direction (rows, axis -2
of an (H, W) array here) is always fully sampled, and the scan time is proportional to the number of
phase-encoding lines (columns). Accelerating by R keeps about W / R columns. Every mask keeps a fully
sampled block of ``round(W * center_fraction)`` central columns (the low frequencies hold most of the
image energy and its contrast) and chooses the others by one of three rules:

``random``       fastMRI's RandomMaskFunc (Zbontar et al., arXiv:1811.08839): each outer column is
                 kept independently with probability p = (W / R - n_centre) / (W - n_centre), so the
                 expected number of lines is W / R (the exact count varies from mask to mask).
``equispaced``   fastMRI's EquispacedMaskFunc: outer columns on a regular grid with spacing
                 R' = R (n_centre - W) / (n_centre R - W), chosen so that centre plus grid give about
                 W / R lines, starting at a random offset in [0, round(R')). Regular sampling aliases
                 into coherent ghosts, which is harder for compressed sensing than random sampling.
``variable``     variable-density random lines: exactly round(W / R) columns, the centre plus outer
                 ones drawn without replacement with probability proportional to (1 - |k|)^power
                 (|k| in [0, 1] the normalised distance to the centre), denser near the centre as in
                 Lustig et al., "Sparse MRI", MRM 58:1182-1195 (2007); Efraimidis-Spirakis keys.

For dynamic (cine) data each frame gets its own mask (k-t sampling: ``n_frames``), so that lines
missing in one frame are measured in a neighbouring one; Qin et al. (IEEE TMI 38:280-290, 2019) and
Schlemper et al. (IEEE TMI 37:491-503, 2018) train with such variable-density k-t masks.

All functions return boolean arrays: (H, W), or (T, H, W) with ``n_frames``. The column pattern is
repeated over the H rows (the readout).
"""

from __future__ import annotations

import numpy as np

MASK_KINDS = ("random", "equispaced", "variable")


def _check(width: int, acceleration: float, center_fraction: float, fn: str) -> int:
    if not isinstance(width, (int, np.integer)) or width < 2:
        raise ValueError(f"{fn}: width must be an integer >= 2, got {width!r}")
    if not np.isfinite(acceleration) or acceleration < 1:
        raise ValueError(f"{fn}: acceleration must be >= 1 (1 = fully sampled), got {acceleration}")
    if not 0.0 <= center_fraction <= 1.0:
        raise ValueError(f"{fn}: center_fraction must be in [0, 1], got {center_fraction}")
    n_centre = int(round(width * center_fraction))
    if n_centre > width / acceleration + 1e-9:
        raise ValueError(
            f"{fn}: the fully sampled centre ({n_centre} of {width} lines, center_fraction {center_fraction}) "
            f"already exceeds the {width / acceleration:.1f} lines allowed by acceleration {acceleration}"
        )
    return n_centre


def centre_lines(width: int, n_centre: int) -> np.ndarray:
    """Boolean (W,) with the n_centre central columns set, as fastMRI places them: from (W - n + 1) // 2."""
    out = np.zeros(width, dtype=bool)
    start = (width - n_centre + 1) // 2
    out[start:start + n_centre] = True
    return out


def random_lines(width, acceleration, center_fraction, rng) -> np.ndarray:
    """fastMRI RandomMaskFunc: centre plus each other line with probability (W/R - n_c) / (W - n_c). (W,) bool."""
    n_centre = _check(width, acceleration, center_fraction, "random mask")
    centre = centre_lines(width, n_centre)
    if n_centre == width:
        return centre
    prob = (width / acceleration - n_centre) / (width - n_centre)
    return centre | (rng.uniform(size=width) < prob)


def equispaced_lines(width, acceleration, center_fraction, rng) -> np.ndarray:
    """fastMRI EquispacedMaskFunc: centre plus lines every R' = R (n_c - W) / (n_c R - W), random offset. (W,) bool."""
    n_centre = _check(width, acceleration, center_fraction, "equispaced mask")
    centre = centre_lines(width, n_centre)
    if acceleration == 1 or n_centre == width:
        return np.ones(width, dtype=bool)
    if n_centre * acceleration == width:  # the centre alone uses the whole budget
        return centre
    spacing = acceleration * (n_centre - width) / (n_centre * acceleration - width)
    offset = int(rng.integers(0, max(1, round(spacing))))
    picks = np.around(np.arange(offset, width - 1, spacing)).astype(int)
    out = centre.copy()
    out[picks] = True
    return out


def variable_density_lines(width, acceleration, center_fraction, rng, power: float = 2.0) -> np.ndarray:
    """Exactly round(W / R) lines: the centre plus a weighted draw without replacement, weight (1 - |k|)^power.
    Returns (W,) bool."""
    n_centre = _check(width, acceleration, center_fraction, "variable-density mask")
    centre = centre_lines(width, n_centre)
    n_keep = max(n_centre, int(round(width / acceleration)))
    k = np.abs(np.arange(width) - width // 2) / (width / 2.0)  # 0 at DC, 1 at the edge
    weight = np.maximum(1.0 - k, 1e-3) ** power
    # Efraimidis-Spirakis: keys u^(1/w) (here log u / w), the largest keys are a weighted sample
    keys = np.log(rng.uniform(1e-300, 1.0, size=width)) / weight
    keys[centre] = np.inf
    out = np.zeros(width, dtype=bool)
    out[np.argsort(-keys)[:n_keep]] = True
    return out


_RULES = {"random": random_lines, "equispaced": equispaced_lines, "variable": variable_density_lines}


def sampling_mask(shape, kind: str = "random", acceleration: float = 4.0, center_fraction: float = 0.08,
                  seed=0, n_frames: int | None = None) -> np.ndarray:
    """A Cartesian line mask of ``shape`` (H, W): (H, W) bool, or (n_frames, H, W) with one mask per frame.

    kind: 'random' | 'equispaced' | 'variable' (see the module docstring). seed: an int or a
    numpy Generator; frames draw from it in turn, so each frame differs.
    """
    if kind not in _RULES:
        raise ValueError(f"sampling_mask: kind must be one of {', '.join(MASK_KINDS)}, got {kind!r}")
    if len(shape) != 2:
        raise ValueError(f"sampling_mask: shape must be (H, W), got {tuple(shape)}")
    h, w = (int(s) for s in shape)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    frames = 1 if n_frames is None else int(n_frames)
    if frames < 1:
        raise ValueError(f"sampling_mask: n_frames must be >= 1, got {n_frames}")
    lines = np.stack([_RULES[kind](w, float(acceleration), float(center_fraction), rng) for _ in range(frames)])
    masks = np.broadcast_to(lines[:, None, :], (frames, h, w)).copy()
    return masks[0] if n_frames is None else masks


def effective_acceleration(mask) -> float:
    """Sampled fraction's inverse: size / number of sampled k-space points."""
    mask = np.asarray(mask, dtype=bool)
    return float(mask.size / max(1, mask.sum()))
