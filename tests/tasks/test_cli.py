"""The ``medgrad`` command as a hostile user meets it: run folders are never shared or overwritten,
resume writes only where it is told, and every mistake is one line with exit status 2."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.cli import main
from tasks.registry import EXPERIMENTS, get_experiment

FAST = ["--quick", "--quiet", "--model", "knn", "--limit", "60", "--n-samples", "200"]
ROOT = Path(__file__).resolve().parents[2]


def _one_line_error(capsys, code, fragment: str) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("medgrad: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert fragment in err, err
    return err


def _interrupt_after_first_epoch(monkeypatch):
    from engine.train import Trainer

    original = Trainer._train_epoch

    def interrupted(self, loader, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return original(self, loader, epoch)

    monkeypatch.setattr(Trainer, "_train_epoch", interrupted)
    return original


# ------------------------------------------------------------------------------------------- help
def test_run_help_lists_exactly_the_experiments_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "classification", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    flags = {o.flag for o in get_experiment("classification").all_options()}
    for flag in flags | {"--config", "--resume"}:
        assert flag in out
    listed = {word.rstrip(",:") for word in out.split() if word.startswith("--")}
    assert listed - {"--quick"} == flags - {"--quick"} | {"--help", "--config", "--resume"}


def test_every_registered_experiment_is_importable_and_described(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == list(EXPERIMENTS)
    for name in EXPERIMENTS:
        exp = get_experiment(name)
        assert exp.description and exp.name == name
        assert len({o.name for o in exp.all_options()}) == len(exp.all_options()), f"{name}: duplicated options"


# ------------------------------------------------------------------------------- run folders
def test_resume_writes_into_the_folder_given_not_the_one_recorded(tmp_path, monkeypatch, capsys):
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    monkeypatch.chdir(a)
    args = ["run", "classification", "--quick", "--quiet", "--model", "mlp", "--limit", "60", "--n-samples", "200"]
    assert main([*args, "--epochs", "1", "--out", "run"]) == 0
    finished = (a / "run" / "metrics.json").read_text()
    monkeypatch.chdir(b)
    original = _interrupt_after_first_epoch(monkeypatch)
    assert main([*args, "--epochs", "3", "--out", "run"]) == 130
    assert "medgrad run --resume run" in capsys.readouterr().err  # the hint names the real folder
    from engine.train import Trainer

    monkeypatch.setattr(Trainer, "_train_epoch", original)
    monkeypatch.chdir(a)
    # the run folder has moved since it was started: resume follows the folder, not config.json
    (b / "run").rename(b / "moved")
    assert main(["run", "--resume", "../B/moved", "--quiet"]) == 0
    assert (a / "run" / "metrics.json").read_text() == finished  # A's finished run is untouched
    history = (b / "moved" / "history.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in history] == [1, 2, 3]
    assert not (b / "run").exists()
    # a finished run cannot be resumed
    code = main(["run", "--resume", "../B/moved"])
    _one_line_error(capsys, code, "already finished")


def test_resume_refuses_options_that_change_the_run(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r"
    args = ["run", "classification", "--quick", "--quiet", "--model", "mlp", "--limit", "60", "--n-samples", "200",
            "--epochs", "3", "--out", str(out)]
    original = _interrupt_after_first_epoch(monkeypatch)
    assert main(args) == 130
    capsys.readouterr()
    from engine.train import Trainer

    monkeypatch.setattr(Trainer, "_train_epoch", original)
    for flag, value, saved in (("--epochs", "5", "3"), ("--model", "lenet5", "'mlp'"), ("--lr", "0.1", "0.002")):
        code = main(["run", "--resume", str(out), flag, value])
        _one_line_error(capsys, code, f"{flag[2:]} was {saved}")
    # repeating a saved value, or asking for quiet output, is fine
    assert main(["run", "--resume", str(out), "--epochs", "3", "--quiet"]) == 0


def test_a_new_run_never_writes_into_another_runs_folder(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r"
    original = _interrupt_after_first_epoch(monkeypatch)
    mlp = ["run", "classification", "--quick", "--quiet", "--model", "mlp", "--limit", "60", "--n-samples", "200"]
    assert main([*mlp, "--epochs", "3", "--out", str(out)]) == 130
    capsys.readouterr()
    from engine.train import Trainer

    monkeypatch.setattr(Trainer, "_train_epoch", original)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    code = main(["run", "classification", *FAST, "--out", str(out)])
    _one_line_error(capsys, code, "holds an unfinished run")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    code = main(["run", "classification", *FAST, "--out", str(foreign)])
    _one_line_error(capsys, code, "not empty (notes.txt)")
    assert (foreign / "notes.txt").read_text() == "precious"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["run", "classification", *FAST, "--out", str(empty)]) == 0
    code = main(["run", "classification", *FAST, "--out", str(empty)])
    _one_line_error(capsys, code, "holds a finished run")


def test_concurrent_runs_never_share_a_folder(tmp_path):
    cmd = [sys.executable, "-m", "tasks", "run", "classification", *FAST]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([*cmd, "--seed", str(s)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for s in (1, 2, 3)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], results
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 3
    seeds = sorted(json.loads((f / "config.json").read_text())["seed"] for f in folders)
    assert seeds == [1, 2, 3] and all((f / "metrics.json").is_file() for f in folders)
    # the same --out for three runs at once: exactly one gets it
    procs = [subprocess.Popen([*cmd, "--out", "same", "--seed", str(s)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for s in (1, 2, 3)]
    results = [p.communicate(timeout=300) for p in procs]
    assert sorted(p.returncode for p in procs) == [0, 2, 2], results
    assert all("medgrad: error: --out same:" in err for p, (_, err) in zip(procs, results) if p.returncode == 2)


def test_stale_temporary_files_are_cleaned(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r"
    original = _interrupt_after_first_epoch(monkeypatch)
    args = ["run", "classification", "--quick", "--quiet", "--model", "mlp", "--limit", "60", "--n-samples", "200",
            "--epochs", "3", "--out", str(out)]
    assert main(args) == 130
    capsys.readouterr()
    from engine.train import Trainer

    monkeypatch.setattr(Trainer, "_train_epoch", original)
    (out / ".metrics.json.999.tmp").write_text("{half")  # as left by a kill -9 during a write
    assert main(["run", "--resume", str(out)]) == 0
    assert not list(out.glob(".*.tmp"))


# ---------------------------------------------------------------------------------- mistakes
@pytest.mark.parametrize("args, fragment", [
    (["--lr", "nan"], "--lr must be a finite number"),
    (["--lr", "inf"], "--lr must be a finite number"),
    (["--lr", "-1"], "--lr must be greater than 0"),
    (["--weight-decay", "-5"], "--weight-decay must be at least 0"),
    (["--patience", "-3"], "--patience must be at least 1"),
    (["--limit", "-5"], "--limit must be at least 10"),
    (["--seed", "-1"], "--seed must be at least 0"),
    (["--n-samples", "3"], "--n-samples must be at least 60"),
    (["--width", "0"], "--width must be at least 1"),
    (["--epochs", "1.5"], "--epochs must be an integer"),
    (["--model", "nosuch"], "--model must be one of"),
    (["--data-dir", "/no/such/folder"], "--data-dir /no/such/folder: no such folder"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_bad_options_are_one_line_and_leave_no_folder(tmp_path, capsys, args, fragment):
    out = tmp_path / "r"
    code = main(["run", "classification", "--quick", "--quiet", "--out", str(out), *args])
    _one_line_error(capsys, code, fragment)
    assert not out.exists()


@pytest.mark.parametrize("content, fragment", [
    ({"epochs": "two"}, "'epochs' must be an integer, got str 'two'"),
    ({"lr": "0.001"}, "'lr' must be a number, got str '0.001'"),
    ({"quick": "false"}, "'quick' must be true or false"),
    ({"epochs": 1.5}, "'epochs' must be an integer, got float 1.5"),
    ({"epochz": 1}, "unknown options ['epochz']"),
    ([1, 2], "must hold a JSON object"),
    (b"\xff\xfe{", "is not UTF-8 text"),
    (b"{epochs: 2", "is not valid JSON"),
])
def test_bad_config_files_are_one_line(tmp_path, capsys, content, fragment):
    path = tmp_path / "c.json"
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    code = main(["run", "classification", "--config", str(path), "--out", str(tmp_path / "r")])
    _one_line_error(capsys, code, fragment)


def test_out_that_is_a_file_or_below_one(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    _one_line_error(capsys, main(["run", "classification", *FAST, "--out", str(f)]), "file is a file, not a folder")
    _one_line_error(capsys, main(["run", "classification", *FAST, "--out", str(f / "sub")]), "is a file, not a folder")


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root may write anywhere")
def test_unwritable_parent_is_found_before_training(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    _one_line_error(capsys, main(["run", "classification", *FAST, "--out", str(locked / "r")]), "no permission")


def test_cuda_without_a_gpu_is_one_line(tmp_path, capsys):
    from engine import backend

    if backend.cuda_is_available():
        pytest.skip("a GPU is present")
    _one_line_error(capsys, main(["run", "classification", *FAST, "--device", "cuda", "--out", str(tmp_path / "r")]),
                    "--device cuda: no CUDA device found")


def test_corrupt_checkpoint_on_resume_is_one_line(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r"
    original = _interrupt_after_first_epoch(monkeypatch)
    args = ["run", "classification", "--quick", "--quiet", "--model", "mlp", "--limit", "60", "--n-samples", "200",
            "--epochs", "3", "--out", str(out)]
    assert main(args) == 130
    capsys.readouterr()
    from engine.train import Trainer

    monkeypatch.setattr(Trainer, "_train_epoch", original)
    (out / "checkpoints" / "last.npz").write_bytes(b"PK\x03\x04 truncated")
    _one_line_error(capsys, main(["run", "--resume", str(out)]), "checkpoint")


def test_report_on_a_corrupt_run_is_one_line(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["run", "classification", *FAST, "--out", str(run)]) == 0
    (run / "metrics.json").write_text("{")
    _one_line_error(capsys, main(["report", str(run), "--out", str(tmp_path / "rep.md")]), "metrics.json is unreadable")
    _one_line_error(capsys, main(["report", str(tmp_path / "nothing")]), "is not a finished run")


def test_explicit_options_beat_quick(tmp_path):
    out = tmp_path / "r"
    assert main(["run", "classification", "--quick", "--quiet", "--model", "mlp", "--limit", "60", "--n-samples", "200",
                 "--epochs", "3", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["epochs"] == 3 and config["n_samples"] == 200 and config["bootstrap"] == 200  # quick's
    assert len((out / "history.jsonl").read_text().splitlines()) == 3


# ---------------------------------------------------------------------------------------- fuzz
def _wrong_values(option, rng):
    """Values of ``option`` that must be refused, as command-line strings."""
    out = []
    if option.type is int:
        out += ["abc", "1.5", "", "0x10"]
    if option.type is float:
        out += ["abc", "nan", "-inf", ""]
    if option.type in (int, float):
        if option.low is not None:
            out.append(str(option.low - (1 if option.type is int else 0.5 + abs(option.low))))
        if option.high is not None:
            out.append(str(option.high * 2 + 1))
    if option.choices is not None:
        out += ["no-such-choice", str(rng.random())]
    return out


def _wrong_json(option):
    return {int: ["3", 1.5, True, [1]], float: ["0.1", True, None if not option.nullable else "x"],
            str: [3, True, ["a"]], bool: ["false", 1, None]}[option.type]


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_fuzz_every_option_of_every_experiment(name, tmp_path, capsys):
    rng = random.Random(0)
    experiment = get_experiment(name)
    out = tmp_path / "r"
    checked = 0
    for option in experiment.all_options():
        if option.type is bool:
            continue
        for value in _wrong_values(option, rng):
            code = main(["run", name, "--quiet", "--out", str(out), f"{option.flag}={value}"])
            _one_line_error(capsys, code, option.flag if value != "" else "")
            assert not out.exists()
            checked += 1
    for option in experiment.all_options():
        for value in _wrong_json(option):
            if value is None and option.nullable:
                continue
            path = tmp_path / "c.json"
            path.write_text(json.dumps({option.name: value}))
            code = main(["run", name, "--config", str(path), "--out", str(out)])
            _one_line_error(capsys, code, repr(option.name))
            assert not out.exists()
            checked += 1
    assert checked >= 3 * len(experiment.all_options())
