"""Fast layers against their readable references, and derivatives of every order through them.

One table, LAYERS: each row is a fast function, its composed reference (engine/nn/functional/
reference.py) and the input shapes. For every row and every device and dtype:
  * outputs and gradients of the fast layer (its ``backward_arrays`` fast path) equal the
    reference's (whose gradients come from the engine's rules for unfold/fold/matmul/max...);
  * the fast layer's differentiable ``backward`` (create_graph=True) equals its fast path;
  * second derivatives through the fast layer pass ``gradgradcheck`` (float64, CPU).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
import engine.nn.functional as F
from engine import gradgradcheck, nn
from engine.nn.functional import reference as R
from engine.nn.functional.recurrent import composed_recurrence

P = functools.partial


def _lstm_fused(x, h, c, w_ih, w_hh, b):
    y, (hn, cn) = F.lstm(x, (h, c), [(w_ih, w_hh, b, b)], fused=True)
    return y, hn, cn


def _lstm_composed(x, h, c, w_ih, w_hh, b):
    y, (hn, cn) = F.lstm(x, (h, c), [(w_ih, w_hh, b, b)], fused=False)
    return y, hn, cn


def _gru(fused):
    def run(x, h, w_ih, w_hh, b):
        y, hn = F.gru(x, h, [(w_ih, w_hh, b, b)], fused=fused, bidirectional=False)
        return y, hn
    return run


def _rnn_reverse(fused):
    def run(x, h, w_hh, b):  # the recurrence alone, running backwards in time
        if fused:
            from engine.nn.functional.recurrent import RNNRecurrence
            return RNNRecurrence("tanh", reverse=True)(x, h[0], w_hh, b)
        y, hn, _ = composed_recurrence("RNN", x, h[0], None, w_hh, b, reverse=True)
        return y, hn
    return run


def _cross_entropy(fused, weighted=False, reduction="mean"):
    """cross_entropy (one fused op) or its composition nll_loss(log_softmax(x)), on fixed targets:
    (3, 4) logits with classes [2, 0, 3], or (2, 3, 2, 2) with one target ignored (-100)."""
    def run(x):
        classes = [2, 0, 3] if x.ndim == 2 else [[[0, 2], [1, -100]], [[2, 2], [0, 1]]]
        target = engine.tensor(np.array(classes), device=x.device)
        weight = engine.tensor(np.array([0.5, 2.0, 1.0, 1.5])[: x.shape[1]], dtype=x.dtype,
                               device=x.device) if weighted else None
        if fused:
            return F.cross_entropy(x, target, weight=weight, reduction=reduction)
        return F.nll_loss(F.log_softmax(x, dim=1), target, weight=weight, reduction=reduction)
    return run


# name: (fast, reference, input shapes)
LAYERS = {
    "cross_entropy": (_cross_entropy(True), _cross_entropy(False), [(3, 4)]),
    "cross_entropy_sum": (_cross_entropy(True, reduction="sum"), _cross_entropy(False, reduction="sum"),
                          [(3, 4)]),
    "cross_entropy_spatial_weighted_ignored": (_cross_entropy(True, weighted=True),
                                               _cross_entropy(False, weighted=True), [(2, 3, 2, 2)]),
    "cross_entropy_none": (_cross_entropy(True, reduction="none"), _cross_entropy(False, reduction="none"),
                           [(2, 3, 2, 2)]),
    "conv1d": (P(F.conv1d, stride=2, padding=1), P(R.conv_reference, stride=2, padding=1),
               [(2, 3, 9), (4, 3, 3), (4,)]),
    "conv2d": (P(F.conv2d, padding=1), P(R.conv_reference, padding=1), [(2, 3, 6, 5), (4, 3, 3, 3), (4,)]),
    "conv2d_same_even": (P(F.conv2d, padding="same"), P(R.conv_reference, padding="same"),
                         [(1, 2, 5, 6), (3, 2, 2, 4), (3,)]),
    "conv2d_dilated_strided_groups": (P(F.conv2d, stride=(2, 1), padding=2, dilation=2, groups=2),
                                      P(R.conv_reference, stride=(2, 1), padding=2, dilation=2, groups=2),
                                      [(2, 4, 7, 6), (6, 2, 3, 2), (6,)]),
    "conv3d": (P(F.conv3d, stride=(1, 2, 1), padding=1), P(R.conv_reference, stride=(1, 2, 1), padding=1),
               [(1, 2, 4, 5, 4), (3, 2, 3, 3, 2), (3,)]),
    "conv_transpose1d": (P(F.conv_transpose1d, stride=2, padding=1, output_padding=1),
                         P(R.conv_transpose_reference, stride=2, padding=1, output_padding=1),
                         [(2, 3, 5), (3, 2, 4), (2,)]),
    "conv_transpose2d_groups": (P(F.conv_transpose2d, stride=2, groups=2, dilation=(1, 2)),
                                P(R.conv_transpose_reference, stride=2, groups=2, dilation=(1, 2)),
                                [(1, 4, 3, 4), (4, 1, 3, 2), (2,)]),
    "conv_transpose3d": (P(F.conv_transpose3d, stride=(2, 1, 2), padding=(0, 1, 0)),
                         P(R.conv_transpose_reference, stride=(2, 1, 2), padding=(0, 1, 0)),
                         [(1, 2, 2, 3, 2), (2, 2, 2, 3, 2), (2,)]),
    "max_pool1d": (P(F.max_pool1d, kernel_size=3, stride=2, padding=1), P(R.max_pool_reference, kernel_size=3,
                   stride=2, padding=1), [(2, 3, 10)]),
    "max_pool2d_overlapping_ceil": (P(F.max_pool2d, kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                    P(R.max_pool_reference, kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                    [(2, 2, 6, 7)]),
    "max_pool2d_dilated": (P(F.max_pool2d, kernel_size=2, stride=1, dilation=2),
                           P(R.max_pool_reference, kernel_size=2, stride=1, dilation=2), [(1, 2, 5, 6)]),
    "max_pool3d": (P(F.max_pool3d, kernel_size=2), P(R.max_pool_reference, kernel_size=2), [(1, 2, 4, 4, 6)]),
    "avg_pool1d": (P(F.avg_pool1d, kernel_size=3, stride=2, padding=1), P(R.avg_pool_reference, kernel_size=3,
                   stride=2, padding=1), [(2, 3, 9)]),
    "avg_pool2d_exclude_pad_ceil": (P(F.avg_pool2d, kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                      count_include_pad=False),
                                    P(R.avg_pool_reference, kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                      count_include_pad=False), [(2, 2, 6, 7)]),
    "avg_pool3d": (P(F.avg_pool3d, kernel_size=(2, 3, 2), stride=1), P(R.avg_pool_reference, kernel_size=(2, 3, 2),
                   stride=1), [(1, 2, 3, 4, 3)]),
    "interpolate_bilinear": (P(F.interpolate, scale_factor=2.5, mode="bilinear"),
                             P(R.interpolate_reference, scale_factor=2.5, mode="bilinear"), [(1, 2, 3, 4)]),
    "interpolate_bilinear_corners": (P(F.interpolate, size=(5, 3), mode="bilinear", align_corners=True),
                                     P(R.interpolate_reference, size=(5, 3), mode="bilinear", align_corners=True),
                                     [(2, 1, 3, 4)]),
    "interpolate_nearest": (P(F.interpolate, size=(7, 3), mode="nearest"),
                            P(R.interpolate_reference, size=(7, 3), mode="nearest"), [(1, 2, 3, 5)]),
    "interpolate_trilinear": (P(F.interpolate, scale_factor=(2, 1.5, 1), mode="trilinear"),
                              P(R.interpolate_reference, scale_factor=(2, 1.5, 1), mode="trilinear"),
                              [(1, 1, 2, 3, 2)]),
    "batch_norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), R.batch_norm_reference,
                   [(3, 2, 4, 3), (2,), (2,)]),
    "lstm": (_lstm_fused, _lstm_composed, [(4, 2, 3), (1, 2, 5), (1, 2, 5), (20, 3), (20, 5), (20,)]),
    "gru": (_gru(True), _gru(False), [(4, 2, 3), (1, 2, 5), (15, 3), (15, 5), (15,)]),
    "rnn_reverse": (_rnn_reverse(True), _rnn_reverse(False), [(4, 2, 3), (1, 2, 3), (3, 3), (3,)]),
}


RECURRENT = ("lstm", "gru", "rnn_reverse")


def _unpool(x):
    """max_unpool2d at the positions a fixed max_pool2d chose (the indices are constants)."""
    data = np.random.default_rng(9).standard_normal((1, 2, 4, 6))
    _, index = F.max_pool2d(engine.tensor(data, device=x.device), 2, return_indices=True)
    return F.max_unpool2d(x, index, 2)


def _running(c, device):
    return (engine.tensor(np.linspace(-0.5, 0.5, c), device=device),
            engine.tensor(np.linspace(0.5, 2.0, c), device=device))


# layers checked for second derivatives only (their fast path is their only form, or they are
# composed already): name -> (fn, input shapes)
SECOND_ORDER = {
    "linear": (F.linear, [(2, 3, 4), (5, 4), (5,)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (3, 4), w, b), [(2, 3, 4), (3, 4), (3, 4)]),
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b), [(2, 4, 3), (4,), (4,)]),
    "instance_norm": (lambda x, w, b: F.instance_norm(x, weight=w, bias=b), [(2, 2, 5), (2,), (2,)]),
    "batch_norm_eval": (lambda x, w, b: F.batch_norm(x, *_running(2, x.device), w, b, training=False),
                        [(3, 2, 4), (2,), (2,)]),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x, (3, 2)), [(1, 2, 7, 5)]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (3, 2)), [(1, 2, 7, 5)]),
    "max_unpool2d": (_unpool, [(1, 2, 2, 3)]),
    "unfold": (lambda x: F.unfold(x, 2, dilation=2, padding=1, stride=(1, 2)), [(1, 2, 5, 4)]),
    "fold": (lambda c: F.fold(c, (4, 5), 2, stride=(2, 1)), [(1, 8, 8)]),
}
_CONV_LSTM = nn.ConvLSTMCell(2, 2, 3).double()
SECOND_ORDER["conv_lstm_cell"] = (lambda x, h, c: engine.mul(*_CONV_LSTM.to(x.device)(x, (h, c))),
                                  [(1, 2, 4, 3), (1, 2, 4, 3), (1, 2, 4, 3)])
# the new operations of the task issues, when present
if hasattr(F, "grid_sample"):
    SECOND_ORDER["grid_sample_bilinear"] = (
        lambda x, g: F.grid_sample(x, engine.tanh(g), mode="bilinear", align_corners=False),
        [(1, 2, 4, 5), (1, 3, 2, 2)])
if hasattr(F, "pixel_shuffle"):
    SECOND_ORDER["pixel_shuffle"] = (lambda x: F.pixel_shuffle(x, 2) ** 2, [(1, 8, 2, 3)])
if hasattr(engine, "fft") and hasattr(engine.fft, "fft2c"):
    SECOND_ORDER["fft2c"] = (lambda x: engine.fft.fft2c(x) ** 2, [(1, 4, 3, 2)])


def _leaves(shapes, dtype, device, seed=0):
    rng = np.random.default_rng(seed)
    return [engine.tensor(rng.standard_normal(s).astype(dtype), device=device, requires_grad=True) for s in shapes]


def _outputs(fn, xs):
    out = fn(*xs)
    return list(out) if isinstance(out, tuple) else [out]


def _grads(fn, xs, seed=1, create_graph=False):
    """Outputs and d<u, fn(xs)>/dxs for a fixed random u (one per output)."""
    outs = _outputs(fn, xs)
    rng = np.random.default_rng(seed)
    us = [engine.tensor(rng.standard_normal(o.shape).astype(o.dtype), device=o.device) for o in outs]
    loss = sum(((o * u).sum() for o, u in zip(outs, us)), engine.tensor(0.0, dtype=outs[0].dtype,
                                                                       device=outs[0].device))
    grads = engine.grad(loss, xs, create_graph=create_graph)
    return [o.detach().numpy() for o in outs], [g.detach().numpy() for g in grads]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(LAYERS))
def test_fast_layer_equals_its_reference_outputs_and_gradients(name, dtype, device):
    fast, ref, shapes = LAYERS[name]
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    out_f, g_f = _grads(fast, _leaves(shapes, dtype, device))
    out_r, g_r = _grads(ref, _leaves(shapes, dtype, device))
    for a, b in zip(out_f, out_r):
        assert a.dtype == dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, **tol)
    for i, (a, b) in enumerate(zip(g_f, g_r)):
        np.testing.assert_allclose(a, b, **tol, err_msg=f"{name}: gradient of input {i}")


@pytest.mark.parametrize("name", list(LAYERS) + list(SECOND_ORDER))
def test_differentiable_backward_equals_the_array_fast_path(name, device):
    fast, shapes = (LAYERS[name][0], LAYERS[name][2]) if name in LAYERS else SECOND_ORDER[name]
    _, g_arrays = _grads(fast, _leaves(shapes, np.float64, device))
    _, g_tensors = _grads(fast, _leaves(shapes, np.float64, device), create_graph=True)
    for a, b in zip(g_arrays, g_tensors):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", list(LAYERS))
def test_second_derivatives_through_the_fast_layer(name):
    fast, _, shapes = LAYERS[name]
    xs = [x.detach() for x in _leaves(shapes, np.float64, "cpu", seed=3)]
    gradgradcheck(fast, xs, atol=1e-5, rtol=1e-3, mode="directional" if name in RECURRENT else "full")


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_second_derivatives_through_the_other_layers(name):
    fn, shapes = SECOND_ORDER[name]
    xs = [x.detach() for x in _leaves(shapes, np.float64, "cpu", seed=4)]
    gradgradcheck(lambda *a: fn(*a) ** 2, xs, atol=1e-5, rtol=1e-3)


def test_gradgradcheck_fails_on_a_wrong_differentiable_backward():
    """The table's second-derivative test can fail: a conv whose create_graph backward is off by 1%."""
    from engine.nn.functional import conv

    original = conv.ConvNd.backward

    def wrong(self, gy):
        gx, gw, *rest = original(self, gy)
        return (gx * 1.01, gw, *rest)

    x, w = (t.detach() for t in _leaves([(1, 1, 4, 4), (1, 1, 2, 2)], np.float64, "cpu"))
    conv.ConvNd.backward = wrong
    try:
        report = gradgradcheck(lambda x, w: F.conv2d(x, w) ** 2, [x, w], raise_exception=False)
    finally:
        conv.ConvNd.backward = original
    assert not report.passed


