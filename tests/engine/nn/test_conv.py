"""Convolution (conv1d/2d/3d, Conv1d/2d/3d): gradients, agreement with PyTorch, layouts, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine
import engine.nn as nn
import engine.nn.functional as F
from engine.nn.functional import _im2col

RNG = np.random.default_rng(0)
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
MODULE = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}

# (nd, N, C_in, C_out, spatial size, kernel, dict of stride/padding/dilation/groups)
CONFIGS = [
    (1, 2, 2, 3, (7,), (3,), dict()),
    (1, 2, 4, 2, (8,), (2,), dict(stride=3, padding=1, dilation=2, groups=2)),
    (1, 1, 2, 2, (6,), (4,), dict(padding="same")),
    (2, 2, 2, 3, (5, 4), (3, 3), dict(padding=1)),
    (2, 1, 2, 2, (6, 5), (3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    (2, 1, 4, 4, (5, 5), (2, 2), dict(padding="same", dilation=2, groups=4)),  # depthwise, even kernel
    (2, 2, 3, 2, (4, 5), (2, 3), dict(padding="valid", stride=2)),
    (2, 2, 3, 4, (3, 3), (1, 1), dict()),  # pointwise
    (3, 1, 2, 2, (3, 4, 3), (2, 3, 2), dict(stride=(1, 2, 1), padding=(1, 1, 0))),
    (3, 1, 2, 2, (3, 3, 4), (1, 2, 3), dict(padding="same", groups=2)),
]
IDS = [f"{c[0]}d-{c[5]}-{c[6]}" for c in CONFIGS]


def _inputs(nd, n, c_in, c_out, size, kernel, kw, device, bias=True):
    groups = kw.get("groups", 1)
    x = engine.tensor(RNG.normal(size=(n, c_in) + size), device=device, requires_grad=True)
    w = engine.tensor(RNG.normal(size=(c_out, c_in // groups) + kernel), device=device, requires_grad=True)
    b = engine.tensor(RNG.normal(size=(c_out,)), device=device, requires_grad=True) if bias else None
    return x, w, b


def _outputs_and_grads(forward, *tensors):
    """[y, dL/dt for each tensor] for L = sum(y^2) / 2, the gradients cleared again afterwards."""
    y = forward()
    y.backward(engine.ones_like(y) * y.detach())
    grads = [t.grad.numpy() for t in tensors]
    for t in tensors:
        t.grad = None
    return [y.detach().numpy()] + grads


def _peak_extra_memory(conv, x):
    """(forward, forward + backward) peak of the memory NumPy allocates beyond what was live, bytes."""
    import tracemalloc

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        y = conv(x)
        forward_peak = tracemalloc.get_traced_memory()[1] - base
        y.backward(engine.ones_like(y))
        return forward_peak, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_gradients_of_input_weight_and_bias_match_finite_differences(config, device):
    nd, *shape, kw = config
    x, w, b = _inputs(nd, *shape, kw, device)
    engine.gradcheck(lambda x, w, b: CONV[nd](x, w, b, **kw), [x, w, b])


def test_gradients_without_bias_and_for_the_input_alone(device):
    x, w, _ = _inputs(2, 2, 2, 3, (4, 4), (3, 3), {}, device, bias=False)
    engine.gradcheck(lambda x, w: F.conv2d(x, w, padding=1, stride=2), [x, w])
    w.requires_grad = False
    engine.gradcheck(lambda x: F.conv2d(x, w, padding=1), [x])


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_module_matches_pytorch_outputs_and_gradients(config, device, torch):
    """Weights go from a torch layer into ours through state_dict; float32 throughout."""
    nd, n, c_in, c_out, size, kernel, kw = config
    theirs = getattr(torch.nn, f"Conv{nd}d")(c_in, c_out, kernel, **kw)
    ours = MODULE[nd](c_in, c_out, kernel, **kw)
    ours.load_state_dict(theirs.state_dict())
    ours.to(device)
    x = RNG.normal(size=(n, c_in) + size).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    xe = engine.tensor(x, device=device, requires_grad=True)
    yt, ye = theirs(xt), ours(xe)
    g = RNG.normal(size=tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    ye.backward(engine.tensor(g, device=device))
    assert ye.dtype == np.float32
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride", [(1, 2), 1], ids=["strided", "flat-grid"])
@pytest.mark.parametrize("keep", [True, False], ids=["columns-kept", "columns-recomputed"])
def test_chunked_batches_give_the_same_results_as_one_unfold(keep, stride, device, monkeypatch):
    """Under a tiny budget the batch is processed a few samples at a time, the columns being
    kept for backward or recomputed there, and each chunk's input gradient folded into its block
    of one buffer; nothing may change."""
    x, w, b = _inputs(2, 5, 4, 6, (6, 5), (3, 3), dict(groups=2), device)

    def run():
        return _outputs_and_grads(lambda: F.conv2d(x, w, b, stride=stride, padding=1, groups=2), x, w, b)

    whole = run()
    monkeypatch.setattr(_im2col, "UNFOLD_BUDGET_BYTES", 1000)
    monkeypatch.setattr(_im2col, "KEEP_COLUMNS_BYTES", 2**30 if keep else 0)
    chunked = run()
    for a, c in zip(whole, chunked):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nd, size, kernel, kw, applies", [
    (2, (6, 5), (3, 3), dict(padding=1), True),
    (2, (7, 6), (3, 2), dict(padding="same", dilation=(2, 1), groups=2), True),  # asymmetric padding, dilation
    (2, (6, 6), (3, 3), dict(padding=0), True),  # 'valid': the transposed convolution pads d (k - 1) each side
    (1, (9,), (4,), dict(padding=2, dilation=2), True),
    (3, (3, 10, 10), (3, 3, 3), dict(padding=1, groups=2), True),
    (2, (6, 5), (1, 1), dict(padding=1), False),  # padding beyond the kernel's reach: col2im instead
    (2, (8, 7), (3, 3), dict(padding=1, stride=2), False),  # strided: col2im instead
])
def test_input_gradient_as_a_convolution_of_the_output_gradient_equals_the_col2im_one(nd, size, kernel, kw, applies,
                                                                                      monkeypatch):
    """With no more output than input channels, dL/dx of a stride-1 layer is computed as a forward
    convolution of dL/dy with the swapped, flipped kernel; it must equal col2im's, for every padding,
    dilation and grouping (and the layers it does not apply to must keep working)."""
    from engine.nn.functional.conv import ConvNd

    x, w, b = _inputs(nd, 2, 4, 2, size, kernel, kw, "cpu")  # 4 -> 2 channels: O <= C
    conv = getattr(F, f"conv{nd}d")

    def run():
        return _outputs_and_grads(lambda: conv(x, w, b, **kw), x, w, b)

    original, used = ConvNd._input_grad_as_convolution, []

    def recording(self, gy, w):
        used.append(original(self, gy, w) is not None)
        return None if not used[-1] else original(self, gy, w)
    monkeypatch.setattr(ConvNd, "_input_grad_as_convolution", recording)
    as_convolution = run()
    assert used == [applies]
    monkeypatch.setattr(ConvNd, "_input_grad_as_convolution", lambda self, gy, w: None)
    for a, c in zip(as_convolution, run()):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


def test_same_padding_keeps_the_size_and_valid_pads_nothing():
    x = engine.randn(1, 2, 7, 6)
    w = engine.randn(3, 2, 4, 3)
    assert F.conv2d(x, w, padding="same").shape == (1, 3, 7, 6)
    assert F.conv2d(x, w, padding="same", dilation=2).shape == (1, 3, 7, 6)
    assert F.conv2d(x, w, padding="valid").shape == (1, 3, 4, 4)


def test_output_size_formula():
    x = engine.randn(2, 3, 11, 10)
    w = engine.randn(4, 3, 3, 2)
    y = F.conv2d(x, w, stride=(2, 3), padding=(1, 2), dilation=(2, 1))
    assert y.shape == (2, 4, (11 + 2 - 4 - 1) // 2 + 1, (10 + 4 - 1 - 1) // 3 + 1)


def test_module_parameters_have_pytorchs_layout_and_default_bounds():
    engine.manual_seed(3)
    conv = nn.Conv2d(6, 8, (3, 5), groups=2)
    assert conv.weight.shape == (8, 3, 3, 5) and conv.bias.shape == (8,)
    assert conv.weight.dtype == np.float32
    bound = 1 / math.sqrt(3 * 3 * 5)
    for p in (conv.weight, conv.bias):
        values = p.detach().numpy()
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.5 * bound
    assert nn.Conv1d(2, 4, 3, bias=False).bias is None
    assert [name for name, _ in nn.Conv3d(1, 2, 3).named_parameters()] == ["weight", "bias"]


def test_same_seed_gives_the_same_initial_weights():
    engine.manual_seed(11)
    a = nn.Conv2d(3, 4, 3)
    engine.manual_seed(11)
    b = nn.Conv2d(3, 4, 3)
    np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())


def test_repr_lists_the_non_default_arguments():
    text = repr(nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1, bias=False))
    assert text.startswith("Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)")


def test_create_graph_through_a_convolution_gives_a_differentiable_gradient():
    x = engine.randn(1, 1, 4, 4, dtype=engine.float64, requires_grad=True)
    w = engine.randn(1, 1, 3, 3, dtype=engine.float64, requires_grad=True)
    (gx,) = [engine.grad(F.conv2d(x, w).sum(), x, create_graph=True)]
    assert gx.requires_grad  # it depends on w: d/dw sum(gx) = 4 * (number of windows) per tap
    (gw,) = [engine.grad(gx.sum(), w)]
    np.testing.assert_allclose(gw.numpy(), np.full((1, 1, 3, 3), 4.0))


# --- errors ---------------------------------------------------------------------------------------
def test_wrong_rank_names_the_layer_and_the_expected_layout():
    conv = nn.Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8.*expected a 4-D input of shape \(N, C, H, W\).*\(3, 5, 5\)"):
        conv(engine.randn(3, 5, 5))
    with pytest.raises(ValueError, match=r"conv1d: expected a 3-D input of shape \(N, C, L\)"):
        F.conv1d(engine.randn(1, 2, 3, 4), engine.randn(1, 2, 3))


def test_channel_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"input has 4 channels \(shape \(1, 4, 5, 5\)\).*expects 3"):
        nn.Conv2d(3, 8, 3)(engine.randn(1, 4, 5, 5))


def test_channels_not_divisible_by_groups():
    with pytest.raises(ValueError, match="in_channels=3 is not divisible by groups=2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels=5 is not divisible by groups=2"):
        nn.Conv2d(4, 5, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels=3.*not divisible by groups=2"):
        F.conv2d(engine.randn(1, 4, 5, 5), engine.randn(3, 2, 3, 3), groups=2)


def test_kernel_larger_than_the_padded_input():
    with pytest.raises(ValueError, match=r"kernel size \(5, 5\).*larger than the padded input size \(4, 4\)"):
        nn.Conv2d(1, 1, 5, padding=1)(engine.randn(1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"dilation \(3,\): spans \(7,\)"):
        F.conv1d(engine.randn(1, 1, 6), engine.randn(1, 1, 3), dilation=3)


def test_same_padding_with_stride_is_refused_like_pytorch():
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding='same'"):
        F.conv2d(engine.randn(1, 1, 5, 5), engine.randn(1, 1, 3, 3), stride=2, padding="same")


def test_other_bad_arguments():
    x, w = engine.randn(1, 2, 5, 5), engine.randn(3, 2, 3, 3)
    with pytest.raises(ValueError, match="padding must be non-negative"):
        F.conv2d(x, w, padding=-1)
    with pytest.raises(ValueError, match="stride must be positive"):
        F.conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="padding must be an int, a tuple, 'same' or 'valid'"):
        F.conv2d(x, w, padding="full")
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        F.conv2d(x, w, engine.randn(2))
    with pytest.raises(TypeError, match="same floating-point dtype"):
        F.conv2d(x.double(), w)
    with pytest.raises(NotImplementedError, match="padding_mode 'reflect'"):
        nn.Conv2d(1, 1, 3, padding_mode="reflect")


def test_memory_stays_within_the_unfold_budget(monkeypatch):
    """With a 1 MB budget, a batch whose columns would take 5 MB is processed in chunks: the
    peak extra memory stays near the budget (unchunked: 5.4 MB forward, 11.8 MB in total)."""
    monkeypatch.setattr(_im2col, "UNFOLD_BUDGET_BYTES", 2**20)
    monkeypatch.setattr(_im2col, "KEEP_COLUMNS_BYTES", 2**21)  # 5 MB of columns are not kept
    conv = nn.Conv2d(8, 8, 3, padding=1)
    x = engine.randn(16, 8, 32, 32, requires_grad=True)  # 0.5 MB; 3x3 columns: ~5 MB
    forward_peak, total_peak = _peak_extra_memory(conv, x)
    assert forward_peak < 2.5 * 2**20
    assert total_peak < 5 * 2**20


@pytest.mark.parametrize("nd, groups, dilation, padding", [(2, 1, 1, 1), (2, 2, 2, (2, 1)), (3, 1, 1, 1)])
def test_a_sample_larger_than_the_budget_is_unfolded_span_by_span_with_the_same_results(
        nd, groups, dilation, padding, device, monkeypatch):
    """A 3-D volume can unfold to more than the budget alone: stride-1 layers then unfold each sample in
    spans of grid positions (and fold the input gradient back span by span). Outputs and all gradients
    equal the one-unfold results."""
    spatial = (7, 16) if nd == 2 else (5, 8, 12)  # wide enough rows for the flat grid (stride-1 layers)
    kernel = (3, 3) if nd == 2 else (3, 2, 3)
    x, w, b = _inputs(2, 4, 4, 6, spatial, kernel, dict(groups=groups), device)
    conv = F.conv2d if nd == 2 else F.conv3d

    def run():
        return _outputs_and_grads(lambda: conv(x, w, b, padding=padding, dilation=dilation, groups=groups), x, w, b)

    whole = run()
    monkeypatch.setattr(_im2col, "UNFOLD_BUDGET_BYTES", 700)  # a sample's columns: 2.5-60 KB: several spans
    monkeypatch.setattr(_im2col, "KEEP_COLUMNS_BYTES", 0)
    from engine.nn.functional.conv import ConvNd

    spans = []
    original = ConvNd._spans
    monkeypatch.setattr(ConvNd, "_spans", lambda self, *a: spans.append(original(self, *a)) or spans[-1])
    parts = run()
    assert spans and spans[0] is not None and len(spans[0]) > 2  # the span path ran, in several spans
    for a, c in zip(whole, parts):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


def test_span_unfolding_bounds_the_memory_of_one_large_volume(monkeypatch):
    """One 3-D sample whose 3x3x3 columns take 3.4 MB, under a 0.5 MB budget: the extra memory stays near
    the budget plus the padded input, output and gradient (measured 1.3 MB forward, 1.9 MB in all;
    unfolded at once: 4.2 and 4.6 MB)."""
    monkeypatch.setattr(_im2col, "UNFOLD_BUDGET_BYTES", 2**19)
    monkeypatch.setattr(_im2col, "KEEP_COLUMNS_BYTES", 0)
    conv = nn.Conv3d(4, 4, 3, padding=1)
    x = engine.randn(1, 4, 20, 20, 20, requires_grad=True)  # 128 KB; columns: 27 x 4 x 20 x 22 x 22 x 4 B
    forward_peak, total_peak = _peak_extra_memory(conv, x)
    assert forward_peak < 1.6 * 2**20
    assert total_peak < 2.5 * 2**20
