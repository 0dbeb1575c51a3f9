"""Hyperparameter sweeps over any experiment: grid, random search, successive halving and Hyperband.

A sweep is described by a JSON SPEC (example: tasks/sweeps/lesions_vgg.json)::

    {"experiment": "classification",
     "fixed": {"n_samples": 1000, "model": "vgg"},
     "space": {"lr": {"log_uniform": [1e-4, 1e-2]}, "width": {"choice": [8, 16]},
               "weight_decay": {"uniform": [0, 1e-3]}, "batch_size": {"int": [16, 64]}},
     "metric": "val_auc", "mode": "max",
     "method": "hyperband", "trials": 8, "seed": 0,
     "budget": {"option": "epochs", "min": 1, "max": 9, "eta": 3}}

* ``metric`` must be a *validation* metric, ``val_<key>`` of the run's metrics.json "val" section; a
  test metric is refused: choosing hyperparameters on the test split makes its numbers lie.
* ``grid`` takes every combination of ``choice`` values (and ``grid_points`` evenly spaced values of a
  continuous dimension); ``random`` draws ``trials`` configurations.
* ``halving`` (successive halving, Jamieson & Talwalkar 2016) runs ``trials`` random configurations at the
  smallest budget, keeps the best 1/eta, multiplies their budget by eta, and so on up to ``max``;
  ``hyperband`` (Li et al., JMLR 18, 2018) runs several halving brackets that trade the number of
  configurations against the budget each starts with, s = s_max..0 with s_max = floor(log_eta(max/min)):
  bracket s starts n = ceil((s_max + 1) eta^s / (s + 1)) configurations at budget max eta^-s.
  Every rung is a fresh run at its budget (the learning-rate schedule depends on the epochs).

* ``"early_termination": {"threshold": 0.05, "min_epochs": 4, "verify": false}`` watches every trial's
  validation curve, extrapolates it with an ensemble of parametric learning curves and stops the trial
  when P(its last epoch beats the best finished trial at the same budget) < threshold (Domhan et al.,
  IJCAI 2015; engine/train/learning_curve.py). ``verify`` also runs every stopped trial to the end
  (folders ``...-full``) and reports whether the best configuration would have changed.
* ``"cv": {"folds": 5}`` scores a trial by k-fold cross-validation of the pooled train+val data
  (stratified, patient groups kept whole; tasks/crossval.py): the mean over folds, with its spread.
  The experiment must have the ``--cv-folds``/``--fold`` options (classification has).

Where trials run (tasks/sweep_executors.py): one after another here; ``--workers N`` in N fresh
processes, each with cores / N BLAS threads so that workers do not oversubscribe the CPU;
``--scheduler tcp://HOST:PORT`` on a Dask cluster (extra ``distributed``), run folders sent back to
the sweep folder, or written there directly with ``--shared`` when every worker sees it. A trial
that raised or lost its worker is tried once more (Dask) and then recorded as failed, never dropped.
Trials of a round run as slots free up, each started with the best score finished so far.

Every trial is a normal run folder under ``trials/``; the sweep folder holds ``results.csv`` and
``results.md`` (every trial, its parameters, budget, score, status and why it stopped),
``best_config.json`` (ready for ``medgrad run NAME --config``), ``sweep.json`` (with the compute that
early termination saved) and two figures: the score against each hyperparameter and every trial's
validation curve, stopped ones marked. A killed sweep resumes: a finished trial (its trial.json)
is read, not rerun; a trial killed halfway continues from its last checkpoint.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np

from tasks.errors import UsageError

METHODS = ("grid", "random", "halving", "hyperband")
DISTRIBUTIONS = ("choice", "uniform", "log_uniform", "int")


# ------------------------------------------------------------------------------------------ the spec
def load_spec(path) -> dict:
    """The SPEC at ``path``, checked against its experiment's options; UsageError names what is wrong."""
    from tasks.registry import get_experiment

    path = Path(path)
    try:
        spec = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"sweep spec {path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"sweep spec {path}: not valid JSON ({e})") from None
    where = f"sweep spec {path}"
    for key in ("experiment", "space", "metric"):
        if key not in spec:
            raise UsageError(f"{where}: missing {key!r}")
    experiment = get_experiment(spec["experiment"])
    options = {o.name: o for o in experiment.all_options()}
    for name in [*spec.get("fixed", {}), *spec["space"]]:
        if name not in options:
            raise UsageError(f"{where}: experiment {spec['experiment']!r} has no option {name!r}")
    if not spec["space"]:
        raise UsageError(f"{where}: the search space is empty")
    for name, dist in spec["space"].items():
        if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
            raise UsageError(f"{where}: {name!r} must be one of {{{', '.join(DISTRIBUTIONS)}: ...}}, got {dist!r}")
        kind, values = next(iter(dist.items()))
        if kind == "choice" and (not isinstance(values, list) or not values):
            raise UsageError(f"{where}: {name!r}: choice needs a non-empty list")
        if kind != "choice" and (not isinstance(values, list) or len(values) != 2 or not values[0] < values[1]
                                 or (kind == "log_uniform" and values[0] <= 0)):
            raise UsageError(f"{where}: {name!r}: {kind} needs [low, high] with low < high"
                             + (" and low > 0" if kind == "log_uniform" else ""))
    metric = spec["metric"]
    if not isinstance(metric, str) or not metric.startswith("val_"):
        raise UsageError(f"{where}: metric must be a validation metric 'val_<name>' (hyperparameters are never "
                         f"chosen on the test split), got {metric!r}")
    spec.setdefault("mode", "max")
    if spec["mode"] not in ("max", "min"):
        raise UsageError(f"{where}: mode must be max or min, got {spec['mode']!r}")
    spec.setdefault("method", "random")
    if spec["method"] not in METHODS:
        raise UsageError(f"{where}: method must be one of {', '.join(METHODS)}, got {spec['method']!r}")
    spec.setdefault("trials", 8)
    spec.setdefault("seed", 0)
    spec.setdefault("fixed", {})
    _check_early_termination(spec, where)
    _check_cv(spec, options, where)
    if spec["method"] in ("halving", "hyperband"):
        budget = spec.get("budget")
        if not isinstance(budget, dict) or budget.get("option") not in options or \
                options[budget["option"]].type is not int:
            raise UsageError(f"{where}: {spec['method']} needs budget {{option: an integer option such as 'epochs', "
                             f"min, max, eta}}")
        budget.setdefault("eta", 3)
        if not (1 <= budget.get("min", 0) <= budget.get("max", 0)) or budget["eta"] < 2:
            raise UsageError(f"{where}: budget needs 1 <= min <= max and eta >= 2, got {budget}")
    return spec


