"""One trial of a sweep: a normal run of the experiment (or K runs, one per cross-validation fold).

``run_trial`` is what every executor calls, in this process, in a local worker process or on a
Dask worker, so it takes only picklable arguments and returns a plain dict, the trial's outcome::

    {"score": 0.93,             # the validation metric (mean over folds with cross-validation)
     "status": "completed",     # | "stopped" (learning-curve termination) | "failed"
     "reason": "",              # why it stopped or failed
     "epochs_run": 9, "epochs_planned": 9,
     "fold_scores": [...], "score_sd": 0.02}   # with cross-validation only

The outcome is also written to ``trial.json`` in the trial's folder: a resumed sweep reads it and
does not run the trial again. A trial killed halfway continues from its last checkpoint.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import tarfile
from pathlib import Path

from tasks.errors import UsageError


def run_trial(spec: dict, quick: bool, params: dict, budget: dict, folder, best=None) -> dict:
    """Run (or read back) one trial into ``folder``; ``best``: the score to beat, for early termination."""
    from tasks.runfolder import write_json_atomic

    folder = Path(folder)
    saved = folder / "trial.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    options = {**spec["fixed"], **params, **budget}
    folds = spec.get("cv", {}).get("folds")
    if folds:
        runs = [_one_run(spec, quick, {**options, "cv_folds": folds, "fold": i}, folder / f"fold{i}", None)
                for i in range(1, folds + 1)]
        scores = [r["score"] for r in runs]
        mean = sum(scores) / folds
        outcome = {"score": mean, "status": "completed", "reason": "", "fold_scores": scores,
                   "score_sd": math.sqrt(sum((s - mean) ** 2 for s in scores) / (folds - 1)),
                   "epochs_run": _total(runs, "epochs_run"), "epochs_planned": _total(runs, "epochs_planned")}
    else:
        outcome = _one_run(spec, quick, options, folder, best)
    write_json_atomic(saved, outcome)
    return outcome


def _total(runs, key):
    values = [r[key] for r in runs]
    return None if None in values else sum(values)


def _one_run(spec, quick, options, folder: Path, best) -> dict:
    """One run of the experiment into ``folder``, watched by a learning-curve stopper when asked."""
    from engine.train.learning_curve import LearningCurveStopping
    from tasks.runner import resume_run, run_experiment
    from tasks.training import extra_callbacks

    early = spec.get("early_termination")
    stopper = None
    if early and best is not None:
        stopper = LearningCurveStopping(spec["metric"], spec["mode"], best=best, threshold=early["threshold"],
                                        min_epochs=early["min_epochs"], require_monitor=False)
    metrics_path = folder / "metrics.json"
    if not metrics_path.is_file():
        with extra_callbacks(*([stopper] if stopper else [])):
            if (folder / "checkpoints" / "last.npz").is_file():  # a trial killed halfway continues
                resume_run(folder, {"quiet": True})
            else:
                if folder.exists():  # a trial killed before its first checkpoint starts again
                    shutil.rmtree(folder)
                cli = {**options, "out": str(folder), "quiet": True, **({"quick": True} if quick else {})}
                run_experiment(spec["experiment"], cli)
    metrics = json.loads(metrics_path.read_text())
    key = spec["metric"][len("val_"):]
    value = metrics.get("val", {}).get(key)
    if value is None:
        raise UsageError(f"sweep: the runs of {spec['experiment']!r} report no validation metric {key!r}; "
                         f"their val section has {sorted(metrics.get('val', {}))}")
    history = folder / "history.jsonl"
    epochs_run = sum(1 for line in history.read_text().splitlines() if line.strip()) if history.is_file() else None
    outcome = {"score": float(value), "status": "completed", "reason": "", "epochs_run": epochs_run,
               "epochs_planned": epochs_run}
    if stopper is not None and (stopper.missing or not stopper.planned_epochs):
        outcome["reason"] = (f"not watched: the run logs no {spec['metric']} per epoch" if stopper.missing else
                             "not watched: this experiment does not train through tasks.training.fit")
    elif stopper is not None:
        outcome["epochs_planned"] = stopper.planned_epochs
        if stopper.stopped_epoch:
            outcome.update(status="stopped", probability=stopper.probability,
                           reason=f"learning curve: P(beat {best:.4g} at epoch {stopper.planned_epochs}) = "
                                  f"{stopper.probability:.3f} at epoch {stopper.stopped_epoch}")
    return outcome


# ------------------------------------------------------------------------------ remote run folders
def run_packed(fn, spec: dict, quick: bool, params: dict, budget: dict, folder, best=None) -> tuple[dict, bytes]:
    """``fn`` (run_trial or a stand-in) on a worker that cannot see the sweep folder: the trial runs in a
    temporary folder (``folder`` is where it will live at home) and comes back with its run folder as a
    gzipped tar, for ``unpack``."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="medgrad-trial-") as tmp:
        here = Path(tmp) / Path(folder).name
        outcome = fn(spec, quick, params, budget, here, best)
        here.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(here, arcname=".")
        return outcome, buffer.getvalue()


def unpack(archive: bytes, folder) -> None:
    """Unpack a ``run_trial_packed`` archive into ``folder`` (replaced whole, never half-written)."""
    folder = Path(folder)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(staging, filter="data")  # "data": no absolute paths, links out or devices
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
