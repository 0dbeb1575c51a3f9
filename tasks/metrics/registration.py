"""Registration metrics: overlap of warped labels, landmark error, regularity of the deformation, and the
error of recovered affine parameters.

Conventions: a displacement field u has shape (d, *spatial) in pixels, array-axis order, pull-back
(warped(x) = moving(x + u(x)), see tasks/data/phantoms/deformation.py).

* Dice per structure: 2|A n B| / (|A| + |B|) between the fixed labels and the warped moving labels, for
  each label k != background. A structure absent from both maps has no Dice (NaN, left out of means);
  absent from one only gives 0.
* TRE (target registration error): for landmarks x_k in the fixed image, the distance between where
  the estimated and the true transform send them, |u_est(x_k) - u_true(x_k)| (pixels; times the spacing
  for mm). Fields are sampled linearly at non-integer landmarks.
* Folding: the share of pixels where det(I + grad u) <= 0 (the map is not locally invertible);
  std of log|J| (det clipped at 1e-9) measures how unevenly the map stretches (VoxelMorph-diff, Learn2Reg).
  Derivatives by central differences (np.gradient), one-sided at the border.
* Affine parameter error: rotation in degrees, isotropic scale (relative), translation in pixels, for
  2-D similarity parts of estimated vs true (M, t) (models.affine_net.similarity_parameters), and the
  Frobenius norm of the matrix difference for any dimension.
References: Learn2Reg challenge metrics (Hering et al., IEEE TMI 2022); Rohlfing, IEEE TMI 2012
("Image similarity and tissue overlaps as surrogates for image registration accuracy").
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tasks.metrics import _checks as chk

__all__ = [
    "dice_per_label",
    "target_registration_error",
    "jacobian_determinant",
    "folding_fraction",
    "log_jacobian_std",
    "affine_parameter_error",
    "fit_affine",
]


def dice_per_label(fixed_labels, warped_labels, labels=None) -> dict:
    """{label: Dice} between two integer label maps of the same shape (background 0 excluded).

    labels: which labels to score (default: every non-zero label present in either map). A label absent
    from both maps scores NaN.
    """
    fn = "dice_per_label"
    a = chk.labels(fn, "fixed_labels", chk.host(fn, "fixed_labels", fixed_labels))
    b = chk.labels(fn, "warped_labels", chk.host(fn, "warped_labels", warped_labels))
    chk.same_shape(fn, fixed_labels=a, warped_labels=b)
    if labels is None:
        labels = [int(k) for k in np.union1d(np.unique(a), np.unique(b)) if k != 0]
    out = {}
    for k in labels:
        pa, pb = a == k, b == k
        total = pa.sum() + pb.sum()
        out[int(k)] = float(2.0 * (pa & pb).sum() / total) if total else float("nan")
    return out


def _field(fn, u) -> np.ndarray:
    u = chk.finite(fn, "field", chk.host(fn, "field", u)).astype(np.float64)
    if u.ndim not in (3, 4) or u.shape[0] != u.ndim - 1:
        raise ValueError(f"{fn}: field must be (2, H, W) or (3, D, H, W), got shape {u.shape}")
    return u


def target_registration_error(points, estimated_field, true_field, spacing=None) -> np.ndarray:
    """(K,) distances |u_est(x_k) - u_true(x_k)| for landmarks points (K, d) (array-axis order, pixels).

    spacing: voxel size per axis (default 1: pixels).
    """
    fn = "target_registration_error"
    est, true = _field(fn, estimated_field), _field(fn, true_field)
    chk.same_shape(fn, estimated_field=est, true_field=true)
    p = chk.finite(fn, "points", chk.host(fn, "points", points)).astype(np.float64)
    d = est.shape[0]
    if p.ndim != 2 or p.shape[1] != d or len(p) == 0:
        raise ValueError(f"{fn}: points must be (K, {d}) with K >= 1, got shape {p.shape}")
    diff = np.stack([ndimage.map_coordinates(e - t, p.T, order=1, mode="nearest") for e, t in zip(est, true)], 1)
    scale = np.ones(d) if spacing is None else np.asarray(spacing, dtype=np.float64)
    return np.sqrt(((diff * scale) ** 2).sum(axis=1))


def jacobian_determinant(field) -> np.ndarray:
    """det(I + grad u) (*spatial) of the map x -> x + u(x); u (d, *spatial) in pixels."""
    u = _field("jacobian_determinant", field)
    d = u.shape[0]
    grads = [np.gradient(u[i], axis=tuple(range(d))) for i in range(d)]
    jac = np.empty((*u.shape[1:], d, d))
    for i in range(d):
        for j in range(d):
            jac[..., i, j] = grads[i][j] + (1.0 if i == j else 0.0)
    return np.linalg.det(jac)


def folding_fraction(field) -> float:
    """Share of pixels with det(I + grad u) <= 0."""
    return float((jacobian_determinant(field) <= 0).mean())


def log_jacobian_std(field) -> float:
    """Standard deviation of log det(I + grad u), the determinant clipped at 1e-9 (Learn2Reg's SDlogJ)."""
    return float(np.log(np.clip(jacobian_determinant(field), 1e-9, None)).std())


def affine_parameter_error(true_matrix, true_translation, est_matrix, est_translation) -> dict:
    """Errors of an estimated affine (M (d, d), t (d,); pixels, array order, about the image centre).

    Always: matrix_error (Frobenius norm of M_est - M_true), translation_error (|t_est - t_true| px).
    In 2-D also: rotation_error_deg, scale_error (relative |s_est / s_true - 1|), from the closest similarity.
    """
    from models.affine_net import similarity_parameters

    fn = "affine_parameter_error"
    arrays = [chk.finite(fn, name, chk.host(fn, name, a)).astype(np.float64) for name, a in (
        ("true_matrix", true_matrix), ("true_translation", true_translation),
        ("est_matrix", est_matrix), ("est_translation", est_translation))]
    mt, tt, me, te = arrays
    d = mt.shape[-1]
    if mt.shape != (d, d) or me.shape != (d, d) or tt.shape != (d,) or te.shape != (d,):
        raise ValueError(f"{fn}: expected matrices (d, d) and translations (d,), got {[a.shape for a in arrays]}")
    out = {"matrix_error": float(np.linalg.norm(me - mt)), "translation_error": float(np.linalg.norm(te - tt))}
    if d == 2:
        true = similarity_parameters(mt[None], tt[None])
        est = similarity_parameters(me[None], te[None])
        angle = (est["angle_deg"][0] - true["angle_deg"][0] + 180.0) % 360.0 - 180.0
        out["rotation_error_deg"] = float(abs(angle))
        out["scale_error"] = float(abs(est["scale"][0] / true["scale"][0] - 1.0))
    return out


def fit_affine(field):
    """The affine part of a displacement: (M (d, d), t (d,)) minimising sum_x |M (x - c) + c + t - (x + u(x))|^2
    (least squares over all pixels, c the centre; array-axis order, as phantoms.affine_displacement_field)."""
    u = _field("fit_affine", field)
    d = u.shape[0]
    shape = u.shape[1:]
    centre = (np.asarray(shape, dtype=np.float64) - 1) / 2.0
    grid = np.stack(np.meshgrid(*[np.arange(s, dtype=np.float64) for s in shape], indexing="ij")).reshape(d, -1)
    rel = grid - centre[:, None]
    target = (grid + u.reshape(d, -1) - centre[:, None]).T  # (P, d) = M rel + t
    design = np.concatenate([rel.T, np.ones((rel.shape[1], 1))], axis=1)  # (P, d + 1)
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    return solution[:d].T, solution[d]
