"""Options: one schema checks command-line strings and config-file values alike."""

from __future__ import annotations

import pytest

from tasks.errors import UsageError
from tasks.options import COMMON, Config, Option, resolve, training_options

EPOCHS = Option("epochs", int, 6, quick=2, low=1)
LR = Option("lr", float, 1e-3, low=0.0, open_low=True)
WIDTH = Option("width", int, None, low=1, nullable=True)
QUICK = next(o for o in COMMON if o.name == "quick")
MODE = Option("mode", str, "a", choices=("a", "b"))


@pytest.mark.parametrize("option, text, value", [
    (EPOCHS, "3", 3), (LR, "1e-4", 1e-4), (WIDTH, "none", None), (WIDTH, "8", 8), (MODE, "b", "b"),
])
def test_command_line_strings_become_typed_values(option, text, value):
    assert option.parse(text) == value


@pytest.mark.parametrize("option, text, message", [
    (EPOCHS, "two", "--epochs must be an integer, got 'two'"),
    (EPOCHS, "1.5", "--epochs must be an integer"),
    (EPOCHS, "0", "--epochs must be at least 1, got 0"),
    (LR, "nan", "--lr must be a finite number"),
    (LR, "inf", "--lr must be a finite number"),
    (LR, "-1", "--lr must be greater than 0"),
    (LR, "0", "--lr must be greater than 0"),
    (MODE, "c", "--mode must be one of a, b; got 'c'"),
])
def test_bad_command_line_values_are_refused_by_name(option, text, message):
    with pytest.raises(UsageError, match="^" + message.replace("(", r"\(").replace("[", r"\[")):
        option.parse(text)


@pytest.mark.parametrize("option, value, message", [
    (EPOCHS, "two", "must be an integer, got str 'two'"),
    (EPOCHS, 1.5, "must be an integer, got float 1.5"),
    (EPOCHS, True, "must be an integer, got bool True"),
    (LR, "0.001", "must be a number, got str '0.001'"),
    (QUICK, "false", "must be true or false, got str 'false'"),
    (QUICK, 0, "must be true or false, got int 0"),
    (EPOCHS, None, "needs a value"),
])
def test_config_files_keep_json_types(option, value, message):
    with pytest.raises(UsageError, match=message):
        option.parse(value, source="config file c.json")


def test_json_integers_are_valid_floats():
    assert LR.parse(1, source="config file c.json") == 1.0
    assert isinstance(LR.parse(1, source="config file c.json"), float)


def test_precedence_default_quick_file_command_line():
    options = (EPOCHS, LR, QUICK)
    assert resolve(options, {}, {})[0] == {"epochs": 6, "lr": 1e-3, "quick": False}
    assert resolve(options, {"quick": True}, {})[0]["epochs"] == 2  # --quick's value
    # an explicit value beats --quick, from the file or the command line
    assert resolve(options, {"quick": True}, {"epochs": 4}, "c.json")[0]["epochs"] == 4
    values, given = resolve(options, {"quick": True, "epochs": "5"}, {"epochs": 4}, "c.json")
    assert values["epochs"] == 5 and given == {"quick", "epochs"}
    # quick in the config file counts too
    assert resolve(options, {}, {"quick": True}, "c.json")[0]["epochs"] == 2


def test_unknown_config_keys_are_named():
    with pytest.raises(UsageError, match=r"config file c.json: unknown options \['epochz'\]"):
        resolve((EPOCHS, QUICK), {}, {"epochz": 3}, "c.json")


def test_training_options_carry_the_experiments_defaults():
    opts = {o.name: o for o in training_options(epochs=40, lr=3e-4, batch_size=8, quick_epochs=1)}
    assert (opts["epochs"].default, opts["epochs"].quick, opts["lr"].default, opts["batch_size"].default) == \
        (40, 1, 3e-4, 8)
    with pytest.raises(UsageError, match="--weight-decay must be at least 0"):
        opts["weight_decay"].parse("-5")
    with pytest.raises(UsageError, match="--patience must be at least 1"):
        opts["patience"].parse("-3")


def test_seed_range():
    seed = next(o for o in COMMON if o.name == "seed")
    with pytest.raises(UsageError, match="--seed must be at least 0"):
        seed.parse("-1")
    assert seed.parse(str(2**32 - 1)) == 2**32 - 1


def test_config_is_read_only_and_names_missing_options():
    c = Config({"epochs": 3})
    assert c.epochs == 3 and c.to_dict() == {"epochs": 3} and "epochs" in c
    with pytest.raises(AttributeError, match="fixed"):
        c.epochs = 4
    with pytest.raises(AttributeError, match="no option 'lr'"):
        _ = c.lr