def _check_early_termination(spec: dict, where: str) -> None:
    early = spec.get("early_termination")
    if early is None or early is False:
        spec.pop("early_termination", None)
        return
    early = {} if early is True else early
    allowed = {"threshold", "min_epochs", "verify"}
    if not isinstance(early, dict) or set(early) - allowed:
        raise UsageError(f"{where}: early_termination must be true or {{threshold, min_epochs, verify}}, got {early!r}")
    early = {"threshold": 0.05, "min_epochs": 4, "verify": False, **early}
    if not (isinstance(early["threshold"], (int, float)) and 0 < early["threshold"] < 1):
        raise UsageError(f"{where}: early_termination threshold must be in (0, 1), got {early['threshold']!r}")
    if not (isinstance(early["min_epochs"], int) and early["min_epochs"] >= 1):
        raise UsageError(f"{where}: early_termination min_epochs must be an integer >= 1, got {early['min_epochs']!r}")
    spec["early_termination"] = early


def _check_cv(spec: dict, options: dict, where: str) -> None:
    cv = spec.get("cv")
    if cv is None:
        return
    if not isinstance(cv, dict) or set(cv) != {"folds"} or not isinstance(cv["folds"], int) or cv["folds"] < 2:
        raise UsageError(f"{where}: cv must be {{\"folds\": K}} with K >= 2, got {cv!r}")
    if "cv_folds" not in options or "fold" not in options:
        raise UsageError(f"{where}: experiment {spec['experiment']!r} has no --cv-folds/--fold options, so its trials "
                         f"cannot be cross-validated")
    if {"cv_folds", "fold"} & (set(spec["fixed"]) | set(spec["space"])):
        raise UsageError(f"{where}: cv_folds and fold are set by the sweep's cv, not by fixed or space")
    if "early_termination" in spec:
        raise UsageError(f"{where}: cv and early_termination cannot be combined (a fold's curve is not the "
                         f"trial's score); use one")


