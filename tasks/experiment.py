"""The Experiment base class: what one medical task must say, and nothing more.

A task family is one module (``tasks/segmentation.py``, ...) that defines a subclass and an
instance named ``EXPERIMENT``, and is listed in ``tasks/registry.py``. The framework does the
rest: options and ``--help``, the run folder and its config.json, seeding, resume, metrics.json
and the final one-line summary. See tasks/README.md for a worked example.
"""

from __future__ import annotations

from tasks.options import COMMON, Option


class Experiment:
    """Subclasses set ``name``, ``description`` and ``options`` and implement ``run``.

    options: the experiment's own Options (data, model, training...). The framework adds
    ``COMMON`` (seed, device, out, quick, quiet, bootstrap).
    run(ctx) -> dict: train and evaluate; write figures under ``ctx.figures_dir``; return the
    metrics (JSON-able; the framework writes metrics.json atomically). By convention the dict
    has "val" and "test" sections and "baseline"/"model" descriptions where they apply.
    summary(metrics) -> str: the one line printed at the end (the headline test result).
    folder_name(config) -> str: the default run folder's prefix (e.g. "segmentation-anatomy-unet").
    """

    name: str = ""
    description: str = ""
    options: tuple[Option, ...] = ()

    def all_options(self) -> tuple[Option, ...]:
        own = {o.name for o in self.options}
        return tuple(self.options) + tuple(o for o in COMMON if o.name not in own)

    def run(self, ctx) -> dict:
        raise NotImplementedError(f"experiment {self.name!r} has no run()")

    def summary(self, metrics: dict) -> str:
        return f"{self.name}: finished"

    def folder_name(self, config) -> str:
        parts = [self.name] + [str(config.get(k)) for k in ("dataset", "model") if config.get(k) is not None]
        # a path given as a dataset (a user folder) contributes only its last part
        return "-".join(p.rstrip("/").split("/")[-1] for p in parts)
