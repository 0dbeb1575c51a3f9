"""The course notebooks: the lessons exist in order, are committed without outputs, are lessons
(a QUICK switch, equations, exercises with hidden solutions), and run top to bottom.

Each notebook is executed with nbclient in a fresh python3 kernel, with notebooks/ as the working
directory and QUICK=1 in the environment (every notebook shrinks its data and epochs then). The
exercise checkers of notebooks/_course.py are tested here too: they must accept a right answer,
reject a wrong one, and report an unanswered exercise without raising.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
COURSE = [
    "01_traditional_ml",
    "02_artificial_neuron",
    "03_automatic_differentiation",
    "04_multilayer_perceptrons",
    "05_convolutional_networks",
    "06_autoencoders",
    "07_recurrent_networks",
    "09_registration",
    "13_reconstruction",
]
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 120


def _load(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _sources(nb: dict, cell_type: str) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"] if c["cell_type"] == cell_type]


def test_the_course_has_every_lesson_in_order():
    assert [p.stem for p in NOTEBOOKS] == COURSE
    readme = (NOTEBOOK_DIR / "README.md").read_text(encoding="utf-8")
    for name in COURSE:
        assert f"{name}.ipynb" in readme, f"notebooks/README.md does not list {name}.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = _load(path)
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} carry outputs or execution counts; clear them "
                       f"before committing (Jupyter: Edit > Clear All Outputs)")
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_is_a_lesson(path):
    nb = _load(path)
    code, markdown = _sources(nb, "code"), _sources(nb, "markdown")
    # the QUICK switch is read explicitly, near the top
    assert any('QUICK = os.environ.get("QUICK") == "1"' in c for c in code[:2]), \
        f"{path.name}: the first code cells must read QUICK from the environment"
    text = "\n".join(markdown)
    assert "$$" in text, f"{path.name}: no displayed equation"
    exercises = re.findall(r"^#+ Exercise \d", text, flags=re.MULTILINE)
    assert len(exercises) >= 2, f"{path.name}: {len(exercises)} exercises, expected at least 2"
    solutions = text.count("<details><summary>Solution</summary>")
    checkers = sum(len(re.findall(r"\bcheck_\w+\(", c)) > 0 for c in code)
    assert solutions + checkers >= len(exercises), f"{path.name}: exercises without a solution or checker"
    assert solutions >= 1, f"{path.name}: no hidden solution (<details><summary>Solution</summary>)"


def _kernel_or_skip():
    pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -e '.[dev]'): notebooks not run")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install -e '.[dev]'): notebooks not run")
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("no 'python3' Jupyter kernel is registered (python -m ipykernel install --user)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom_in_quick_mode(path, monkeypatch):
    _kernel_or_skip()
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("QUICK", "1")  # inherited by the kernel process
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # The lessons multiply small matrices, which BLAS threads do not speed up; on a busy CI machine
    # spinning threads slowed the training loops down 20-fold. One thread keeps the timing predictable.
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError naming the cell on any error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


# ---------------------------------------------------------------------------------------------
# The exercise checkers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def course():
    spec = importlib.util.spec_from_file_location("_course", NOTEBOOK_DIR / "_course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _not_implemented(*args):
    raise NotImplementedError


def test_checkers_report_unanswered_exercises_without_raising(course, capsys):
    assert course.check_knn_predict(_not_implemented) is False
    assert course.check_sigmoid_derivative(None) is False
    assert course.check_logic_gate("AND", None, None) is False
    assert course.check_backprop_by_hand(None, None, None) is False
    assert course.check_softsign_function(None) is False
    assert course.check_perceptron_step(lambda *a: 1 / 0) is False  # a crashing answer is reported
    out = capsys.readouterr().out
    assert out.count("not answered yet") == 5 and "ZeroDivisionError" in out


def test_knn_and_balanced_accuracy_checkers(course):
    def knn(X, y, q, k):
        return np.bincount(y[np.argsort(((X - q) ** 2).sum(1))[:k]]).argmax()

    assert course.check_knn_predict(knn)
    assert not course.check_knn_predict(lambda X, y, q, k: y[np.argsort(((X - q) ** 2).sum(1))[0]])
    assert course.check_balanced_accuracy(
        lambda t, p: (np.mean(p[t == 1] == 1) + np.mean(p[t == 0] == 0)) / 2)
    assert not course.check_balanced_accuracy(lambda t, p: np.mean(t == p))


def test_neuron_checkers(course):
    assert course.check_sigmoid_derivative(lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2)
    assert not course.check_sigmoid_derivative(lambda z: 1 / (1 + np.exp(-z)))

    def step(w, b, x, y, lr):
        e = y - float(w @ x + b > 0)
        return w + lr * e * x, b + lr * e

    assert course.check_perceptron_step(step)
    assert not course.check_perceptron_step(lambda w, b, x, y, lr: (w + lr * y * x, b + lr * y))
    assert course.check_logic_gate("AND", [1, 1], -1.5)
    assert course.check_logic_gate("NAND", [-1, -1], 1.5)
    assert not course.check_logic_gate("OR", [1, 1], -1.5)
    with pytest.raises(ValueError, match="gate"):
        course.check_logic_gate("MAYBE", [1, 1], 0)


def test_autodiff_checkers(course):
    import engine

    x, w, b, t = course.backprop_exercise_values()
    a = 1 / (1 + np.exp(-(w * x + b)))
    g = 2 * (a - t) * a * (1 - a)
    assert course.check_backprop_by_hand(g * x, g * w, g)
    assert not course.check_backprop_by_hand(g * w, g * x, g)

    class Softsign(engine.Function):
        def forward(self, v):
            return v / (1 + self.xp.abs(v))

        def backward(self, gy):
            return gy / (1.0 + self.inputs[0].abs()) ** 2

    class WrongBackward(Softsign):
        def backward(self, gy):
            return gy / (1.0 + self.inputs[0].abs())

    assert course.check_softsign_function(Softsign)
    assert not course.check_softsign_function(WrongBackward)
    assert not course.check_softsign_function(lambda v: v)  # not a Function subclass


def test_data_helpers_fall_back_to_synthetic_data(course, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDGRAD_DATA_DIR", str(tmp_path))  # an empty data folder: no real data there
    assert course.shared_data_dir() == tmp_path
    img, where = course.brain_slice()
    assert img.ndim == 2 and img.min() == 0 and img.max() == 1 and "Shepp-Logan" in where
    ecg = course.ecg_data()
    assert ecg["x_train"].shape == (100, 96) and ecg["x_train"].dtype == np.float32 and "synthetic" in ecg["source"]
    assert set(np.unique(ecg["y_train"])) == {0, 1}

    monkeypatch.setenv("MEDGRAD_SYNTHETIC_DATA", "1")  # also hides ../shared/data from the MedMNIST search
    assert course.shared_data_dir() is None
    d = course.lesion_data(n_train=40, n_val=10, n_test=10, seed=0)
    assert "phantoms" in d["source"]
    assert d["x_train"].shape == (40, 1, 28, 28) and d["x_train"].dtype == np.float32
    assert set(np.unique(d["y_train"])) == {0, 1} and len(d["y_val"]) == 10
    assert course.stratified_indices(np.r_[np.zeros(80), np.ones(20)], 10, seed=1).size == 10


def test_breastmnist_labels_are_flipped_so_that_malignant_is_positive(course):
    if course.synthetic_only() or course.shared_data_dir() is None:
        pytest.skip("BreastMNIST is not available (../shared/data/medmnist): real-data check skipped")
    from tasks.data.medmnist import find_medmnist_file, load_medmnist

    if find_medmnist_file("breastmnist", data_dir=course.shared_data_dir()) is None:
        pytest.skip("breastmnist.npz not found: real-data check skipped")
    d = course.lesion_data(source="breastmnist")
    raw = load_medmnist("breastmnist", "train", data_dir=course.shared_data_dir())
    assert raw.class_names[0] == "malignant"
    assert np.array_equal(d["y_train"], 1 - raw.targets())
    assert d["y_train"].mean() < 0.5  # malignant lesions are the minority
