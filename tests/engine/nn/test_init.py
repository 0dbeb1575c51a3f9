"""engine.nn.init: in-place, seeded, device-independent initialisers with PyTorch's scales."""

import math

import numpy as np
import pytest

import engine
from engine.nn import init


def test_calculate_gain_matches_pytorch(torch):
    cases = [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
             ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)]
    for name, param in cases:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_fans_follow_the_out_in_kernel_layout():
    assert init._calculate_fan_in_and_fan_out(engine.zeros(8, 5)) == (5, 8)
    assert init._calculate_fan_in_and_fan_out(engine.zeros(16, 3, 3, 3)) == (27, 144)
    with pytest.raises(ValueError, match=r"fewer than 2 dimensions \(shape \(4,\)\)"):
        init._calculate_fan_in_and_fan_out(engine.zeros(4))


def test_initialisers_write_in_place_and_return_the_tensor(device):
    w = engine.zeros(3, 4, device=device)
    array = w.data
    assert init.uniform_(w, -1, 1) is w
    assert w.data is array and w.device == device and w.dtype == np.float32
    assert init.constant_(w, 2.5) is w
    np.testing.assert_array_equal(w.numpy(), np.full((3, 4), 2.5, np.float32))
    init.ones_(w)
    assert (w.numpy() == 1).all()
    init.zeros_(w)
    assert (w.numpy() == 0).all()
    init.eye_(w)
    np.testing.assert_array_equal(w.numpy(), np.eye(3, 4))


def test_same_seed_gives_the_same_values_on_every_device(device):
    engine.manual_seed(7)
    a = init.normal_(engine.zeros(5, 5), 1.0, 2.0)
    engine.manual_seed(7)
    b = init.normal_(engine.zeros(5, 5, device=device), 1.0, 2.0)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    c = init.normal_(engine.zeros(5, 5), 1.0, 2.0)  # the generator moved on
    assert not np.array_equal(a.numpy(), c.numpy())


def test_a_passed_generator_is_used_instead_of_the_engine_one():
    a = init.uniform_(engine.zeros(10), generator=np.random.default_rng(3))
    b = init.uniform_(engine.zeros(10), generator=np.random.default_rng(3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_uniform_and_normal_have_the_requested_moments():
    u = init.uniform_(engine.zeros(200, 200), -2.0, 4.0).numpy()
    assert u.min() >= -2.0 and u.max() < 4.0
    assert u.mean() == pytest.approx(1.0, abs=0.05)
    n = init.normal_(engine.zeros(200, 200), 3.0, 0.5).numpy()
    assert n.mean() == pytest.approx(3.0, abs=0.01) and n.std() == pytest.approx(0.5, rel=0.02)
    t = init.trunc_normal_(engine.zeros(200, 200), std=1.0, a=-1.0, b=1.5).numpy()
    assert t.min() >= -1.0 and t.max() <= 1.5


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_scales_by_the_chosen_fan(mode):
    w = engine.zeros(300, 100)  # fan_in 100, fan_out 300
    fan = 100 if mode == "fan_in" else 300
    init.kaiming_uniform_(w, a=0, mode=mode, nonlinearity="relu")
    bound = math.sqrt(2.0) * math.sqrt(3.0 / fan)
    assert np.abs(w.numpy()).max() <= bound
    assert w.numpy().std() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    init.kaiming_normal_(w, mode=mode, nonlinearity="relu")
    assert w.numpy().std() == pytest.approx(math.sqrt(2.0 / fan), rel=0.03)
    with pytest.raises(ValueError, match="mode must be"):
        init.kaiming_uniform_(w, mode="fan_avg")


def test_kaiming_uniform_with_sqrt5_is_pytorchs_one_over_sqrt_fan_in():
    w = init.kaiming_uniform_(engine.zeros(64, 49), a=math.sqrt(5))
    assert np.abs(w.numpy()).max() <= 1 / 7
    assert np.abs(w.numpy()).max() > 0.95 / 7


def test_xavier_uses_fan_in_plus_fan_out_and_gain():
    w = engine.zeros(200, 300)
    init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6.0 / 500)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    init.xavier_normal_(w, gain=0.5)
    assert w.numpy().std() == pytest.approx(0.5 * math.sqrt(2.0 / 500), rel=0.03)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (4, 2, 3)])
def test_orthogonal_gives_orthonormal_rows_or_columns(shape, device):
    w = init.orthogonal_(engine.zeros(*shape, device=device, dtype=np.float64), gain=3.0)
    m = w.numpy().reshape(shape[0], -1) / 3.0
    small = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(small, np.eye(min(m.shape)), atol=1e-12)


def test_initialisers_refuse_non_tensors():
    with pytest.raises(TypeError, match="expected a Tensor"):
        init.zeros_(np.zeros(3))
