"""Segmentation losses: gradient checks on every device, MONAI/torchvision formulas in PyTorch, properties."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine import nn

RNG = np.random.default_rng(0)
X3 = RNG.normal(size=(2, 3, 4, 5)) * 1.5  # 3 classes, 2D
T3 = RNG.integers(0, 3, (2, 4, 5))
X3D = RNG.normal(size=(2, 3, 3, 3, 2))  # 3 classes, 3D
T3D = RNG.integers(0, 3, (2, 3, 3, 2))
X1 = RNG.normal(size=(2, 1, 4, 5)) * 1.5  # one foreground channel (sigmoid)
T1 = RNG.integers(0, 2, (2, 4, 5))
SOFT = RNG.dirichlet(np.ones(3), size=(2, 4, 5)).transpose(0, 3, 1, 2)  # soft targets (N, C, H, W)

CASES = {  # name: (loss call, logits, target)
    "dice": (lambda x, t: F.dice_loss(x, t), X3, T3),
    "dice_no_background": (lambda x, t: F.dice_loss(x, t, include_background=False), X3, T3),
    "dice_batch_squared": (lambda x, t: F.dice_loss(x, t, batch=True, squared_pred=True), X3, T3),
    "dice_none_3d": (lambda x, t: F.dice_loss(x, t, reduction="none"), X3D, T3D),
    "dice_sigmoid": (lambda x, t: F.dice_loss(x, t), X1, T1),
    "dice_soft_target": (lambda x, t: F.dice_loss(x, t, reduction="sum"), X3, SOFT),
    "tversky": (lambda x, t: F.tversky_loss(x, t, alpha=0.3, beta=0.7), X3, T3),
    "tversky_sigmoid_batch": (lambda x, t: F.tversky_loss(x, t, alpha=0.2, beta=0.8, batch=True), X1, T1),
    "focal_softmax": (lambda x, t: F.focal_loss(x, t, gamma=2.0), X3, T3),
    "focal_softmax_alpha": (lambda x, t: F.focal_loss(x, t, gamma=1.5, alpha=[0.2, 1.0, 2.0]), X3D, T3D),
    "focal_sigmoid": (lambda x, t: F.focal_loss(x, t, gamma=2.0, alpha=0.25), X1, T1),
    "dice_ce": (lambda x, t: F.dice_ce_loss(x, t, include_background=False), X3, T3),
    "dice_ce_sigmoid": (lambda x, t: F.dice_ce_loss(x, t, lambda_dice=0.5, lambda_ce=2.0), X1, T1),
    "dice_ce_soft": (lambda x, t: F.dice_ce_loss(x, t), X3, SOFT),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name, device):
    fn, x, t = CASES[name]
    target = engine.tensor(t, device=device)
    engine.gradcheck(lambda a: fn(a, target), [engine.tensor(x, device=device, requires_grad=True)])


@pytest.mark.parametrize("name", ["dice", "tversky", "focal_softmax", "focal_sigmoid", "dice_ce"])
def test_gradgradcheck(name):
    fn, x, t = CASES[name]
    target = engine.tensor(t[:1, :2, :3])
    engine.gradgradcheck(lambda a: fn(a, target), [engine.tensor(x[:1, :, :2, :3], requires_grad=True)])


# ---------------------------------------------------------------------- the reference formulas in PyTorch
def _torch_onehot(torch, x, t):
    t = torch.as_tensor(t)
    if t.dtype.is_floating_point:
        return t.to(x.dtype)
    if x.shape[1] == 1:
        return t[:, None].to(x.dtype)
    return torch.nn.functional.one_hot(t, x.shape[1]).movedim(-1, 1).to(x.dtype)


def _torch_counts(torch, x, t, include_background=True, batch=False):
    """MONAI's DiceLoss/TverskyLoss preamble: activation, one-hot, background removal, reduced axes."""
    p = torch.softmax(x, 1) if x.shape[1] > 1 else torch.sigmoid(x)
    g = _torch_onehot(torch, x, t)
    if not include_background and x.shape[1] > 1:
        p, g = p[:, 1:], g[:, 1:]
    axes = list(range(2, x.ndim))
    return p, g, ([0] + axes if batch else axes)


def _monai_dice(torch, x, t, include_background=True, batch=False, squared_pred=False, reduction="mean"):
    p, g, axes = _torch_counts(torch, x, t, include_background, batch)
    inter = (p * g).sum(axes)
    denom = ((p**2).sum(axes) + (g**2).sum(axes)) if squared_pred else (p.sum(axes) + g.sum(axes))
    f = 1.0 - (2.0 * inter + 1e-5) / (denom + 1e-5)
    return {"mean": f.mean(), "sum": f.sum(), "none": f}[reduction]


