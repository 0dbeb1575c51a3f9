"""What a sweep leaves in its folder: the results table, the best configuration, the compute that
learning-curve termination saved, and the figures.

Rows are the trials' records: {"trial", <budget option>, <hyperparameters>, <metric>, ["<metric>_sd"],
"status", "epochs_run", "epochs_planned", "reason", "folder"}.
"""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np


def pick_best(rows: list[dict], spec: dict) -> dict | None:
    """The best completed trial at the largest budget reached (a cheaper rung is not comparable); a
    trial stopped early or failed is never the best."""
    metric, budget_key = spec["metric"], spec.get("budget", {}).get("option")
    done = [r for r in rows if r["status"] == "completed" and math.isfinite(r[metric])]
    if budget_key:
        top = max((r[budget_key] for r in done), default=None)
        done = [r for r in done if r[budget_key] == top]
    if not done:
        return None
    return (max if spec["mode"] == "max" else min)(done, key=lambda r: r[metric])


def columns(spec: dict) -> list[str]:
    budget_key = spec.get("budget", {}).get("option")
    metric = spec["metric"]
    return ["trial", *([budget_key] if budget_key else []), *spec["space"], metric,
            *([f"{metric}_sd"] if spec.get("cv") else []), "status", "epochs_run", "reason", "folder"]


def tables(rows: list[dict], spec: dict) -> tuple[str, str]:
    """(CSV, Markdown) of the rows, in trial order."""
    cols = columns(spec)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(cols)
    writer.writerows([[r.get(c, "") for c in cols] for r in rows])
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return buffer.getvalue(), "\n".join(md) + "\n"


def early_termination_summary(rows: list[dict], full_rows: list[dict], spec: dict) -> dict:
    """Compute saved by learning-curve termination, and (when the stopped trials were also run to the end,
    ``full_rows``) whether the best configuration would have changed."""
    metric = spec["metric"]
    counted = [r for r in rows if r.get("epochs_run") is not None and r.get("epochs_planned") is not None]
    run, planned = sum(r["epochs_run"] for r in counted), sum(r["epochs_planned"] for r in counted)
    stopped = [r for r in rows if r["status"] == "stopped"]
    summary = {"trials": len(rows), "stopped": len(stopped), "epochs_run": run, "epochs_if_all_run_to_the_end": planned,
               "epochs_saved_fraction": (planned - run) / planned if planned else 0.0}
    if full_rows:
        best = pick_best(rows, spec)
        full = {r["folder"].removesuffix("-full"): r for r in full_rows}
        best_all = pick_best([full.get(r["folder"], r) if r["status"] == "stopped" else r for r in rows], spec)
        summary["verification"] = {
            "stopped_trials_run_to_the_end": len(full_rows),
            "their_final_scores": {r["folder"]: r[metric] for r in full_rows},
            "best_with_early_termination": None if best is None else {"trial": best["trial"], metric: best[metric]},
            "best_if_every_trial_ran_to_the_end": None if best_all is None else {"trial": best_all["trial"],
                                                                                  metric: best_all[metric]},
            "best_changed": best is not None and best_all is not None and best_all["folder"] != best["folder"],
        }
    return summary


def figures(out, rows: list[dict], spec: dict) -> list[str]:
    """The score against each hyperparameter, and every trial's validation curve (stopped ones marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tasks import figures as figs

    metric, space = spec["metric"], spec["space"]
    scored = [r for r in rows if math.isfinite(r[metric])]
    fig, axes = plt.subplots(1, len(space), figsize=(3.6 * len(space), 3), squeeze=False)
    for ax, (name, dist) in zip(axes[0], space.items()):
        for status, marker in (("completed", "o"), ("stopped", "x")):
            chosen = [r for r in scored if r["status"] == status]
            ax.plot([r[name] for r in chosen], [r[metric] for r in chosen], marker, alpha=0.6, label=status)
        if next(iter(dist)) == "log_uniform":
            ax.set_xscale("log")
        ax.set(xlabel=name, ylabel=metric)
    axes[0][0].legend(fontsize=7)
    paths = [figs._save(fig, out / "score_vs_hyperparameters.png")]
    curves = []
    for r in rows:
        for history in sorted((out / r["folder"]).glob("**/history.jsonl")):  # one per fold with cross-validation
            lines = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
            curves.append(([np.nan if row.get(metric) is None else row[metric] for row in lines], r["status"]))
    if curves:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for values, status in curves:
            stopped = status == "stopped"
            ax.plot(range(1, len(values) + 1), values, "--" if stopped else ".-", color="tab:red" if stopped else None,
                    alpha=0.5, lw=1)
            if stopped:
                ax.plot(len(values), values[-1], "x", color="tab:red")
        ax.set(xlabel="epoch", ylabel=metric, title="validation curves (red x: stopped by its learning curve)")
        paths.append(figs._save(fig, out / "learning_curves.png"))
    return paths


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
