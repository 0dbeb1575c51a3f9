"""Embedding: row lookup with a scatter-add backward and a padding row that never learns."""

import numpy as np
import pytest

import engine
import engine.nn as nn
import engine.nn.functional as F


def test_lookup_returns_the_rows_of_the_table(device):
    layer = nn.Embedding(10, 3).to(device)
    idx = engine.tensor([[1, 4, 4], [9, 0, 2]], device=device)
    out = layer(idx)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.detach().numpy(), layer.weight.detach().numpy()[idx.numpy()])


def test_repeated_indices_accumulate_their_gradients(device):
    layer = nn.Embedding(5, 2).to(device)
    idx = engine.tensor([3, 1, 3, 3], device=device)
    g = np.arange(8, dtype=np.float32).reshape(4, 2)
    layer(idx).backward(engine.tensor(g, device=device))
    expected = np.zeros((5, 2), np.float32)
    expected[3] = g[0] + g[2] + g[3]
    expected[1] = g[1]
    np.testing.assert_array_equal(layer.weight.grad.numpy(), expected)


def test_padding_row_starts_at_zero_and_gets_no_gradient(device):
    layer = nn.Embedding(6, 4, padding_idx=-1).to(device)
    assert layer.padding_idx == 5
    assert not layer.weight.detach().numpy()[5].any()
    layer(engine.tensor([5, 2, 5], device=device)).sum().backward()
    grad = layer.weight.grad.numpy()
    assert not grad[5].any() and (grad[2] == 1).all()


def test_gradcheck_first_and_second_order(device):
    # (the padding row is excluded by design: it is read but deliberately gets no gradient)
    layer = nn.Embedding(4, 3).to(device).double()
    idx = engine.tensor([[0, 3], [3, 2]], device=device)
    engine.gradcheck(lambda w: F.embedding(idx, w), [layer.weight])
    engine.gradgradcheck(lambda w: F.embedding(idx, w) ** 2, [layer.weight])


def test_default_initialisation_is_standard_normal(torch):
    ours = nn.Embedding(500, 40).weight.detach().numpy()
    theirs = torch.nn.Embedding(500, 40).weight.detach().numpy()
    assert ours.mean() == pytest.approx(0.0, abs=0.02) and ours.std() == pytest.approx(1.0, rel=0.02)
    assert ours.std() == pytest.approx(theirs.std(), rel=0.03)


def test_from_pretrained_copies_and_freezes():
    table = np.arange(6, dtype=np.float32).reshape(3, 2)
    layer = nn.Embedding.from_pretrained(engine.tensor(table))
    assert not layer.weight.requires_grad
    np.testing.assert_array_equal(layer(engine.tensor([2])).numpy(), [[4.0, 5.0]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


def test_bad_indices_are_refused():
    layer = nn.Embedding(4, 2)
    with pytest.raises(IndexError, match=r"indices span \[0, 4\] but there are 4 embeddings"):
        layer(engine.tensor([0, 4]))
    with pytest.raises(TypeError, match="integer indices, got dtype float32"):
        layer(engine.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="padding_idx=7"):
        nn.Embedding(4, 2, padding_idx=7)


def test_repr():
    assert repr(nn.Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)  # 30 params"
