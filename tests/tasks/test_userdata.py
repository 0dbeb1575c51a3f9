"""User folders: what is read, and the one-line error for every malformed input."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from tasks.errors import UsageError
from tasks.userdata import load_labelled_folder, load_paired_folder, normalize_intensity, read_image, read_mask, resize


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    matplotlib.image.imsave(path, array, cmap="gray", vmin=0, vmax=255) if array.ndim == 2 else \
        matplotlib.image.imsave(path, array)


def _labelled(tmp_path, n_per_class=4, rows=None, extra=None):
    rng = np.random.default_rng(0)
    lines = ["file,label"]
    for i in range(2 * n_per_class):
        label = "benign" if i % 2 == 0 else "malignant"
        np.save(tmp_path / "images" / f"c{i}.npy", rng.random((6, 5)).astype(np.float32)) if \
            (tmp_path / "images").is_dir() else ((tmp_path / "images").mkdir(parents=True),
                                                 np.save(tmp_path / "images" / f"c{i}.npy", rng.random((6, 5))))
        lines.append(f"c{i}.npy,{label}")
    if rows is not None:
        lines = rows
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_image_formats_become_channel_first_float32(tmp_path):
    grey = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    _png(tmp_path / "g.png", grey)
    g = read_image(tmp_path / "g.png")
    assert g.shape == (1, 4, 5) and g.dtype == np.float32
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    _png(tmp_path / "c.png", rgb)
    c = read_image(tmp_path / "c.png")
    assert c.shape == (3, 4, 5) and c[0].min() == 1.0 and c[1].max() == 0.0  # alpha dropped, red kept
    np.save(tmp_path / "v.npy", np.ones((3, 4, 5)))
    assert read_image(tmp_path / "v.npy").shape == (1, 3, 4, 5)  # a volume


def test_png_masks_of_0_and_255_are_binary_labels(tmp_path):
    m = np.zeros((4, 4), dtype=np.uint8)
    m[1:3, 1:3] = 255
    _png(tmp_path / "m.png", m)
    out = read_mask(tmp_path / "m.png")
    assert out.dtype == np.int64 and set(np.unique(out)) == {0, 1} and out.sum() == 4


def test_labelled_folder_reads_classes_and_a_stratified_split(tmp_path):
    data = load_labelled_folder(_labelled(tmp_path, n_per_class=10))
    assert data.class_names == ["benign", "malignant"]
    assert len(data.images) == 20 and data.images[0].shape == (1, 6, 5)
    for s in ("train", "val", "test"):
        labels = data.labels[data.indices(s)]
        assert set(labels) == {0, 1}  # stratified: every split sees both classes
    again = load_labelled_folder(tmp_path)
    assert (again.split == data.split).all()  # seeded


def test_a_split_column_is_used_as_given(tmp_path):
    rows = ["file,label,split"] + [f"c{i}.npy,{i % 2},{['train', 'train', 'val', 'test'][i % 4]}" for i in range(8)]
    data = load_labelled_folder(_labelled(tmp_path, rows=rows))
    assert list(data.split) == ["train", "train", "val", "test"] * 2
    assert data.class_names == ["0", "1"]


def test_a_group_column_keeps_each_patients_images_in_one_split(tmp_path):
    # 30 images of 10 patients, 3 each; a patient's images share the label
    rows = ["file,label,group"] + [f"c{i}.npy,{(i // 3) % 2},p{i // 3}" for i in range(30)]
    for i in range(30):
        (tmp_path / "images").mkdir(exist_ok=True)
        np.save(tmp_path / "images" / f"c{i}.npy", np.zeros((4, 4), np.float32))
    data = load_labelled_folder(_labelled(tmp_path, rows=rows))
    assert list(data.groups[:4]) == ["p0", "p0", "p0", "p1"]
    for patient in np.unique(data.groups):
        assert len(set(data.split[data.groups == patient])) == 1
    assert set(data.split) == {"train", "val", "test"}


@pytest.mark.parametrize("rows, message", [
    (["file,label,group"] + [f"c{i}.npy,{i % 2},{'p' if i else ''}" for i in range(8)], "line 2: empty group"),
    (["file,label,split,group"] + [f"c{i}.npy,{i % 2},{['train', 'val', 'test', 'train'][i % 4]},p{i // 2}"
                                   for i in range(8)], "group 'p0' is in the train and val splits"),
    (["file,label"] + [f"c{i}.npy,a" for i in range(8)], "only one class ('a')"),
    (["file,label"] + [f"c{i}.npy,{i % 2}" for i in range(7)] + ["nope.npy,1"],
     "line 9: images/nope.npy does not exist"),
    (["file,label"] + [f"c{i}.npy,{i % 2}" for i in range(7)], "c7.npy has no row in labels.csv"),
    (["file,cls"] + [f"c{i}.npy,{i % 2}" for i in range(8)], "needs the columns file, label"),
    (["file,label"] + [f"c{i}.npy,{int(i == 0)}" for i in range(8)], "class 1 has 1 image(s)"),
    (["file,label,split"] + [f"c{i}.npy,{i % 2},{'train' if i else 'tset'}" for i in range(8)], "found 'tset'"),
    (["file,label,split"] + [f"c{i}.npy,{i % 2},{'train' if i % 3 else 'val'}" for i in range(8)],
     "the test split is empty"),
])
def test_malformed_labelled_folders_name_the_problem(tmp_path, rows, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_labelled_folder(_labelled(tmp_path, rows=rows))


def test_unreadable_and_missing_inputs(tmp_path):
    with pytest.raises(UsageError, match="no such folder"):
        load_labelled_folder(tmp_path / "absent")
    (tmp_path / "images").mkdir()
    with pytest.raises(UsageError, match="images: no images"):
        load_labelled_folder(tmp_path)
    (tmp_path / "images" / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(UsageError, match="bad.png: cannot read it"):
        read_image(tmp_path / "images" / "bad.png")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UsageError, match="obj.npy: cannot read it"):
        read_image(tmp_path / "obj.npy")
    np.save(tmp_path / "nan.npy", np.array([[np.nan, 1.0]]))
    with pytest.raises(UsageError, match="NaN or infinite"):
        read_image(tmp_path / "nan.npy")
    (tmp_path / "x.jpg").write_bytes(b"")
    with pytest.raises(UsageError, match="unsupported file type"):
        read_image(tmp_path / "x.jpg")


def _paired(tmp_path, n=6, shape=(8, 8)):
    rng = np.random.default_rng(0)
    for d in ("images", "masks"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        np.save(tmp_path / "images" / f"s{i}.npy", rng.random(shape))
        np.save(tmp_path / "masks" / f"s{i}.npy", (rng.random(shape) > 0.5).astype(np.int64) * (1 + i % 2))
    return tmp_path


def test_paired_folder_matches_images_and_masks(tmp_path):
    data = load_paired_folder(_paired(tmp_path))
    assert data.files == [f"s{i}.npy" for i in range(6)]
    assert all(m.shape == im.shape[1:] for m, im in zip(data.masks, data.images))
    assert {int(m.max()) for m in data.masks} == {1, 2}
    assert sorted(set(data.split)) == ["test", "train", "val"]


def test_paired_folder_errors(tmp_path):
    _paired(tmp_path)
    (tmp_path / "masks" / "s0.npy").unlink()
    with pytest.raises(UsageError, match=r"s0.npy: no matching file in masks/"):
        load_paired_folder(tmp_path)
    np.save(tmp_path / "masks" / "s0.npy", np.zeros((8, 9)))
    with pytest.raises(UsageError, match=r"mask shape \(8, 9\) does not match its image's \(8, 8\)"):
        load_paired_folder(tmp_path)
    np.save(tmp_path / "masks" / "s0.npy", np.full((8, 8), 0.5))
    with pytest.raises(UsageError, match="mask values must be class labels"):
        load_paired_folder(tmp_path)
    np.save(tmp_path / "masks" / "s0.npy", np.zeros((8, 8)))
    np.save(tmp_path / "masks" / "extra.npy", np.zeros((8, 8)))
    with pytest.raises(UsageError, match="extra.npy: no matching image"):
        load_paired_folder(tmp_path)


def test_intensity_scaling_and_resizing():
    x = np.linspace(-1000, 3000, 1000, dtype=np.float32).reshape(1, 20, 50)  # CT-like units
    y = normalize_intensity(x)
    assert y.min() == 0.0 and y.max() == 1.0 and abs(float(np.median(y)) - 0.5) < 0.01
    r = resize(y, (10, 25))
    assert r.shape == (1, 10, 25) and r.dtype == np.float32
    labels = np.array([[[0, 0, 2, 2]]], dtype=np.int64)
    assert set(np.unique(resize(labels, (1, 8), order=0))) == {0, 2}  # nearest keeps labels


def test_nifti_voxel_sizes_travel_with_the_images_and_must_agree_with_the_masks(tmp_path):
    pytest.importorskip("nibabel", reason="the medical-io extra (nibabel) is not installed")
    from tasks.data.medical_io import write_nifti

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        write_nifti(tmp_path / "images" / f"v{i}.nii.gz", rng.random((6, 7, 8)).astype(np.float32),
                    spacing=(2.5, 0.8, 0.8))
        write_nifti(tmp_path / "masks" / f"v{i}.nii.gz", (rng.random((6, 7, 8)) > 0.5).astype(np.uint8),
                    spacing=(2.5, 0.8, 0.8))
    folder = load_paired_folder(tmp_path)
    assert folder.spacings == [pytest.approx((2.5, 0.8, 0.8))] * 6
    image, spacing = read_image(tmp_path / "images" / "v0.nii.gz", with_spacing=True)
    assert image.shape == (1, 6, 7, 8) and spacing == pytest.approx((2.5, 0.8, 0.8))
    write_nifti(tmp_path / "masks" / "v3.nii.gz", np.zeros((6, 7, 8), np.uint8), spacing=(1.0, 0.8, 0.8))
    with pytest.raises(UsageError, match=r"v3.nii.gz: voxel size \(1.0, 0.8.*differs from its image's \(2.5"):
        load_paired_folder(tmp_path)


def test_png_and_npy_carry_no_voxel_size(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((4, 4), np.float32))
    assert read_image(tmp_path / "a.npy", with_spacing=True)[1] is None