def sample(space: dict, rng: np.random.Generator) -> dict:
    """One random configuration of the search space."""
    out = {}
    for name, dist in space.items():
        kind, values = next(iter(dist.items()))
        if kind == "choice":
            out[name] = values[int(rng.integers(len(values)))]
        elif kind == "uniform":
            out[name] = float(rng.uniform(*values))
        elif kind == "log_uniform":
            out[name] = float(math.exp(rng.uniform(math.log(values[0]), math.log(values[1]))))
        else:
            out[name] = int(rng.integers(values[0], values[1] + 1))
    return out


def grid(space: dict, points: int = 3) -> list[dict]:
    """Every combination: choice values as given, ``points`` values across a continuous range."""
    axes = []
    for name, dist in space.items():
        kind, values = next(iter(dist.items()))
        if kind == "choice":
            axes.append([(name, v) for v in values])
        elif kind == "int":
            axes.append([(name, int(v)) for v in np.unique(np.linspace(values[0], values[1], points).round())])
        elif kind == "uniform":
            axes.append([(name, float(v)) for v in np.linspace(values[0], values[1], points)])
        else:
            axes.append([(name, float(v)) for v in np.geomspace(values[0], values[1], points)])
    return [dict(combo) for combo in itertools.product(*axes)]


def hyperband_brackets(r_min: int, r_max: int, eta: int) -> list[list[tuple[int, int]]]:
    """For each bracket s = s_max..0: its rungs [(configurations, budget), ...] (Li et al. 2018)."""
    s_max = int(math.floor(math.log(r_max / r_min, eta) + 1e-9))
    brackets = []
    for s in range(s_max, -1, -1):
        n = int(math.ceil((s_max + 1) * eta ** s / (s + 1)))
        rungs = []
        for i in range(s + 1):
            budget = int(round(r_max * eta ** (i - s)))
            rungs.append((max(1, int(n * eta ** (-i))), max(r_min, budget)))
        brackets.append(rungs)
    return brackets


def halving_rungs(n: int, r_min: int, r_max: int, eta: int) -> list[tuple[int, int]]:
    """Successive halving from n configurations at r_min: [(configurations, budget), ...] up to r_max."""
    rungs, budget = [], r_min
    while True:
        rungs.append((max(1, n), min(budget, r_max)))
        if budget >= r_max or n <= 1:
            return rungs
        n, budget = n // eta, budget * eta