def _monai_tversky(torch, x, t, alpha, beta, batch=False):
    p, g, axes = _torch_counts(torch, x, t, True, batch)
    tp, fp, fn = (p * g).sum(axes), (p * (1 - g)).sum(axes), ((1 - p) * g).sum(axes)
    return (1.0 - (tp + 1e-5) / (tp + alpha * fp + beta * fn + 1e-5)).mean()


def _torchvision_sigmoid_focal(torch, x, t, alpha, gamma):
    """torchvision.ops.sigmoid_focal_loss, written out (torchvision is not a test dependency)."""
    g = _torch_onehot(torch, x, t)
    p = torch.sigmoid(x)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(x, g, reduction="none")
    p_t = p * g + (1 - p) * (1 - g)
    loss = ce * (1 - p_t) ** gamma
    return (loss * (alpha * g + (1 - alpha) * (1 - g))).mean()


def _softmax_focal(torch, x, t, gamma, alpha=None):
    g = _torch_onehot(torch, x, t)
    logp = torch.log_softmax(x, 1)
    terms = g * (1 - logp.exp()) ** gamma * logp
    if alpha is not None:
        terms = terms * torch.tensor(alpha, dtype=x.dtype).reshape(1, -1, *([1] * (x.ndim - 2)))
    return -terms.sum(1).mean()


def _monai_dice_ce(torch, x, t, include_background=True, lambda_dice=1.0, lambda_ce=1.0):
    dice = _monai_dice(torch, x, t, include_background)
    if x.shape[1] == 1:
        ce = torch.nn.functional.binary_cross_entropy_with_logits(x, _torch_onehot(torch, x, t))
    else:
        ce = torch.nn.functional.cross_entropy(x, torch.as_tensor(t))
    return lambda_dice * dice + lambda_ce * ce


