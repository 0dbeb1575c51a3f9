"""The enhancement experiment through the command, on tiny settings (the README runs are larger)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasks.cli import main
from tasks.data.enhancement import find_t1_volume
from tasks.errors import UsageError

SMALL = ["--quick", "--quiet", "--n-samples", "60", "--image-size", "32", "--width", "8", "--depth", "3"]


def _run(tmp_path, name, *args):
    out = tmp_path / name
    assert main(["run", "enhancement", *SMALL, "--out", str(out), *args]) == 0
    return out, json.loads((out / "metrics.json").read_text())


def _in_ci(row, key):
    return row[f"{key}_ci"][0] <= row[key] <= row[f"{key}_ci"][1]


def test_denoise_baselines_and_network_improve_on_the_low_dose_image(tmp_path):
    out, m = _run(tmp_path, "d", "--dose", "0.1", "--n-samples", "100", "--epochs", "5")
    for name in ("figures/denoise_test.png", "figures/training_curves.png", "checkpoints/best.npz"):
        assert (out / name).is_file(), name
    test = m["test"]
    low = test["input (low dose)"]
    tv = test[f"tv ({m['baselines']['selected']['tv']})"]
    assert tv["psnr"] > low["psnr"] + 1.0 and tv["ssim"] > low["ssim"]
    # starts as the identity and keeps its best validation epoch: never worse than its input (how much
    # it learns in 25 tiny steps is small; tests/models checks that DnCNN learns to denoise)
    assert test["dncnn"]["psnr"] > low["psnr"]
    assert all(_in_ci(row, "psnr") for row in test.values()) and low["n"] == m["data"]["split_sizes"]["test"]
    # the baselines' parameters were chosen on validation: the selected one has the best validation PSNR
    val = m["baselines"]["val_psnr"]["tv"]
    assert max(val, key=val.get) == str(m["baselines"]["selected"]["tv"])
    assert 5 < m["data"]["noise_std_hu"] < 100
    # the paired difference is the difference of the means (same cases), with its own interval
    pair = m["paired"]
    assert pair["baseline"] == f"tv ({m['baselines']['selected']['tv']})" and pair["network"] == "dncnn"
    assert pair["psnr"] == pytest.approx(test["dncnn"]["psnr"] - tv["psnr"], abs=1e-9) and _in_ci(pair, "psnr")


def test_superres_on_phantoms_with_espcn(tmp_path):
    _, m = _run(tmp_path, "s", "--task", "superres", "--model", "espcn", "--factor", "2")
    test = m["test"]
    assert test["bicubic"]["psnr"] > test["input (nearest)"]["psnr"] + 0.5
    assert set(test) == {"input (nearest)", "bicubic", "espcn"} and m["network"]["name"] == "ESPCN"


def _t1_available():
    try:
        find_t1_volume(None)
    except UsageError:
        return False
    return True


@pytest.mark.skipif(not _t1_available(), reason="the volunteer T1 volume (../shared/data/mri/volunteer_3d) is absent")
def test_superres_on_the_real_t1_volume_keeps_splits_apart(tmp_path):
    _, m = _run(tmp_path, "t1", "--task", "superres", "--dataset", "t1", "--factor", "2", "--epochs", "1")
    test = m["test"]
    assert test["bicubic"]["psnr"] > test["input (nearest)"]["psnr"] + 2.0
    assert test["srcnn"]["psnr"] > test["bicubic"]["psnr"] - 0.3  # a residual on bicubic, started at zero
    pos = {s: np.array(v) for s, v in m["data"]["positions"].items()}
    assert np.abs(pos["train"][:, None] - pos["test"][None, :]).min() > 1  # no neighbouring slices
    assert test["srcnn"]["n"] == len(pos["test"])


def test_synthesis_l1_and_adversarial(tmp_path):
    _, m = _run(tmp_path, "l1", "--task", "synthesis", "--epochs", "4", "--batch-size", "4", "--lr", "3e-3")
    test = m["test"]
    pwl = next(v for k, v in test.items() if k.startswith("piecewise-linear"))
    # one T1 value cannot tell bone (700 HU) from air (-1000 HU): the intensity map fails in bone
    assert pwl["mae_hu"] < 200 and pwl["mae_bone_hu"] > 300
    assert test["u-net, L1"]["mae_hu"] < 500  # trained: an untrained generator is off by ~900 HU
    assert m["network"]["adversarial"] is False
    history = [json.loads(line) for line in (tmp_path / "l1" / "history.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert min(row["val_mae_hu"] for row in history) == pytest.approx(m["network"]["val_mae_hu"])
    _, adv = _run(tmp_path, "adv", "--task", "synthesis", "--adversarial")
    assert "u-net, L1 + adversarial" in adv["test"] and adv["network"]["discriminator_parameters"] > 0


def test_another_data_seed_gives_fresh_cases(tmp_path):
    _, a = _run(tmp_path, "a", "--epochs", "1")
    _, b = _run(tmp_path, "b", "--epochs", "1", "--data-seed", "1")
    assert a["test"]["input (low dose)"]["psnr"] != b["test"]["input (low dose)"]["psnr"]
    assert json.loads((tmp_path / "b" / "config.json").read_text())["data_seed"] == 1


def test_an_interrupted_synthesis_run_resumes_exactly(tmp_path, monkeypatch):
    import models.patchgan

    args = ["--task", "synthesis", "--adversarial", "--epochs", "3", "--batch-size", "8"]
    full, m_full = _run(tmp_path, "full", *args)
    original, calls = models.patchgan.pix2pix_step, []
    train = m_full["data"]["split_sizes"]["train"]
    steps = -(-train // 8)  # generator steps per epoch

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == steps + 2:  # the power goes out during the second epoch
            raise KeyboardInterrupt
        return original(*a, **k)

    history = [json.loads(line) for line in (full / "history.jsonl").read_text().splitlines()]
    monkeypatch.setattr(models.patchgan, "pix2pix_step", interrupted)
    part = tmp_path / "part"
    assert main(["run", "enhancement", *SMALL, *args, "--out", str(part)]) == 130
    assert not (part / "metrics.json").exists() and (part / "checkpoints" / "last.npz").is_file()
    monkeypatch.setattr(models.patchgan, "pix2pix_step", original)
    assert main(["run", "--resume", str(part), "--quiet"]) == 0
    resumed = [json.loads(line) for line in (part / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in resumed] == [1, 2, 3] and len(calls) == steps + 2
    for a, b in zip(history, resumed):  # the same losses as the uninterrupted run: nothing lost or repeated
        assert a.keys() == b.keys()
        np.testing.assert_allclose([a[k] for k in a], [b[k] for k in a], rtol=1e-5)
    m_part = json.loads((part / "metrics.json").read_text())
    assert m_part["test"]["u-net, L1 + adversarial"]["mae_hu"] == pytest.approx(
        m_full["test"]["u-net, L1 + adversarial"]["mae_hu"], rel=1e-5)


@pytest.mark.parametrize("args, fragment", [
    (["--data-range", "-1"], "--data-range must be greater than 0"),
    (["--task", "superres", "--factor", "3", "--image-size", "64"], "--factor 3 does not divide --image-size 64"),
    (["--task", "superres", "--dataset", "t1", "--plane", "through", "--model", "espcn"], "use srcnn"),
    (["--task", "denoise", "--model", "srcnn"], "--model srcnn does not do --task denoise"),
    (["--task", "superres", "--plane", "through"], "--plane through needs --dataset t1"),
    (["--dataset", "no/such/folder"], "--dataset no/such/folder: not phantoms or t1, and no such folder"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, args, fragment):
    code = main(["run", "enhancement", "--quick", "--quiet", "--out", str(tmp_path / "bad"), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and fragment in err, err


def _pair_folder(root, n=20, size=32, bad=None):
    rng = np.random.default_rng(0)
    (root / "inputs").mkdir(parents=True)
    (root / "targets").mkdir()
    for i in range(n):
        clean = np.full((size, size), 100.0) + 50.0 * (np.arange(size) > size // 2)
        np.save(root / "targets" / f"c{i:02d}.npy", clean)
        noisy = clean + 10.0 * rng.normal(size=clean.shape)
        if bad == "shape" and i == 3:
            noisy = np.pad(noisy, ((0, 0), (0, 2)), mode="edge")
        np.save(root / "inputs" / f"c{i:02d}.npy", noisy)
    if bad == "missing":
        (root / "inputs" / "c05.npy").unlink()
    return root


def test_your_own_denoising_pairs_run_and_bad_folders_are_one_line(tmp_path, capsys):
    folder = _pair_folder(tmp_path / "pairs")
    _, m = _run(tmp_path, "own", "--dataset", str(folder), "--epochs", "1")
    test = m["test"]
    assert test["input (low dose)"]["n"] == 3  # 15% of 20 pairs
    assert test[f"tv ({m['baselines']['selected']['tv']})"]["psnr"] > test["input (low dose)"]["psnr"] + 3
    for bad, fragment in (("shape", "c03.npy: input shape (32, 34) does not match its target's (32, 32)"),
                          ("missing", "c05.npy: no file of the same name in inputs/")):
        folder = _pair_folder(tmp_path / bad, bad=bad)
        code = main(["run", "enhancement", "--quick", "--quiet", "--out", str(tmp_path / f"r{bad}"),
                     "--dataset", str(folder)])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and fragment in err, err
    images = tmp_path / "hr" / "images"
    images.mkdir(parents=True)
    for i in range(12):
        np.save(images / f"i{i}.npy", np.ones((30, 30)))
    code = main(["run", "enhancement", "--quick", "--quiet", "--out", str(tmp_path / "rhr"), "--task", "superres",
                 "--factor", "4", "--dataset", str(tmp_path / "hr")])
    err = capsys.readouterr().err
    assert code == 2 and "scale factor (4, 4) does not divide the image size (30, 30)" in err, err
