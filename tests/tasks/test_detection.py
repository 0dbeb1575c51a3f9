"""medgrad run detection: all three detectors through FROC/CPM on small phantom runs; user folders; errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasks.cli import main


def _run(tmp_path, name, *args):
    out = tmp_path / name
    code = main(["run", "detection", "--quick", "--quiet", "--out", str(out), "--bootstrap", "100", *args])
    assert code == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_log_baseline_2d_levels(tmp_path):
    out, m = _run(tmp_path, "log", "--model", "log", "--n-images", "60")
    r = m["test"]["log"]
    assert r["n_scans"] == 12 and r["n_lesions"] > 10
    # measured: CPM about 0.6 on these phantoms; a detector answering at random positions scores < 0.1
    assert r["cpm"] > 0.4 and r["cpm_ci"][0] <= r["cpm"] <= r["cpm_ci"][1]
    assert r["sens_at_4fp"] >= r["sens_at_1fp"] > 0.3
    assert (out / "figures" / "froc.png").is_file() and (out / "figures" / "test_marks_log.png").is_file()


def test_two_stage_and_heatmap_train_and_are_scored(tmp_path):
    out, m = _run(tmp_path, "all", "--epochs", "8")  # --quick otherwise: 80 scans
    t = m["test"]
    assert set(t) == {"log", "two-stage", "heatmap"}
    # the FP-reduction CNN re-scores the same LoG candidates: its hits are the LoG's hits
    assert t["two-stage"]["n_candidates"] == t["log"]["n_candidates"]
    assert t["two-stage"]["cpm"] > 0.45
    # 24 training steps on 48 scans (measured 0.18 here): far from trained (the README's full run is), but a
    # detector with swapped axes or inverted scores scores about 0
    assert t["heatmap"]["cpm"] > 0.1
    assert (out / "fp_reduction" / "checkpoints" / "best.npz").is_file()
    assert (out / "checkpoints" / "best.npz").is_file()


def test_3d_log(tmp_path):
    _, m = _run(tmp_path, "log3d", "--dataset", "lesions3d", "--model", "log", "--n-images", "20")
    assert m["ndim"] == 3 and m["test"]["log"]["cpm"] > 0.4


def _folder(tmp_path, rows, n=8, shape=(32, 32)):
    folder = tmp_path / "user"
    (folder / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        np.save(folder / "images" / f"s{i}.npy", rng.random(shape).astype(np.float32))
    header = "file,x,y,radius" + (",split" if rows and rows[0].count(",") == 4 else "")
    (folder / "lesions.csv").write_text(header + "\n" + "".join(f"{r}\n" for r in rows))
    return folder


def test_user_folder_runs(tmp_path):
    folder = _folder(tmp_path, ["s0.npy,10,12,3", "s1.npy,20,5,4", "s5.npy,16,16,2"])
    _, m = _run(tmp_path, "user_run", "--dataset", str(folder), "--model", "log")
    assert m["dataset"] == "user" and sum(m["split_sizes"].values()) == 8


@pytest.mark.parametrize("rows,message", [
    (["s0.npy,40,12,3"], "outside"),
    (["s0.npy,10,12,-1"], "radius must be positive"),
    (["nope.npy,10,12,3"], "is not in"),
    (["s0.npy,10,12,3,train"], "must hold lesions"),
])
def test_user_folder_errors(tmp_path, capsys, rows, message):
    folder = _folder(tmp_path, rows)
    code = main(["run", "detection", "--quick", "--quiet", "--out", str(tmp_path / "r"), "--dataset", str(folder)])
    assert code == 2
    assert message in capsys.readouterr().err


def test_3d_model_on_2d_data_exits_2(tmp_path, capsys):
    code = main(["run", "detection", "--quick", "--quiet", "--out", str(tmp_path / "r"), "--ndim", "3"])
    assert code == 2
    assert "3D model cannot run on lesions" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
