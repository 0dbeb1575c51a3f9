"""Options: every experiment declares its own, and one schema checks them wherever they come from.

An ``Option`` names a setting (``batch_size``, flag ``--batch-size``), its type, its default, its
value under ``--quick`` and its allowed range or choices. The same declaration

* builds the experiment's ``medgrad run NAME --help`` (so the help lists exactly its options),
* parses command-line strings and checks JSON values from ``--config`` with the same rules
  (``"epochs": "two"``, ``"epochs": 1.5`` and ``--lr nan`` are all refused, in one line),
* and resolves the final value. Precedence, lowest first: the default, the ``--quick`` value,
  the config file, the command line. An explicit value always beats ``--quick``.

Options shared by every experiment (seed, device, out, quick, quiet, bootstrap) are added by the
framework (``COMMON``); ``training_options`` gives the usual training group with the
experiment's own defaults.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from tasks.errors import UsageError

_UNSET = object()


@dataclasses.dataclass(frozen=True)
class Option:
    """One setting of an experiment.

    name: Python name (``batch_size``); the flag is ``--batch-size``.
    type: int, float, str or bool (bool options are flags: ``--augment``).
    default: value when nothing else is given (None allowed when ``nullable``).
    quick: value under ``--quick`` (unset: the default).
    choices: allowed values; low/high: inclusive bounds (``open_low``: strictly above ``low``).
    nullable: None is a valid value (meaning "off" or "the model's own default", as help says).
    """

    name: str
    type: type
    default: Any
    help: str = ""
    quick: Any = _UNSET
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    nullable: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def has_quick(self) -> bool:
        return self.quick is not _UNSET

    # ------------------------------------------------------------------------------- checking
    def parse(self, value, source: str = "command line"):
        """A checked value of the right type from a CLI string or a JSON value, or UsageError."""
        where = f"{self.flag}" if source == "command line" else f"{source}: {self.name!r}"
        if value is None:
            if self.nullable:
                return None
            raise UsageError(f"{where} needs a value")
        if isinstance(value, str) and source == "command line":
            value = self._from_string(value, where)
        else:
            value = self._from_json(value, where)
        self.check(value, where)
        return value

    def _from_string(self, text: str, where: str):
        if self.nullable and text.lower() == "none":
            return None
        try:
            if self.type is bool:
                lowered = text.lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return lowered in ("true", "1", "yes")
            if self.type is int:
                return int(text)
            if self.type is float:
                return float(text)
        except ValueError:
            raise UsageError(f"{where} must be {_type_name(self.type)}, got {text!r}") from None
        return text

    def _from_json(self, value, where: str):
        # JSON keeps its types: a string is not a number, a float is not an integer, 1 is not true
        ok = {
            bool: isinstance(value, bool),
            int: isinstance(value, int) and not isinstance(value, bool),
            float: isinstance(value, (int, float)) and not isinstance(value, bool),
            str: isinstance(value, str),
        }[self.type]
        if not ok:
            raise UsageError(f"{where} must be {_type_name(self.type)}, got {type(value).__name__} {value!r}")
        return float(value) if self.type is float else value

    def check(self, value, where: str | None = None) -> None:
        where = where or self.flag
        if value is None:
            if not self.nullable:
                raise UsageError(f"{where} needs a value")
            return
        if self.type is float and not math.isfinite(value):
            raise UsageError(f"{where} must be a finite number, got {value}")
        if self.choices is not None and value not in self.choices:
            raise UsageError(f"{where} must be one of {', '.join(map(str, self.choices))}; got {value!r}")
        if self.low is not None:
            if self.open_low and not value > self.low:
                raise UsageError(f"{where} must be greater than {self.low:g}, got {value}")
            if not self.open_low and value < self.low:
                raise UsageError(f"{where} must be at least {self.low:g}, got {value}")
        if self.high is not None and value > self.high:
            raise UsageError(f"{where} must be at most {self.high:g}, got {value}")

    def replace(self, **changes) -> Option:
        return dataclasses.replace(self, **changes)


def _type_name(t) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[t]


# ------------------------------------------------------------------------------------ groups
COMMON = (
    Option("seed", int, 0, "seed of every random source (initial weights, shuffling, augmentation)",
           low=0, high=2**32 - 1),
    Option("device", str, "cpu", "cpu (NumPy), cuda (CuPy on a GPU) or strict (CPU stand-in for a GPU)",
           choices=("cpu", "cuda", "strict")),
    Option("out", str, None, "run folder (default: a new folder under runs/); must be new or empty",
           nullable=True),
    Option("quick", bool, False, "tiny settings for a smoke test (explicit options still win)"),
    Option("quiet", bool, False, "no progress output"),
    Option("bootstrap", int, 1000, "bootstrap resamples for the test confidence intervals", quick=200,
           low=50, high=100_000),
)


def training_options(epochs: int, lr: float, batch_size: int = 64, quick_epochs: int = 2,
                     optimizer: str = "adam", schedule: str = "cosine") -> tuple[Option, ...]:
    """The usual training options, with an experiment's own defaults."""
    return (
        Option("epochs", int, epochs, "training epochs", quick=quick_epochs, low=1, high=100_000),
        Option("batch_size", int, batch_size, "mini-batch size", low=1, high=1_000_000),
        Option("lr", float, lr, "learning rate", low=0.0, open_low=True, high=10.0),
        Option("optimizer", str, optimizer, "optimiser (SGD uses momentum 0.9)", choices=("adam", "adamw", "sgd")),
        Option("weight_decay", float, 0.0, "L2 weight decay (decoupled for adamw)", low=0.0, high=10.0),
        Option("schedule", str, schedule, "learning-rate schedule over the epochs: cosine annealing, "
               "constant, or step (x0.1 at 50% and 75% of the epochs, the MedMNIST v2 recipe)",
               choices=("cosine", "constant", "step")),
        Option("patience", int, None, "early stopping after this many epochs without a better validation "
               "score (default: off)", low=1, nullable=True),
    )