# --- unfold / fold ------------------------------------------------------------------------------------
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_fold_is_the_adjoint_of_unfold(nd, device):
    rng = np.random.default_rng(nd)
    size = (5, 6, 6)[:nd]
    kw = dict(kernel_size=(2, 3, 2)[:nd], dilation=(1, 2, 1)[:nd], padding=(1, 0, 1)[:nd], stride=(2, 1, 3)[:nd])
    x = engine.tensor(rng.standard_normal((2, 3) + size), device=device)
    cols = F.unfold(x, **kw)
    c = engine.tensor(rng.standard_normal(cols.shape), device=device)
    # <unfold(x), c> = <x, fold(c)> for every x and c: fold is unfold's transpose
    np.testing.assert_allclose((cols * c).sum().item(), (x * F.fold(c, size, **kw)).sum().item(), rtol=1e-12)
    gradgradcheck(lambda t: F.unfold(t, **kw) ** 2, [x], mode="directional")


@pytest.mark.torch
def test_unfold_and_fold_match_pytorch(torch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    kw = dict(kernel_size=(3, 2), dilation=(1, 2), padding=(1, 0), stride=(2, 1))
    ours = F.unfold(engine.tensor(x), **kw).numpy()
    theirs = torch.nn.functional.unfold(torch.tensor(x), **kw).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    c = rng.standard_normal(ours.shape)
    np.testing.assert_allclose(F.fold(engine.tensor(c), (7, 6), **kw).numpy(),
                               torch.nn.functional.fold(torch.tensor(c), (7, 6), **kw).numpy(), rtol=1e-12)
    # and as layers (nn.Unfold / nn.Fold, same arguments as PyTorch's)
    np.testing.assert_allclose(nn.Unfold(**kw)(engine.tensor(x)).numpy(), theirs, rtol=1e-12)
    np.testing.assert_allclose(nn.Fold((7, 6), **kw)(engine.tensor(c)).numpy(),
                               torch.nn.Fold((7, 6), **kw)(torch.tensor(c)).numpy(), rtol=1e-12)


def test_fold_and_unfold_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"fold: input has 5 columns .*\(1, 4, 5\).*window positions"):
        F.fold(engine.randn(1, 4, 5), (3, 3), kernel_size=2)
    with pytest.raises(ValueError, match=r"unfold: expected a 3-D, 4-D or 5-D input"):
        F.unfold(engine.randn(3, 3), 2)


