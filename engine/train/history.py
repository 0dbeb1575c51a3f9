"""Training history: one row per epoch, kept in memory and written to CSV and JSON-lines.

A row holds ``epoch``, ``lr`` (the first parameter group's rate during the epoch), ``train_loss``,
the validation values ``val_loss``, ``val_<metric>``... and ``time`` (seconds for the epoch).

    history["val_loss"]      # one column, as a list (None where an epoch has no such value)
    history[-1]              # the last row, a dict
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from engine.train._atomic import atomic_write_text
from engine.train.callbacks import Callback

__all__ = ["History", "HistoryLogger"]


class History:
    """Per-epoch rows of logs (dicts of numbers)."""

    def __init__(self, rows=None):
        self.rows: list[dict] = [dict(r) for r in rows or []]

    def append(self, row: dict) -> None:
        self.rows.append(dict(row))

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, key):
        if isinstance(key, str):
            if not any(key in row for row in self.rows):
                raise KeyError(f"History: no column {key!r}; columns are {self.columns}")
            return [row.get(key) for row in self.rows]
        return self.rows[key]

    @property
    def columns(self) -> list[str]:
        """Every key, in order of first appearance."""
        seen: dict = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def to_csv(self) -> str:
        """The rows as CSV text (header = columns; empty cells for missing values)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
        return out.getvalue()

    def to_jsonl(self) -> str:
        """One JSON object per line (non-finite floats written as null: strict JSON)."""

        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return "".join(json.dumps({k: clean(v) for k, v in row.items()}) + "\n" for row in self.rows)

    def state_dict(self) -> dict:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state: dict) -> None:
        self.rows = [dict(r) for r in state["rows"]]

    def __repr__(self):
        return f"History({len(self.rows)} epochs, columns={self.columns})"


class HistoryLogger(Callback):
    """Write ``<directory>/<name>.csv`` and ``<directory>/<name>.jsonl`` after every epoch.

    The files are rewritten whole from ``trainer.history`` (atomically), so after a resume they
    hold exactly the resumed history, with no duplicated or orphaned rows from the interrupted run.
    """

    def __init__(self, directory, name: str = "history", csv: bool = True, jsonl: bool = True):
        if not (csv or jsonl):
            raise ValueError("HistoryLogger: csv and jsonl are both False: nothing to write")
        self.directory, self.name, self.csv, self.jsonl = Path(directory), name, csv, jsonl

    @property
    def csv_path(self) -> Path:
        return self.directory / f"{self.name}.csv"

    @property
    def jsonl_path(self) -> Path:
        return self.directory / f"{self.name}.jsonl"

    def _write(self, history: History) -> None:
        if self.csv:
            atomic_write_text(self.csv_path, history.to_csv())
        if self.jsonl:
            atomic_write_text(self.jsonl_path, history.to_jsonl())

    def on_train_begin(self, trainer):
        self._write(trainer.history)

    def on_epoch_end(self, trainer, epoch, logs):
        self._write(trainer.history)
