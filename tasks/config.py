"""Run configuration: one dataclass, filled from defaults, a JSON file and command-line flags
(in that order of precedence), and saved with every run as config.json."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path


class UsageError(Exception):
    """A user mistake (unknown dataset, wrong option, missing file): reported in one line, no traceback."""


@dataclasses.dataclass
class RunConfig:
    experiment: str = "classification"
    dataset: str = "lesions"
    model: str | None = None  # None: the experiment's default
    epochs: int | None = None  # None: the experiment's default
    batch_size: int = 64
    lr: float | None = None
    optimizer: str = "adam"
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "cpu"
    data_dir: str | None = None
    out: str | None = None
    quick: bool = False
    quiet: bool = False
    augment: bool = False
    imbalance: str = "none"  # none | weighted | balanced
    size: int = 28  # MedMNIST image size
    n_samples: int = 3000  # generated phantom data: number of images
    features: str = "pixels"  # classical baselines: pixels | radiomics
    patience: int | None = None  # early stopping on the validation metric
    bootstrap: int = 1000
    width: int | None = None  # channel width for CNNs (None: the model's default)
    limit: int | None = None  # use at most this many training images (quick end-to-end tests)

    @classmethod
    def fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_sources(cls, file: str | None = None, **overrides) -> RunConfig:
        values: dict = {}
        if file:
            path = Path(file)
            if not path.is_file():
                raise UsageError(f"config file {file} does not exist")
            try:
                values = json.loads(path.read_text())
            except json.JSONDecodeError as e:
                raise UsageError(f"config file {file} is not valid JSON: {e}") from None
            unknown = set(values) - set(cls.fields())
            if unknown:
                raise UsageError(f"config file {file}: unknown options {sorted(unknown)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**values)
        config.validate()
        return config

    def validate(self):
        if self.imbalance not in ("none", "weighted", "balanced"):
            raise UsageError(f"--imbalance must be none, weighted or balanced, got {self.imbalance!r}")
        if self.features not in ("pixels", "radiomics"):
            raise UsageError(f"--features must be pixels or radiomics, got {self.features!r}")
        if self.device not in ("cpu", "cuda", "strict"):
            raise UsageError(f"--device must be cpu or cuda, got {self.device!r}")
        for name in ("batch_size", "n_samples", "bootstrap"):
            if getattr(self, name) <= 0:
                raise UsageError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.epochs is not None and self.epochs <= 0:
            raise UsageError(f"--epochs must be positive, got {self.epochs}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
