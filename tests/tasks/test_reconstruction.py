"""The reconstruction experiment end to end on small settings (full runs: README, slow tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tasks.cli import main

MRI = Path(__file__).resolve().parents[3] / "shared" / "data" / "mri"


def _run(tmp_path, name, *args):
    out = tmp_path / name
    code = main(["run", "reconstruction", "--quick", "--quiet", "--out", str(out), *args])
    assert code == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_static_dccnn_and_cs_beat_zero_filled(tmp_path):
    out, metrics = _run(tmp_path, "anatomy", "--epochs", "10", "--n-samples", "120", "--lr", "3e-3")
    test = metrics["test"]
    zf, cs, net = test["zero_filled"], test["cs_tv"], test["dccnn"]
    assert net["psnr"] > zf["psnr"] + 1.0  # a margin no untrained or DC-less network reaches here
    assert net["nmse"] < 0.8 * zf["nmse"] and net["ssim"] > zf["ssim"] + 0.05
    assert cs["psnr"] > zf["psnr"] + 0.5
    assert net["psnr_ci"][0] <= net["psnr"] <= net["psnr_ci"][1] and test["dccnn"]["n"] == 18
    assert 3.5 < metrics["measured_acceleration"] < 4.5 and metrics["cs_lambda"] in (1e-3, 3e-3, 1e-2, 3e-2)
    assert "simulated" in metrics["kspace"]
    assert set(metrics["seconds_per_image"]) == {"zero_filled", "cs_tv", "dccnn"}
    assert (out / "figures" / "reconstructions.png").is_file() and (out / "checkpoints" / "best.npz").is_file()


def test_cine_crnn_beats_zero_filled_with_per_frame_masks(tmp_path):
    out, metrics = _run(tmp_path, "cine", "--dataset", "cine", "--n-samples", "24", "--frames", "6",
                        "--epochs", "6", "--lr", "5e-3", "--features", "8", "--batch-size", "2")
    test = metrics["test"]
    assert metrics["model"] == "crnn" and metrics["dynamic"]
    assert test["crnn"]["psnr"] > test["zero_filled"]["psnr"] + 0.7  # measured +1.1 dB in 6 short epochs
    assert test["crnn"]["ssim"] > test["zero_filled"]["ssim"] + 0.03
    for name in ("frame_strip.png", "temporal_profile.png"):
        assert (out / "figures" / name).is_file()


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_user_kspace_file_with_its_own_mask(tmp_path):
    rng = np.random.default_rng(0)
    k = (rng.standard_normal((12, 32, 32)) + 1j * rng.standard_normal((12, 32, 32))).astype(np.complex64)
    mask = np.zeros((32, 32), bool)
    mask[:, ::2] = True
    path = _npz(tmp_path / "mine.npz", kspace=np.stack([k.real, k.imag], -1), mask=mask)
    # on the strict device: the whole pipeline (DC, FFTs, training, prediction) keeps its arrays on the device
    _, metrics = _run(tmp_path, "user", "--dataset", path, "--epochs", "1", "--cascades", "1", "--device", "strict")
    assert metrics["mask"] == "user" and metrics["measured_acceleration"] == 2.0
    assert metrics["kspace"] == "user-provided k-space"


def test_user_mistakes_give_one_line_and_status_2(tmp_path, capsys):
    k = np.zeros((8, 16, 16), np.complex64)
    cases = [
        (["--acceleration", "0.5"], "--acceleration must be at least 1"),
        (["--acceleration", "8", "--center-fraction", "0.5"], "exceeds"),
        (["--model", "crnn"], "--model crnn reconstructs cine"),
        (["--dataset", "nosuch"], "unknown dataset 'nosuch'"),
        (["--dataset", _npz(tmp_path / "odd.npz", kspace=np.zeros((8, 16, 16, 3)))], "trailing (real, imag) axis"),
        (["--dataset", _npz(tmp_path / "mask.npz", kspace=k, mask=np.ones((16, 15)))], "mask shape (16, 15)"),
        (["--dataset", _npz(tmp_path / "none.npz", image=k)], "no array named 'kspace'"),
    ]
    for args, message in cases:
        code = main(["run", "reconstruction", "--quick", "--quiet", "--out", str(tmp_path / "x"), *args])
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert message in err
        assert err.count("\n") == 1 and err.startswith("medgrad: error:") and "Traceback" not in err


@pytest.mark.skipif(not (MRI / "volunteer_3d").is_dir(), reason="shared MRI data folder not found")
def test_real_magnitude_brain_slices(tmp_path):
    pytest.importorskip("nibabel", reason="nibabel (medical-io extra) is not installed")
    _, metrics = _run(tmp_path, "brain", "--dataset", "brain", "--data-dir", str(MRI), "--n-samples", "40",
                      "--epochs", "6", "--lr", "3e-3")
    test = metrics["test"]
    assert metrics["split_sizes"]["train"] == 40 and "simulated" in metrics["kspace"]
    assert test["cs_tv"]["psnr"] > test["zero_filled"]["psnr"]
    assert test["dccnn"]["psnr"] > test["zero_filled"]["psnr"] + 0.5  # 40 slices, 30 steps: a small but real gain


@pytest.mark.slow
def test_readme_anatomy_4x(tmp_path):
    """The README's anatomy 4x row (default settings, ~8 min on 2 busy cores): measured zero-filled 15.8 dB,
    CS-TV 23.2 dB, DC-CNN 18.1 dB (the network is still improving after 6 epochs)."""
    out = tmp_path / "anat4"
    assert main(["run", "reconstruction", "--quiet", "--out", str(out)]) == 0
    test = json.loads((out / "metrics.json").read_text())["test"]
    assert test["dccnn"]["psnr"] > test["zero_filled"]["psnr"] + 1.5
    assert test["cs_tv"]["psnr"] > test["zero_filled"]["psnr"] + 5.0


@pytest.mark.slow
def test_readme_cine_4x_crnn(tmp_path):
    """The README's cine 4x CRNN-MRI row (~13 min on 2 busy cores): measured zero-filled 19.6 dB, CS-TV 22.0 dB,
    CRNN-MRI 21.5 dB."""
    out = tmp_path / "cine4"
    args = ["--dataset", "cine", "--size", "48", "--frames", "8", "--n-samples", "40", "--batch-size", "2"]
    assert main(["run", "reconstruction", "--quiet", "--out", str(out), *args]) == 0
    test = json.loads((out / "metrics.json").read_text())["test"]
    assert test["crnn"]["psnr"] > test["zero_filled"]["psnr"] + 1.2
    assert test["crnn"]["ssim"] > test["zero_filled"]["ssim"] + 0.05