def test_conv_backward_is_a_transposed_convolution_plus_a_weight_gradient_product():
    """The two products of conv's backward, spelled out, equal the engine's gradients."""
    from engine.nn.functional.conv import conv_input_grad, conv_weight_grad

    rng = np.random.default_rng(5)
    x = engine.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = engine.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    gy = engine.tensor(rng.standard_normal((2, 4, 3, 3)))
    gx, gw = engine.grad((F.conv2d(x, w, stride=2, padding=1) * gy).sum(), [x, w])
    pads = ((1, 1), (1, 1))
    np.testing.assert_allclose(conv_input_grad(x.shape, w.detach(), gy, (2, 2), pads, (1, 1)).numpy(), gx.numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(F.conv_transpose2d(gy, w.detach(), stride=2, padding=1, output_padding=1).numpy(),
                               gx.numpy(), rtol=1e-12)
    np.testing.assert_allclose(conv_weight_grad(x.detach(), w.shape, gy, (2, 2), pads, (1, 1)).numpy(), gw.numpy(),
                               rtol=1e-12)


# --- gradients of gradients in practice ----------------------------------------------------------------
class _Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.norm = nn.GroupNorm(2, 4)
        self.conv2 = nn.Conv2d(4, 4, 3, stride=2)
        self.up = nn.ConvTranspose2d(4, 2, 2, stride=2)
        self.fc = nn.Linear(2 * 6 * 6, 1)

    def forward(self, x):
        h = engine.tanh(self.norm(self.conv1(x)))
        h = F.max_pool2d(h, 2, stride=1)
        h = F.avg_pool2d(engine.tanh(self.conv2(h)), 1)
        h = F.interpolate(self.up(h), size=(6, 6), mode="bilinear")
        return self.fc(h.reshape(h.shape[0], -1))


def _torch_critic(torch, ours):
    tnn = torch.nn
    conv1, norm, conv2 = tnn.Conv2d(1, 4, 3, padding=1), tnn.GroupNorm(2, 4), tnn.Conv2d(4, 4, 3, stride=2)
    up, fc = tnn.ConvTranspose2d(4, 2, 2, stride=2), tnn.Linear(72, 1)
    mods = {"conv1": conv1, "norm": norm, "conv2": conv2, "up": up, "fc": fc}
    for m in mods.values():
        m.double()
    with torch.no_grad():
        for name, p in ours.named_parameters():
            mod, attr = name.split(".")
            getattr(mods[mod], attr).copy_(torch.tensor(p.detach().numpy()))
    tf = torch.nn.functional

    def forward(x):
        h = torch.tanh(norm(conv1(x)))
        h = tf.max_pool2d(h, 2, stride=1)
        h = tf.avg_pool2d(torch.tanh(conv2(h)), 1)
        h = tf.interpolate(up(h), size=(6, 6), mode="bilinear")
        return fc(h.reshape(h.shape[0], -1))

    return forward, mods


@pytest.mark.torch
def test_wgan_gp_gradient_penalty_on_a_small_cnn_matches_pytorch(torch):
    """WGAN-GP (Gulrajani et al. 2017): penalty = mean((||d critic / d x_hat|| - 1)^2) at points
    between real and fake samples; its gradient with respect to the critic's weights needs the
    derivative of a gradient (create_graph=True through conv, norm, pooling, resizing, linear)."""
    critic = _Critic().double()
    rng = np.random.default_rng(0)
    x_hat = rng.standard_normal((3, 1, 8, 8))

    xt = engine.tensor(x_hat, requires_grad=True)
    g = engine.grad(critic(xt).sum(), xt, create_graph=True)
    penalty = ((g.reshape(3, -1) ** 2).sum(dim=1) ** 0.5 - 1.0) ** 2
    penalty.mean().backward()

    forward, mods = _torch_critic(torch, critic)
    tx = torch.tensor(x_hat, requires_grad=True)
    (tg,) = torch.autograd.grad(forward(tx).sum(), tx, create_graph=True)
    (((tg.reshape(3, -1).norm(dim=1) - 1.0) ** 2).mean()).backward()

    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-9, atol=1e-12)
    for name, p in critic.named_parameters():
        mod, attr = name.split(".")
        theirs = getattr(mods[mod], attr).grad
        if theirs is None:  # the penalty does not depend on the last bias (nor on ConvTranspose's)
            assert p.grad is None or not p.grad.numpy().any(), name
            continue
        np.testing.assert_allclose(p.grad.numpy(), getattr(mods[mod], attr).grad.numpy(), rtol=1e-7, atol=1e-10,
                                   err_msg=name)


