"""Run an experiment into a run folder, or resume an interrupted one.

A run folder holds:
  config.json         the experiment's name and every resolved option
  history.jsonl/.csv  one row per epoch (networks)
  checkpoints/        last.npz and best.npz (selected on a validation metric), written atomically
  metrics.json        validation and test metrics, with bootstrap 95% intervals on test
  figures/            the experiment's figures

What is common to every experiment lives here: resolving options, claiming the folder, saving
the config, seeding, resuming, writing metrics.json and the one-line summary.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tasks.context import RunContext
from tasks.errors import RunInterrupted, UsageError
from tasks.options import Config, resolve
from tasks.registry import get_experiment
from tasks.runfolder import (
    claim_new,
    locked,
    read_saved_config,
    release_unused,
    remove_stale_temporaries,
    write_json_atomic,
)

# options that may differ when resuming: they change how a run reports, not what it computes
RESUME_MAY_CHANGE = {"quiet"}


def read_config_file(path: str | None) -> dict:
    """The options in a ``--config`` JSON file, or UsageError naming the file and the problem."""
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"config file {path} does not exist")
    try:
        values = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"config file {path} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"config file {path} is not valid JSON: {e}") from None
    if not isinstance(values, dict):
        raise UsageError(f"config file {path} must hold a JSON object of options, got {type(values).__name__}")
    values.pop("experiment", None)  # a saved config.json may be reused as --config
    return values


def _check_device(config) -> None:
    if config.device == "cuda":
        from engine import backend

        if not backend.cuda_is_available():
            raise UsageError("--device cuda: no CUDA device found (is CuPy installed with `pip install "
                             "\".[gpu]\"`, and does `nvidia-smi` see a GPU?)")


def prepare(name: str, cli: dict, config_file: str | None = None):
    """(experiment, Config) for a new run, every option checked, nothing written yet."""
    experiment = get_experiment(name)
    values, _ = resolve(experiment.all_options(), cli, read_config_file(config_file), config_file)
    config = Config(values)
    _check_device(config)
    check = getattr(experiment, "check", None)
    if check is not None:  # experiment-specific checks (e.g. a model that does not fit the data)
        check(config)
    return experiment, config


def run_experiment(name: str, cli: dict | None = None, config_file: str | None = None) -> dict:
    """Run a new experiment; returns {"run_dir", "metrics", "summary"}."""
    experiment, config = prepare(name, cli or {}, config_file)
    existed = config.out is not None and Path(config.out).exists()
    run_dir = claim_new(config.out, experiment.folder_name(config))
    try:
        return _execute(experiment, config, run_dir, resume_from=None)
    except UsageError:
        if not (run_dir / "metrics.json").exists() and not (run_dir / "checkpoints" / "last.npz").exists():
            release_unused(run_dir, created=not existed)
        raise


def resume_run(run_dir, cli: dict | None = None) -> dict:
    """Continue the run in ``run_dir`` (the folder given, wherever it has moved) from last.npz."""
    run_dir = Path(run_dir)
    saved = read_saved_config(run_dir)
    experiment = get_experiment(saved["experiment"])
    stored = {k: v for k, v in saved.items() if k not in ("experiment", "out")}
    options = experiment.all_options()
    known = {o.name for o in options}
    values, _ = resolve(options, {}, {k: v for k, v in stored.items() if k in known},
                        str(run_dir / "config.json"))
    for name, raw in (cli or {}).items():
        value = next(o for o in options if o.name == name).parse(raw)
        if name in RESUME_MAY_CHANGE:
            values[name] = value
        elif value != values[name]:
            raise UsageError(f"--resume keeps the run's options: {name.replace('_', '-')} was {values[name]!r}, "
                             f"not {value!r} (start a new run to change it)")
    config = Config(values)
    _check_device(config)
    last = run_dir / "checkpoints" / "last.npz"
    return _execute(experiment, config, run_dir, resume_from=last if last.exists() else None)


def _execute(experiment, config, run_dir: Path, resume_from) -> dict:
    import engine

    with locked(run_dir):
        remove_stale_temporaries(run_dir)
        if (run_dir / "checkpoints").is_dir():
            remove_stale_temporaries(run_dir / "checkpoints")
        saved = {"experiment": experiment.name, **config.to_dict()}
        write_json_atomic(run_dir / "config.json", saved)
        ctx = RunContext(experiment, config, run_dir, resume_from)
        engine.manual_seed(config.seed)
        started = time.time()
        try:
            metrics = experiment.run(ctx)
        except KeyboardInterrupt:
            raise RunInterrupted(run_dir) from None
        metrics = dict(metrics)
        metrics.setdefault("experiment", experiment.name)
        metrics["wall_seconds"] = time.time() - started
        write_json_atomic(run_dir / "metrics.json", metrics)
    return {"run_dir": str(run_dir), "metrics": metrics, "summary": experiment.summary(metrics)}
