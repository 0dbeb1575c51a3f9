"""tasks.data.medical_io: NIfTI and DICOM round trips, geometry conventions, the real MRI volume."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from tasks.data.medical_io import axis_codes, read_dicom_series, read_nifti, write_dicom_series, write_nifti

MRI = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mri" / "volunteer_3d"

# Each half needs its own optional library; a missing one skips only its tests, with the reason shown.
needs_nibabel = pytest.mark.skipif(importlib.util.find_spec("nibabel") is None,
                                   reason="nibabel (extra 'medical-io') is not installed")
needs_pydicom = pytest.mark.skipif(importlib.util.find_spec("pydicom") is None,
                                   reason="pydicom (extra 'medical-io') is not installed")


# ------------------------------------------------------------------------------------------------
# Orientation codes
# ------------------------------------------------------------------------------------------------

def test_axis_codes_of_simple_affines():
    assert axis_codes(np.diag([0.5, 0.5, 2.0, 1.0])) == ("R", "A", "S")
    assert axis_codes(np.diag([-1.0, 1.0, -1.0, 1.0])) == ("L", "A", "I")
    swapped = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]], dtype=float)
    assert axis_codes(swapped) == ("A", "I", "R")


def test_axis_codes_of_oblique_affine_picks_closest_distinct_labels():
    angle = np.deg2rad(30)
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    assert axis_codes(rot) == ("R", "A", "S")


# ------------------------------------------------------------------------------------------------
# NIfTI
# ------------------------------------------------------------------------------------------------

@needs_nibabel
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32])
def test_nifti_round_trip_keeps_values_dtype_and_spacing(tmp_path, dtype):
    volume = (np.random.default_rng(0).normal(size=(5, 6, 7)) * 50).astype(dtype)
    path = write_nifti(tmp_path / "vol.nii.gz", volume, spacing=(0.5, 0.75, 2.0))
    array, meta = read_nifti(path)
    assert array.dtype == dtype
    np.testing.assert_array_equal(array, volume)
    np.testing.assert_allclose(meta.spacing, (0.5, 0.75, 2.0))
    np.testing.assert_allclose(meta.affine, np.diag([0.5, 0.75, 2.0, 1.0]))
    assert meta.orientation == ("R", "A", "S")


@needs_nibabel
def test_nifti_custom_affine_sets_origin_and_orientation(tmp_path):
    affine = np.array([[-2.0, 0, 0, 90], [0, 2.0, 0, -126], [0, 0, 2.0, -72], [0, 0, 0, 1]])
    volume = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    _, meta = read_nifti(write_nifti(tmp_path / "vol.nii", volume, affine=affine))
    np.testing.assert_allclose(meta.affine, affine)
    assert meta.orientation == ("L", "A", "S")
    assert meta.origin == (90.0, -126.0, -72.0)
    assert meta.spacing == (2.0, 2.0, 2.0)


@needs_nibabel
def test_nifti_2d_and_4d_arrays_and_bool_masks(tmp_path):
    image, meta2 = read_nifti(write_nifti(tmp_path / "img.nii", np.ones((4, 5), np.float32), spacing=(1, 2)))
    assert image.shape == (4, 5) and meta2.spacing == (1.0, 2.0)
    series, meta4 = read_nifti(write_nifti(tmp_path / "t.nii.gz", np.zeros((3, 3, 2, 5), np.int16)))
    assert series.shape == (3, 3, 2, 5) and len(meta4.spacing) == 3
    mask, _ = read_nifti(write_nifti(tmp_path / "mask.nii.gz", np.eye(3, dtype=bool)[None]))
    assert mask.dtype == np.uint8 and mask.sum() == 3


@needs_nibabel
def test_write_nifti_rejects_inconsistent_arguments(tmp_path):
    volume = np.zeros((2, 2, 2), np.float32)
    with pytest.raises(ValueError, match="disagrees"):
        write_nifti(tmp_path / "a.nii", volume, spacing=(1, 1, 1), affine=np.diag([2.0, 2, 2, 1]))
    with pytest.raises(ValueError, match=".nii"):
        write_nifti(tmp_path / "a.img", volume)
    with pytest.raises(ValueError, match="3 positive"):
        write_nifti(tmp_path / "a.nii", volume, spacing=(1, 1))
    with pytest.raises(FileNotFoundError, match="no file"):
        read_nifti(tmp_path / "missing.nii.gz")


@needs_nibabel
def test_reading_a_non_nifti_file_is_a_clear_error(tmp_path):
    path = tmp_path / "fake.nii"
    path.write_bytes(b"not a nifti header" * 30)
    with pytest.raises(ValueError, match="not a readable NIfTI"):
        read_nifti(path)


@needs_nibabel
@pytest.mark.skipif(not (MRI / "chris_t1.nii.gz").is_file(), reason=f"chris_t1.nii.gz not found in {MRI}")
def test_real_t1_volume():
    array, meta = read_nifti(MRI / "chris_t1.nii.gz")
    assert array.shape == (188, 256, 190) and array.dtype == np.uint8
    np.testing.assert_allclose(meta.spacing, (0.88, 0.88, 0.88), rtol=1e-5)
    assert meta.orientation == ("R", "A", "S")
    assert array.max() > 100  # a real brain, not an empty volume


def test_missing_nibabel_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "nibabel", None)  # makes `import nibabel` raise ImportError
    with pytest.raises(ImportError, match=r"medgrad\[medical-io\]"):
        read_nifti(tmp_path / "x.nii")
    with pytest.raises(ImportError, match="nibabel"):
        write_nifti(tmp_path / "x.nii", np.zeros((2, 2, 2)))


# ------------------------------------------------------------------------------------------------
# DICOM
# ------------------------------------------------------------------------------------------------

@needs_pydicom
def test_dicom_round_trip_sorts_by_position_not_file_name(tmp_path):
    volume = np.random.default_rng(1).integers(-1024, 3000, (6, 8, 9)).astype(np.int16)
    paths = write_dicom_series(tmp_path / "ct", volume, spacing=(2.5, 0.7, 0.8), origin=(10.0, -20.0, 30.0))
    # Rename so that alphabetical order is no longer slice order, and add a file that is not DICOM.
    for k, p in enumerate(paths):
        p.rename(p.with_name(f"img_{(k * 5) % 6}_{k}.dcm"))
    (tmp_path / "ct" / "README.txt").write_text("not dicom")
    read, meta = read_dicom_series(tmp_path / "ct")
    assert read.dtype == np.int16
    np.testing.assert_array_equal(read, volume)
    np.testing.assert_allclose(meta.spacing, (2.5, 0.7, 0.8))
    assert meta.extra["sorted_by"] == "ImagePositionPatient" and meta.extra["modality"] == "CT"
    # Axial slices: slice index -> superior, row index -> posterior, column index -> left (LPS axes).
    assert meta.orientation == ("S", "P", "L")
    # The affine maps voxel (k, r, c) to RAS+ mm: DICOM (x, y, z) LPS becomes (-x, -y, z).
    k, r, c = 3, 2, 5
    world = meta.affine @ np.array([k, r, c, 1.0])
    np.testing.assert_allclose(world[:3], [-(10.0 + c * 0.8), -(-20.0 + r * 0.7), 30.0 + k * 2.5])


@needs_pydicom
def test_dicom_float_volume_uses_rescale_slope_and_intercept(tmp_path):
    volume = np.random.default_rng(2).normal(100.0, 30.0, (3, 5, 4)).astype(np.float32)
    write_dicom_series(tmp_path, volume, spacing=(1, 1, 1))
    read, meta = read_dicom_series(tmp_path)
    slope = float(meta.extra["rescale_slope"][0])
    assert read.dtype == np.float32 and slope != 1.0
    assert np.abs(read - volume).max() <= slope / 2 + 1e-4


@needs_pydicom
def test_dicom_order_falls_back_to_instance_number(tmp_path):
    import pydicom

    volume = np.arange(4 * 3 * 3, dtype=np.int16).reshape(4, 3, 3)
    for p in write_dicom_series(tmp_path, volume):
        ds = pydicom.dcmread(p)
        del ds.ImagePositionPatient
        ds.save_as(p.with_name("z" + p.name[::-1]))  # scrambled name
        p.unlink()
    read, meta = read_dicom_series(tmp_path)
    assert meta.extra["sorted_by"] == "InstanceNumber"
    np.testing.assert_array_equal(read, volume)


@needs_pydicom
def test_dicom_folder_with_two_series_needs_a_choice(tmp_path):
    write_dicom_series(tmp_path, np.zeros((2, 3, 3), np.int16), series_uid="1.2.3.1")
    for p in write_dicom_series(tmp_path / "tmp", np.ones((3, 3, 3), np.int16), series_uid="1.2.3.2"):
        p.rename(tmp_path / f"b_{p.name}")
    with pytest.raises(ValueError, match="2 series"):
        read_dicom_series(tmp_path)
    read, _ = read_dicom_series(tmp_path, series_uid="1.2.3.2")
    assert read.shape == (3, 3, 3) and read.min() == 1


@needs_pydicom
def test_dicom_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_dicom_series(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no DICOM images"):
        read_dicom_series(tmp_path / "empty")
    with pytest.raises(ValueError, match="slices, rows, columns"):
        write_dicom_series(tmp_path / "x", np.zeros((1, 2, 3, 4)))


def test_missing_pydicom_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(ImportError, match=r"medgrad\[medical-io\]"):
        read_dicom_series(tmp_path)
    with pytest.raises(ImportError, match="pydicom"):
        write_dicom_series(tmp_path, np.zeros((1, 2, 2)))
