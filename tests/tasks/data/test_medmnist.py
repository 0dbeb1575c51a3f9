"""tasks.data.medmnist: the published table, file lookup, validation, conversions, download wiring."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import re
import threading
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from tasks.data import medmnist as mm
from tasks.data.medmnist import INFO, SPLITS, available_medmnist, load_medmnist, medmnist_search_dirs

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "medmnist"
needs_shared = pytest.mark.skipif(not (SHARED / "breastmnist.npz").is_file(),
                                  reason=f"real MedMNIST files not found in {SHARED}")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No stray MEDGRAD_DATA_DIR, a private cache, and no MD5 results remembered between tests."""
    monkeypatch.delenv("MEDGRAD_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(mm, "_VERIFIED", set())


def write_fake(path, name, counts=(6, 3, 4), size=28, seed=0, compress=True, **overrides):
    """A small file with the MedMNIST layout for dataset ``name`` (random images and valid labels)."""
    info = INFO[name]
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in zip(SPLITS, counts):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, *info.image_shape(size)), dtype=np.uint8)
        high = 2 if info.task == "multi-label" else info.n_classes
        arrays[f"{split}_labels"] = rng.integers(0, high, (n, info.label_width)).astype(np.uint8)
    arrays.update(overrides)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    (np.savez_compressed if compress else np.savez)(path, **arrays)
    return path


# ------------------------------------------------------------------------------------------------
# The published table
# ------------------------------------------------------------------------------------------------

EXPECTED_CLASSES = {
    "pathmnist": 9, "chestmnist": 14, "dermamnist": 7, "octmnist": 4, "pneumoniamnist": 2, "retinamnist": 5,
    "breastmnist": 2, "bloodmnist": 8, "tissuemnist": 8, "organamnist": 11, "organcmnist": 11,
    "organsmnist": 11, "organmnist3d": 11, "nodulemnist3d": 2, "adrenalmnist3d": 2, "fracturemnist3d": 3,
    "vesselmnist3d": 2, "synapsemnist3d": 2,
}


def test_table_lists_all_eighteen_datasets_with_consistent_facts():
    assert set(INFO) == set(EXPECTED_CLASSES)
    assert len(mm.NAMES_2D) == 12 and len(mm.NAMES_3D) == 6
    for name, info in INFO.items():
        assert info.n_classes == EXPECTED_CLASSES[name], name
        assert info.task in mm.TASKS
        assert info.n_channels in (1, 3)
        assert info.sizes == ((28, 64) if info.ndim == 3 else (28, 64, 128, 224))
        assert set(info.n_samples) == set(SPLITS) and min(info.n_samples.values()) > 0
        for size, md5 in info.md5.items():
            assert md5 is None or re.fullmatch(r"[0-9a-f]{32}", md5), (name, size)
        assert info.license in ("CC BY 4.0", "CC BY-NC 4.0")
    assert len({md5 for info in INFO.values() for md5 in info.md5.values()}) == 12 * 4 + 6 * 2


def test_task_types_and_channels_match_the_paper():
    assert INFO["chestmnist"].task == "multi-label" and INFO["chestmnist"].label_width == 14
    assert INFO["retinamnist"].task == "ordinal-regression"
    assert {n for n, i in INFO.items() if i.n_channels == 3} == {"pathmnist", "dermamnist", "retinamnist",
                                                                   "bloodmnist"}
    assert INFO["dermamnist"].license == "CC BY-NC 4.0"
    assert INFO["breastmnist"].class_names == ("malignant", "normal, benign")
    assert dict(INFO["breastmnist"].n_samples) == {"train": 546, "val": 78, "test": 156}


def test_file_names_and_urls_follow_the_release():
    info = INFO["pathmnist"]
    assert info.file_name(28) == "pathmnist.npz"
    assert info.file_name(224) == "pathmnist_224.npz"
    assert info.url(64) == "https://zenodo.org/records/10519652/files/pathmnist_64.npz?download=1"
    with pytest.raises(ValueError, match="available sizes"):
        INFO["organmnist3d"].file_name(128)


