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

``--workers N`` runs the independent trials of a round (all of grid/random, one rung of halving) in N
fresh processes, each with cores / N BLAS threads so that workers do not oversubscribe the CPU.

Every trial is a normal run folder under ``trials/``; the sweep folder holds ``results.csv`` and
``results.md`` (every trial, its parameters, budget and score), ``best_config.json`` (ready for
``medgrad run NAME --config``), ``sweep.json`` and two figures: the score against each hyperparameter and
every trial's validation curve. A killed sweep resumes: a trial whose folder already
holds metrics.json is read, not rerun.
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
    """Runs the trials of a spec into ``out``; ``objective`` (params, budget, trial_dir) -> score is the
    experiment's run by default and may be replaced (tests use a cheap function)."""

    def __init__(self, spec: dict, out, quick: bool = False, objective=None, quiet: bool = True, workers: int = 1):
        self.spec, self.out, self.quick, self.quiet = spec, Path(out), quick, quiet
        self.objective = objective or self._run_trial
        self.parallel = objective is None and workers > 1  # a stand-in objective (tests) runs in this process
        self.workers = workers
        self.rows: list[dict] = []

    def _run_trial(self, params: dict, budget: dict, trial_dir: Path) -> float:
        from tasks.runner import run_experiment

        metrics_path = trial_dir / "metrics.json"
        if not metrics_path.is_file():  # a finished trial of a resumed sweep is read, not rerun
            cli = {**self.spec["fixed"], **params, **budget, "out": str(trial_dir), "quiet": True}
            if self.quick:
                cli["quick"] = True
            run_experiment(self.spec["experiment"], cli)
        metrics = json.loads(metrics_path.read_text())
        key = self.spec["metric"][len("val_"):]
        value = metrics.get("val", {}).get(key)
        if value is None:
            raise UsageError(f"sweep: the runs of {self.spec['experiment']!r} report no validation metric {key!r}; "
                             f"their val section has {sorted(metrics.get('val', {}))}")
        return float(value)

    def evaluate(self, jobs: list[tuple[int, dict, dict]]) -> list[float]:
        """Scores of (trial, params, budget) jobs, in order; in ``workers`` processes when asked."""
        names = [f"trial{t:03d}" + "".join(f"-{k}{v}" for k, v in budget.items()) for t, _, budget in jobs]
        folders = [self.out / "trials" / name for name in names]
        if self.parallel and len(jobs) > 1:
            scores = self._pool_map(jobs, folders)
        else:
            scores = [self.objective(params, budget, folder) for (_, params, budget), folder in zip(jobs, folders)]
        for (t, params, budget), name, score in zip(jobs, names, scores):
            self.rows.append({"trial": t, **budget, **params, self.spec["metric"]: score, "folder": f"trials/{name}"})
        return scores

    def _pool_map(self, jobs, folders) -> list[float]:
        """Trials in fresh processes, each with its share of the cores for BLAS (no oversubscription)."""
        import multiprocessing
        import os
        from concurrent.futures import ProcessPoolExecutor

        threads = str(max(1, (os.cpu_count() or 1) // self.workers))
        saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
        os.environ.update({k: threads for k in THREAD_VARIABLES})  # inherited by the spawned workers
        try:
            with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [pool.submit(_trial_in_worker, self.spec, self.quick, params, budget, str(folder))
                           for (_, params, budget), folder in zip(jobs, folders)]
                return [f.result() for f in futures]
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def _better(self, scores):
        return np.argsort(scores)[::-1] if self.spec["mode"] == "max" else np.argsort(scores)

    def run(self) -> dict:
        spec = self.spec
        self.out.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(spec["seed"])
        method = spec["method"]
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
                        order = self._better(np.array(scores))
                        configs = [configs[i] for i in order[:rungs[k + 1][0]]]
        return self.write()

    def write(self) -> dict:
        from tasks.runfolder import write_json_atomic, write_text_atomic

        spec, metric = self.spec, self.spec["metric"]
        budget_key = spec.get("budget", {}).get("option")
        # the best configuration among the trials run at the largest budget (a cheap rung is not comparable)
        top = max((r.get(budget_key, 0) for r in self.rows), default=0) if budget_key else None
        finalists = [r for r in self.rows if budget_key is None or r.get(budget_key) == top]
        pick = max if spec["mode"] == "max" else min
        best = pick(finalists, key=lambda r: r[metric])
        params = {k: best[k] for k in spec["space"]}
        best_config = {**spec["fixed"], **params, **({budget_key: best[budget_key]} if budget_key else {})}
        columns = ["trial", *([budget_key] if budget_key else []), *spec["space"], metric, "folder"]
        csv = [",".join(columns)] + [",".join(str(r.get(c, "")) for c in columns) for r in self.rows]
        md = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        md += ["| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |" for r in self.rows]
        write_text_atomic(self.out / "results.csv", "\n".join(csv) + "\n")
        write_text_atomic(self.out / "results.md", "\n".join(md) + "\n")
        write_json_atomic(self.out / "best_config.json", best_config)
        figures = self._figures(metric)
        result = {"experiment": spec["experiment"], "method": spec["method"], "metric": metric,
                  "trials_run": len(self.rows), "best": {**best, "config": best_config}, "spec": spec,
                  "figures": figures}
        write_json_atomic(self.out / "sweep.json", result)
        return result


    def _figures(self, metric: str) -> list[str]:
        """score against each hyperparameter, and every trial's validation curve (where the runs kept one)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from tasks import figures

        space = self.spec["space"]
        fig, axes = plt.subplots(1, len(space), figsize=(3.6 * len(space), 3), squeeze=False)
        for ax, (name, dist) in zip(axes[0], space.items()):
            ax.plot([r[name] for r in self.rows], [r[metric] for r in self.rows], "o", alpha=0.6)
            if next(iter(dist)) == "log_uniform":
                ax.set_xscale("log")
            ax.set(xlabel=name, ylabel=metric)
        paths = [figures._save(fig, self.out / "score_vs_hyperparameters.png")]
        curves = []
        for r in self.rows:
            history = self.out / r["folder"] / "history.jsonl"
            if history.is_file():
                rows = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
                curves.append([row.get(metric) for row in rows])
        if curves:
            fig, ax = plt.subplots(figsize=(5.5, 3.6))
            for c in curves:
                ax.plot(range(1, len(c) + 1), [np.nan if v is None else v for v in c], ".-", alpha=0.5)
            ax.set(xlabel="epoch", ylabel=metric, title="validation curves of every trial")
            paths.append(figures._save(fig, self.out / "learning_curves.png"))
        return paths


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _trial_in_worker(spec, quick, params, budget, folder) -> float:
    """One trial in a worker process (module level, so that it can be sent to a spawned process)."""
    return Sweep(spec, Path(folder).parent.parent, quick=quick)._run_trial(params, budget, Path(folder))


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def run_sweep(spec_path, out=None, quick: bool = False, workers: int = 1) -> dict:
    """``medgrad sweep SPEC.json [--out DIR] [--quick] [--workers N]``."""
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    import time

    spec = load_spec(spec_path)
    out = Path(out) if out else Path("runs") / f"sweep-{Path(spec_path).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "spec.json"
    if saved.is_file() and json.loads(saved.read_text()) != spec:
        raise UsageError(f"--out {out}: holds a sweep with another spec; resume it with the same spec or use a new "
                         f"folder")
    saved.write_text(json.dumps(spec, indent=2))
    result = Sweep(spec, out, quick=quick, workers=workers).run()
    result["out"] = str(out)
    return result
