"""The course notebooks: the lessons exist in order, are committed without outputs, are lessons
(a QUICK switch, equations, exercises with hidden solutions), and run top to bottom.

Each notebook is executed with nbclient in a fresh python3 kernel, with notebooks/ as the working
directory and QUICK=1 in the environment (every notebook shrinks its data and epochs then). The
exercise checkers of notebooks/_course.py are tested here too: they must accept a right answer,
reject a wrong one, and report an unanswered exercise without raising.

The claims the lessons' text makes about their own results (CLAIMS below: "the perceptron converges on
the separable set", "k is chosen > 1", "the LSTM beats the RNN on every seed", ...) are checked after
a full-size run (no QUICK) of lessons 1-7 by the slow test; the claims that hold at any size are also
checked in the QUICK runs. So a lesson cannot say what its own run contradicts.
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
    "08_segmentation",
    "09_registration",
    "10_detection",
    "11_prediction",
    "12_enhancement",
    "13_reconstruction",
    "14_sequences_and_autoencoders",
    "15_interpretability_and_limits",
    "16_hyperparameters",
]
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 120
FULL_CELL_TIMEOUT_S = 900

# The claims of lessons 1-7, as Python expressions over the notebook's variables after a run, each with the
# sentence it checks. Full-size claims refer to the real data (BreastMNIST, PneumoniaMNIST, ECG200) that the
# text quotes; ANY_SIZE claims hold in QUICK mode and with the synthetic fallbacks too.
ANY_SIZE = "any size"
FULL = "full size"
CLAIMS = {
    "01_traditional_ml": [
        (ANY_SIZE, "y_train.mean() < 0.35", "most images are benign (imbalance), with real or fallback data"),
        (FULL, "best_k > 1", "k chosen by validation AUC is not the memorising k = 1"),
        (FULL, "val_bacc[-1] < val_bacc[0] - 0.1", "the majority vote's balanced accuracy falls with k"),
        (FULL, "val_bacc_prev[-1] > val_bacc[-1] + 0.02", "with the prevalence threshold it falls less"),
        (FULL, "min(val_auc) > 0.65", "the AUC stays well above 0.5 for large k"),
        (FULL, "deep_train_acc == 1.0", "a fully grown tree memorises the training set"),
        (FULL, "forest_val_auc > metrics.roc_auc(y_val, tree_score(deep_tree, f_val)) + 0.02",
         "the forest ends well above a fully grown single tree"),
        (FULL, "auc_by_size[-1] > auc_by_size[0] + 0.05", "more trees give a higher validation AUC"),
        (FULL, "all(h - lo > 0.1 for lo, h in test_ci.values())", "each test-AUC interval is more than +-0.05 wide"),
        (FULL, "metrics.sensitivity_specificity(y_test, (final_svm.decision_function(z_test) > 0).astype(int))[0]"
               " < 0.6", "the SVM's default threshold gives a low sensitivity"),
    ],
    "02_artificial_neuron": [
        (ANY_SIZE, "not separable", "the 300 phantoms are not linearly separable"),
        (ANY_SIZE, "not converged and min(mistakes[-10:]) > 0", "on them the perceptron never settles"),
        (ANY_SIZE, "1 - pocket_errors / len(y2) >= epoch_accuracy.max()", "the pocket keeps the best line"),
        (ANY_SIZE, "sep_mistakes[-1] == 0 and neuron_mistakes[-1] == 0",
         "on the clear-cut lesions the mistakes drop to zero (notebook code and models.perceptron)"),
        (ANY_SIZE, "sum(sep_mistakes) <= (R / gamma) ** 2", "Novikoff's bound holds"),
        (ANY_SIZE, "min(xor_mistakes) > 0", "the perceptron on XOR never converges"),
        (ANY_SIZE, "np.array_equal(p.detach().numpy().round(), y_xor)", "the 2-3-1 network learns XOR"),
    ],
    "03_automatic_differentiation": [
        (ANY_SIZE, "caught", "gradcheck catches the broken sigmoid"),
        (ANY_SIZE, "fd_errors['float64'][0].min() < 1e-9 and 1e-9 < fd_errors['float64'][1].min() < 1e-7",
         "float64: central differences reach 1e-10 or better, one-sided about 1e-8"),
        (ANY_SIZE, "1e-7 < fd_errors['float32'][0].min() < 1e-4", "float32: the best is some 1e-6 to 1e-5"),
    ],
    "04_multilayer_perceptrons": [
        (ANY_SIZE, "first_layer_norm['sigmoid'] < 1e-6", "sigmoid: the first layer gets a hundred-millionth"),
        (ANY_SIZE, "first_layer_norm['tanh + Xavier init'] > 10 * first_layer_norm['tanh'] and "
                   "first_layer_norm['ReLU + He init'] > 100 * first_layer_norm['ReLU (default init)']",
         "Xavier and He initialisation keep the first layer's gradient"),
        (FULL, "history[-1, 0] < 0.05 and history[-1, 2] > history[:, 2].min() + 0.2",
         "the training loss goes to zero while the validation loss rises"),
        (FULL, "abs(deep_histories['sigmoid'][-1, 0] - constant_loss) < 0.02",
         "the deep sigmoid network does not get below the constant answer"),
        (FULL, "max(deep_histories['ReLU + He init'][-1, 0], deep_histories['tanh + Xavier init'][-1, 0])"
               " < constant_loss - 0.15", "well-initialised tanh and ReLU networks drive the loss far lower"),
        (FULL, "np.all(final_val['L2, lambda = 0.01'][:, 0] < final_val['dropout 0.5'][:, 0]) and "
               "np.all(final_val['dropout 0.5'][:, 0] < final_val['plain'][:, 0])",
         "L2 lowest final validation loss on every seed, dropout in between"),
        (FULL, "abs(final_val['plain'][:, 1].mean() - final_val['L2, lambda = 0.01'][:, 1].mean()) < "
               "final_val['plain'][:, 1].std(ddof=1) + final_val['L2, lambda = 0.01'][:, 1].std(ddof=1)",
         "plain and L2 rank lesions equally well within their spreads"),
        (FULL, "bn_final < sig_final - 0.2", "batch norm makes the deep sigmoid network trainable"),
        (FULL, "opt_final['SGD, lr 0.05'][:, 0].mean() > opt_final['SGD + momentum 0.9, lr 0.05'][:, 0].mean() > "
               "opt_final['Adam, lr 1e-3'][:, 0].mean()", "momentum and Adam optimise faster than SGD"),
        (FULL, "np.ptp([v[:, 1].mean() for v in opt_final.values()]) < 0.05",
         "the optimisers' validation AUCs differ by little"),
        (FULL, "opt_final['Adam + cosine schedule'][:, 0].mean() > opt_final['Adam, lr 1e-3'][:, 0].mean()",
         "the cosine schedule ends at a higher training loss than constant-rate Adam"),
    ],
    "05_convolutional_networks": [
        (ANY_SIZE, "all(conv_backward_ok.values())", "conv backward = transposed convolution + weight product"),
        (ANY_SIZE, "lenet.num_parameters() == 61026", "LeNet-5 has 61,026 parameters"),
        (ANY_SIZE, "plain_norms[0] < 1e-4 * plain_norms[-1] and residual_norms[0] > 0.1 * residual_norms[-1]",
         "the residual blocks carry the gradient to the first layers, the plain stack does not"),
        (FULL, "test_auc > 0.859 and low < 0.859", "LeNet-5 above lesson 1's best, with overlapping intervals"),
        (FULL, "np.all(pre > rand)", "transfer from chest X-rays helps on every seed"),
    ],
    "06_autoencoders": [
        (FULL, "curve[-1, 1] > mse(pca_reconstruct(X['test']), X['test'])", "PCA is hard to beat"),
        (FULL, "np.median(sparse_active[1e-4]) < 0.5 * np.median(sparse_active[0.0]) and "
               "sparse_mse[1e-4] > sparse_mse[0.0]", "the L1 penalty halves the active units, at some cost"),
        (FULL, "fine_tune[-1] < from_scratch[-1]", "pre-trained + fine-tuned beats training from scratch"),
        (FULL, "best_width != 0.8 and max(val_psnr) - val_psnr[widths.index(0.8)] > 0.5",
         "tuning the filter matters (0.8 dB)"),
        (FULL, "0 < gain_low and gain.mean() < 1", "the AE beats the tuned filter, by a fraction of a decibel"),
        (FULL, "np.all(pca_codes.mean(1) < raw.mean(1))", "PCA codes are worse than raw pixels at every count"),
        (FULL, "np.all((ae_codes - raw).mean(1)[:4] > 0) and "
               "np.all((ae_codes - raw).mean(1)[:4] < 2 * (ae_codes - raw).std(1, ddof=1)[:4])",
         "AE codes gain a few hundredths, about one standard deviation"),
        (FULL, "all(0 < fine_tuned[(n, True)].mean() - fine_tuned[(n, False)].mean() <= 0.015 for n in ft_epochs)",
         "fine-tuning the pre-trained encoder is ahead by one hundredth or less"),
    ],
    "07_recurrent_networks": [
        (ANY_SIZE, "first_over_last[0.6] < 1e-20 and first_over_last[1.5] > 1",
         "rho = 0.6: a few times 1e-22; rho = 1.5 explodes"),
        (FULL, "np.all(aucs['LSTM'] > aucs['RNN'])", "the LSTM beats the RNN on seeds 0-2"),
        (FULL, "not np.all(aucs['GRU'] > aucs['RNN'])", "the GRU does not beat the RNN reliably"),
        (FULL, "max(aucs, key=lambda k: aucs[k].mean()) == 'bidirectional LSTM' and "
               "aucs['bidirectional LSTM'].std() < aucs['LSTM'].std()",
         "the bidirectional LSTM scores highest, with a small spread"),
        (FULL, "f_trained.mean() > f_init.mean() + 0.05 and reach_trained > 1e8 * reach_init",
         "training raises the forget gates and opens the gradient path (learned gating)"),
    ],
    "14_sequences_and_autoencoders": [
        (FULL, "metrics.accuracy(y_test, test_acc['1-NN Euclidean']) == 0.88",
         "1-NN Euclidean matches the archive's published ECG200 result (error 0.12)"),
        (FULL, "abs(metrics.accuracy(y_test, test_acc['1D CNN (FCN)']) - "
               "metrics.accuracy(y_test, test_acc['1-NN Euclidean'])) <= 0.05 and "
               "metrics.accuracy(y_test, test_acc['LSTM, hidden 64']) < "
               "metrics.accuracy(y_test, test_acc['1D CNN (FCN)']) - 0.03",
         "the 1D CNN is level with 1-NN on ECG200, the LSTM behind"),
        (FULL, "cyclic_frame_error(cine_results['lstm'][2], cines.es[te], 12).mean() < "
               "cyclic_frame_error(cine_results['pool'][2], cines.es[te], 12).mean()",
         "the CNN + LSTM finds the ES frame better than the frame-wise CNN"),
        (FULL, "np.abs(cine_results['Otsu (classical)'][0] - cines.ef[te]).mean() > "
               "max(np.abs(cine_results[m][0] - cines.ef[te]).mean() for m in ('pool', 'lstm')) and "
               "np.abs(cine_results['Otsu, calibrated'][0] - cines.ef[te]).mean() < "
               "np.abs(cine_results['Otsu (classical)'][0] - cines.ef[te]).mean()",
         "uncalibrated, the classical EF loses to the networks; calibration removes most of its bias"),
        (ANY_SIZE, "activity[3.0] < activity[0.0]", "the sparsity penalty lowers the units' activity"),
        (FULL, "activity[0.0] > 0.4 and activity[3.0] < 0.2", "mean activation from about 0.5 to below 0.2"),
    ],
    "15_interpretability_and_limits": [
        (ANY_SIZE, "sanity['image edges (control)']['final'] > 0.99 and not sanity['image edges (control)']['passes']",
         "the edge-detector control keeps a rank correlation of 1 and fails"),
        (FULL, "sanity['saliency']['passes'] and sanity['grad_cam']['passes'] and "
               "not sanity['integrated_gradients']['passes']",
         "saliency and Grad-CAM pass the sanity check; integrated gradients stay above 0.5 and fail"),
        (FULL, "np.all(completeness < 0.05)", "integrated gradients add up to the score difference"),
        (FULL, "max(faith['occlusion']['deletion_auc'], faith['lime']['deletion_auc']) < "
               "faith['saliency']['deletion_auc'] - 0.2 and "
               "abs(faith['saliency']['deletion_auc'] - faith['random map']['deletion_auc']) < 0.05",
         "occlusion and LIME delete the evidence fastest; gradients are close to a random ordering"),
        (FULL, "retrieval['network embedding']['map'] > retrieval['raw pixels']['map'] + 0.1",
         "the embedding retrieves same-class cases far better than pixels"),
        (FULL, "aucs[-1] > aucs[0] + 0.03", "the learning curve still rises at the full training set"),
    ],
    "16_hyperparameters": [
        (ANY_SIZE, "noise_best_test > 0.6 and noise_val_of_winner < noise_best_test - 0.08",
         "the best of 200 useless models looks good on the split it was chosen on, not elsewhere"),
        (ANY_SIZE, "random_best.mean() > grid_best.mean() + 0.2 and np.mean(random_best > grid_best) > 0.6",
         "random search finds the better learning rate far more often than a grid of the same size"),
        (ANY_SIZE, "sh_epochs < first * EPOCHS / 2", "successive halving trains under half the epochs"),
        (ANY_SIZE, "len(stopped_at) > 0 and used < n_configs * EPOCHS", "learning-curve termination stops some runs"),
        (ANY_SIZE, "sweep['early_termination']['stopped'] == 1 and "
                   "not sweep['early_termination']['verification']['best_changed']",
         "the sweep stops the hopeless learning rate, and running it to the end changes nothing"),
        (FULL, "rank > 5 and curves[hb_winner, -1] > curves[sh_winner, -1] and hb_epochs < 0.3 * n_configs * EPOCHS",
         "halving from one epoch keeps a mediocre configuration; Hyperband's pick is better for under 30% of epochs"),
        (FULL, "true_best in wrongly_stopped and curves[true_best, -1] - curves[lce_winner, -1] < 0.01 and "
               "0.3 < 1 - used / (n_configs * EPOCHS) < 0.45",
         "learning-curve termination saves about 37% but stops the eventual best, keeping one within 0.01"),
        (FULL, "fold_sd > 0.01 and np.mean(fold_auc['A']) < curves[true_best, -1] - 0.03 and "
               "abs(np.mean(fold_auc['A']) - np.mean(fold_auc['B'])) < fold_sd",
         "the validation winner cross-validates far lower, no better than the default within the fold spread"),
    ],
}


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


def _claims_cell(claims) -> str:
    """A code cell that evaluates every claim and fails naming the contradicted ones."""
    rows = "".join(f"    ({sentence!r}, lambda: {expression}),\n" for _, expression, sentence in claims)
    return ("_claims = [\n" + rows + "]\n"
            "_contradicted = [s for s, check in _claims if not check()]\n"
            "assert not _contradicted, 'the text says what this run contradicts: ' + '; '.join(_contradicted)\n")


def _execute(path: Path, monkeypatch, quick: bool, cell_timeout: int):
    """Run the notebook top to bottom (QUICK=1 or full size), then its claims for that size."""
    _kernel_or_skip()
    import nbformat
    from nbclient import NotebookClient

    if quick:
        monkeypatch.setenv("QUICK", "1")  # inherited by the kernel process
    else:
        monkeypatch.delenv("QUICK", raising=False)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # The lessons multiply small matrices, which BLAS threads do not speed up; on a busy CI machine
    # spinning threads slowed the training loops down 20-fold. One thread keeps the timing predictable.
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    claims = [c for c in CLAIMS.get(path.stem, []) if c[0] == ANY_SIZE or not quick]
    if claims:
        nb.cells.append(nbformat.v4.new_code_cell(_claims_cell(claims)))
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError naming the cell (or the contradicted claims) on any error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom_in_quick_mode(path, monkeypatch):
    _execute(path, monkeypatch, quick=True, cell_timeout=CELL_TIMEOUT_S)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_full_size_run_supports_the_text(name, monkeypatch):
    """Lessons 1-7 at full size (minutes each): every claim their text makes about the results holds.
    The numbers quoted are from the real data; without ../shared/data the full-size claims are skipped."""
    course = _load_course()
    if course.shared_data_dir() is None:
        pytest.skip("the real data (../shared/data or $MEDGRAD_DATA_DIR) is absent: the text quotes its results")
    _execute(NOTEBOOK_DIR / f"{name}.ipynb", monkeypatch, quick=False, cell_timeout=FULL_CELL_TIMEOUT_S)


def test_claims_refer_to_existing_lessons_and_can_fail():
    assert set(CLAIMS) <= set(COURSE)
    for name, claims in CLAIMS.items():
        for size, expression, sentence in claims:
            assert size in (ANY_SIZE, FULL) and sentence
            compile(expression, f"{name} claim", "eval")  # a syntax error would only show after minutes
    # the generated cell fails, naming the claim, when a claim is false
    namespace = {}
    with pytest.raises(AssertionError, match="two is three"):
        exec(_claims_cell([(ANY_SIZE, "1 + 1 == 3", "two is three"), (ANY_SIZE, "True", "fine")]), namespace)


# ---------------------------------------------------------------------------------------------
# The exercise checkers
# ---------------------------------------------------------------------------------------------


def _load_course():
    spec = importlib.util.spec_from_file_location("_course", NOTEBOOK_DIR / "_course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def course():
    return _load_course()


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
    assert ecg["y_train"].sum() == 69 and ecg["y_test"].sum() == 64  # ECG200's class counts

    monkeypatch.setenv("MEDGRAD_SYNTHETIC_DATA", "1")  # also hides ../shared/data from the MedMNIST search
    assert course.shared_data_dir() is None
    d = course.lesion_data(n_train=40, n_val=10, n_test=10, seed=0)
    assert "phantoms" in d["source"]
    assert d["x_train"].shape == (40, 1, 28, 28) and d["x_train"].dtype == np.float32
    assert set(np.unique(d["y_train"])) == {0, 1} and len(d["y_val"]) == 10
    full = course.lesion_data(seed=0)  # the phantoms are as imbalanced as BreastMNIST (lesson 1's text)
    assert abs(full["y_train"].mean() - 0.27) < 0.01 and abs(full["y_test"].mean() - 0.27) < 0.01
    chest = course.chest_xray_data(n_train=100)
    assert "phantoms" in chest["source"] and chest["x_train"].shape == (100, 1, 28, 28)
    assert set(np.unique(chest["y_test"])) == {0, 1}


def test_bootstrap_intervals(course):
    from tasks import metrics

    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.3).astype(int)
    good, noise = y + rng.normal(0, 0.5, 200), rng.normal(0, 1, 200)
    low, high = course.bootstrap_ci(metrics.roc_auc, y, good, n_boot=300)
    assert low < metrics.roc_auc(y, good) < high and 0.02 < high - low < 0.2
    low, high = course.paired_bootstrap_ci(metrics.roc_auc, y, good, noise, n_boot=300)
    assert low > 0.2  # a real difference excludes 0
    low, high = course.paired_bootstrap_ci(metrics.roc_auc, y, good, good, n_boot=50)
    assert low == high == 0.0
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
