"""VoxelMorph, AffineNet and the iterative (instance-optimisation) baseline."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from models.affine_net import AffineNet, pixel_to_theta, similarity_parameters, theta_to_pixel
from models.iterative_registration import affine_flow, register_affine, register_dense
from models.voxelmorph import VoxelMorph
from tasks.data.phantoms import deformation as phantom
from tasks.metrics.registration import dice_per_label

RNG = np.random.default_rng(5)


@pytest.mark.parametrize("dims, shape, int_steps", [(2, (16, 24), 0), (2, (16, 16), 4), (3, (8, 8, 16), 0)])
def test_voxelmorph_shapes_and_identity_start(dims, shape, int_steps):
    net = VoxelMorph(dims, encoder=(4, 8), decoder=(8, 8, 4), int_steps=int_steps)
    moving = engine.tensor(RNG.random((2, 1, *shape)).astype(np.float32))
    fixed = engine.tensor(RNG.random((2, 1, *shape)).astype(np.float32))
    warped, flow = net(moving, fixed)
    assert warped.shape == moving.shape and flow.shape == (2, dims, *shape)
    assert np.abs(flow.detach().numpy()).max() < 1e-3  # the head starts near zero: identity transform
    np.testing.assert_allclose(warped.detach().numpy(), moving.numpy(), atol=1e-3)
    with pytest.raises(ValueError, match="divisible"):
        net(moving[..., :-1], fixed[..., :-1])
    with pytest.raises(ValueError, match="VoxelMorph"):
        net(moving[:, :, 0], fixed[:, :, 0])


def test_voxelmorph_gradients_reach_every_parameter():
    net = VoxelMorph(2, encoder=(2, 2), decoder=(2, 2, 2)).double()
    net.flow.weight.data[...] = RNG.normal(scale=0.3, size=net.flow.weight.shape)  # away from the flat start
    pair = [engine.tensor(RNG.random((1, 1, 8, 8))) for _ in range(2)]
    report = engine.gradcheck_module(_FirstOutput(net), *pair, mode="directional", n_directions=3)
    assert report.passed


class _FirstOutput(engine.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, m, f):
        warped, flow = self.net(m, f)
        return warped + flow.sum(axis=1, keepdims=True)


def test_affine_net_starts_at_identity_and_matches_the_pixel_convention():
    net = AffineNet(2, features=(4, 8))
    image = RNG.random((1, 1, 20, 26)).astype(np.float32)
    warped, theta = net(engine.tensor(image), engine.tensor(image))
    np.testing.assert_allclose(theta.detach().numpy()[0], np.eye(2, 3), atol=1e-7)
    np.testing.assert_allclose(warped.detach().numpy(), image, atol=1e-5)
    # a theta warps exactly as the phantom generator's pixel-unit affine does
    matrix, shift = phantom.random_affine(2, rotation=15, scale=0.1, shear=0.05, translation=3, seed=3)
    th = pixel_to_theta(matrix[None], shift[None], image.shape[2:]).astype(np.float32)
    m_back, t_back = theta_to_pixel(th, image.shape[2:])
    np.testing.assert_allclose(m_back[0], matrix, atol=1e-6)
    np.testing.assert_allclose(t_back[0], shift, atol=1e-5)
    grid = F.affine_grid(engine.tensor(th), image.shape, align_corners=True)
    ours = F.grid_sample(engine.tensor(image), grid, padding_mode="border", align_corners=True).numpy()[0, 0]
    ref = phantom.warp(image[0, 0], phantom.affine_displacement_field(matrix, shift, image.shape[2:]))
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    np.testing.assert_allclose(affine_flow(engine.tensor(th), image.shape[2:])[0],
                               phantom.affine_displacement_field(matrix, shift, image.shape[2:]), atol=1e-4)


def test_similarity_parameters_of_a_known_rotation():
    a = np.radians(12.0)
    rot_xy = 1.3 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    m = rot_xy[::-1, ::-1]  # (x, y) order -> array order (y, x)
    p = similarity_parameters(m[None], np.array([[4.0, -2.0]]))
    np.testing.assert_allclose([p["angle_deg"][0], p["scale"][0], p["tx"][0], p["ty"][0]], [12.0, 1.3, -2.0, 4.0])


def test_iterative_registration_recovers_an_affine_and_improves_overlap():
    data = phantom.make_registration_pairs(2, shape=(48, 48), magnitude=2.0, smoothness=6.0, affine=False, seed=2)
    matrix, shift = phantom.random_affine(2, rotation=8, scale=0.05, shear=0.0, translation=3, seed=4)
    field = phantom.affine_displacement_field(matrix, shift, (48, 48))
    fixed = np.stack([phantom.warp(m[0], field) for m in data["moving"]])
    theta = register_affine(engine.tensor(data["moving"]), engine.tensor(fixed[:, None]), similarity="mse",
                            iterations=60, lr=0.02)
    m_est, t_est = theta_to_pixel(theta.numpy(), (48, 48))
    assert np.abs(m_est - matrix).max() < 0.02 and np.abs(t_est - shift).max() < 0.3
    # dense: Dice of warped labels rises from the unregistered level
    moving, fixed = engine.tensor(data["moving"]), engine.tensor(data["fixed"])
    u = register_dense(moving, fixed, similarity="mse", weight=0.5, iterations=60, lr=0.1)
    before = np.mean([np.nanmean(list(dice_per_label(f, m).values()))
                      for f, m in zip(data["fixed_labels"], data["moving_labels"])])
    after = np.mean([np.nanmean(list(dice_per_label(f, phantom.warp_labels(m, w)).values()))
                     for f, m, w in zip(data["fixed_labels"], data["moving_labels"], u)])
    assert after > before + 0.05 and after > 0.85
