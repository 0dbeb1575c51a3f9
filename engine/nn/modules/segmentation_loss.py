"""Segmentation losses as Modules (MONAI names: DiceLoss, DiceCELoss, FocalLoss, TverskyLoss).

Each stores its options and calls the function of the same name in
engine/nn/functional/segmentation_loss.py (see there for the formulas and the shapes):

    loss_fn = nn.DiceCELoss(include_background=False)
    loss = loss_fn(model(x), labels)          # logits (N, C, *spatial), labels (N, *spatial)
"""

from __future__ import annotations

from engine.nn.functional import segmentation_loss as S
from engine.nn.module import Module

__all__ = ["DiceLoss", "DiceCELoss", "FocalLoss", "TverskyLoss"]


class _Loss(Module):
    _fn = None

    def __init__(self, **options):
        super().__init__()
        self.options = options

    def forward(self, input, target):
        return type(self)._fn(input, target, **self.options)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())


class DiceLoss(_Loss):
    """Soft Dice loss (functional.dice_loss)."""

    _fn = staticmethod(S.dice_loss)

    def __init__(self, include_background: bool = True, activation=None, squared_pred: bool = False,
                 smooth_nr: float = 1e-5, smooth_dr: float = 1e-5, batch: bool = False, reduction: str = "mean"):
        super().__init__(include_background=include_background, activation=activation, squared_pred=squared_pred,
                         smooth_nr=smooth_nr, smooth_dr=smooth_dr, batch=batch, reduction=reduction)


class TverskyLoss(_Loss):
    """Tversky loss (functional.tversky_loss): alpha weighs false positives, beta false negatives."""

    _fn = staticmethod(S.tversky_loss)

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, include_background: bool = True, activation=None,
                 smooth_nr: float = 1e-5, smooth_dr: float = 1e-5, batch: bool = False, reduction: str = "mean"):
        super().__init__(alpha=alpha, beta=beta, include_background=include_background, activation=activation,
                         smooth_nr=smooth_nr, smooth_dr=smooth_dr, batch=batch, reduction=reduction)


class FocalLoss(_Loss):
    """Focal loss (functional.focal_loss)."""

    _fn = staticmethod(S.focal_loss)

    def __init__(self, gamma: float = 2.0, alpha=None, include_background: bool = True, activation=None,
                 reduction: str = "mean"):
        super().__init__(gamma=gamma, alpha=alpha, include_background=include_background, activation=activation,
                         reduction=reduction)


class DiceCELoss(_Loss):
    """Dice + cross-entropy (functional.dice_ce_loss)."""

    _fn = staticmethod(S.dice_ce_loss)

    def __init__(self, include_background: bool = True, activation=None, lambda_dice: float = 1.0,
                 lambda_ce: float = 1.0, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5, batch: bool = False,
                 ce_weight=None):
        super().__init__(include_background=include_background, activation=activation, lambda_dice=lambda_dice,
                         lambda_ce=lambda_ce, smooth_nr=smooth_nr, smooth_dr=smooth_dr, batch=batch,
                         ce_weight=ce_weight)
