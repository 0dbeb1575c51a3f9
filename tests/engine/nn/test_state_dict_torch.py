"""State dicts move between medgrad and PyTorch unchanged, and the layers then compute the same.

Every case builds the same layer from a namespace (engine.nn or torch.nn: same names, same
arguments); the two must agree on state-dict names, shapes and dtypes, and after copying the
state from one to the other, on outputs and on input and parameter gradients.
"""

import numpy as np
import pytest

import engine
import engine.nn as nn

CASES = {
    "Linear": (lambda m: m.Linear(5, 3), (4, 5)),
    "Linear-nobias": (lambda m: m.Linear(5, 3, bias=False), (2, 3, 5)),
    "BatchNorm1d": (lambda m: m.BatchNorm1d(4), (6, 4)),
    "BatchNorm2d": (lambda m: m.BatchNorm2d(3), (4, 3, 5, 5)),
    "BatchNorm3d": (lambda m: m.BatchNorm3d(2, momentum=None), (2, 2, 3, 4, 4)),
    "BatchNorm2d-noaffine": (lambda m: m.BatchNorm2d(3, affine=False), (4, 3, 2, 2)),
    "BatchNorm1d-untracked": (lambda m: m.BatchNorm1d(3, track_running_stats=False), (5, 3, 4)),
    "InstanceNorm2d": (lambda m: m.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 4, 4)),
    "InstanceNorm3d": (lambda m: m.InstanceNorm3d(2), (2, 2, 3, 3, 3)),
    "LayerNorm": (lambda m: m.LayerNorm((4, 5)), (3, 4, 5)),
    "GroupNorm": (lambda m: m.GroupNorm(2, 6), (2, 6, 3, 3)),
    "Embedding": (lambda m: m.Embedding(10, 4, padding_idx=1), "indices"),
    "MLP": (lambda m: m.Sequential(m.Linear(6, 8), m.BatchNorm1d(8), m.ReLU(), m.Dropout(0.0), m.Linear(8, 3),
                                   m.LogSoftmax(dim=1)), (5, 6)),
    "ConvHead": (lambda m: m.Sequential(m.GroupNorm(1, 2), m.GELU(), m.Flatten(), m.LayerNorm(18),
                                        m.Linear(18, 2)), (3, 2, 3, 3)),
}


def _input(spec, rng):
    if spec == "indices":
        return rng.integers(0, 10, size=(3, 5))
    return (rng.standard_normal(spec) * 2 + 0.5).astype(np.float32)


def _randomise_torch(module, torch, rng):
    """Random parameters and running statistics, so that defaults (ones, zeros) hide nothing."""
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(3)
            elif name.endswith("running_var"):
                t.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, t.shape).astype(np.float32)))
            else:
                t.copy_(torch.from_numpy(rng.standard_normal(t.shape).astype(np.float32)))


def _upstream(shape):
    """The same random upstream gradient for both frameworks (it depends on the shape only)."""
    return np.random.default_rng(5).standard_normal(tuple(shape)).astype(np.float32)


def _run(module, x, backend_tensor, requires_grad):
    """Forward, then backward with a random upstream gradient; returns the output, the input's
    gradient and {name: parameter gradient}."""
    xin = backend_tensor(x, requires_grad)
    y = module(xin)
    y.backward(backend_tensor(_upstream(y.shape), False))
    grads = {n: p.grad for n, p in module.named_parameters() if p.grad is not None}
    return y, (xin.grad if requires_grad else None), grads


def _np(t):
    return t.detach().cpu().numpy() if hasattr(t, "cpu") else t.numpy()


@pytest.mark.parametrize("make, spec", CASES.values(), ids=CASES.keys())
def test_state_dict_names_shapes_and_dtypes_match_pytorch(make, spec, torch):
    ours, theirs = make(nn).state_dict(), make(torch.nn).state_dict()
    assert list(ours) == list(theirs)
    for key in ours:
        assert tuple(ours[key].shape) == tuple(theirs[key].shape), key
        assert ours[key].dtype == _np(theirs[key]).dtype, key


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("make, spec", CASES.values(), ids=CASES.keys())
def test_pytorch_state_loads_and_gives_the_same_outputs_and_gradients(make, spec, train, device, torch):
    rng = np.random.default_rng(0)
    theirs = make(torch.nn)
    _randomise_torch(theirs, torch, rng)
    ours = make(nn).to(device)
    ours.load_state_dict(theirs.state_dict())  # torch tensors load directly
    ours.train(train)
    theirs.train(train)
    x = _input(spec, rng)
    floating = spec != "indices"
    yt, gxt, gpt = _run(theirs, x, lambda a, rg: torch.tensor(a, requires_grad=rg), floating)
    ye, gxe, gpe = _run(ours, x, lambda a, rg: engine.tensor(a, device=device, requires_grad=rg), floating)
    np.testing.assert_allclose(_np(ye), _np(yt), rtol=1e-4, atol=1e-5)
    if floating:
        np.testing.assert_allclose(_np(gxe), _np(gxt), rtol=1e-4, atol=1e-5)
    assert sorted(gpe) == sorted(gpt)
    for name in gpt:
        np.testing.assert_allclose(_np(gpe[name]), _np(gpt[name]), rtol=1e-4, atol=1e-4, err_msg=name)
    # running statistics after identical updates
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), _np(value), rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("make, spec", CASES.values(), ids=CASES.keys())
def test_our_state_loads_into_pytorch_through_numpy(make, spec, device, torch):
    rng = np.random.default_rng(1)
    source = make(torch.nn)
    _randomise_torch(source, torch, rng)
    ours = make(nn).to(device)
    ours.load_state_dict(source.state_dict())
    theirs = make(torch.nn)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in ours.state_dict().items()})
    ours.eval()
    theirs.eval()
    x = _input(spec, rng)
    ye = ours(engine.tensor(x, device=device))
    yt = theirs(torch.tensor(x))
    np.testing.assert_allclose(_np(ye), _np(yt), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["BatchNorm2d", "BatchNorm2d-noaffine", "InstanceNorm2d", "LayerNorm", "GroupNorm"])
def test_deterministic_initial_state_equals_pytorchs(name, torch):
    make, _ = CASES[name]
    theirs = make(torch.nn).state_dict()
    for key, value in make(nn).state_dict().items():
        np.testing.assert_array_equal(value.numpy(), _np(theirs[key]), err_msg=key)
