"""Dropout: inverted (scaled) masks while training, identity in eval mode, reproducible masks."""

import numpy as np
import pytest

import engine
import engine.nn as nn
import engine.nn.functional as F


def test_eval_mode_and_p_zero_are_the_identity(device):
    x = engine.randn(4, 5, device=device)
    layer = nn.Dropout(0.5).eval()
    assert layer(x) is x
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_training_zeroes_a_fraction_p_and_scales_the_rest(device):
    x = engine.ones(200, 500, device=device)
    y = nn.Dropout(0.3)(x).numpy()
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.7)}
    assert (y == 0).mean() == pytest.approx(0.3, abs=0.01)
    assert y.mean() == pytest.approx(1.0, abs=0.02)  # the expectation is kept
    assert y.dtype == np.float32


def test_p_one_drops_everything():
    assert not F.dropout(engine.ones(3, 3), 1.0).numpy().any()


def test_masks_are_reproducible_for_a_seed_and_identical_across_devices(device):
    engine.manual_seed(11)
    a = F.dropout(engine.ones(6, 7), 0.5).numpy()
    b = F.dropout(engine.ones(6, 7), 0.5).numpy()
    engine.manual_seed(11)
    c = F.dropout(engine.ones(6, 7, device=device), 0.5).numpy()
    assert not np.array_equal(a, b)  # a fresh mask every call
    np.testing.assert_array_equal(a, c)


def test_gradient_flows_through_kept_units_only(device):
    x = engine.ones(10, 10, device=device, requires_grad=True)
    y = F.dropout(x, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())  # mask * 2 in both


def test_gradcheck_with_a_fixed_mask(device):
    x = engine.randn(3, 4, device=device, requires_grad=True)
    engine.gradcheck(lambda x: F.dropout(x, 0.4, generator=np.random.default_rng(1)), [x])
    engine.gradgradcheck(lambda x: F.dropout(x * x, 0.4, generator=np.random.default_rng(1)), [x])


@pytest.mark.parametrize("layer, shape, n_maps", [
    (nn.Dropout1d, (8, 16, 5), 8 * 16),
    (nn.Dropout2d, (8, 16, 5, 5), 8 * 16),
    (nn.Dropout3d, (8, 16, 3, 3, 3), 8 * 16),
    (nn.Dropout2d, (16, 5, 5), 16),  # unbatched (C, H, W)
])
def test_channel_dropout_zeroes_whole_feature_maps(layer, shape, n_maps, device):
    y = layer(0.5)(engine.ones(*shape, device=device)).numpy()
    maps = y.reshape(n_maps, -1)
    per_map = np.unique(maps, axis=1)
    assert per_map.shape[1] == 1  # every map is constant: all 0 or all 2
    assert set(np.unique(per_map)) == {0.0, 2.0}


def test_channel_dropout_rejects_the_wrong_rank():
    with pytest.raises(ValueError, match=r"dropout2d: expected a 4-D input \(N, C, H, W\).*\(2, 3\)"):
        nn.Dropout2d()(engine.ones(2, 3))


def test_invalid_probability_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1, got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(engine.ones(2), -0.1)


def test_repr_and_mode_switching():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.25))
    assert "(1): Dropout(p=0.25)" in repr(model)
    x = engine.randn(4, 3)
    model.eval()
    np.testing.assert_array_equal(model(x).detach().numpy(), model[0](x).detach().numpy())