@needs_shared
@pytest.mark.parametrize("name", ["breastmnist", "pneumoniamnist"])
def test_published_md5_matches_the_real_file(name):
    assert mm._download_module.md5sum(SHARED / f"{name}.npz") == INFO[name].md5[28]


# ------------------------------------------------------------------------------------------------
# Real files
# ------------------------------------------------------------------------------------------------

@needs_shared
def test_load_real_breastmnist_all_splits():
    splits = load_medmnist("BreastMNIST", split=None)  # case-insensitive name, verify=True (MD5 + sizes)
    assert set(splits) == set(SPLITS)
    train = splits["train"]
    assert train.images.shape == (546, 28, 28) and train.images.dtype == np.uint8
    assert train.labels.shape == (546, 1)
    assert len(splits["val"]) == 78 and len(splits["test"]) == 156
    assert train.task == "binary-class" and train.n_classes == 2
    x = train.as_float_channels_first()
    assert x.shape == (546, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0], train.images / 255.0, rtol=1e-6)
    y = train.targets()
    assert y.shape == (546,) and y.dtype == np.int64 and set(np.unique(y)) == {0, 1}


@needs_shared
def test_load_real_pneumoniamnist_test_split():
    test = load_medmnist("pneumoniamnist", "test")
    assert test.images.shape == (624, 28, 28)
    assert test.path.name == "pneumoniamnist.npz"
    assert set(np.unique(test.labels)) == {0, 1}


# ------------------------------------------------------------------------------------------------
# Layouts and conversions (fake files)
# ------------------------------------------------------------------------------------------------

def test_rgb_images_become_channels_first(tmp_path):
    write_fake(tmp_path / "bloodmnist.npz", "bloodmnist")
    split = load_medmnist("bloodmnist", "train", data_dir=tmp_path, verify=False)
    assert split.images.shape == (6, 28, 28, 3)
    x = split.as_float_channels_first()
    assert x.shape == (6, 3, 28, 28)
    for c in range(3):
        np.testing.assert_allclose(x[:, c], split.images[..., c] / 255.0, rtol=1e-6)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_volumes_get_a_channel_axis(tmp_path):
    write_fake(tmp_path / "nodulemnist3d_64.npz", "nodulemnist3d", size=64)
    split = load_medmnist("nodulemnist3d", "val", size=64, data_dir=tmp_path, verify=False)
    assert split.images.shape == (3, 64, 64, 64)
    assert split.as_float_channels_first().shape == (3, 1, 64, 64, 64)


def test_multilabel_targets_are_float_matrix(tmp_path):
    write_fake(tmp_path / "chestmnist.npz", "chestmnist")
    split = load_medmnist("chestmnist", "test", data_dir=tmp_path, verify=False)
    t = split.targets()
    assert t.shape == (4, 14) and t.dtype == np.float32
    np.testing.assert_array_equal(t, split.labels)


def test_as_float_rejects_integer_dtype(tmp_path):
    write_fake(tmp_path / "breastmnist.npz", "breastmnist")
    split = load_medmnist("breastmnist", data_dir=tmp_path, verify=False)
    with pytest.raises(TypeError, match="float"):
        split.as_float_channels_first(dtype=np.int32)
    assert split.as_float_channels_first(dtype=np.float64).dtype == np.float64


# ------------------------------------------------------------------------------------------------
# Arguments and lookup
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"name": "mnist"}, "unknown MedMNIST"),
    ({"name": "breastmnist", "split": "training"}, "split"),
    ({"name": "breastmnist", "size": 32}, "size 32"),
    ({"name": "vesselmnist3d", "size": 224}, "size 224"),
])
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_medmnist(**kwargs)


