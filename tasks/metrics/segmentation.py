"""Overlap and boundary-distance metrics between a predicted and a reference binary mask.

* Dice = 2|A n B| / (|A| + |B|) and IoU (Jaccard) = |A n B| / |A u B| measure overlap; they
  are related by Dice = 2 IoU / (1 + IoU).
  Rule for two empty masks: both are 1 (the prediction correctly finds nothing), as in the
  Medical Segmentation Decathlon evaluation. One empty and one non-empty mask give 0.
* The Hausdorff distance is the largest distance from a boundary point of one mask to the
  nearest boundary point of the other; HD95 replaces "largest" by the 95th percentile so that
  a few outlier voxels do not dominate:
      HD_p = max( P_p{ d(a, dB) : a in dA },  P_p{ d(b, dA) : b in dB } )
  (the maximum of the two directed percentiles, as MONAI's compute_hausdorff_distance).
  Distances are in physical units given the voxel ``spacing``. Rule for empty masks: two
  empty masks give 0, exactly one empty mask gives +inf.
* The average symmetric surface distance (ASSD) is the mean of all boundary distances of both
  directions pooled together (MONAI's compute_average_surface_distance with symmetric=True):
      ASSD = ( sum_{a in dA} d(a, dB) + sum_{b in dB} d(b, dA) ) / ( |dA| + |dB| )
  with the same empty-mask rules as the Hausdorff distance.
* ``per_class_metrics`` evaluates label maps class by class and case by case (an (N, K) array
  per metric), with voxel spacing; ``ignore_empty=True`` gives NaN for a class that is absent
  from a case's reference (MONAI's ignore_empty), so that "nothing to find, nothing found"
  does not inflate a mean, and ``empty_distance`` replaces the +inf of a missed or hallucinated
  structure by a finite worst case (e.g. the image diagonal) so that means stay defined.
References: Dice, Ecology 26 (1945); Huttenlocher et al., IEEE TPAMI 15 (1993);
Maier-Hein et al., "Metrics reloaded", Nature Methods 21 (2024).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tasks.metrics import _checks as chk


def _masks(fn: str, pred, target) -> tuple[np.ndarray, np.ndarray]:
    p = chk.host(fn, "pred", pred)
    t = chk.host(fn, "target", target)
    chk.same_shape(fn, pred=p, target=t)
    chk.nonempty(fn, pred=p)
    for name, m in (("pred", p), ("target", t)):
        if m.dtype.kind != "b" and not np.isin(m, (0, 1)).all():
            raise ValueError(f"{fn}: {name} must be a binary mask (bool or 0/1), got values "
                             f"{np.unique(m)[:5]} (threshold or one-hot encode it first)")
    return p.astype(bool), t.astype(bool)


def _overlap(fn: str, pred, target, per_sample: bool):
    p, t = _masks(fn, pred, target)
    if per_sample:
        if p.ndim < 2:
            raise ValueError(f"{fn}: per_sample=True needs a leading sample axis, got shape {p.shape}")
        axes = tuple(range(1, p.ndim))
    else:
        axes = None
    inter = np.sum(p & t, axis=axes, dtype=np.float64)
    total = np.sum(p, axis=axes, dtype=np.float64) + np.sum(t, axis=axes, dtype=np.float64)
    return inter, total


def dice(pred, target, per_sample: bool = False):
    """Dice coefficient 2|P n T| / (|P| + |T|) of two binary masks of the same shape.

    per_sample=False: one float over the whole arrays. per_sample=True: axis 0 indexes
    samples (e.g. (N, H, W)) and an (N,) array is returned. Two empty masks score 1.
    """
    inter, total = _overlap("dice", pred, target, per_sample)
    out = np.where(total > 0, 2.0 * inter / np.maximum(total, 1.0), 1.0)
    return out if per_sample else float(out)


def iou(pred, target, per_sample: bool = False):
    """Intersection over union |P n T| / |P u T| (Jaccard index); two empty masks score 1.

    Shapes and per_sample as in dice.
    """
    inter, total = _overlap("iou", pred, target, per_sample)
    union = total - inter
    out = np.where(union > 0, inter / np.maximum(union, 1.0), 1.0)
    return out if per_sample else float(out)


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Voxels of the mask with at least one face-neighbour outside it (or outside the image)."""
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def _spacing(fn: str, spacing, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    sp = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (ndim,))
    if not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise ValueError(f"{fn}: spacing must be positive and finite, got {spacing!r}")
    return tuple(float(v) for v in sp)


def surface_distances(pred, target, spacing=None) -> tuple[np.ndarray, np.ndarray]:
    """Directed boundary distances (d(P->T), d(T->P)) of two non-empty masks.

    pred, target: binary masks of the same shape (2-D or 3-D, one image). spacing: voxel size
    per axis (scalar or sequence), default 1. Returns the distance from every boundary voxel of
    pred to the nearest boundary voxel of target, and the reverse, using Euclidean distance
    transforms (no loop over points).
    """
    fn = "surface_distances"
    p, t = _masks(fn, pred, target)
    if not p.any() or not t.any():
        raise ValueError(f"{fn}: both masks must be non-empty (pred {int(p.sum())} and "
                         f"target {int(t.sum())} voxels)")
    sp = _spacing(fn, spacing, p.ndim)
    bp, bt = _boundary(p), _boundary(t)
    # The EDT of the complement of a boundary gives, at every voxel, the distance to that boundary.
    dist_to_t = ndimage.distance_transform_edt(~bt, sampling=sp)
    dist_to_p = ndimage.distance_transform_edt(~bp, sampling=sp)
    return dist_to_t[bp], dist_to_p[bt]


