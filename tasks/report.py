"""``medgrad report RUN_DIR...``: a Markdown report comparing runs, with their figures.

Reads each run's config.json and metrics.json; one table row per run (test metrics with
their bootstrap 95% intervals), then each run's figures embedded as images.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tasks.errors import UsageError

PREFERRED = ("auc", "acc", "balanced_accuracy", "sensitivity", "specificity")
SKIP = ("n", "n_boot")


def _columns(runs) -> list[str]:
    """The test metrics to tabulate: every number any run reports (each experiment has its own)."""
    seen: list[str] = []
    for r in runs:
        for key, value in r["metrics"].get("test", {}).items():
            if (isinstance(value, (int, float)) and not isinstance(value, bool) and key not in SKIP
                    and not key.endswith("_undefined") and key not in seen):
                seen.append(key)
    return [k for k in PREFERRED if k in seen] + [k for k in seen if k not in PREFERRED]


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
    out = {"dir": run_dir}
    for name in ("config.json", "metrics.json"):
        path = run_dir / name
        if not path.is_file():
            raise UsageError(f"report: {run_dir} is not a finished run (no {name})")
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UsageError(f"report: {path} is unreadable ({e})") from None
        if not isinstance(value, dict):
            raise UsageError(f"report: {path} does not hold a JSON object")
        out[name.split(".")[0]] = value
    return out


def write_report(run_dirs, out_path) -> str:
    """Write the Markdown report to ``out_path`` and return its path."""
    runs = [load_run(d) for d in run_dirs]
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# medgrad report", "",
             "Test-split metrics (bootstrap 95% intervals in brackets); models were selected on the "
             "validation split only.", ""]
    columns = _columns(runs)
    header = ["run", "experiment", "dataset", "model", "epochs", "train time (s)"] + columns
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for r in runs:
        c, m = r["config"], r["metrics"]
        test = m.get("test", {})
        row = [r["dir"].name, c.get("experiment", ""), c.get("dataset", ""), c.get("model", ""),
               str(c.get("epochs", "")), f"{m.get('train_seconds') or 0:.0f}"]
        row += [_cell(test, k) for k in columns]
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
