"""Runs an experiment into a folder, and resumes an interrupted one.

A run folder holds:
  config.json         the resolved configuration (defaults filled in)
  history.jsonl/.csv  one row per epoch (written by the trainer)
  checkpoints/        last.npz and best.npz (+ .json metadata), written atomically
  metrics.json        validation and test metrics, with bootstrap 95% intervals on test
  figures/            training curves, ROC, confusion matrix, a grid of test images
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from tasks.config import RunConfig, UsageError


def _resolve(config: RunConfig, experiment) -> RunConfig:
    values = config.to_dict()
    default_model = config.model in (None, experiment.defaults.get("model"))
    for key, value in experiment.defaults.items():
        # a default width belongs to the default model; another model keeps its own
        if values.get(key) is None and (key != "width" or default_model):
            values[key] = value
    if config.quick:
        for key, value in experiment.quick.items():
            if key not in ("epochs",) or config.epochs is None:
                values[key] = value
    return dataclasses.replace(config, **values)


def _run_dir(config: RunConfig) -> Path:
    if config.out:
        return Path(config.out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.experiment}-{config.dataset}-{config.model}-{stamp}"


def _write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=float)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def run_experiment(config: RunConfig, resume_from: str | None = None) -> dict:
    """Run ``config.experiment`` and return {"run_dir": ..., "metrics": ...}."""
    from tasks.experiments import EXPERIMENTS

    if config.experiment not in EXPERIMENTS:
        raise UsageError(f"unknown experiment {config.experiment!r}; available: {', '.join(EXPERIMENTS.keys())}")
    experiment = EXPERIMENTS[config.experiment]
    config = _resolve(config, experiment)
    run_dir = _run_dir(config)
    if resume_from is None and run_dir.exists() and (run_dir / "metrics.json").exists():
        raise UsageError(f"run folder {run_dir} already holds a finished run; choose another --out")
    (run_dir / "figures").mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    saved = config.to_dict()
    saved["out"] = str(run_dir)
    _write_json_atomic(run_dir / "config.json", saved)
    started = time.time()
    metrics = experiment.run(config, run_dir, resume_from=resume_from)
    metrics["wall_seconds"] = time.time() - started
    _write_json_atomic(run_dir / "metrics.json", metrics)
    return {"run_dir": str(run_dir), "metrics": metrics}


def resume_run(run_dir, quiet: bool = False) -> dict:
    """Continue the run in ``run_dir`` from its last checkpoint, with its saved config."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise UsageError(f"--resume {run_dir}: no config.json there (not a run folder)")
    values = json.loads(cfg_path.read_text())
    values["quiet"] = quiet or values.get("quiet", False)
    config = RunConfig(**values)
    last = run_dir / "checkpoints" / "last.npz"
    return run_experiment(config, resume_from=str(last) if last.exists() else None)
