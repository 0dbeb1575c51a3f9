"""Batch, instance, layer and group normalisation: statistics, running averages, modes, gradients."""

import numpy as np
import pytest

import engine
import engine.nn as nn
import engine.nn.functional as F

gradcheck_module = engine.gradcheck_module


def randomise_affine(module, seed=0):
    """Non-trivial weight and bias (the defaults 1 and 0 would hide mistakes)."""
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data = engine.backend.to_device(rng.uniform(0.5, 1.5, p.shape).astype(p.dtype), p.device)
    return module


# --- batch norm ---------------------------------------------------------------------------------------
def test_batch_norm_standardises_each_channel_over_batch_and_positions(device):
    x = engine.randn(6, 3, 4, 4, device=device) * 5 + 2
    y = nn.BatchNorm2d(3).to(device)(x).detach().numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_running_statistics_follow_pytorch(momentum, device, torch):
    ours = nn.BatchNorm2d(3, momentum=momentum).to(device)
    theirs = torch.nn.BatchNorm2d(3, momentum=momentum)
    rng = np.random.default_rng(0)
    for step in range(3):
        x = (rng.standard_normal((4, 3, 5, 5)) * (step + 1) + step).astype(np.float32)
        ours(engine.tensor(x, device=device))
        theirs(torch.from_numpy(x))
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(theirs, name).numpy(), rtol=1e-5)
    assert ours.num_batches_tracked.dtype == np.int64 and ours.num_batches_tracked.item() == 3


def test_running_variance_uses_the_unbiased_estimate():
    layer = nn.BatchNorm1d(1, momentum=1.0)  # running stats = the last batch's
    layer(engine.tensor([[1.0], [2.0], [3.0], [6.0]]))
    assert layer.running_mean.item() == pytest.approx(3.0)
    assert layer.running_var.item() == pytest.approx(np.var([1, 2, 3, 6], ddof=1))


def test_eval_mode_uses_running_statistics_and_leaves_them_alone(device, torch):
    ours = randomise_affine(nn.BatchNorm1d(4)).to(device)
    theirs = torch.nn.BatchNorm1d(4)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    for _ in range(2):  # give the running statistics non-trivial values
        ours(engine.tensor(x, device=device) * 3 + 1)
        theirs(torch.from_numpy(x) * 3 + 1)
    ours.eval()
    theirs.eval()
    before = ours.running_mean.numpy().copy()
    single = ours(engine.tensor(x[:1], device=device)).detach().numpy()  # batch of one is fine in eval
    np.testing.assert_allclose(single, theirs(torch.from_numpy(x[:1])).detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.running_mean.numpy(), before)
    assert ours.num_batches_tracked.item() == 2


def test_without_running_statistics_batch_statistics_are_used_in_eval_too():
    layer = nn.BatchNorm1d(2, track_running_stats=False).eval()
    assert list(layer.state_dict()) == ["weight", "bias"]
    y = layer(engine.randn(16, 2) * 4 + 3).detach().numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)


def test_affine_false_has_no_parameters():
    layer = nn.BatchNorm3d(2, affine=False)
    assert list(layer.parameters()) == []
    assert list(layer.state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]


@pytest.mark.parametrize("layer, shape", [
    (lambda: nn.BatchNorm1d(3), (4, 3)),
    (lambda: nn.BatchNorm1d(2), (3, 2, 4)),
    (lambda: nn.BatchNorm2d(2), (3, 2, 2, 3)),
    (lambda: nn.BatchNorm3d(2), (2, 2, 2, 2, 2)),
    (lambda: nn.BatchNorm2d(2, affine=False), (3, 2, 2, 2)),
])
def test_batch_norm_gradients(layer, shape, device):
    module = randomise_affine(layer()).to(device)
    gradcheck_module(module, engine.randn(*shape, device=device, requires_grad=True))
    module.eval()  # the running-statistics path is differentiable as well
    gradcheck_module(module, engine.randn(*shape, device=device, requires_grad=True))


def test_batch_norm_second_derivatives(device):
    x = engine.randn(4, 2, 3, device=device, requires_grad=True)
    w = engine.tensor([0.7, 1.3], device=device, requires_grad=True)
    b = engine.tensor([0.1, -0.2], device=device, requires_grad=True)
    engine.gradgradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [x, w, b])