# ------------------------------------------------------------------------------------------ running
class Sweep:
    """Runs the trials of a spec into ``out``.

    objective(spec, quick, params, budget, folder, best) -> outcome dict (or a bare score) runs one
    trial; default ``tasks.sweep_trial.run_trial``, the experiment itself (tests pass cheap stand-ins).
    workers > 1: local processes; scheduler: a Dask scheduler's address (``shared``: its workers see
    ``out``).
    """

    def __init__(self, spec: dict, out, quick: bool = False, objective=None, workers: int = 1,
                 scheduler: str | None = None, shared: bool = False):
        from tasks.sweep_trial import run_trial

        # absolute: a Dask worker with a shared file system resolves a relative path against its own cwd
        self.spec, self.out, self.quick = spec, Path(out).resolve(), quick
        self.objective = objective or run_trial
        self.workers, self.scheduler, self.shared = workers, scheduler, shared
        self.rows: list[dict] = []  # every trial of the search, as it finished
        self.full_rows: list[dict] = []  # stopped trials run to the end (early_termination verify)

    def _executor(self):
        from tasks import sweep_executors as ex

        if self.scheduler:
            return ex.DaskCluster(self.scheduler, self.out, self.shared)
        return ex.LocalProcesses(self.workers) if self.workers > 1 else ex.InProcess()

    def best_score(self, budget: dict) -> float | None:
        """The best finished score among the trials with this budget (what a watched trial must beat)."""
        scores = [r[self.spec["metric"]] for r in self.rows
                  if r["status"] == "completed" and all(r.get(k) == v for k, v in budget.items())
                  and math.isfinite(r[self.spec["metric"]])]
        return None if not scores else (max(scores) if self.spec["mode"] == "max" else min(scores))

    def evaluate(self, jobs: list[tuple[int, dict, dict]], suffix: str = "", watch: bool = True) -> list[float]:
        """Scores of (trial, params, budget) jobs, in order. Trials start as slots free up, each with the
        best score finished so far; a trial that raised is retried (``executor.attempts``) and then recorded
        as failed."""
        names = [f"trial{t:03d}" + "".join(f"-{k}{v}" for k, v in budget.items()) + suffix for t, _, budget in jobs]
        rows = self.rows if watch else self.full_rows
        spec = self.spec if watch else {k: v for k, v in self.spec.items() if k != "early_termination"}
        scores = [math.nan] * len(jobs)
        waiting, running = list(range(len(jobs))), {}

        def submit(i, attempt):
            _, params, budget = jobs[i]
            best = self.best_score(budget) if watch else None
            handle = self.executor.submit(self.objective, spec, self.quick, params, budget,
                                          str(self.out / "trials" / names[i]), best)
            running[handle] = (i, attempt)

        while waiting or running:
            while waiting and len(running) < self.executor.slots:
                submit(waiting.pop(0), 1)
            for handle, result, error in self.executor.wait_any(list(running)):
                i, attempt = running.pop(handle)
                t, params, budget = jobs[i]
                if isinstance(error, UsageError):
                    raise error  # a user mistake is the same in every trial
                if error is not None and attempt < self.executor.attempts:
                    self._say(f"trial {t}: {_one_line(error)}; trying it once more")
                    submit(i, attempt + 1)
                    continue
                if error is not None:
                    self._say(f"trial {t}: failed after {attempt} attempt(s): {_one_line(error)}")
                    outcome = {"score": math.nan, "status": "failed", "reason": _one_line(error)}
                else:
                    outcome = self.executor.finish(handle, self.out / "trials" / names[i], result)
                    if not isinstance(outcome, dict):
                        outcome = {"score": float(outcome), "status": "completed", "reason": ""}
                rows.append({"trial": t, **budget, **params, self.spec["metric"]: outcome["score"],
                             **({f"{self.spec['metric']}_sd": outcome["score_sd"]} if "score_sd" in outcome else {}),
                             "status": outcome["status"], "epochs_run": outcome.get("epochs_run"),
                             "epochs_planned": outcome.get("epochs_planned"), "reason": outcome.get("reason", ""),
                             "folder": f"trials/{names[i]}"})
                scores[i] = outcome["score"]
        return scores

    def _say(self, message: str) -> None:
        import sys

        print(f"medgrad sweep: {message}", file=sys.stderr)

    def _ranked(self, scores) -> np.ndarray:
        """Indices from best to worst; a failed trial (nan) is last."""
        s = np.asarray(scores, dtype=np.float64)
        s = np.where(np.isfinite(s), s, -np.inf if self.spec["mode"] == "max" else np.inf)
        return np.argsort(-s, kind="stable") if self.spec["mode"] == "max" else np.argsort(s, kind="stable")

    def run(self) -> dict:
        spec = self.spec
        self.out.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(spec["seed"])
        method = spec["method"]
        self.executor = self._executor()
        try:
            if method == "grid":
                self.evaluate([(t, p, {}) for t, p in enumerate(grid(spec["space"], spec.get("grid_points", 3)))])
            elif method == "random":
                self.evaluate([(t, sample(spec["space"], rng), {}) for t in range(spec["trials"])])
            else:
                b = spec["budget"]
                brackets = (hyperband_brackets(b["min"], b["max"], b["eta"]) if method == "hyperband"
                            else [halving_rungs(spec["trials"], b["min"], b["max"], b["eta"])])
                next_id = 0
                for rungs in brackets:
                    configs = [(next_id + i, sample(spec["space"], rng)) for i in range(rungs[0][0])]
                    next_id += len(configs)
                    for k, (n_keep, budget) in enumerate(rungs):
                        configs = configs[:n_keep]
                        scores = self.evaluate([(t, p, {b["option"]: budget}) for t, p in configs])
                        if k + 1 < len(rungs):
                            configs = [configs[i] for i in self._ranked(scores)[:rungs[k + 1][0]]]
            if spec.get("early_termination", {}).get("verify"):
                stopped = [r for r in self.rows if r["status"] == "stopped"]
                budget_key = spec.get("budget", {}).get("option")
                self.evaluate([(r["trial"], {k: r[k] for k in spec["space"]},
                                {budget_key: r[budget_key]} if budget_key else {}) for r in stopped],
                              suffix="-full", watch=False)
        finally:
            self.executor.close()
        return self.write()

    def write(self) -> dict:
        from tasks import sweep_report as report
        from tasks.runfolder import write_json_atomic, write_text_atomic

        spec, metric = self.spec, self.spec["metric"]
        budget_key = spec.get("budget", {}).get("option")
        self.rows.sort(key=lambda r: (r.get(budget_key, 0) if budget_key else 0, r["trial"]))
        csv, md = report.tables(self.rows, spec)
        best = report.pick_best(self.rows, spec)
        result = {"experiment": spec["experiment"], "method": spec["method"], "metric": metric,
                  "trials_run": len(self.rows), "failed": sum(r["status"] == "failed" for r in self.rows),
                  "best": None, "spec": spec}
        if best is not None:
            config = {**spec["fixed"], **{k: best[k] for k in spec["space"]},
                      **({budget_key: best[budget_key]} if budget_key else {})}
            result["best"] = {**best, "config": config}
            write_json_atomic(self.out / "best_config.json", config)
        if "early_termination" in spec:
            result["early_termination"] = report.early_termination_summary(self.rows, self.full_rows, spec)
            if self.full_rows:
                md += "\n**Stopped trials run to the end** (early_termination verify)\n\n" + \
                      report.tables(self.full_rows, spec)[1]
        write_text_atomic(self.out / "results.csv", csv)
        write_text_atomic(self.out / "results.md", md)
        result["figures"] = report.figures(self.out, self.rows, spec)
        write_json_atomic(self.out / "sweep.json", result)
        return result


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


def run_sweep(spec_path, out=None, quick: bool = False, workers: int = 1, scheduler: str | None = None,
              shared: bool = False) -> dict:
    """``medgrad sweep SPEC.json [--out DIR] [--quick] [--workers N | --scheduler tcp://HOST:PORT [--shared]]``."""
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if scheduler and workers > 1:
        raise UsageError("--workers and --scheduler exclude each other: the cluster's workers run the trials")
    if shared and not scheduler:
        raise UsageError("--shared goes with --scheduler (it says the cluster's workers see the sweep folder)")
    import time

    spec = load_spec(spec_path)
    out = Path(out) if out else Path("runs") / f"sweep-{Path(spec_path).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "spec.json"
    if saved.is_file() and json.loads(saved.read_text()) != spec:
        raise UsageError(f"--out {out}: holds a sweep with another spec; resume it with the same spec or use a new "
                         f"folder")
    saved.write_text(json.dumps(spec, indent=2))
    result = Sweep(spec, out, quick=quick, workers=workers, scheduler=scheduler, shared=shared).run()
    result["out"] = str(out)
    return result
