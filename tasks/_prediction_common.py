"""What the prediction experiments (grading, regression, survival, connectome, response) share:
tabular clinical data with preprocessing fitted on the training split only, and network training
through the framework's ``fit`` in a sub-folder (one per cross-validation fold).

Tabular input (a CSV file with a header row). Each column is numeric when every non-missing
value parses as a number, otherwise categorical. Missing values are empty cells or one of
``NA NaN nan NULL . ?``. Preprocessing (``TabularPreprocessor``) is fitted on the training rows
only, then applied unchanged to validation and test rows, so nothing about them leaks in:

* numeric columns: missing values replaced by the training median, then standardised with the
  training mean and standard deviation (a constant column is dropped);
* categorical columns: missing values become the training mode; one-hot coding with the first
  (alphabetical) training category as the reference level, which is left out because models
  without an intercept (Cox) could not tell a full set of indicators from a constant; a category
  unseen in training codes as the reference.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from tasks.errors import UsageError

MISSING = {"", "na", "nan", "null", ".", "?", "none"}


@dataclasses.dataclass
class Table:
    """A CSV file's columns: ``numeric`` {name: float64 (N,) with NaN for missing} and
    ``categorical`` {name: (N,) object array of strings, None for missing}, in file order."""

    path: str
    columns: list
    numeric: dict
    categorical: dict
    n_rows: int


def read_table(path) -> Table:
    """Read a CSV file with a header row into typed columns (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UsageError(f"{path}: cannot read as CSV ({e})") from None
    if len(rows) < 2:
        raise UsageError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header) or "" in header:
        raise UsageError(f"{path}: column names must be non-empty and unique, got {header}")
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    bad = [i + 2 for i, r in enumerate(body) if len(r) != len(header)]
    if bad:
        raise UsageError(f"{path}: line {bad[0]} has a different number of cells than the header ({len(header)})")
    numeric, categorical = {}, {}
    for j, name in enumerate(header):
        cells = [r[j].strip() for r in body]
        missing = [c.lower() in MISSING for c in cells]
        try:
            values = np.array([np.nan if m else float(c) for c, m in zip(cells, missing)], dtype=np.float64)
            if not np.isfinite(values[~np.isnan(values)]).all():
                raise ValueError
            numeric[name] = values
        except ValueError:
            categorical[name] = np.array([None if m else c for c, m in zip(cells, missing)], dtype=object)
    return Table(str(path), header, numeric, categorical, len(body))


class TabularPreprocessor:
    """Imputation, standardisation and one-hot coding fitted on training rows only (module docstring)."""

    def fit(self, table: Table, columns, rows) -> TabularPreprocessor:
        self.numeric, self.categorical = [], []
        for name in columns:
            if name in table.numeric:
                v = table.numeric[name][rows]
                observed = v[~np.isnan(v)]
                if observed.size == 0:
                    continue  # nothing to learn from: every training value is missing
                median = float(np.median(observed))
                filled = np.where(np.isnan(v), median, v)
                std = float(filled.std())
                if std > 0:
                    self.numeric.append((name, median, float(filled.mean()), std))
            else:
                v = table.categorical[name][rows]
                observed = sorted({c for c in v if c is not None})
                if len(observed) < 2:
                    continue  # a single level carries no information
                counts = {c: int(np.sum(v == c)) for c in observed}
                mode = max(observed, key=lambda c: (counts[c], c == observed[0]))
                self.categorical.append((name, mode, observed))
        if not self.numeric and not self.categorical:
            raise UsageError(f"{table.path}: no usable covariate (every column is constant or missing in training)")
        return self

    @property
    def feature_names(self) -> list[str]:
        names = [n for n, *_ in self.numeric]
        for name, _, levels in self.categorical:
            names += [f"{name}={level}" for level in levels[1:]]
        return names

    def transform(self, table: Table, rows) -> np.ndarray:
        """(len(rows), F) float32 features."""
        cols = []
        for name, median, mean, std in self.numeric:
            v = table.numeric[name][rows]
            cols.append((np.where(np.isnan(v), median, v) - mean) / std)
        for name, mode, levels in self.categorical:
            v = np.array([mode if c is None else c for c in table.categorical[name][rows]], dtype=object)
            cols += [(v == level).astype(np.float64) for level in levels[1:]]
        return np.stack(cols, axis=1).astype(np.float32)