TORCH_CASES = {  # name in CASES: the same loss written as MONAI / torchvision define it
    "dice": lambda torch, x, t: _monai_dice(torch, x, t),
    "dice_no_background": lambda torch, x, t: _monai_dice(torch, x, t, include_background=False),
    "dice_batch_squared": lambda torch, x, t: _monai_dice(torch, x, t, batch=True, squared_pred=True),
    "dice_none_3d": lambda torch, x, t: _monai_dice(torch, x, t, reduction="none"),
    "dice_sigmoid": lambda torch, x, t: _monai_dice(torch, x, t),
    "dice_soft_target": lambda torch, x, t: _monai_dice(torch, x, t, reduction="sum"),
    "tversky": lambda torch, x, t: _monai_tversky(torch, x, t, 0.3, 0.7),
    "tversky_sigmoid_batch": lambda torch, x, t: _monai_tversky(torch, x, t, 0.2, 0.8, batch=True),
    "focal_softmax": lambda torch, x, t: _softmax_focal(torch, x, t, 2.0),
    "focal_softmax_alpha": lambda torch, x, t: _softmax_focal(torch, x, t, 1.5, [0.2, 1.0, 2.0]),
    "focal_sigmoid": lambda torch, x, t: _torchvision_sigmoid_focal(torch, x, t, 0.25, 2.0),
    "dice_ce": lambda torch, x, t: _monai_dice_ce(torch, x, t, include_background=False),
    "dice_ce_sigmoid": lambda torch, x, t: _monai_dice_ce(torch, x, t, lambda_dice=0.5, lambda_ce=2.0),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", list(TORCH_CASES))
def test_matches_the_reference_formula_in_torch(name, torch):
    fn, x, t = CASES[name]
    ours_x = engine.tensor(x, requires_grad=True)
    ours = fn(ours_x, engine.tensor(t))
    theirs_x = torch.tensor(x, requires_grad=True)
    theirs = TORCH_CASES[name](torch, theirs_x, t)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    u = RNG.normal(size=ours.shape)
    (ours * engine.tensor(u)).sum().backward()
    (theirs * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.torch
def test_focal_with_gamma_zero_is_torch_cross_entropy(torch):
    ours = F.focal_loss(engine.tensor(X3D), engine.tensor(T3D), gamma=0.0)
    theirs = torch.nn.functional.cross_entropy(torch.tensor(X3D), torch.tensor(T3D))
    assert float(ours) == pytest.approx(float(theirs), rel=1e-12)


# ------------------------------------------------------------------------------------------ properties
def test_dice_loss_known_value_on_probabilities():
    # one sample, one class: p = [1, 1, 0, 0], g = [1, 0, 1, 0] -> 1 - (2*1 + s) / (2 + 2 + s)
    p = engine.tensor(np.array([1.0, 1.0, 0.0, 0.0]).reshape(1, 1, 4))
    g = engine.tensor(np.array([1.0, 0.0, 1.0, 0.0]).reshape(1, 1, 4))
    expected = 1.0 - (2.0 + 1e-5) / (4.0 + 1e-5)
    assert float(F.dice_loss(p, g, activation="none")) == pytest.approx(expected, rel=1e-12)


def test_perfect_and_inverted_predictions():
    onehot = np.moveaxis(np.eye(3)[T3], -1, 1)
    good = engine.tensor(30.0 * (2 * onehot - 1))
    bad = engine.tensor(-good.numpy())
    for loss in (F.dice_loss, F.tversky_loss):
        assert float(loss(good, engine.tensor(T3))) < 1e-6
        assert float(loss(bad, engine.tensor(T3))) > 0.99
    assert float(F.focal_loss(good, engine.tensor(T3))) < 1e-12


def test_tversky_with_equal_weights_is_dice_and_beta_weighs_misses():
    x, t = engine.tensor(X3), engine.tensor(T3)
    exact = dict(smooth_nr=0.0, smooth_dr=0.0)  # the smoothing terms enter the two ratios differently
    assert float(F.tversky_loss(x, t, **exact)) == pytest.approx(float(F.dice_loss(x, t, **exact)), rel=1e-12)
    # a prediction that misses half of a target but has no false positives: beta penalises it, alpha does not
    g = np.zeros((1, 1, 8))
    g[..., :4] = 1
    p = np.zeros((1, 1, 8))
    p[..., :2] = 1
    pt, gt = engine.tensor(p), engine.tensor(g)
    assert float(F.tversky_loss(pt, gt, alpha=1.0, beta=0.0, activation="none")) < 1e-5
    assert float(F.tversky_loss(pt, gt, alpha=0.0, beta=1.0, activation="none")) == pytest.approx(0.5, abs=1e-5)


def test_excluding_background_ignores_its_channel():
    x = X3.copy()
    changed = x.copy()
    changed[:, 0] += RNG.normal(size=changed[:, 0].shape)  # changes softmax of every channel...
    a = F.dice_loss(engine.tensor(x), engine.tensor(T3), include_background=False, activation="none")
    b = F.dice_loss(engine.tensor(changed), engine.tensor(T3), include_background=False, activation="none")
    assert float(a) == float(b)  # ...but with activation='none' channel 0 alone differs, and it is dropped
    assert float(F.dice_loss(engine.tensor(x), engine.tensor(T3), include_background=True, activation="none")) != \
        float(F.dice_loss(engine.tensor(changed), engine.tensor(T3), include_background=True, activation="none"))


def test_index_and_one_hot_targets_agree():
    onehot = np.moveaxis(np.eye(3)[T3], -1, 1)
    x = engine.tensor(X3)
    for loss in (F.dice_loss, F.tversky_loss, F.focal_loss, F.dice_ce_loss):
        assert float(loss(x, engine.tensor(T3))) == pytest.approx(float(loss(x, engine.tensor(onehot))), rel=1e-12)
    assert float(F.dice_loss(x, engine.tensor(T3[:, None]))) == float(F.dice_loss(x, engine.tensor(T3)))


def test_modules_call_the_functions():
    x, t = engine.tensor(X3), engine.tensor(T3)
    assert float(nn.DiceLoss(include_background=False)(x, t)) == float(F.dice_loss(x, t, include_background=False))
    assert float(nn.DiceCELoss(lambda_ce=0.5)(x, t)) == float(F.dice_ce_loss(x, t, lambda_ce=0.5))
    assert float(nn.FocalLoss(gamma=1.0)(x, t)) == float(F.focal_loss(x, t, gamma=1.0))
    assert float(nn.TverskyLoss(alpha=0.1, beta=0.9)(x, t)) == float(F.tversky_loss(x, t, alpha=0.1, beta=0.9))
    assert "include_background=False" in repr(nn.DiceLoss(include_background=False))


def test_float32_in_float32_out():
    x = engine.tensor(X3.astype(np.float32), requires_grad=True)
    for loss in (F.dice_loss, F.tversky_loss, F.focal_loss, F.dice_ce_loss):
        out = loss(x, engine.tensor(T3))
        out.backward()
        assert out.dtype == engine.float32 and x.grad.dtype == engine.float32
        x.grad = None


def test_bad_input_is_reported():
    x = engine.tensor(X3)
    with pytest.raises(ValueError, match=r"dice_loss: target holds labels in \[0, 3\] outside \[0, 3\)"):
        F.dice_loss(x, engine.tensor(T3 + (T3 == 2)))
    with pytest.raises(ValueError, match="target shape"):
        F.dice_loss(x, engine.tensor(T3[:, :2]))
    with pytest.raises(ValueError, match="softmax over a single channel"):
        F.dice_loss(engine.tensor(X1), engine.tensor(T1), activation="softmax")
    with pytest.raises(ValueError, match=r"one weight per class \(3,\)"):
        F.focal_loss(x, engine.tensor(T3), alpha=[1.0, 2.0])
    with pytest.raises(ValueError, match="input's shape"):
        F.dice_loss(x, engine.tensor(SOFT[:, :2]))
    with pytest.raises(ValueError, match="reduction"):
        F.tversky_loss(x, engine.tensor(T3), reduction="avg")
