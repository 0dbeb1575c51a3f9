"""ACC and AUC exactly as the official MedMNIST evaluator computes them.

Published MedMNIST results (Yang et al., Scientific Data 10, 41, 2023) come from
``medmnist.evaluator.getACC`` / ``getAUC``; numbers are only comparable with theirs if the
same conventions are used, which are (v2/v3 of the package):

* "binary-class": the positive-class score is y_score[:, -1] (or y_score itself if 1-D);
  ACC thresholds it with ``score > 0.5`` (strictly), AUC is the binary ROC AUC.
* "multi-class" and "ordinal-regression" (the evaluator does not treat ordinal labels
  specially): ACC of argmax over the K columns; AUC = mean over the K columns of the
  one-vs-rest AUC of class k. Every class must occur in y_true.
* "multi-label, binary-class": per label, ACC of ``score > 0.5`` and the ROC AUC; both are
  averaged over the labels.

y_score should hold probabilities (softmax for multi-class, sigmoid for multi-label) for the
0.5 threshold to mean anything; AUCs only depend on the ordering.
"""

from __future__ import annotations

import numpy as np

from tasks.metrics import _checks as chk
from tasks.metrics.ranking import roc_auc

TASKS = ("binary-class", "multi-class", "multi-label, binary-class", "ordinal-regression")
_ALIASES = {"binary": "binary-class", "multi-label": "multi-label, binary-class",
            "multiclass": "multi-class", "ordinal": "ordinal-regression"}


def medmnist_evaluate(task: str, y_true, y_score, threshold: float = 0.5) -> dict[str, float]:
    """{"acc": ..., "auc": ...} with the official MedMNIST evaluator's definitions.

    task: a MedMNIST task string (INFO[flag]["task"]) or the short forms "binary",
    "multiclass", "multi-label", "ordinal".
    y_true: (N,) or (N, 1) class indices, or (N, L) 0/1 for multi-label.
    y_score: (N, K) class scores, (N,), (N, 1) or (N, 2) for binary (the positive class's score
    is the last column), (N, L) for multi-label.
    """
    fn = "medmnist_evaluate"
    task = _ALIASES.get(task, task)
    if task not in TASKS:
        raise ValueError(f"{fn}: unknown task {task!r}; expected one of {TASKS} or {tuple(_ALIASES)}")
    t = chk.host(fn, "y_true", y_true)
    s = chk.finite(fn, "y_score", chk.host(fn, "y_score", y_score)).astype(np.float64)
    chk.same_length(fn, y_true=t, y_score=s)
    chk.nonempty(fn, y_true=t)

    if task == "multi-label, binary-class":
        if t.ndim != 2 or t.shape != s.shape:
            raise ValueError(f"{fn}: multi-label needs y_true and y_score of the same shape (N, L), "
                             f"got {t.shape} and {s.shape}")
        t = chk.binary_labels(fn, "y_true", t)
        acc = float(np.mean((s > threshold) == (t == 1)))  # mean over labels of per-label ACC
        return {"acc": acc, "auc": float(roc_auc(t, s))}

    t = chk.vector(fn, "y_true", t)
    if task == "binary-class":
        if s.ndim == 2 and s.shape[1] in (1, 2):
            s = s[:, -1]  # the positive class's score (a (N, 1) column is that score already)
        if s.ndim != 1:
            raise ValueError(f"{fn}: binary-class y_score must be (N,), (N, 1) or (N, 2), got {s.shape}")
        t = chk.binary_labels(fn, "y_true", t)
        return {"acc": float(np.mean((s > threshold) == (t == 1))), "auc": float(roc_auc(t, s))}

    if s.ndim != 2:
        raise ValueError(f"{fn}: {task} y_score must be (N, K), got shape {s.shape}")
    t = chk.labels(fn, "y_true", t, n_classes=s.shape[1])
    return {"acc": float(np.mean(np.argmax(s, axis=1) == t)), "auc": float(roc_auc(t, s))}