@pytest.mark.torch
def test_hessian_vector_product_through_a_cnn_and_an_lstm_matches_pytorch(torch):
    """Hv = d/dw <dL/dw, v> (Pearlmutter 1994), for the weights of a convolution followed by a
    (fused) LSTM: the second derivative goes through both fast layers."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1, 5, 4))
    conv_w = rng.standard_normal((2, 1, 3, 3)) * 0.5
    lstm_ws = [rng.standard_normal(s) * 0.4 for s in [(12, 6), (12, 3), (12,), (12,)]]
    v = [rng.standard_normal(a.shape) for a in [conv_w, *lstm_ws]]

    def loss(lib, conv_fn, lstm_fn, ws):
        h = conv_fn(x_, ws[0], padding=1)  # (2, 2, 5, 4) -> a sequence of 4 steps of 2*5 features
        seq = h.permute(3, 0, 1, 2).reshape(4, 2, 10)[:, :, :6]
        return lstm_fn(seq, ws[1:]).sum()

    x_ = engine.tensor(x)
    ws = [engine.tensor(a, requires_grad=True) for a in [conv_w, *lstm_ws]]
    ours_loss = loss(engine, F.conv2d, lambda s, p: F.lstm(s, None, [tuple(p)])[0] ** 2, ws)
    grads = engine.grad(ours_loss, ws, create_graph=True)
    dot = sum(((g * engine.tensor(vi)).sum() for g, vi in zip(grads, v)), engine.tensor(0.0, dtype=engine.float64))
    hv = engine.grad(dot, ws)

    x_ = torch.tensor(x)
    tws = [torch.tensor(a, requires_grad=True) for a in [conv_w, *lstm_ws]]
    lstm = torch.nn.LSTM(6, 3).double()

    def torch_lstm(seq, p):
        out, _ = torch.func.functional_call(lstm, dict(zip(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                                            "bias_hh_l0"], p)), (seq,))
        return out ** 2

    theirs_loss = loss(torch, torch.nn.functional.conv2d, torch_lstm, tws)
    tgrads = torch.autograd.grad(theirs_loss, tws, create_graph=True)
    thv = torch.autograd.grad(sum((g * torch.tensor(vi)).sum() for g, vi in zip(tgrads, v)), tws)

    np.testing.assert_allclose(ours_loss.item(), theirs_loss.item(), rtol=1e-10)
    for a, b in zip(hv, thv):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-7, atol=1e-10)


# --- random geometries -----------------------------------------------------------------------------
@st.composite
def _conv_geometry(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2]))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    size = tuple(d * (k - 1) + 1 + draw(st.integers(0, 3)) for k, d in zip(kernel, dilation))
    return nd, groups, kernel, stride, dilation, padding, size


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_conv_geometry(), st.integers(0, 2**31 - 1))
def test_convolution_equals_its_reference_for_random_geometries(geometry, seed):
    nd, groups, kernel, stride, dilation, padding, size = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2 * groups) + size)
    w = rng.standard_normal((2 * groups, 2) + kernel)
    b = rng.standard_normal(2 * groups)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    fast = _grads(lambda *t: conv(*t, **kw), [engine.tensor(a, requires_grad=True) for a in (x, w, b)])
    ref = _grads(lambda *t: R.conv_reference(*t, **kw), [engine.tensor(a, requires_grad=True) for a in (x, w, b)])
    for a, r in zip(fast[0] + fast[1], ref[0] + ref[1]):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-10)
    # the transposed convolution with the same geometry, against its reference
    tkw = dict(stride=stride, padding=tuple(min(p, d * (k - 1)) for p, k, d in zip(padding, kernel, dilation)),
               dilation=dilation, groups=groups)
    tconv = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[nd]
    fast = _grads(lambda *t: tconv(*t, **tkw), [engine.tensor(a, requires_grad=True) for a in (x, w, b[:2 * groups])])
    ref = _grads(lambda *t: R.conv_transpose_reference(*t, **tkw),
                 [engine.tensor(a, requires_grad=True) for a in (x, w, b[:2 * groups])])
    for a, r in zip(fast[0] + fast[1], ref[0] + ref[1]):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-10)