def hausdorff_distance(pred, target, spacing=None, percentile: float = 100.0) -> float:
    """Symmetric Hausdorff distance between the boundaries of two binary masks.

    percentile=100 is the classical (maximum) Hausdorff distance; percentile=95 gives HD95,
    the larger of the two directed 95th percentiles. Two empty masks give 0.0 and exactly one
    empty mask +inf. Units are those of ``spacing``.
    """
    fn = "hausdorff_distance"
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"{fn}: percentile must lie in [0, 100], got {percentile!r}")
    p, t = _masks(fn, pred, target)
    has_p, has_t = bool(p.any()), bool(t.any())
    if not has_p and not has_t:
        return 0.0
    if has_p != has_t:
        return float("inf")
    d_pt, d_tp = surface_distances(p, t, spacing)
    return float(max(np.percentile(d_pt, percentile), np.percentile(d_tp, percentile)))


def hd95(pred, target, spacing=None) -> float:
    """95th-percentile Hausdorff distance (see hausdorff_distance)."""
    return hausdorff_distance(pred, target, spacing=spacing, percentile=95.0)


def average_surface_distance(pred, target, spacing=None, symmetric: bool = True) -> float:
    """Average surface distance between the boundaries of two binary masks (ASSD when symmetric).

    symmetric=True: the mean of both directed distance sets pooled (module docstring, as MONAI);
    symmetric=False: the mean distance from pred's boundary to target's. Two empty masks give
    0.0 and exactly one empty mask +inf. Units are those of ``spacing``.
    """
    fn = "average_surface_distance"
    p, t = _masks(fn, pred, target)
    has_p, has_t = bool(p.any()), bool(t.any())
    if not has_p and not has_t:
        return 0.0
    if has_p != has_t:
        return float("inf")
    d_pt, d_tp = surface_distances(p, t, spacing)
    return float(np.concatenate([d_pt, d_tp]).mean() if symmetric else d_pt.mean())


def assd(pred, target, spacing=None) -> float:
    """Average symmetric surface distance (see average_surface_distance)."""
    return average_surface_distance(pred, target, spacing=spacing, symmetric=True)


SEGMENTATION_METRICS = ("dice", "iou", "hd95", "hausdorff", "assd")


def per_class_metrics(pred, target, num_classes: int, metrics=("dice", "hd95"), spacing=None,
                      include_background: bool = False, ignore_empty: bool = False,
                      empty_distance: float | None = None) -> dict:
    """Metrics of label maps per case and per class: {metric: (N, K) float64 array}.

    pred, target: integer label maps (N, *spatial) with values in [0, num_classes); axis 0 indexes
    cases. K = num_classes - 1 without the background (class 0), num_classes with it; column k is
    class k + 1 (or k). metrics: names from SEGMENTATION_METRICS. spacing: voxel size per spatial
    axis. ignore_empty: NaN where the class is absent from the reference. empty_distance: the
    distance reported instead of +inf when exactly one of the two masks is empty.
    """
    fn = "per_class_metrics"
    p = chk.host(fn, "pred", pred)
    t = chk.host(fn, "target", target)
    chk.same_shape(fn, pred=p, target=t)
    if p.ndim < 2:
        raise ValueError(f"{fn}: expected label maps (N, *spatial), got shape {p.shape}")
    for name, m in (("pred", p), ("target", t)):
        if m.dtype.kind not in "iub":
            raise TypeError(f"{fn}: {name} must hold integer labels, got {m.dtype}")
        if m.size and (m.min() < 0 or m.max() >= num_classes):
            raise ValueError(f"{fn}: {name} holds labels in [{m.min()}, {m.max()}] outside [0, {num_classes})")
    unknown = sorted(set(metrics) - set(SEGMENTATION_METRICS))
    if unknown:
        raise ValueError(f"{fn}: unknown metrics {unknown}; choose from {SEGMENTATION_METRICS}")
    sp = _spacing(fn, spacing, p.ndim - 1)
    classes = list(range(0 if include_background else 1, num_classes))
    n = p.shape[0]
    # overlap metrics for all cases and classes at once (one-hot counts, no loop over voxels)
    axes = tuple(range(1, p.ndim))
    out = {}
    present = np.stack([(t == c).any(axis=axes) for c in classes], axis=1)  # (N, K)
    if {"dice", "iou"} & set(metrics):
        pc = np.stack([p == c for c in classes], axis=1)
        tc = np.stack([t == c for c in classes], axis=1)
        sub = tuple(range(2, pc.ndim))
        inter = (pc & tc).sum(axis=sub, dtype=np.float64)
        total = pc.sum(axis=sub, dtype=np.float64) + tc.sum(axis=sub, dtype=np.float64)
        if "dice" in metrics:
            out["dice"] = np.where(total > 0, 2 * inter / np.maximum(total, 1), 1.0)
        if "iou" in metrics:
            union = total - inter
            out["iou"] = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    distance = {"hd95": lambda a, b: hausdorff_distance(a, b, sp, 95.0),
                "hausdorff": lambda a, b: hausdorff_distance(a, b, sp, 100.0),
                "assd": lambda a, b: average_surface_distance(a, b, sp)}
    for name in metrics:
        if name in distance:
            # distance transforms work one image at a time: a loop over cases and classes, not voxels
            values = np.array([[distance[name](p[i] == c, t[i] == c) for c in classes] for i in range(n)],
                              dtype=np.float64).reshape(n, len(classes))
            if empty_distance is not None:
                values[np.isinf(values)] = float(empty_distance)
            out[name] = values
    if ignore_empty:
        for name in out:
            out[name] = np.where(present, out[name], np.nan)
    return {name: out[name] for name in metrics}
