"""im2col / col2im: the unfolded columns follow the formula, col2im is im2col's adjoint, the
batch is chunked under the memory budget, and the textbook conv2d_naive agrees with conv2d."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import engine
from engine import backend
from engine.nn.functional import _im2col as U
from engine.nn.functional.conv import conv2d, conv2d_naive

RNG = np.random.default_rng(0)
# (kernel, stride, dilation, padded size)
GEOMETRIES = [
    ((3, 3), (1, 1), (1, 1), (6, 7)),
    ((2, 3), (2, 1), (1, 2), (7, 8)),
    ((3,), (3,), (2,), (11,)),
    ((2, 1, 3), (1, 2, 2), (1, 1, 1), (3, 5, 6)),
    ((1, 1), (1, 1), (1, 1), (4, 5)),  # pointwise: a view, no copy
]


def _out_size(padded, kernel, stride, dilation):
    return tuple((p - d * (k - 1) - 1) // s + 1 for p, k, s, d in zip(padded, kernel, stride, dilation))


@pytest.mark.parametrize("kernel, stride, dilation, padded", GEOMETRIES)
def test_im2col_reads_xpad_at_output_times_stride_plus_offset_times_dilation(kernel, stride, dilation, padded):
    xpad = RNG.normal(size=(3, 2) + padded)  # (C, N, *padded)
    out = _out_size(padded, kernel, stride, dilation)
    cols = U.im2col(xpad, kernel, stride, dilation, out)
    assert cols.shape == (3,) + kernel + (2,) + out
    for offset in itertools.product(*(range(k) for k in kernel)):
        for pos in itertools.product(*(range(o) for o in out)):
            src = tuple(p * s + k * d for p, s, k, d in zip(pos, stride, offset, dilation))
            np.testing.assert_array_equal(cols[(slice(None),) + offset + (slice(None),) + pos],
                                          xpad[(slice(None), slice(None)) + src])


@pytest.mark.parametrize("kernel, stride, dilation, padded", GEOMETRIES)
def test_col2im_is_the_adjoint_of_im2col(kernel, stride, dilation, padded, device):
    """<im2col(x), c> = <x, col2im(c)> for all x, c: col2im is the transpose, as backward needs."""
    out = _out_size(padded, kernel, stride, dilation)
    x = RNG.normal(size=(2, 3) + padded)
    c = RNG.normal(size=(2,) + kernel + (3,) + out)
    xd, cd = backend.to_device(x, device), backend.to_device(c, device)
    lhs = float((U.im2col(xd, kernel, stride, dilation, out) * cd).sum())
    rhs = float((xd * U.col2im(cd, padded, kernel, stride, dilation)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_batch_chunks_keep_each_unfolded_chunk_within_the_budget():
    chunks = U.batch_chunks(10, bytes_per_sample=300, budget=1000)
    assert chunks == [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)]
    assert U.batch_chunks(4, bytes_per_sample=5000, budget=1000) == [slice(i, i + 1) for i in range(4)]
    assert U.batch_chunks(7, bytes_per_sample=1, budget=1000) == [slice(0, 7)]


def test_the_documented_layer_is_chunked_and_recomputes_its_columns():
    """Conv2d 3x3 64->64 on a (32, 64, 64, 64) float32 batch unfolds to 302 MB: it is processed
    in chunks under the budget, and its columns are too large to be kept for backward."""
    per_sample = 64 * 9 * 64 * 64 * 4
    chunks = U.batch_chunks(32, per_sample)
    assert U.UNFOLD_BUDGET_BYTES == 64 * 2**20 and len(chunks) == 5
    assert max(c.stop - c.start for c in chunks) * per_sample <= U.UNFOLD_BUDGET_BYTES
    assert 32 * per_sample > U.KEEP_COLUMNS_BYTES


@pytest.mark.parametrize("stride, padding, dilation, groups", [
    (1, 0, 1, 1), (2, 1, 1, 1), ((1, 2), (2, 0), (2, 1), 2), (1, "same", 1, 3), (3, "valid", 2, 1),
])
def test_conv2d_naive_agrees_with_the_im2col_conv2d(stride, padding, dilation, groups, device):
    x = engine.tensor(RNG.normal(size=(2, 6, 7, 8)), device=device)
    w = engine.tensor(RNG.normal(size=(3 * groups, 6 // groups, 3, 2)), device=device)
    b = engine.tensor(RNG.normal(size=(3 * groups,)), device=device)
    fast = conv2d(x, w, b, stride, padding, dilation, groups)
    slow = conv2d_naive(x, w, b, stride, padding, dilation, groups)
    assert slow.shape == fast.shape
    np.testing.assert_allclose(slow.numpy(), fast.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel, dilation, size", [((3, 3), (1, 1), (6, 7)), ((2, 3), (2, 1), (7, 5)),
                                                    ((4,), (2,), (11,)), ((2, 2, 3), (1, 2, 1), (4, 5, 6))])
def test_flat_unfolding_holds_the_same_columns_on_its_grid(kernel, dilation, size, device, monkeypatch):
    """Stride 1: the contiguous-run unfolding equals im2col on the valid part of its grid, and
    col2im_flat is its adjoint."""
    monkeypatch.setattr(U, "FLAT_MAX_WASTE", float("inf"))
    out = _out_size(size, kernel, (1,) * len(size), dilation)
    grid, extra = U.flat_grid(size, kernel, (1,) * len(size), dilation, out)
    assert grid == out[:1] + size[1:]
    x = RNG.normal(size=(2, 3) + size)
    xpad = U.pad_spatial(x, ((0, extra),) + ((0, 0),) * (len(size) - 1))
    flat = U.im2col_flat(backend.to_device(xpad, device), kernel, dilation, grid)
    valid = (Ellipsis,) + tuple(slice(0, o) for o in out)
    reference = U.im2col(x, kernel, (1,) * len(size), dilation, out)
    np.testing.assert_array_equal(backend.asnumpy(flat)[valid], reference)
    c = RNG.normal(size=flat.shape)
    lhs = float((flat * backend.to_device(c, device)).sum())
    rhs = float((backend.to_device(xpad, device) * U.col2im_flat(backend.to_device(c, device), xpad.shape[2:],
                                                                 kernel, dilation)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_flat_unfolding_is_skipped_when_it_would_waste_too_much():
    assert U.flat_grid((6, 6), (5, 5), (1, 1), (1, 1), (2, 2)) is None  # grid 2x6 for a 2x2 output
    assert U.flat_grid((8, 8), (3, 3), (2, 2), (1, 1), (3, 3)) is None  # strided
    assert U.flat_grid((10,), (3,), (1,), (1,), (8,)) == ((8,), 0)  # 1-D: no waste at all


@pytest.mark.parametrize("stride, padding, dilation", [(1, 1, 1), (1, "same", 2), (1, 0, (1, 2))])
def test_convolution_is_the_same_with_and_without_the_flat_unfolding(stride, padding, dilation, monkeypatch):
    x = engine.tensor(RNG.normal(size=(2, 4, 7, 6)), requires_grad=True)
    w = engine.tensor(RNG.normal(size=(6, 2, 3, 3)), requires_grad=True)

    def run():
        y = conv2d(x, w, None, stride, padding, dilation, groups=2)
        y.backward(engine.ones_like(y) * y.detach())
        result = [y.detach().numpy(), x.grad.numpy(), w.grad.numpy()]
        x.grad = w.grad = None
        return result

    flat = run()
    monkeypatch.setattr(U, "FLAT_MAX_WASTE", 0.0)
    for a, b in zip(flat, run()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, grid", [((3, 2, 4, 5), (4, 7)), ((2, 1, 3, 4, 2), (3, 6, 4)), ((4, 2, 6), (9,))])
@pytest.mark.parametrize("split", [False, True])
def test_embed_in_grid_puts_the_values_in_the_corner_and_zeros_everywhere_else(shape, grid, split, monkeypatch):
    if split:  # make every array "large", so that the channel blocks run on the helper threads
        monkeypatch.setattr("engine.parallel.MIN_BYTES", 1)
        monkeypatch.setenv("MEDGRAD_NUM_THREADS", "2")
    empty = np.empty

    def poisoned(shape, dtype=float):  # fresh memory full of NaN: every position must be written
        out = empty(shape, dtype)
        out.fill(np.nan)
        return out
    monkeypatch.setattr(np, "empty", poisoned)
    y = RNG.normal(size=shape)
    full = U.embed_in_grid(y, grid)
    assert full.shape == shape[:2] + grid
    expected = np.zeros(shape[:2] + grid)
    expected[(slice(None), slice(None)) + tuple(slice(0, s) for s in shape[2:])] = y
    np.testing.assert_array_equal(full, expected)
