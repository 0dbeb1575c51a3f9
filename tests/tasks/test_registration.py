"""The registration experiment end to end on small settings (full runs: README), its bad-input errors, and
the recovery of the shared MRI's known transforms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tasks.cli import main

MRI = Path(__file__).resolve().parents[3] / "shared" / "data" / "mri"


def _run(tmp_path, name, *args):
    out = tmp_path / name
    code = main(["run", "registration", "--quick", "--quiet", "--out", str(out), *args])
    assert code == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_voxelmorph_and_the_iterative_baseline_register_phantoms(tmp_path):
    out, metrics = _run(tmp_path, "vxm", "--n-pairs", "64", "--epochs", "10", "--batch-size", "4", "--lr", "3e-3")
    net, base = metrics["test"], metrics["baseline"]
    # both methods must raise the overlap of warped labels and cut the landmark error, without folding
    assert net["dice_after"] > net["dice_before"] + 0.07 and net["tre_after"] < 0.9 * net["tre_before"]
    assert base["dice_after"] > base["dice_before"] + 0.15 and base["tre_after"] < 0.85 * base["tre_before"]
    assert net["folding_pct"] < 1.0 and base["folding_pct"] < 1.0
    assert net["dice_after_ci"][0] <= net["dice_after"] <= net["dice_after_ci"][1] and net["n"] == 10
    assert net["seconds_per_pair"] < base["seconds_per_pair"]  # one forward pass vs an optimisation
    assert metrics["mri"]["skipped"].startswith("no --mri-dir")
    for name in metrics["figures"]:
        assert (out / "figures" / name).is_file()


def test_affine_network_on_affine_phantoms_in_3d(tmp_path):
    # on the strict device, which refuses any host/device mix-up a GPU would refuse
    _, metrics = _run(tmp_path, "aff3d", "--dataset", "phantoms3d", "--model", "affine", "--affine",
                      "--size", "16", "--n-pairs", "12", "--iterations", "30", "--epochs", "1", "--device", "strict")
    net, base = metrics["test"], metrics["baseline"]
    assert net["folding_pct"] == 0.0 and net["std_log_jac"] < 1e-3  # an affine map has one constant det J
    assert metrics["split_sizes"] == {"train": 12, "val": 4, "test": 4} and "affine_rotation_error_deg" not in net
    # the network barely trained (identity-like); the iterative baseline recovers the affine part's shift
    assert base["affine_translation_error"] < 0.5 * net["affine_translation_error"]
    assert base["tre_after"] < 0.6 * base["tre_before"]


def _folder(tmp_path, fixed, moving):
    root = tmp_path / "pairs"
    for sub, images in (("fixed", fixed), ("moving", moving)):
        (root / sub).mkdir(parents=True)
        for i, im in enumerate(images):
            np.save(root / sub / f"case{i}.npy", im)
    return root


def test_user_folder_pairs_run(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.random((32, 32)).astype(np.float32) for _ in range(6)]
    root = _folder(tmp_path, images, [np.roll(im, 1, axis=0) for im in images])
    _, metrics = _run(tmp_path, "user", "--dataset", str(root))
    assert metrics["test"]["mse_before"] > 0 and "dice_after" not in metrics["test"]


@pytest.mark.parametrize(
    "make, args, message",
    [
        (lambda r: _folder(r, [np.zeros((32, 32))] * 3, [np.zeros((32, 40))] * 3), [], "pass --size"),
        (lambda r: _folder(r, [np.full((32, 32), np.nan)] * 3, [np.zeros((32, 32))] * 3), [], "NaN"),
        (lambda r: _folder(r, [np.zeros((32, 32))] * 3, [np.zeros((32, 32))] * 2), [], "partner"),
        (lambda r: _folder(r, [np.zeros((8, 24, 24))] * 3, [np.zeros((24, 24))] * 3), ["--resize", "--size", "32"],
         "two images or two volumes"),
        (lambda r: _folder(r, [np.zeros((40, 40))] * 3, [np.zeros((40, 40))] * 3), [], "divisible"),
        (lambda r: "phantoms", ["--size", "40"], "multiples of 16"),
    ],
    ids=["sizes", "nonfinite", "unpaired", "2d-3d", "unet-size", "phantom-size"],
)
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, make, args, message):
    dataset = make(tmp_path)
    code = main(["run", "registration", "--quick", "--quiet", "--out", str(tmp_path / "r"), "--dataset",
                 str(dataset), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1


@pytest.mark.skipif(not (MRI / "brain_slices_2d").is_dir(), reason="shared MRI not found (../shared/data/mri)")
def test_the_shift_of_the_shared_brain_slice_is_recovered_to_a_tenth_of_a_pixel():
    from tasks.data.registration_pairs import brain_slices
    from tasks.registration_report import _affine

    slices = brain_slices(MRI)
    p, *_ = _affine(slices["moving"]["Shifted13x17y"], slices["fixed"], "mse", 60)
    assert abs(p["tx"] - 13) < 0.1 and abs(p["ty"] - 17) < 0.1 and abs(p["angle_deg"]) < 0.1


def test_the_training_loss_adds_regulariser_and_weak_supervision_as_documented():
    import engine
    import engine.nn.functional as F
    from tasks.registration import make_loss

    class Options:
        model, similarity, regulariser, reg_weight, label_weight = "voxelmorph", "mse", "bending", 0.5, 2.0

    rng = np.random.default_rng(3)
    warped, fixed = rng.random((2, 1, 16, 16)), rng.random((2, 1, 16, 16))
    flow = rng.normal(size=(2, 2, 16, 16))
    fixed_oh = np.eye(3)[rng.integers(0, 3, (2, 16, 16))].transpose(0, 3, 1, 2)
    moving_oh = np.eye(3)[rng.integers(0, 3, (2, 16, 16))].transpose(0, 3, 1, 2)
    t = engine.tensor
    loss = make_loss(Options, 2, 3)(t(np.concatenate([warped, flow], 1)),
                                    t(np.concatenate([fixed, fixed_oh, moving_oh], 1))).item()
    expected = (F.mse_loss(t(warped), t(fixed)) + 0.5 * F.bending_energy_loss(t(flow))
                + 2.0 * F.soft_dice_loss(F.warp(t(moving_oh), t(flow)), t(fixed_oh))).item()
    assert loss == pytest.approx(expected, rel=1e-12)


@pytest.mark.slow
@pytest.mark.skipif(not (MRI / "brain_slices_2d").is_dir(), reason="shared MRI not found (../shared/data/mri)")
def test_known_transforms_of_the_shared_brain_slices_are_recovered():
    from tasks.data.registration_pairs import brain_slices
    from tasks.registration_report import known_transform_recovery, multimodal_recovery

    slices = brain_slices(MRI)
    rows = known_transform_recovery(slices, "mse", 150)
    for name, row in rows.items():
        assert row["rotation_error_deg"] < 0.3 and row["scale_error"] < 0.01, (name, row)
    assert rows["Shifted13x17y"]["translation_error_px"] < 0.1
    mm = multimodal_recovery(slices, 150)
    assert mm["mi"]["rotation_error_deg"] < 0.5 and mm["mi"]["translation_error"] < 1.0


@pytest.mark.skipif(not (MRI / "brain_slices_2d").is_dir(), reason="shared MRI not found (../shared/data/mri)")
def test_the_network_row_on_the_real_bspline_slice_crops_to_the_unet_and_measures_the_warp_it_predicts():
    """The learned row of the shared-MRI table: the fully convolutional network runs on the 257 x 221 slice
    cropped to 256 x 208; with its flow layer zeroed the warp is the identity, so the intensity error after
    equals the error before (a row that warped the fixed image, or skipped the warp, would differ)."""
    from types import SimpleNamespace

    from tasks.data.registration_pairs import brain_slices
    from tasks.registration import build_network
    from tasks.registration_report import _network_on_slice

    slices = brain_slices(MRI)
    model = build_network(SimpleNamespace(model="voxelmorph", seed=0), 2)
    for p in model.net.flow.parameters():
        p.data[...] = 0.0
    row = _network_on_slice(SimpleNamespace(device="cpu"), model, slices["fixed"], slices["bspline"])
    assert row["crop"] == [256, 208]  # (height, width) of the 257 x 221 slice
    assert row["mse_before"] > 1e-3
    assert row["mse_after"] == pytest.approx(row["mse_before"], rel=1e-6)
    assert row["folding_pct"] == 0.0
    for p in model.net.flow.parameters():  # a constant shift of one pixel along x changes the error
        p.data[...] = 0.0
    model.net.flow.bias.data[:] = np.array([0.0, 1.0], dtype=np.float32)
    shifted = _network_on_slice(SimpleNamespace(device="cpu"), model, slices["fixed"], slices["bspline"])
    assert shifted["mse_after"] != pytest.approx(row["mse_before"], rel=1e-3)
