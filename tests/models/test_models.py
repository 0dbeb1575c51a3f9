"""Every network: output shape, a gradient check on a tiny instance, and it can overfit one batch."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine.nn.utils import functional_call
from models import REGISTRY, build_model
from models.lenet import LeNet5
from models.perceptron import Perceptron

TINY = {  # small widths keep the gradient checks fast; the architecture is the same
    "perceptron": {},
    "mlp": {"hidden": (8,)},
    "lenet5": {},
    "alexnet": {"width": 4},
    "vgg": {"width": 4},
    "resnet18": {"width": 4},
}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_output_shape_2d(name):
    model = build_model(name, in_channels=1, num_classes=3, spatial_shape=(28, 28), **TINY[name])
    assert model(engine.randn(2, 1, 28, 28)).shape == (2, 3)


@pytest.mark.parametrize("name", ["alexnet", "vgg", "resnet18"])
def test_output_shape_3d(name):
    model = build_model(name, in_channels=1, num_classes=2, spatial_shape=(16, 16, 16), **TINY[name])
    assert model(engine.randn(2, 1, 16, 16, 16)).shape == (2, 2)


def test_lenet5_has_the_classic_parameter_count():
    assert LeNet5(in_channels=1, num_classes=10).num_parameters() == 61_706
    assert LeNet5(in_channels=1, num_classes=10, input_size=32).num_parameters() == 61_706


def test_resnet18_parameter_count_matches_the_medmnist_model():
    # torchvision's resnet18 with a 3x3 stem and 2 outputs: 11,168,832 minus the stem difference
    model = build_model("resnet18", in_channels=1, num_classes=2, spatial_shape=(28, 28))
    assert model.num_parameters() == 11_168_706


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_gradient_check_on_a_tiny_instance(name):
    engine.manual_seed(0)
    model = build_model(name, in_channels=1, num_classes=2, spatial_shape=(28, 28), **TINY[name]).double()
    model.eval()  # batch norm with running statistics: a deterministic function of the input
    x = engine.tensor(np.random.default_rng(0).normal(size=(2, 1, 28, 28)), requires_grad=True)
    engine.gradcheck(lambda t: model(t), [x], mode="directional", n_directions=3, atol=1e-6, rtol=1e-4)
    names = [n for n, _ in model.named_parameters()][:2]  # the first layer's weight (and bias)
    originals = dict(model.named_parameters())

    def with_params(*tensors):
        return functional_call(model, dict(zip(names, tensors)), x.detach())

    engine.gradcheck(with_params, [engine.tensor(originals[n].data, requires_grad=True) for n in names],
                     mode="directional", n_directions=2, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_overfits_one_small_batch(name):
    engine.manual_seed(0)
    rng = np.random.default_rng(0)
    x = engine.tensor(rng.normal(size=(8, 1, 28, 28)).astype(np.float32))
    y = engine.tensor(np.array([0, 1] * 4))
    model = build_model(name, in_channels=1, num_classes=2, spatial_shape=(28, 28),
                        **({"width": 8} if name in ("alexnet", "vgg", "resnet18") else {}))
    if name == "alexnet":
        model.eval()  # no dropout: this test is about fitting, not regularisation
    opt = engine.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        logits = model(x)
        loss = (F.binary_cross_entropy_with_logits(logits, y.float()) if name == "perceptron"
                else F.cross_entropy(logits, y))
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first, f"{name}: loss {first:.3f} -> {loss.item():.3f}"


def test_perceptron_rule_learns_and_fails_where_the_textbook_says():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x @ np.array([2.0, -1.0]) + 0.3 > 0).astype(int)
    p = Perceptron(2)
    mistakes = p.fit_perceptron_rule(x, y, epochs=50)
    assert mistakes[-1] == 0  # converged: the classes are linearly separable
    assert (p.predict(engine.tensor(x.astype(np.float32))) == y).all()
    xor_x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    xor_y = np.array([0, 1, 1, 0])
    assert min(Perceptron(2).fit_perceptron_rule(xor_x, xor_y, epochs=50)) > 0  # never separable


def test_models_refuse_data_they_do_not_fit():
    with pytest.raises(ValueError, match="lenet5' needs square \\(cubic\\) inputs of at least 12 pixels per side, "
                                         "but the data is \\(64, 32\\)"):
        build_model("lenet5", 1, 2, (64, 32))
    with pytest.raises(ValueError, match="takes 2D or 3D inputs, but the data is 1D"):
        build_model("lenet5", 1, 2, (28,))


def test_lenet5_in_3d_keeps_the_classic_topology():
    import engine

    net = build_model("lenet5", 1, 2, (24, 24, 24))
    assert net(engine.randn(2, 1, 24, 24, 24)).shape == (2, 2)
    # 24 -> (pad 2) 24 -> 12 -> 8 -> 4: the classifier sees 16 * 4^3 features
    assert net.classifier[1].in_features == 16 * 4**3
    with pytest.raises(ValueError, match="unknown model 'unet'"):
        build_model("unet", 1, 2, (28, 28))


def test_alexnet_normalises_each_convolution_and_starts_with_he_weights():
    from models.alexnet import AlexNetSmall

    engine.manual_seed(0)
    net = AlexNetSmall(1, 2, width=16)
    convs = [m for m in net.features if isinstance(m, engine.nn.Conv2d)]
    norms = [m for m in net.features if isinstance(m, engine.nn.BatchNorm2d)]
    assert len(convs) == len(norms) == 5 and all(c.bias is None for c in convs)
    # He init: std sqrt(2 / fan_in); PyTorch's default U(+-1/sqrt(fan_in)) would give 1/sqrt(3 fan_in)
    w = convs[2].weight.detach().numpy()
    fan_in = w[0].size
    assert abs(w.std() * np.sqrt(fan_in / 2) - 1) < 0.05
    plain = AlexNetSmall(1, 2, width=16, batch_norm=False)
    assert not any(isinstance(m, engine.nn.BatchNorm2d) for m in plain.modules())
    assert all(m.bias is not None for m in plain.features if isinstance(m, engine.nn.Conv2d))