def test_batch_norm_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected a 4-D input \(N, C, H, W\), got a 3-D input"):
        nn.BatchNorm2d(3)(engine.randn(3, 4, 4))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(num_features=3\): input has 5 channels \(shape \(2, 5\)\)"):
        nn.BatchNorm1d(3)(engine.randn(2, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(engine.randn(1, 3))
    with pytest.raises(TypeError, match="input dtype float64 differs"):
        nn.BatchNorm1d(3)(engine.randn(2, 3, dtype=np.float64))


# --- instance norm ------------------------------------------------------------------------------------
def test_instance_norm_defaults_and_per_map_statistics(device):
    layer = nn.InstanceNorm2d(3)
    assert layer.affine is False and layer.track_running_stats is False
    assert list(layer.state_dict()) == []
    y = layer(engine.randn(2, 3, 5, 5, device=device) * 3 + 7).numpy()
    np.testing.assert_allclose(y.mean(axis=(2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(2, 3)), 1, rtol=1e-3)
    assert layer(engine.randn(3, 5, 5, device=device)).shape == (3, 5, 5)  # unbatched


def test_instance_norm_running_statistics_follow_pytorch(torch):
    ours = nn.InstanceNorm1d(2, track_running_stats=True)
    theirs = torch.nn.InstanceNorm1d(2, track_running_stats=True)
    x = (np.random.default_rng(0).standard_normal((3, 2, 6)) * 2 + 1).astype(np.float32)
    ours(engine.tensor(x))
    theirs(torch.from_numpy(x))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(theirs, name).numpy(), rtol=1e-5)
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(engine.tensor(x)).numpy(), theirs(torch.from_numpy(x)).numpy(), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("layer, shape", [
    (lambda: nn.InstanceNorm1d(2, affine=True), (2, 2, 5)),
    (lambda: nn.InstanceNorm2d(2), (2, 2, 3, 3)),
    (lambda: nn.InstanceNorm3d(1, affine=True), (2, 1, 2, 2, 3)),
])
def test_instance_norm_gradients(layer, shape, device):
    module = randomise_affine(layer()).to(device)
    gradcheck_module(module, engine.randn(*shape, device=device, requires_grad=True))


def test_instance_norm_errors():
    with pytest.raises(ValueError, match=r"InstanceNorm2d: expected a 4-D input .* got a 2-D input"):
        nn.InstanceNorm2d(3)(engine.randn(3, 4))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        nn.InstanceNorm1d(3)(engine.randn(2, 3, 1))


# --- layer norm -------------------------------------------------------------------------------------------
def test_layer_norm_standardises_each_sample_over_the_trailing_dims(device):
    layer = nn.LayerNorm((4, 5)).to(device)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [("weight", (4, 5)), ("bias", (4, 5))]
    y = layer(engine.randn(2, 3, 4, 5, device=device) * 2 - 1).detach().numpy()
    np.testing.assert_allclose(y.mean(axis=(2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(2, 3)), 1, rtol=1e-3)


def test_layer_norm_gradients(device):
    module = randomise_affine(nn.LayerNorm(4)).to(device)
    gradcheck_module(module, engine.randn(3, 4, device=device, requires_grad=True))
    module = randomise_affine(nn.LayerNorm((2, 3))).to(device)
    gradcheck_module(module, engine.randn(2, 2, 3, device=device, requires_grad=True))
    x = engine.randn(2, 4, device=device, requires_grad=True)
    w = engine.randn(4, device=device, requires_grad=True)
    engine.gradgradcheck(lambda x, w: F.layer_norm(x, (4,), w), [x, w])


def test_layer_norm_options_and_errors():
    assert list(nn.LayerNorm(3, elementwise_affine=False).state_dict()) == []
    assert list(nn.LayerNorm(3, bias=False).state_dict()) == ["weight"]
    with pytest.raises(ValueError, match=r"LayerNorm\(normalized_shape=\(4,\)\).*\(2, 5\)"):
        nn.LayerNorm(4)(engine.randn(2, 5))


# --- group norm ---------------------------------------------------------------------------------------------
def test_group_norm_standardises_each_group_of_channels(device):
    x = engine.randn(2, 6, 3, 3, device=device) * 4 + 1
    y = nn.GroupNorm(3, 6).to(device)(x).detach().numpy().reshape(2, 3, -1)
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(-1), 1, rtol=1e-3)


def test_group_norm_limits_are_layer_and_instance_norm():
    x = engine.randn(2, 4, 3, 3)
    np.testing.assert_allclose(nn.GroupNorm(1, 4)(x).detach().numpy(),
                               F.layer_norm(x, (4, 3, 3)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nn.GroupNorm(4, 4)(x).detach().numpy(),
                               nn.InstanceNorm2d(4)(x).numpy(), rtol=1e-5, atol=1e-6)


def test_group_norm_gradients(device):
    module = randomise_affine(nn.GroupNorm(2, 4)).to(device)
    gradcheck_module(module, engine.randn(2, 4, 3, device=device, requires_grad=True))


def test_group_norm_errors():
    with pytest.raises(ValueError, match="num_channels=6 must be divisible by num_groups=4"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"GroupNorm\(num_groups=2, num_channels=4\).*\(2, 3, 5\)"):
        nn.GroupNorm(2, 4)(engine.randn(2, 3, 5))
    with pytest.raises(ValueError, match="not divisible into 4 groups"):
        F.group_norm(engine.randn(2, 6, 3), 4)
