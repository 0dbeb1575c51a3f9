"""Evaluation metrics for medical tasks, on host NumPy arrays (device arrays are copied once).

Modules, one job each:
  classification -- confusion matrix, accuracy, balanced accuracy, precision/recall/F1,
                    sensitivity/specificity, Cohen's (weighted) kappa
  ranking        -- ROC curve and AUC, precision-recall curve and average precision
  regression     -- MAE, MSE, Pearson and Spearman correlation
  bootstrap      -- percentile-bootstrap confidence intervals for any metric
  medmnist       -- ACC/AUC with the official MedMNIST evaluator's conventions
  segmentation   -- Dice, IoU, Hausdorff distance, HD95 and ASSD, per class and per case
  image_quality  -- PSNR and SSIM
  survival       -- Harrell's C-index
  detection      -- FROC curve and the LUNA16 CPM score

All functions return Python floats (or NumPy arrays for curves / per-class values) and raise
ValueError or TypeError on bad input. ``UndefinedMetricError`` (a ValueError) signals a valid
input on which the metric has no value, such as an AUC with a single class.
"""

from tasks.metrics._checks import UndefinedMetricError
from tasks.metrics.bootstrap import BootstrapCI, bootstrap_ci, resample_indices
from tasks.metrics.classification import (
    accuracy,
    balanced_accuracy,
    cohen_kappa,
    confusion_matrix,
    f1_score,
    precision,
    precision_recall_f1,
    quadratic_weighted_kappa,
    recall,
    sensitivity_specificity,
)
from tasks.metrics.detection import LUNA16_FP_RATES, froc_cpm, froc_curve, sensitivity_at
from tasks.metrics.image_quality import psnr, ssim
from tasks.metrics.medmnist import medmnist_evaluate
from tasks.metrics.ranking import average_precision, precision_recall_curve, roc_auc, roc_curve
from tasks.metrics.regression import mean_absolute_error, mean_squared_error, pearson_r, rankdata, spearman_r
from tasks.metrics.segmentation import (
    assd,
    average_surface_distance,
    dice,
    hausdorff_distance,
    hd95,
    iou,
    per_class_metrics,
    surface_distances,
)
from tasks.metrics.survival import concordance_index

__all__ = [
    "LUNA16_FP_RATES",
    "BootstrapCI",
    "UndefinedMetricError",
    "accuracy",
    "assd",
    "average_precision",
    "average_surface_distance",
    "balanced_accuracy",
    "bootstrap_ci",
    "cohen_kappa",
    "concordance_index",
    "confusion_matrix",
    "dice",
    "f1_score",
    "froc_cpm",
    "froc_curve",
    "hausdorff_distance",
    "hd95",
    "iou",
    "mean_absolute_error",
    "mean_squared_error",
    "medmnist_evaluate",
    "pearson_r",
    "per_class_metrics",
    "precision",
    "precision_recall_curve",
    "precision_recall_f1",
    "psnr",
    "quadratic_weighted_kappa",
    "rankdata",
    "recall",
    "resample_indices",
    "roc_auc",
    "roc_curve",
    "sensitivity_at",
    "sensitivity_specificity",
    "spearman_r",
    "ssim",
    "surface_distances",
]
