"""The experiments ``medgrad run`` knows: name -> the module that defines ``EXPERIMENT``.

A plain table, imported by the CLI only; experiment modules never import it back, so there is
no import cycle. Modules are imported on first use, which keeps ``medgrad --help`` instant.
To add an experiment, add one line here (see tasks/README.md); a module defining several experiments
names the instance after a colon ("tasks.studies:DATA_SIZE").
"""

from __future__ import annotations

import importlib

from tasks.errors import UsageError

EXPERIMENTS: dict[str, str] = {
    "classification": "tasks.classification",
    "detection": "tasks.detection",
    "segmentation": "tasks.segmentation",
    "ecg-beats": "tasks.ecg_beats",
    "enhancement": "tasks.enhancement",
    "reconstruction": "tasks.reconstruction",
    "registration": "tasks.registration",
    "survival": "tasks.survival",
    "grading": "tasks.grading",
    "regression": "tasks.regression",
    "connectome": "tasks.connectome",
    "response": "tasks.response",
    "sequence": "tasks.sequence",
    "pretraining": "tasks.pretraining",
    "cine": "tasks.cine",
    "boundary": "tasks.boundary",
    "nuclei": "tasks.nuclei",
    "codes": "tasks.codes",
    "active-learning": "tasks.active_learning",
    "active-segmentation": "tasks.active_segmentation",
    "study-data-size": "tasks.studies:DATA_SIZE",
    "study-imbalance": "tasks.studies:IMBALANCE",
}


def get_experiment(name: str):
    """The Experiment instance registered as ``name``, or UsageError listing the known names."""
    if name not in EXPERIMENTS:
        raise UsageError(f"unknown experiment {name!r}; available: {', '.join(sorted(EXPERIMENTS))}")
    module_name, _, attribute = EXPERIMENTS[name].partition(":")  # "module" or "module:INSTANCE"
    module = importlib.import_module(module_name)
    experiment = getattr(module, attribute or "EXPERIMENT")
    if experiment.name != name:  # a registry typo would otherwise run the wrong task
        raise RuntimeError(f"tasks/registry.py maps {name!r} to {EXPERIMENTS[name]}, whose EXPERIMENT is "
                           f"{experiment.name!r}")
    return experiment
