"""The penalty-reduced focal loss (CenterNet) and the masked L1 size loss: values by hand, gradients
(first and second order) in float64 on every device, PyTorch comparison, extreme logits."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.nn.functional.detection_loss import heatmap_focal_loss, masked_l1_loss

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(2, 1, 5, 6)) * 2
TARGET = np.clip(RNG.uniform(-0.2, 0.9, size=(2, 1, 5, 6)), 0, None)
TARGET[0, 0, 1, 2] = TARGET[1, 0, 3, 4] = TARGET[1, 0, 0, 0] = 1.0  # three centres


def focal_reference(x, y, alpha=2.0, beta=4.0):
    """The formula of CenterNet eq. 1, written directly in NumPy (float64)."""
    p = 1 / (1 + np.exp(-x))
    pos = y == 1
    terms = np.where(pos, (1 - p) ** alpha * np.log(p), (1 - y) ** beta * p**alpha * np.log(1 - p))
    return -terms.sum() / max(pos.sum(), 1)


def test_matches_the_formula():
    got = heatmap_focal_loss(engine.tensor(LOGITS), TARGET).item()
    assert got == pytest.approx(focal_reference(LOGITS, TARGET), rel=1e-10)
    got = heatmap_focal_loss(engine.tensor(LOGITS), TARGET, alpha=1.0, beta=2.0).item()
    assert got == pytest.approx(focal_reference(LOGITS, TARGET, 1.0, 2.0), rel=1e-10)


def test_reductions_and_no_centre():
    x = engine.tensor(LOGITS)
    none = heatmap_focal_loss(x, TARGET, reduction="none")
    assert none.shape == LOGITS.shape
    assert heatmap_focal_loss(x, TARGET, reduction="sum").item() == pytest.approx(none.data.sum())
    assert heatmap_focal_loss(x, TARGET).item() == pytest.approx(none.data.sum() / 3)
    empty = np.zeros_like(TARGET)  # no object: divided by 1, pure background penalty
    assert heatmap_focal_loss(x, empty).item() == pytest.approx(focal_reference(LOGITS, empty))


def test_penalty_reduction_near_a_centre():
    """The same wrong prediction costs less next to a centre (Y = 0.9) than far away (Y = 0)."""
    x = engine.tensor(np.full((1, 1, 1, 3), 2.0))
    t = np.array([[[[1.0, 0.9, 0.0]]]])
    per = heatmap_focal_loss(x, t, reduction="none").data[0, 0, 0]
    assert per[1] < 1e-3 * per[2]


def test_float32_and_extreme_logits():
    x = engine.tensor(np.array([[[[1000.0, -1000.0, 30.0, -30.0]]]], dtype=np.float32), requires_grad=True)
    t = np.array([[[[1.0, 1.0, 0.0, 0.5]]]], dtype=np.float32)
    loss = heatmap_focal_loss(x, t)
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32
    assert np.isfinite(loss.item()) and np.isfinite(x.grad.data).all()
    assert loss.item() == pytest.approx(1000.0 / 2 + 30.0 * (1.0 / 2), rel=1e-3)  # -log(1-p) ~ |x| when wrong


def test_gradcheck_and_gradgradcheck(device):
    x = engine.tensor(LOGITS, device=device, requires_grad=True)
    t = engine.tensor(TARGET, device=device)
    engine.gradcheck(lambda a: heatmap_focal_loss(a, t), [x])
    engine.gradgradcheck(lambda a: heatmap_focal_loss(a, t, alpha=2.0, beta=4.0), [x])
    size = engine.tensor(RNG.normal(size=LOGITS.shape), device=device, requires_grad=True)
    mask = engine.tensor((TARGET == 1).astype(np.float64), device=device)
    engine.gradcheck(lambda a: masked_l1_loss(a, t * 5.0, mask), [size])


def test_masked_l1_reads_only_the_mask():
    pred = engine.tensor(np.array([[1.0, 5.0, 9.0]]))
    out = masked_l1_loss(pred, np.array([[2.0, 0.0, 0.0]]), np.array([[1.0, 0.0, 0.0]]))
    assert out.item() == pytest.approx(1.0)


def test_errors():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        heatmap_focal_loss(engine.tensor(LOGITS), TARGET * 2)
    with pytest.raises(ValueError, match="shape"):
        heatmap_focal_loss(engine.tensor(LOGITS), TARGET[:1])
    with pytest.raises(ValueError, match="reduction"):
        heatmap_focal_loss(engine.tensor(LOGITS), TARGET, reduction="avg")


@pytest.mark.torch
def test_matches_pytorch(torch):
    """Forward and gradient against the same loss written with torch's logsigmoid."""
    xt = torch.tensor(LOGITS, requires_grad=True)
    yt = torch.tensor(TARGET)
    ls = torch.nn.functional.logsigmoid
    pos = yt == 1
    terms = torch.where(pos, (1 - torch.sigmoid(xt)) ** 2 * ls(xt), (1 - yt) ** 4 * torch.sigmoid(xt) ** 2 * ls(-xt))
    ref = -terms.sum() / pos.sum()
    ref.backward()
    x = engine.tensor(LOGITS, requires_grad=True)
    loss = heatmap_focal_loss(x, TARGET)
    loss.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
