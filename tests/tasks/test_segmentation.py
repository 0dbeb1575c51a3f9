"""The segmentation experiment end to end on small, easy settings (full runs: README)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from tasks.cli import main

FAST = ["--n-samples", "40", "--size", "32", "--depth", "3", "--width", "8", "--epochs", "6", "--lr", "5e-3",
        "--batches-per-epoch", "10", "--bootstrap", "200"]


def _run(tmp_path, name, *args):
    out = tmp_path / name
    code = main(["run", "segmentation", "--quick", "--quiet", "--out", str(out), *args])
    assert code == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_unet_segments_lesions_and_writes_the_run_folder(tmp_path):
    out, metrics = _run(tmp_path, "unet", *FAST)
    for name in ("config.json", "history.jsonl", "metrics.json", "checkpoints/best.npz", "figures/overlays.png",
                 "figures/dice_per_case.png", "figures/training_curves.png"):
        assert (out / name).is_file(), name
    test = metrics["test"]
    assert test["dice"] > 0.8, test  # a wrong loss, metric or blending would not get here
    assert test["dice_ci"][0] <= test["dice"] <= test["dice_ci"][1]
    assert test["hd95"] < 4.0 and test["assd"] < 1.5
    assert test["n"] == metrics["split_sizes"]["test"] == len(test["per_case_dice"])
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    best = max(range(len(history)), key=lambda i: history[i]["val_dice"])
    assert metrics["model_info"]["best_epoch"] == best + 1  # selected on validation Dice


def test_otsu_baseline_chooses_its_smoothing_on_validation(tmp_path):
    _, metrics = _run(tmp_path, "otsu", "--model", "otsu", *FAST)
    trials = metrics["model_info"]["trials"]
    assert metrics["model_info"]["selected"]["smooth"] == max(trials, key=lambda t: t["val_dice"])["smooth"]
    assert metrics["test"]["dice"] > 0.7


def test_multiclass_anatomy_baseline_and_3d_unet(tmp_path):
    _, metrics = _run(tmp_path, "anat", "--dataset", "anatomy", "--model", "otsu", "--size", "48",
                      "--n-samples", "12")
    assert len(metrics["test"]["per_class"]["dice"]) == 5  # foreground classes
    assert 0.3 < metrics["test"]["dice"] < 0.95  # intensity alone cannot tell bone from air
    _, metrics = _run(tmp_path, "3d", "--dataset", "lesions3d", "--size", "24", "--n-samples", "20",
                      "--depth", "2", "--width", "4", "--epochs", "5", "--batches-per-epoch", "8",
                      "--batch-size", "4", "--patch-size", "24", "--lr", "5e-3")
    assert metrics["patch_size"] == [24, 24, 24] and metrics["test"]["dice"] > 0.7


def _folder(tmp_path, n=12, sizes=((40, 48), (36, 52)), labels=2):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        h, w = sizes[i % len(sizes)]
        yy, xx = np.mgrid[:h, :w]
        mask = ((yy - h / 2) ** 2 + (xx - w / 2 - rng.integers(-5, 5)) ** 2 < rng.uniform(40, 120)).astype(np.int64)
        if labels > 2:
            mask[mask.astype(bool) & (xx < w / 2)] = 2
        image = 100.0 + 80.0 * (mask > 0) + 10 * rng.normal(size=mask.shape)  # arbitrary units
        np.save(root / "images" / f"case{i:02d}.npy", image.astype(np.float32))
        np.save(root / "masks" / f"case{i:02d}.npy", mask)
    return root


def test_user_folder_with_mixed_sizes_and_sliding_windows(tmp_path):
    root = _folder(tmp_path)
    out, metrics = _run(tmp_path, "folder", "--dataset", str(root), "--depth", "3", "--width", "8",
                        "--patch-size", "16", "--epochs", "4", "--batches-per-epoch", "10")
    assert (out / "split.csv").is_file()
    assert metrics["patch_size"] == [16, 16]  # smaller than the images: sliding windows at test time
    assert metrics["test"]["dice"] > 0.7
    # shrunk for training and inference (largest side 24), evaluated on the original grid
    out, metrics = _run(tmp_path, "shrunk", "--dataset", str(root), "--depth", "3", "--width", "8", "--max-size", "24",
                        "--patch-size", "16", "--epochs", "4", "--batches-per-epoch", "10", "--model", "otsu")
    assert metrics["test"]["dice"] > 0.7 and metrics["test"]["n"] == metrics["split_sizes"]["test"]


@pytest.mark.parametrize("case,args,message", [
    ("mismatch", [], "does not match its image"),
    ("labels", ["--num-classes", "2"], "label 2 is outside the 2 classes"),
    ("empty", [], "no images"),
    ("dims", ["--dims", "3"], "a 3D model cannot run on 2D data"),
    ("patch", ["--patch-size", "20"], "multiple of 2^(depth-1) = 8"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, case, args, message):
    root = _folder(tmp_path, n=6, labels=3 if case == "labels" else 2)
    if case == "mismatch":
        np.save(root / "masks" / "case00.npy", np.zeros((5, 5), np.int64))
    if case == "empty":
        for p in (root / "images").iterdir():
            p.unlink()
    code = main(["run", "segmentation", "--quick", "--quiet", "--out", str(tmp_path / "r"), "--dataset", str(root),
                 "--depth", "4", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err


def test_validation_dice_pools_voxels_and_follows_the_empty_mask_rule():
    from tasks.segmentation import pooled_dice

    target = np.zeros((2, 4, 4), int)
    target[0, :2, :2] = 1  # 4 voxels of class 1
    target[1, :1] = 2  # 4 voxels of class 2
    pred = target.copy()
    pred[0, 0, 0] = 0  # one missed voxel of class 1
    assert pooled_dice(pred, target, 3) == pytest.approx((2 * 3 / 7 + 1.0) / 2)
    assert pooled_dice(pred, target, 4) == pytest.approx((2 * 3 / 7 + 1.0) / 2)  # class 3 absent: left out
    empty = np.zeros((1, 4, 4), int)
    assert pooled_dice(empty, empty, 2) == 1.0 and pooled_dice(empty + 1, empty, 2) == 0.0


@pytest.mark.parametrize("dims", [2, 3])
def test_random_flips_keep_images_and_labels_aligned(dims):
    from tasks.segmentation import _random_flips

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, (16,) + (5,) * dims)
    x = np.stack([y, 2 * y], axis=1).astype(np.float32)  # channels that mirror the labels
    fx, fy = _random_flips(x.copy(), y.copy(), np.random.default_rng(1))
    assert np.array_equal(fx[:, 0], fy) and np.array_equal(fx[:, 1], 2 * fy)
    assert not np.array_equal(fy, y)  # some patches were flipped
    # each patch is one of the 2^dims flips of its original
    for a, b in zip(fy, y):
        assert any(np.array_equal(a, np.flip(b, axis=axes) if axes else b)
                   for r in range(dims + 1) for axes in itertools.combinations(range(dims), r))


def test_distances_are_in_mm_when_every_case_has_a_voxel_size():
    from tasks.segmentation import evaluate

    target = np.zeros((12, 12, 12), np.int64)
    target[3:8, 3:8, 3:8] = 1
    pred = np.roll(target, 1, axis=0)  # one voxel off along the first axis
    in_mm = evaluate([pred, pred], [target, target], 2, n_boot=50, seed=0, spacings=[(2.5, 1, 1)] * 2)
    in_voxels = evaluate([pred, pred], [target, target], 2, n_boot=50, seed=0)
    assert in_voxels["distance_unit"] == "voxels" and in_voxels["hd95"] == pytest.approx(1.0)
    assert in_mm["distance_unit"] == "mm" and in_mm["hd95"] == pytest.approx(2.5)  # 1 voxel of 2.5 mm
    assert in_mm["dice"] == in_voxels["dice"]  # overlap does not depend on the voxel size
    mixed = evaluate([pred, pred], [target, target], 2, n_boot=50, seed=0, spacings=[(2.5, 1, 1), None])
    assert mixed["distance_unit"] == "voxels" and mixed["hd95"] == pytest.approx(1.0)  # never half mm, half voxels
