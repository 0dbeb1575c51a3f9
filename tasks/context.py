"""RunContext: what an experiment's ``run`` receives — its options, its folder, its random sources."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from tasks.runfolder import write_json_atomic


class RunContext:
    """Everything one run needs from the framework.

    config: the resolved options (``ctx.config.epochs``). run_dir: the run folder, with
    ``figures_dir`` and ``checkpoints_dir`` inside. resume_from: the checkpoint to continue from
    (``checkpoints/last.npz`` of an interrupted run), or None for a fresh run.
    """

    def __init__(self, experiment, config, run_dir, resume_from=None):
        self.experiment = experiment
        self.config = config
        self.run_dir = Path(run_dir)
        self.figures_dir = self.run_dir / "figures"
        self.checkpoints_dir = self.run_dir / "checkpoints"
        self.resume_from = Path(resume_from) if resume_from is not None else None
        self.figures_dir.mkdir(exist_ok=True)
        self.checkpoints_dir.mkdir(exist_ok=True)

    seed = property(lambda self: self.config.seed)
    device = property(lambda self: self.config.device)
    quick = property(lambda self: self.config.quick)
    quiet = property(lambda self: self.config.quiet)

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator seeded by the run's seed and ``purpose``: independent streams per use, each
        reproducible (adding a new random draw elsewhere does not shift this one)."""
        return np.random.default_rng([self.seed, zlib.crc32(purpose.encode())])

    def log(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)

    def save_json(self, name: str, obj) -> Path:
        """Write ``obj`` to ``<run_dir>/<name>`` atomically and return the path."""
        path = self.run_dir / name
        write_json_atomic(path, obj)
        return path
