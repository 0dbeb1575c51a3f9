"""Attribution maps, their sanity checks and faithfulness curves, on models whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine import nn
from tasks import attribution as E


def _linear_model(w):
    """A one-logit model s = w . x (flattened), b = 0: every attribution is known in closed form."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(w.size, 1, bias=False)).double()
    model[1].weight.data[...] = w.reshape(1, -1)
    return model


X = np.random.default_rng(0).random((3, 1, 6, 6))
W = np.random.default_rng(1).normal(size=(1, 6, 6))


def test_gradient_maps_of_a_linear_model_are_its_weights():
    model = _linear_model(W)
    target = np.array([1, 1, 0])  # class 0 of a one-logit model is explained by -logit
    np.testing.assert_allclose(E.saliency(model, X, target), np.broadcast_to(np.abs(W), (3, 6, 6)))
    np.testing.assert_allclose(E.gradient_x_input(model, X, target), np.abs(X[:, 0] * W))
    ig, error = E.integrated_gradients(model, X, target, steps=4)
    np.testing.assert_allclose(ig, np.abs(X[:, 0] * W), rtol=1e-10)  # exact for a linear model
    assert np.all(error < 1e-10)  # completeness: the map sums to s(x) - s(0)
    np.testing.assert_allclose(E.smoothgrad(model, X, target, n_samples=3), np.abs(np.broadcast_to(W, (3, 6, 6))))


def test_integrated_gradients_complete_on_a_nonlinear_network():
    engine.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(144, 3)).double()
    _, error = E.integrated_gradients(model, X, np.array([0, 1, 2]), steps=64)
    assert np.all(error < 0.01), error


def test_grad_cam_by_its_definition_on_a_global_pooling_network():
    # conv -> ReLU -> mean over space -> linear, Grad-CAM read at the convolution
    engine.manual_seed(0)
    conv, fc = nn.Conv2d(1, 4, 3, padding=1).double(), nn.Linear(4, 2).double()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = conv, fc

        def forward(self, x):
            return self.fc(self.conv(x).relu().mean((2, 3)))

    model = Net()
    cam = E.grad_cam(model, X, np.array([1, 0, 1]), layer="conv")
    with engine.no_grad():
        a = conv(engine.tensor(X)).numpy()
    w = fc.weight.detach().numpy()[[1, 0, 1]]
    # dS/dA_k = w_ck / HW where A_k > 0 (the ReLU after the layer), so alpha_k = w_ck * (fraction of A_k > 0) / HW
    alpha = w * (a > 0).mean((2, 3)) / 36
    expected = np.maximum((alpha[:, :, None, None] * a).sum(1), 0)
    np.testing.assert_allclose(cam, expected, rtol=1e-8, atol=1e-12)
    assert E.last_conv_layer(model) == "conv"
    with pytest.raises(ValueError, match="no layer 'fc2'; convolutional layers: conv"):
        E.grad_cam(model, X, 0, layer="fc2")


def test_occlusion_finds_the_only_region_the_model_reads():
    w = np.zeros((1, 6, 6))
    w[0, 1:3, 3:5] = 0.5  # the model looks at a 2x2 square only (small weights: no saturated sigmoid)
    maps = E.occlusion(_linear_model(w), X + 1.0, 1, patch=2, stride=1)
    assert np.all(np.abs(maps[:, 1:3, 3:5]) > 1e-4)  # signed: the mean fill can raise the probability too
    # 2x2 patches that overlap the square cover rows 0-3 and columns 2-5; elsewhere nothing changes
    reach = np.zeros((6, 6), bool)
    reach[0:4, 2:6] = True
    assert np.all(maps[:, ~reach] == 0)


def test_a_map_that_ignores_the_model_fails_the_sanity_check():
    engine.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2)).double()
    fake = E.cascading_randomization(lambda m, x, t: x[:, 0], model, X, np.array([0, 1, 0]))
    assert fake["correlation"] == pytest.approx([1.0, 1.0]) and not fake["passes"]
    real = E.cascading_randomization("saliency", model, X, np.array([0, 1, 0]))
    assert real["layers"] == ["3", "0"] and real["final"] < 0.5 and real["passes"], real


def test_deletion_of_the_right_pixels_drops_the_probability_fastest():
    model = _linear_model(W)
    x = X + 0.5
    target = np.ones(3, int)
    # deleting pixel j (setting it to the image mean m) changes the logit by w_j (m - x_j): the exact ranking
    exact = W * (x[:, 0] - x.mean(axis=(1, 2, 3))[:, None, None])
    good = E.deletion_insertion(model, x, target, exact)
    bad = E.deletion_insertion(model, x, target, -exact)
    assert good["deletion_auc"] < bad["deletion_auc"] and good["insertion_auc"] > bad["insertion_auc"]


def test_spearman_by_its_definition():
    from scipy import stats

    a, b = np.random.default_rng(2).normal(size=(2, 4, 5))
    expected = [stats.spearmanr(np.abs(a[i]), np.abs(b[i]))[0] for i in range(4)]  # 4 images of 5 pixels
    np.testing.assert_allclose(E.spearman_per_image(a, b), expected)


def test_lime_credits_the_superpixel_the_model_reads():
    w = np.zeros((1, 28, 28))
    w[0, 4:10, 18:24] = 0.3  # the model reads one 6x6 square
    model = _linear_model(w)
    x = np.full((2, 1, 28, 28), 0.2)
    x[:, 0, 4:10, 18:24] = 1.0  # which is bright, so it is its own superpixel
    maps = E.lime(model, x, 1, n_segments=25, samples=200)
    inside = np.zeros((28, 28), bool)
    inside[4:10, 18:24] = True
    assert np.all(maps[:, inside].min(1) > np.abs(maps[:, ~inside]).max(1))
    with pytest.raises(ValueError, match="2D images"):
        E.lime(model, np.zeros((1, 1, 4, 4, 4)), 1)
