"""The experiment registry: every medical task plugs into the runner by subclassing Experiment.

An experiment turns a RunConfig into results in a run folder. The runner (tasks/runner.py)
owns what is common: the folder, the saved config, seeding, resuming. The experiment owns
what is specific: its data, its models, its training and its metrics and figures.
"""

from __future__ import annotations


class Experiment:
    """Base class. Subclasses set ``name``, ``description`` and ``defaults`` and implement run()."""

    name = ""
    description = ""
    defaults: dict = {}  # option -> value used when the user gives none (epochs, lr, ...)
    quick: dict = {}  # option -> value under --quick

    def run(self, config, run_dir, resume_from=None) -> dict:
        """Train and evaluate; write everything under run_dir; return the metrics dict."""
        raise NotImplementedError


def _registry() -> dict[str, Experiment]:
    from tasks.classification import ClassificationExperiment

    experiments = [ClassificationExperiment()]
    return {e.name: e for e in experiments}


class _Lazy(dict):
    """Imports the experiments on first use, so `medgrad --help` stays instant."""

    def _load(self):
        if not super().__len__():
            self.update(_registry())

    def __getitem__(self, key):
        self._load()
        return super().__getitem__(key)

    def __contains__(self, key):
        self._load()
        return super().__contains__(key)

    def __iter__(self):
        self._load()
        return super().__iter__()

    def items(self):
        self._load()
        return super().items()

    def keys(self):
        self._load()
        return super().keys()


EXPERIMENTS = _Lazy()