def parse_choices(text: str, flag: str, allowed) -> list[str]:
    """A comma-separated option ("random,bald") as a list, every item among ``allowed``, or UsageError."""
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    if not chosen or any(item not in allowed for item in chosen):
        raise UsageError(f"{flag} must name some of {', '.join(allowed)}; got {text!r}")
    return chosen


def resolve(options, cli: dict, file_values: dict, file_name: str | None = None) -> tuple[dict, set]:
    """Final values of ``options`` and the names given explicitly (file or command line).

    cli: {name: raw string or bool} for flags that were given; file_values: the parsed JSON.
    """
    by_name = {o.name: o for o in options}
    unknown = sorted(set(file_values) - set(by_name))
    if unknown:
        raise UsageError(f"config file {file_name}: unknown options {unknown}; this experiment's options are "
                         f"{', '.join(sorted(by_name))}")
    given = {}
    for name, value in file_values.items():
        given[name] = by_name[name].parse(value, source=f"config file {file_name}")
    for name, value in cli.items():
        given[name] = by_name[name].parse(value)
    quick = given.get("quick", by_name["quick"].default if "quick" in by_name else False)
    values = {}
    for o in options:
        if o.name in given:
            values[o.name] = given[o.name]
        elif quick and o.has_quick:
            values[o.name] = o.quick
        else:
            values[o.name] = o.default
    return values, set(given)


class Config:
    """Resolved options with attribute access: ``config.epochs``; ``to_dict()`` for config.json."""

    def __init__(self, values: dict):
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"this experiment has no option {name!r}") from None

    def __setattr__(self, name, value):
        raise AttributeError("a run's configuration is fixed once resolved")

    def __contains__(self, name) -> bool:
        return name in self._values

    def get(self, name, default=None):
        return self._values.get(name, default)

    def to_dict(self) -> dict:
        return dict(self._values)

    def __repr__(self) -> str:
        return f"Config({self._values!r})"
