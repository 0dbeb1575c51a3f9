"""medgrad run sequence: heartbeat and time-series classification, networks against the UCR baselines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tasks.cli import main

ECG = Path(__file__).resolve().parents[3] / "shared" / "data" / "ecg"
needs_ucr = pytest.mark.skipif(not (ECG / "ucr" / "ECG200_TRAIN.txt").is_file(), reason=f"ECG200 not in {ECG}")
needs_mitdb = pytest.mark.skipif(not (ECG / "mitdb_100" / "100.dat").is_file(), reason=f"record 100 not in {ECG}")


def run(tmp_path, *args, name="r"):
    out = tmp_path / name
    code = main(["run", "sequence", "--quiet", "--bootstrap", "100", "--out", str(out), *args])
    return code, (json.loads((out / "metrics.json").read_text()) if code == 0 else None), out


def write_ucr(path, x, y, sep=" "):
    path.write_text("".join(sep.join(f"{v:g}" for v in [label, *row]) + "\n" for label, row in zip(y, x)))
    return path


def three_class_series(n, length, rng):
    """A sine, a square wave and a sawtooth with a small random phase and noise: classes 5, 7 and 9."""
    t = np.linspace(0, 1, length)
    y = np.repeat([5, 7, 9], n // 3)
    phase = rng.uniform(0, 0.05, (len(y), 1))
    arg = 2 * np.pi * (3 * t[None] + phase)
    x = np.where(y[:, None] == 5, np.sin(arg), np.where(y[:, None] == 7, np.sign(np.sin(arg)),
                                                        (3 * t[None] + phase) % 1 * 2 - 1))
    return x + rng.normal(0, 0.3, x.shape), y


# ---------------------------------------------------------------------------------------------- levels
# Measured (seed 0, 400 synthetic beats, 600 updates): test balanced accuracy / AUC
#   cnn 0.901 / 0.948, lstm 0.893 / 0.905, gru 0.900 / 0.973, bigru 0.901 / 0.979, cnn-lstm 0.874 / 0.948,
#   1-NN Euclidean and DTW 0.801 / 0.865. Floors sit 0.05-0.1 below; a network that answers one class for
#   every beat (balanced accuracy 0.5, as recurrent networks do after too few updates) fails them.
LEVELS = {"cnn": (0.8, 0.85), "lstm": (0.8, 0.85), "gru": (0.8, 0.85), "cnn-lstm": (0.8, 0.85),
          "1nn-euclidean": (0.72, 0.8), "1nn-dtw": (0.72, 0.8), "bigru": (0.8, 0.85)}
SLOW = {"bigru"}  # the bidirectional runs take twice as long; the slow suite covers them


@pytest.mark.parametrize("model", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m for m in LEVELS])
def test_every_model_learns_the_synthetic_beats(tmp_path, model):
    floors = LEVELS[model]
    code, m, out = run(tmp_path, "--model", model, "--n-samples", "400", "--updates", "600")
    assert code == 0
    test = m["test"]
    assert test["balanced_accuracy"] >= floors[0] and test["auc"] >= floors[1], test
    assert test["auc_ci"][0] <= test["auc"] <= test["auc_ci"][1]
    assert m["split_sizes"] == {"train": 240, "val": 80, "test": 80}
    assert set(test["recall_per_class"]) == {"normal", "abnormal"}
    if model.startswith("1nn"):
        assert m["model_info"]["reference_series"] == 320  # train + validation, as the UCR archive runs 1-NN
    else:
        assert m["model_info"]["updates"] == 600  # 75 epochs of 8 batches
    assert (out / "figures" / "test_series.png").is_file() and (out / "split.csv").is_file()


def test_a_user_file_with_three_classes_and_no_test_file(tmp_path):
    rng = np.random.default_rng(0)
    x, y = three_class_series(150, 60, rng)
    data = write_ucr(tmp_path / "WAVES_TRAIN.txt", x, y, sep="\t")
    code, m, out = run(tmp_path, "--data-file", str(data), "--model", "1nn-euclidean")
    assert code == 0
    assert m["classes"] == ["5", "7", "9"] and m["dataset"] == "WAVES_TRAIN" and m["length"] == 60
    assert m["split_sizes"] == {"train": 90, "val": 30, "test": 30}
    assert m["test"]["balanced_accuracy"] > 0.9  # noisy but distinct wave shapes
    split = (out / "split.csv").read_text().splitlines()
    assert split[0] == "line,split" and len(split) == 151
    assert sorted({row.split(",")[1] for row in split[1:]}) == ["test", "train", "val"]


def test_a_test_file_is_used_whole_and_the_training_file_gives_train_and_val(tmp_path):
    rng = np.random.default_rng(1)
    x, y = three_class_series(90, 40, rng)
    xt, yt = three_class_series(30, 40, rng)
    train = write_ucr(tmp_path / "A_TRAIN.txt", x, y, sep=",")
    test = write_ucr(tmp_path / "A_TEST.txt", xt, yt)
    code, m, _ = run(tmp_path, "--data-file", str(train), "--test-file", str(test), "--model", "gru", "--quick")
    assert code == 0
    assert m["split_sizes"] == {"train": 72, "val": 18, "test": 30}


@pytest.mark.parametrize("content,message", [
    ("1 0.5 0.2 0.1\n2 0.1 0.2\n", "line 2 has 3 values, line 1 has 4"),
    ("1 0.5 0.2\n2 0.1 abc\n", "line 2: 'abc' is not a number"),
    ("1 0.5 NaN\n", "line 1 has missing or infinite values"),
    ("", "is empty"),
])
def test_malformed_ucr_files_exit_2_naming_file_and_line(tmp_path, capsys, content, message):
    bad = tmp_path / "BAD_TRAIN.txt"
    bad.write_text(content)
    code, _, out = run(tmp_path, "--data-file", str(bad), "--quick")
    err = capsys.readouterr().err
    assert code == 2 and message in err and "BAD_TRAIN.txt" in err and len(err.strip().splitlines()) == 1
    assert not (out / "metrics.json").exists()


def test_other_user_mistakes_exit_2(tmp_path, capsys):
    rng = np.random.default_rng(2)
    x, y = three_class_series(30, 20, rng)
    train = write_ucr(tmp_path / "T.txt", x, y)
    cases = [
        (["--test-file", str(train)], "--test-file needs --data-file"),
        (["--data-file", str(tmp_path)], "a folder (sequence models read UCR text files, not images)"),
        (["--data-file", str(tmp_path / "none.txt")], "no such file"),
        (["--data-file", str(train), "--test-file", str(write_ucr(tmp_path / "S.txt", x[:, :10], y))],
         "series of length 10, but the training file's have length 20"),
        (["--data-file", str(train), "--test-file", str(write_ucr(tmp_path / "U.txt", x, y + 1))],
         "labels ['10', '6', '8'] that the training file does not have"),
        (["--data-file", str(write_ucr(tmp_path / "F.txt", x[:4], [1, 1, 2, 2]))], "at least 3 series"),
        (["--dataset", "mitdb", "--record", str(tmp_path / "nowhere")], "no WFDB header nowhere.hea"),
        (["--dataset", "ecg200", "--ucr-dir", str(tmp_path / "none")], "--ucr-dir"),
    ]
    png = tmp_path / "image.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    cases.append((["--data-file", str(png)], "not a UCR text file"))
    for i, (args, message) in enumerate(cases):
        code, _, _ = run(tmp_path, *args, "--quick", name=f"bad{i}")
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)


# ---------------------------------------------------------------------------------------------- real data
@needs_ucr
def test_ecg200_1nn_euclidean_reproduces_the_ucr_archive():
    """The UCR archive lists 1-NN Euclidean's ECG200 test error as 0.120: the same 88 of 100 correct."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        code, m, _ = run(Path(tmp), "--dataset", "ecg200", "--model", "1nn-euclidean")
    assert code == 0
    assert m["test"]["accuracy"] == pytest.approx(0.88)
    assert m["model_info"]["reference_series"] == 100 and m["split_sizes"]["test"] == 100


@needs_mitdb
def test_mitdb_beats_are_the_annotated_normal_and_atrial_premature_beats(tmp_path):
    from tasks.sequence import load_mitdb_beats

    x, symbols = load_mitdb_beats(ECG / "mitdb_100" / "100")
    assert x.shape == (2270, 120)  # of 2,239 N + 33 A beats, two N lie within 1 s of the ends; 1 s at 120 Hz
    assert (symbols == "A").sum() == 33
    np.testing.assert_allclose(x.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(1), 1, atol=1e-4)
    assert np.abs(x[:, 72]).mean() > 2 * np.abs(x[:, 40]).mean()  # the R peak sits 0.6 s in (sample 72)
