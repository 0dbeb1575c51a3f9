"""tasks.data.gallery: the PNG contact sheet of MedMNIST datasets and phantoms."""

from __future__ import annotations

import importlib
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from tasks.data import gallery
from tasks.data.medmnist import INFO, SPLITS


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    monkeypatch.delenv("MEDGRAD_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def write_fake(folder: Path, name: str, n: int = 8, seed: int = 0) -> Path:
    """A tiny file in the MedMNIST layout, with structured images (gradients) so the PNG has content."""
    info = INFO[name]
    rng = np.random.default_rng(seed)
    shape = info.image_shape(28)  # (28, 28), (28, 28, 3) or (28, 28, 28): a ramp along axis 1 fits all
    ramp = np.linspace(0, 255, 28).reshape((1, 28) + (1,) * (len(shape) - 2))
    base = np.broadcast_to(ramp, shape).astype(np.uint8)
    arrays = {}
    for split in SPLITS:
        arrays[f"{split}_images"] = np.stack([np.roll(base, int(s), axis=1) for s in rng.integers(0, 28, n)])
        arrays[f"{split}_labels"] = rng.integers(0, info.n_classes, (n, 1)).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / info.file_name(28)
    np.savez_compressed(path, **arrays)
    return path


def _pixels(path: Path) -> np.ndarray:
    return matplotlib.image.imread(path)


def test_gallery_png_has_one_row_per_dataset(tmp_path):
    data = tmp_path / "data"
    for name in ("breastmnist", "bloodmnist", "nodulemnist3d"):
        write_fake(data, name)
    out = gallery.render_gallery(tmp_path / "out" / "sheet.png", data_dir=data, include_phantoms=False)
    assert out == tmp_path / "out" / "sheet.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 20_000
    pixels = _pixels(out)
    assert pixels.shape[0] == pytest.approx(3 * 1.9 * 100, abs=2)  # 3 rows at 1.9 in, 100 dpi
    assert pixels[..., :3].std() > 0.1  # images were drawn, not a blank canvas


def test_rows_use_class_names_and_the_seed(tmp_path):
    write_fake(tmp_path, "breastmnist", n=40)
    rows = gallery.medmnist_rows(tmp_path, seed=0, n_per_row=4)
    assert [title for title, _, _ in rows] == ["BreastMNIST"]
    _, images, titles = rows[0]
    assert len(images) == 4 and images[0].shape == (28, 28)
    assert set(titles) <= set(INFO["breastmnist"].class_names)
    same = gallery.medmnist_rows(tmp_path, seed=0, n_per_row=4)[0][1]
    other = gallery.medmnist_rows(tmp_path, seed=1, n_per_row=4)[0][1]
    assert all(np.array_equal(a, b) for a, b in zip(images, same))
    assert not all(np.array_equal(a, b) for a, b in zip(images, other))


def test_volumes_show_their_middle_slice(tmp_path):
    path = write_fake(tmp_path, "vesselmnist3d", n=3)
    (title, images, _), = gallery.medmnist_rows(tmp_path, n_per_row=3)
    assert title == "VesselMNIST3D (mid slice)"
    volumes = np.load(path)["train_images"]
    assert any(np.array_equal(images[0], v[14]) for v in volumes)


def test_phantom_rows_are_added(tmp_path, monkeypatch):
    write_fake(tmp_path, "breastmnist")
    fake = {"ellipses": [np.random.default_rng(0).random((32, 32)) for _ in range(3)],
            "skin": [np.random.default_rng(1).random((16, 16, 3)) * 4.0]}
    monkeypatch.setattr(gallery, "_phantom_samples", lambda seed: fake)
    out = gallery.render_gallery(tmp_path / "sheet.png", data_dir=tmp_path)
    assert _pixels(out).shape[0] == pytest.approx(3 * 1.9 * 100, abs=2)  # BreastMNIST + 2 phantom kinds
    rows = gallery.phantom_rows(n_per_row=2)
    assert [r[0] for r in rows] == ["phantom: ellipses", "phantom: skin"] and len(rows[0][1]) == 2


def test_bad_phantom_image_shape_is_rejected(monkeypatch):
    monkeypatch.setattr(gallery, "_phantom_samples", lambda seed: {"odd": [np.zeros((4, 4, 4, 4))]})
    with pytest.raises(ValueError, match="odd"):
        gallery.phantom_rows()


def test_real_phantom_package_if_available(tmp_path):
    try:
        phantoms = importlib.import_module("tasks.data.phantoms")
    except ImportError as err:
        pytest.skip(f"tasks.data.phantoms is not importable yet: {err}")
    if not hasattr(phantoms, "gallery_samples"):
        pytest.skip("tasks.data.phantoms.gallery_samples is not written yet")
    rows = gallery.phantom_rows(seed=0, n_per_row=2)
    assert rows, "gallery_samples returned no phantom kinds"
    out = gallery.render_gallery(tmp_path / "p.png", data_dir=tmp_path, n_per_row=2)
    assert out.stat().st_size > 5_000


def test_nothing_to_show_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gallery, "_phantom_samples", lambda seed: None)
    with pytest.raises(FileNotFoundError, match="no MedMNIST"):
        gallery.render_gallery(tmp_path / "x.png", data_dir=tmp_path / "empty")
    assert gallery.main(["--out", str(tmp_path / "x.png"), "--data-dir", str(tmp_path / "empty")]) == 1
    assert "no MedMNIST" in capsys.readouterr().err


def test_main_writes_the_png(tmp_path, capsys):
    write_fake(tmp_path / "d", "pneumoniamnist")
    out = tmp_path / "g.png"
    code = gallery.main(["--out", str(out), "--data-dir", str(tmp_path / "d"), "--seed", "3",
                         "--n-per-row", "2", "--no-phantoms"])
    assert code == 0 and out.is_file()
    assert capsys.readouterr().out.strip() == str(out)
