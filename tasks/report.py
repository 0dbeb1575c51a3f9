"""``medgrad report RUN_DIR...``: a Markdown report comparing runs, with their figures.

Reads each run's config.json and metrics.json; one table row per run (test metrics with
their bootstrap 95% intervals), then each run's figures embedded as images.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

COLUMNS = ("auc", "acc", "balanced_accuracy", "sensitivity", "specificity")


def _cell(test: dict, key: str) -> str:
    value = test.get(key)
    if value is None:
        return "–"
    ci = test.get(f"{key}_ci")
    if ci:
        return f"{value:.3f} ({ci[0]:.3f}–{ci[1]:.3f})"
    return f"{value:.3f}"


def load_run(run_dir) -> dict:
    run_dir = Path(run_dir)
    for name in ("config.json", "metrics.json"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"report: {run_dir} is not a finished run (no {name})")
    return {
        "dir": run_dir,
        "config": json.loads((run_dir / "config.json").read_text()),
        "metrics": json.loads((run_dir / "metrics.json").read_text()),
    }


def write_report(run_dirs, out_path) -> str:
    """Write the Markdown report to ``out_path`` and return its path."""
    runs = [load_run(d) for d in run_dirs]
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# medgrad report", "",
             "Test-split metrics (bootstrap 95% intervals in brackets); models were selected on the "
             "validation split only.", ""]
    header = ["run", "experiment", "dataset", "model", "epochs", "train time (s)"] + list(COLUMNS)
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for r in runs:
        c, m = r["config"], r["metrics"]
        test = m.get("test", {})
        row = [r["dir"].name, c.get("experiment", ""), c.get("dataset", ""), c.get("model", ""),
               str(c.get("epochs", "")), f"{m.get('train_seconds', 0):.0f}"]
        row += [_cell(test, k) for k in COLUMNS]
        lines.append("| " + " | ".join(row) + " |")
    for r in runs:
        figures = sorted((r["dir"] / "figures").glob("*.png")) if (r["dir"] / "figures").is_dir() else []
        if not figures:
            continue
        lines += ["", f"## {r['dir'].name}", ""]
        for f in figures:
            rel = os.path.relpath(f, out_path.parent)
            lines.append(f"![{f.stem}]({rel})")
    out_path.write_text("\n".join(lines) + "\n")
    return str(out_path)
