"""Module and containers: parameter discovery and names, modes, devices, state dicts, printing."""

from collections import OrderedDict

import numpy as np
import pytest

import engine
import engine.nn as nn


class TwoLayer(nn.Module):
    """A small network with a child Linear, a child Sequential and a buffer."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.body = nn.Sequential(nn.ReLU(), nn.Linear(3, 2), nn.BatchNorm1d(2))
        self.register_buffer("offset", engine.zeros(2))

    def forward(self, x):
        return self.body(self.fc1(x)) + self.offset


def test_named_parameters_are_dotted_paths_in_registration_order():
    names = [name for name, _ in TwoLayer().named_parameters()]
    assert names == ["fc1.weight", "fc1.bias", "body.1.weight", "body.1.bias", "body.2.weight", "body.2.bias"]


def test_names_and_order_match_pytorch(torch):
    ours = TwoLayer()
    theirs = torch.nn.Module()
    theirs.fc1 = torch.nn.Linear(4, 3)
    theirs.body = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    theirs.register_buffer("offset", torch.zeros(2))
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_shared_parameters_are_counted_once():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert len(list(model.parameters())) == 2
    assert model.num_parameters() == 12
    # a tied weight: the same Parameter under two names
    decoder = nn.Linear(3, 3, bias=False)
    decoder.weight = shared.weight
    tied = nn.Sequential(shared, decoder)
    assert [n for n, _ in tied.named_parameters()] == ["0.weight", "0.bias"]


def test_train_and_eval_reach_every_submodule():
    model = TwoLayer()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad_clears_or_zeroes_every_gradient():
    model = TwoLayer()
    model(engine.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.data.any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_to_strict_moves_parameters_and_buffers_and_keeps_integer_counters():
    model = TwoLayer()
    weight = model.fc1.weight
    before = model(engine.ones(2, 4)).detach().numpy()
    assert model.to("strict") is model
    assert model.fc1.weight is weight  # moved in place: optimisers keep their references
    assert {t.device for t in model.state_dict().values()} == {"strict"}
    assert model.body[2].num_batches_tracked.dtype == np.int64
    out = model(engine.ones(2, 4, device="strict"))
    assert out.device == "strict"
    np.testing.assert_allclose(out.detach().numpy(), before, rtol=1e-6)
    model.double()
    assert model.fc1.weight.dtype == np.float64
    assert model.body[2].num_batches_tracked.dtype == np.int64


def test_state_dict_holds_parameters_and_persistent_buffers_only():
    model = TwoLayer()
    model.register_buffer("scratch", engine.zeros(1), persistent=False)
    keys = list(model.state_dict())
    assert "offset" in keys and "scratch" not in keys
    assert "body.2.running_mean" in keys and "body.2.num_batches_tracked" in keys
    assert not any(t.requires_grad for t in model.state_dict().values())


def test_load_state_dict_round_trip_copies_values():
    a, b = TwoLayer(), TwoLayer()
    b.load_state_dict(a.state_dict())
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(ta.numpy(), tb.numpy(), err_msg=name)


def test_load_state_dict_strict_lists_every_problem():
    model = TwoLayer()
    state = model.state_dict()
    del state["fc1.bias"]
    del state["body.2.running_var"]
    state["extra.weight"] = np.zeros(3)
    state["body.1.weight"] = np.zeros((5, 5))
    with pytest.raises(RuntimeError) as err:
        model.load_state_dict(state)
    message = str(err.value)
    for fragment in ("fc1.bias", "body.2.running_var", "extra.weight", "body.1.weight", "(5, 5)", "(2, 3)"):
        assert fragment in message


def test_load_state_dict_non_strict_reports_missing_and_unexpected():
    model = TwoLayer()
    state = model.state_dict()
    del state["fc1.bias"]
    state["extra"] = np.zeros(1)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["fc1.bias"] and unexpected == ["extra"]


def test_repr_shows_structure_and_parameter_counts():
    text = repr(TwoLayer())
    assert "(fc1): Linear(in_features=4, out_features=3, bias=True)  # 15 params" in text
    assert "(1): Linear(in_features=3, out_features=2, bias=True)  # 8 params" in text
    assert "BatchNorm1d(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)" in text
    assert text.endswith("# 27 params")


# --- containers -------------------------------------------------------------------------------------
def test_sequential_chains_modules_and_supports_list_operations():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    seq.append(c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c
    assert list(seq) == [a, b, c]
    x = engine.randn(4, 2)
    np.testing.assert_allclose(seq(x).detach().numpy(), c(b(a(x))).detach().numpy())
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [b, c]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    del seq[1]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    seq.insert(1, nn.Tanh())
    assert isinstance(seq[1], nn.Tanh) and seq[2] is c
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    with pytest.raises(TypeError, match="must be a Module"):
        seq.append(lambda x: x)


def test_sequential_from_ordered_dict_keeps_names():
    seq = nn.Sequential(OrderedDict([("encoder", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert [n for n, _ in seq.named_parameters()] == ["encoder.weight", "encoder.bias"]
    seq[1] = nn.Sigmoid()
    assert isinstance(seq.act, nn.Sigmoid)


def test_nested_sequential_names():
    model = nn.Sequential(nn.Sequential(nn.Linear(2, 2)), nn.Linear(2, 1))
    assert list(model.state_dict()) == ["0.0.weight", "0.0.bias", "1.weight", "1.bias"]


def test_module_list_registers_its_modules():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    layers.append(nn.Linear(2, 1))
    assert len(layers) == 4
    assert len(list(layers.parameters())) == 8
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    assert list(layers.state_dict())[-1] == "3.bias"
    with pytest.raises(NotImplementedError):
        layers(engine.zeros(1, 2))


def test_module_dict_registers_under_keys():
    heads = nn.ModuleDict({"seg": nn.Linear(3, 2), "cls": nn.Linear(3, 4)})
    assert list(heads) == ["seg", "cls"] and "seg" in heads
    assert list(heads.state_dict()) == ["seg.weight", "seg.bias", "cls.weight", "cls.bias"]
    heads["aux"] = nn.Identity()
    assert len(heads) == 3
    assert isinstance(heads.pop("aux"), nn.Identity) and len(heads) == 2
    with pytest.raises(KeyError, match="no key 'missing'"):
        heads["missing"]


def test_identity_returns_its_input():
    x = engine.randn(2, 3)
    assert nn.Identity(54, unused="ok")(x) is x


def test_flatten_and_unflatten_are_inverse_reshapes(device):
    x = engine.randn(2, 3, 4, 5, device=device)
    flat = nn.Flatten()(x)
    assert flat.shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    back = nn.Unflatten(1, (3, 4, 5))(flat)
    np.testing.assert_array_equal(back.numpy(), x.numpy())
    assert nn.Unflatten(1, (3, -1))(flat).shape == (2, 3, 20)
    with pytest.raises(ValueError, match=r"size 60.*\(7, 8\)"):
        nn.Unflatten(1, (7, 8))(flat)