def test_missing_file_error_names_file_folders_and_url(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_medmnist("dermamnist", data_dir=tmp_path / "nowhere")
    text = str(err.value)
    assert "dermamnist.npz" in text and str(tmp_path / "nowhere") in text
    assert INFO["dermamnist"].url(28) in text and "download=True" in text


def test_lookup_order_data_dir_then_env_then_cache(tmp_path, monkeypatch):
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    cache = mm.default_cache_dir()
    assert cache == tmp_path / "xdg" / "medgrad" / "medmnist"
    write_fake(cache / "octmnist.npz", "octmnist", counts=(1, 1, 1))
    assert load_medmnist("octmnist", data_dir=arg_dir, verify=False).path == cache / "octmnist.npz"

    monkeypatch.setenv("MEDGRAD_DATA_DIR", str(env_dir))
    write_fake(env_dir / "medmnist" / "octmnist.npz", "octmnist", counts=(2, 1, 1))
    assert len(load_medmnist("octmnist", data_dir=arg_dir, verify=False)) == 2

    write_fake(arg_dir / "octmnist.npz", "octmnist", counts=(3, 1, 1))
    assert len(load_medmnist("octmnist", data_dir=arg_dir, verify=False)) == 3

    dirs = medmnist_search_dirs(arg_dir)
    assert dirs[:4] == [arg_dir, arg_dir / "medmnist", env_dir, env_dir / "medmnist"]
    assert dirs[-1] == cache


def test_available_medmnist_lists_files_in_a_folder(tmp_path):
    write_fake(tmp_path / "bloodmnist.npz", "bloodmnist")
    write_fake(tmp_path / "medmnist" / "synapsemnist3d.npz", "synapsemnist3d")
    found = available_medmnist(tmp_path, only_data_dir=True)
    assert list(found) == ["bloodmnist", "synapsemnist3d"]  # in INFO order


# ------------------------------------------------------------------------------------------------
# Validation of what is loaded
# ------------------------------------------------------------------------------------------------

def test_truncated_file_gives_one_clear_error(tmp_path):
    path = write_fake(tmp_path / "breastmnist.npz", "breastmnist")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid .npz") as err:
        load_medmnist("breastmnist", data_dir=tmp_path, verify=False)
    assert str(path) in str(err.value) and "download" in str(err.value)


def test_corrupt_member_data_is_reported(tmp_path):
    path = write_fake(tmp_path / "breastmnist.npz", "breastmnist", compress=False)
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF  # inside train_images: the zip CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt") as err:
        load_medmnist("breastmnist", data_dir=tmp_path, verify=False)
    assert str(path) in str(err.value)


def test_missing_arrays_are_named(tmp_path):
    path = tmp_path / "breastmnist.npz"
    np.savez(path, train_images=np.zeros((1, 28, 28), np.uint8), train_labels=np.zeros((1, 1), np.uint8))
    with pytest.raises(ValueError, match="val_images"):
        load_medmnist("breastmnist", data_dir=tmp_path, verify=False)


@pytest.mark.parametrize("override, match", [
    ({"train_images": np.zeros((6, 28, 28), np.float32)}, "uint8"),
    ({"train_images": np.zeros((6, 29, 29), np.uint8)}, "expected \\(N, 28, 28\\)"),
    ({"train_images": np.zeros((6, 28, 28, 3), np.uint8)}, "expected \\(N, 28, 28\\)"),
    ({"train_labels": np.full((6, 1), 2, np.uint8)}, "label values span \\[2, 2\\]"),
    ({"train_labels": np.zeros((5, 1), np.uint8)}, "labels have shape"),
    ({"train_labels": np.zeros((6, 1), np.float32)}, "integers"),
])
def test_inconsistent_contents_are_rejected(tmp_path, override, match):
    write_fake(tmp_path / "breastmnist.npz", "breastmnist", **override)
    with pytest.raises(ValueError, match=match):
        load_medmnist("breastmnist", "train", data_dir=tmp_path, verify=False)


def test_verify_rejects_a_file_with_the_wrong_md5(tmp_path):
    path = write_fake(tmp_path / "breastmnist.npz", "breastmnist")
    with pytest.raises(ValueError, match="MD5") as err:
        load_medmnist("breastmnist", data_dir=tmp_path)
    assert str(path) in str(err.value) and INFO["breastmnist"].md5[28] in str(err.value)


def _patched_info(monkeypatch, name, path, counts, **changes):
    """Replace INFO[name] by a copy that describes the fake file at ``path``."""
    md5 = hashlib.md5(Path(path).read_bytes()).hexdigest()
    fields = {"n_samples": MappingProxyType(dict(zip(SPLITS, counts))),
              "md5": MappingProxyType({**INFO[name].md5, 28: md5})}
    fields.update(changes)
    monkeypatch.setitem(INFO, name, dataclasses.replace(INFO[name], **fields))


def test_verify_checks_published_split_sizes(tmp_path, monkeypatch):
    path = write_fake(tmp_path / "breastmnist.npz", "breastmnist")
    _patched_info(monkeypatch, "breastmnist", path, counts=(6, 3, 5))
    assert len(load_medmnist("breastmnist", "train", data_dir=tmp_path)) == 6
    with pytest.raises(ValueError, match="published test split"):
        load_medmnist("breastmnist", "test", data_dir=tmp_path)


def test_unknown_md5_skips_the_check_with_a_warning(tmp_path, monkeypatch):
    path = write_fake(tmp_path / "breastmnist.npz", "breastmnist")
    _patched_info(monkeypatch, "breastmnist", path, counts=(6, 3, 4),
                  md5=MappingProxyType({**INFO["breastmnist"].md5, 28: None}))
    with pytest.warns(UserWarning, match="no published MD5"):
        split = load_medmnist("breastmnist", data_dir=tmp_path)
    assert len(split) == 6


# ------------------------------------------------------------------------------------------------
# Memory maps
# ------------------------------------------------------------------------------------------------

def test_mmap_of_uncompressed_file_maps_in_place(tmp_path):
    path = write_fake(tmp_path / "pathmnist.npz", "pathmnist", compress=False)
    mapped = load_medmnist("pathmnist", "val", data_dir=tmp_path, mmap=True, verify=False)
    loaded = load_medmnist("pathmnist", "val", data_dir=tmp_path, verify=False)
    assert isinstance(mapped.images, np.memmap)
    assert Path(mapped.images.filename) == path.resolve()
    np.testing.assert_array_equal(mapped.images, loaded.images)
    assert not (mm.default_cache_dir() / "extracted").exists()


def test_mmap_of_compressed_file_extracts_once_to_cache(tmp_path):
    write_fake(tmp_path / "pathmnist.npz", "pathmnist", compress=True)
    mapped = load_medmnist("pathmnist", "train", data_dir=tmp_path, mmap=True, verify=False)
    loaded = load_medmnist("pathmnist", "train", data_dir=tmp_path, verify=False)
    assert isinstance(mapped.images, np.memmap)
    assert mm.default_cache_dir() / "extracted" in Path(mapped.images.filename).parents
    np.testing.assert_array_equal(mapped.images, loaded.images)
    np.testing.assert_allclose(mapped.as_float_channels_first(), loaded.as_float_channels_first())


# ------------------------------------------------------------------------------------------------
# download=True (local HTTP server, no network)
# ------------------------------------------------------------------------------------------------

class _FileHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = self.server.files.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_download_true_fetches_missing_file_into_cache(tmp_path, monkeypatch):
    source = write_fake(tmp_path / "src" / "dermamnist.npz", "dermamnist")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FileHandler)
    srv.files = {"/files/dermamnist.npz": source.read_bytes()}
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{srv.server_address[1]}/files"
        _patched_info(monkeypatch, "dermamnist", source, counts=(6, 3, 4), base_url=base)
        split = load_medmnist("dermamnist", "train", download=True, progress=False)
    finally:
        srv.shutdown()
        srv.server_close()
    assert split.path == mm.default_cache_dir() / "dermamnist.npz"
    assert split.path.read_bytes() == source.read_bytes()
    assert split.images.shape == (6, 28, 28, 3)