def column(table: Table, name: str, role: str) -> np.ndarray:
    """A numeric column (float64, NaN = missing) or UsageError naming the file and the column."""
    if name not in table.columns:
        raise UsageError(f"{table.path}: no {role} column {name!r}; columns are {', '.join(table.columns)}")
    if name in table.categorical:
        example = next(c for c in table.categorical[name] if c is not None and not _is_number(c))
        raise UsageError(f"{table.path}: {role} column {name!r} must be numeric, found text {example!r}")
    return table.numeric[name]


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def find_shared_file(relative: str, given: str | None) -> Path:
    """``given`` if set, else ``relative`` under $MEDGRAD_DATA_DIR, ../shared/data or ../../shared/data."""
    import os

    if given:
        return Path(given)
    roots = [os.environ.get("MEDGRAD_DATA_DIR"), "../shared/data",
             str(Path(__file__).resolve().parents[2] / "shared" / "data")]
    for root in roots:
        if root and (Path(root) / relative).is_file():
            return Path(root) / relative
    raise UsageError(f"cannot find {relative} under $MEDGRAD_DATA_DIR or ../shared/data; pass --data-file")


# ----------------------------------------------------------------------------------------- training
def fit_network(ctx, model, loss_fn, train, val, metrics, monitor: str, mode: str = "max", subdir: str | None = None,
                shuffle: bool = True, settings: dict | None = None):
    """Train ``model`` with the framework's ``fit`` on host arrays train = (x, y), val = (x, y).

    subdir: train inside ``<run>/<subdir>`` (its own checkpoints and history), for the extra models
    of cross-validation folds; the main model uses the run folder itself (and can resume).
    settings: training options resolved by the experiment where an option's default depends on the
    data (e.g. {"epochs": 300} for a table, 20 for images); they replace those options' values.
    Returns the FitResult; the model holds the weights of the best validation epoch.
    """
    from engine.data import DataLoader, TensorDataset
    from tasks.context import RunContext
    from tasks.options import Config
    from tasks.training import fit

    config = ctx.config if not settings else Config({**ctx.config.to_dict(), **settings})
    folder = ctx.run_dir if subdir is None else ctx.run_dir / subdir
    folder.mkdir(parents=True, exist_ok=True)
    run_ctx = ctx if subdir is None and not settings else RunContext(
        ctx.experiment, config, folder, ctx.resume_from if subdir is None else None)
    loader = DataLoader(TensorDataset(*train), batch_size=config.batch_size, shuffle=shuffle, seed=config.seed)
    val_loader = DataLoader(TensorDataset(*val), batch_size=max(len(val[0]), 1))
    return fit(run_ctx, model, loss_fn, loader, val_loader, metrics=metrics, monitor=monitor, mode=mode)


def radiomics(images: np.ndarray) -> np.ndarray:
    """Radiomics features (N, F) of single-channel 2D images (N, 1, H, W) inside an Otsu segmentation
    (the whole image where Otsu finds no foreground, e.g. a constant image): the classical
    baselines' input, computed without any ground-truth mask."""
    from tasks.features import extract_features, otsu_mask

    if images.ndim != 4 or images.shape[1] != 1:
        raise UsageError(f"the radiomics baseline needs single-channel 2D images (N, 1, H, W), got {images.shape}")
    masks = otsu_mask(images[:, 0])
    empty = ~masks.any(axis=(1, 2))
    masks[empty] = True
    return extract_features(images, masks)[0].astype(np.float64)


class Ridge:
    """Ridge regression y = X w + b minimising |y - X w - b|^2 + alpha |w|^2 (closed form; the
    intercept is not penalised). X: (N, F), y: (N,)."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = float(alpha)

    def fit(self, x, y) -> Ridge:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        self.x_mean, self.y_mean = x.mean(0), y.mean()
        xc = x - self.x_mean
        if x.shape[1] <= x.shape[0]:  # (X^T X + alpha I) w = X^T y
            self.coef = np.linalg.solve(xc.T @ xc + self.alpha * np.eye(x.shape[1]), xc.T @ (y - self.y_mean))
        else:  # many features (a vectorised connectome): the dual form, w = X^T (X X^T + alpha I)^-1 y
            self.coef = xc.T @ np.linalg.solve(xc @ xc.T + self.alpha * np.eye(x.shape[0]), y - self.y_mean)
        return self

    def predict(self, x) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.x_mean) @ self.coef + self.y_mean


def select_ridge(x_tr, y_tr, x_va, y_va, alphas=(0.1, 1.0, 10.0, 100.0, 1000.0)):
    """The Ridge with the lowest validation MAE over ``alphas``; returns (model, info)."""
    best, trials = None, []
    for alpha in alphas:
        model = Ridge(alpha).fit(x_tr, y_tr)
        mae = float(np.mean(np.abs(model.predict(x_va) - y_va)))
        trials.append({"alpha": alpha, "val_mae": mae})
        if best is None or mae < best[0]:
            best = (mae, alpha, model)
    return best[2], {"selected_alpha": best[1], "trials": trials}
