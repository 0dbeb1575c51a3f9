"""Read and write the two file formats of medical volumes: NIfTI (research) and DICOM (hospitals).

Both readers return ``(array, meta)`` where ``meta`` is a ``VolumeMeta``:

* ``spacing``: voxel size along each array axis, in mm;
* ``affine``: 4x4 matrix taking a voxel index (i, j, k, 1) to a world position in mm, in the RAS+
  convention of NIfTI/nibabel: world x grows towards the patient's Right, y towards Anterior,
  z towards Superior;
* ``orientation``: for each array axis, the anatomical direction in which its index grows (``"R"``,
  ``"A"``, ``"S"``, or their opposites ``"L"``, ``"P"``, ``"I"``), e.g. ``("R", "A", "S")``.

NIfTI arrays are returned in the file's own axis order (i, j, k). DICOM series are returned as
(slice, row, column): ``volume[k]`` is the k-th slice after sorting along the slice normal. DICOM
positions are in LPS+ (x to the Left, y Posterior, z Superior); we convert the affine to RAS+ by
negating x and y, so that metadata from both formats mean the same thing.

The libraries (nibabel for NIfTI, pydicom for DICOM) are the optional extra ``medical-io``; without
them these functions raise ImportError saying how to install it.

References: NIfTI-1 format, https://nifti.nimh.nih.gov/nifti-1 ; DICOM PS3.3, C.7.6.2 (Image Plane
Module: ImagePositionPatient, ImageOrientationPatient, PixelSpacing) and C.11.1 / C.8.2.1 (Modality
LUT: RescaleSlope and RescaleIntercept, output = stored * slope + intercept).
"""

from __future__ import annotations

import importlib
import itertools
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "VolumeMeta",
    "axis_codes",
    "read_dicom_series",
    "read_nifti",
    "write_dicom_series",
    "write_nifti",
]

_EXTRA_HINT = "install the optional extra with: pip install 'medgrad[medical-io]'"
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _require(module: str, caller: str):
    """Import an optional dependency, or raise ImportError naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{caller} needs the '{module}' package, part of the 'medical-io' extra; "
                          f"{_EXTRA_HINT}") from err


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class VolumeMeta:
    """Geometry of a volume read from disk (see the module docstring for conventions).

    Attributes:
        spacing: voxel size along each spatial array axis (mm).
        affine: (4, 4) float64, voxel index -> RAS+ world mm.
        orientation: anatomical direction of increasing index for each spatial axis.
        origin: world position (RAS+, mm) of voxel (0, 0, 0).
        extra: format-specific details (file names, UIDs, units, ...).
    """

    spacing: tuple[float, ...]
    affine: np.ndarray
    orientation: tuple[str, ...]
    origin: tuple[float, float, float]
    extra: dict = field(default_factory=dict)


def axis_codes(affine: np.ndarray, n_axes: int = 3) -> tuple[str, ...]:
    """Anatomical direction of each voxel axis of a RAS+ affine, e.g. ``("R", "A", "S")``.

    Each voxel axis is matched to a distinct world axis: of the 6 possible matchings, the one whose
    direction cosines have the largest total magnitude wins (so oblique scans get their closest
    labels without two axes getting the same one). The sign of the cosine picks R/L, A/P or S/I.
    """
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4):
        raise ValueError(f"axis_codes: affine must be (4, 4), got {affine.shape}")
    columns = affine[:3, :3]
    norms = np.linalg.norm(columns, axis=0)
    if np.any(norms == 0):
        raise ValueError("axis_codes: the affine has a zero column (degenerate voxel axis)")
    cosines = columns / norms  # cosines[world, voxel]
    perms = np.array(list(itertools.permutations(range(3))))  # perms[p, voxel] = world axis
    scores = np.abs(cosines[perms, np.arange(3)]).sum(axis=1)
    best = perms[int(np.argmax(scores))]
    labels = (("L", "R"), ("P", "A"), ("I", "S"))
    codes = tuple(labels[w][1] if cosines[w, v] > 0 else labels[w][0] for v, w in enumerate(best))
    return codes[:n_axes]


# --------------------------------------------------------------------------------------------------
# NIfTI
# --------------------------------------------------------------------------------------------------

def read_nifti(path: str | os.PathLike) -> tuple[np.ndarray, VolumeMeta]:
    """Read a NIfTI-1/2 file (``.nii`` or ``.nii.gz``).

    Returns:
        array: the voxels in file axis order, e.g. (X, Y, Z) or (X, Y, Z, T). The stored dtype is
            kept, unless the header has a scaling (scl_slope/scl_inter), which is applied (float).
        meta: ``VolumeMeta`` with spacing (from the header's pixdim), RAS+ affine and orientation.
    """
    nib = _require("nibabel", "read_nifti")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_nifti: no file at {path}")
    try:
        img = nib.load(str(path))
    except Exception as err:  # nibabel raises several types for a bad file
        raise ValueError(f"read_nifti: {path} is not a readable NIfTI file "
                         f"({type(err).__name__}: {err})") from err
    data = np.asanyarray(img.dataobj)
    n_spatial = min(data.ndim, 3)
    affine = np.asarray(img.affine, dtype=np.float64)
    zooms = tuple(float(z) for z in img.header.get_zooms())
    xyz_units, t_units = img.header.get_xyzt_units()
    meta = VolumeMeta(
        spacing=zooms[:n_spatial],
        affine=affine,
        orientation=axis_codes(affine, n_spatial),
        origin=tuple(float(v) for v in affine[:3, 3]),
        extra={"format": "nifti", "path": str(path), "dtype_on_disk": str(img.get_data_dtype()),
               "zooms": zooms, "xyz_units": xyz_units, "t_units": t_units},
    )
    return data, meta


def _nifti_compatible(array: np.ndarray, caller: str) -> np.ndarray:
    """Cast dtypes NIfTI cannot store (bool, float16, int64 beyond int32) to ones it can."""
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if array.dtype == np.float16:
        return array.astype(np.float32)
    if array.dtype in (np.int64, np.uint64):
        # nibabel warns about 64-bit integers (many tools cannot read them); int32 is exact if it fits
        info = np.iinfo(np.int32)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise ValueError(f"{caller}: int64 values outside the int32 range cannot be stored portably")
        return array.astype(np.int32)
    if array.dtype.kind not in "uif":
        raise TypeError(f"{caller}: cannot store dtype {array.dtype} in NIfTI")
    return array


def write_nifti(path: str | os.PathLike, array: np.ndarray, spacing: tuple[float, ...] | None = None,
                affine: np.ndarray | None = None) -> Path:
    """Write ``array`` (2 to 7 axes, the first three spatial) as NIfTI-1; return the path.

    Args:
        path: ends in ``.nii`` or ``.nii.gz`` (compressed).
        array: voxels in (i, j, k, ...) order.
        spacing: voxel size of the spatial axes in mm (default 1). Used to build a diagonal affine
            when ``affine`` is None; when both are given they must agree.
        affine: (4, 4) voxel -> RAS+ world matrix.
    """
    nib = _require("nibabel", "write_nifti")
    path = Path(path)
    if not (path.name.endswith(".nii") or path.name.endswith(".nii.gz")):
        raise ValueError(f"write_nifti: {path} must end in .nii or .nii.gz")
    array = np.asarray(array)
    if not 2 <= array.ndim <= 7:
        raise ValueError(f"write_nifti: array must have 2 to 7 axes, got shape {array.shape}")
    array = _nifti_compatible(array, "write_nifti")
    n_spatial = min(array.ndim, 3)
    if spacing is not None:
        spacing = tuple(float(s) for s in spacing)
        if len(spacing) != n_spatial or min(spacing) <= 0:
            raise ValueError(f"write_nifti: spacing must be {n_spatial} positive numbers for shape "
                             f"{array.shape}, got {spacing}")
    if affine is None:
        diag = list(spacing or (1.0,) * n_spatial) + [1.0] * (3 - n_spatial)
        affine = np.diag(diag + [1.0])
    else:
        affine = np.asarray(affine, dtype=np.float64)
        if affine.shape != (4, 4):
            raise ValueError(f"write_nifti: affine must be (4, 4), got {affine.shape}")
        if spacing is not None:
            implied = np.linalg.norm(affine[:3, :n_spatial], axis=0)
            if not np.allclose(implied, spacing, rtol=1e-5):
                raise ValueError(f"write_nifti: spacing {spacing} disagrees with the affine's voxel sizes "
                                 f"{tuple(implied.round(6))}; give one or make them consistent")
    img = nib.Nifti1Image(array, affine)
    img.set_qform(affine, code=1)  # code 1 = scanner-based coordinates
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path


# --------------------------------------------------------------------------------------------------
# DICOM
# --------------------------------------------------------------------------------------------------

def _read_datasets(folder: Path, pydicom) -> list:
    """Every DICOM image (a dataset with pixel data) directly inside ``folder``."""
    errors = importlib.import_module("pydicom.errors")
    datasets = []
    for p in sorted(folder.iterdir()):
        if not p.is_file():
            continue
        try:
            ds = pydicom.dcmread(p)
        except (errors.InvalidDicomError, EOFError):
            continue  # not DICOM (a README, a DICOMDIR fragment ...): skip it
        if "PixelData" in ds:
            ds.filename = str(p)
            datasets.append(ds)
    return datasets


def _floats(value, default=None) -> np.ndarray:
    """A DICOM multi-valued number (e.g. ImagePositionPatient) as float64, or ``default`` when absent."""
    if value is None:
        return np.asarray(default, dtype=np.float64)
    return np.asarray([float(v) for v in value], dtype=np.float64)


def read_dicom_series(folder: str | os.PathLike,
                      series_uid: str | None = None) -> tuple[np.ndarray, VolumeMeta]:
    """Read a single-frame DICOM series from a folder into a (slices, rows, columns) volume.

    Slices are sorted by their position along the slice normal (ImagePositionPatient projected on
    row_cosines x column_cosines); when positions are missing, by InstanceNumber. Stored values are
    mapped through the modality LUT, ``value = stored * RescaleSlope + RescaleIntercept`` (float32
    when any slice has a non-trivial rescale, else the stored integer dtype). Spacing is
    (slice step, PixelSpacing[0] (between rows), PixelSpacing[1] (between columns)), in mm, the slice
    step measured from the slice positions.

    Args:
        folder: folder holding the files (non-DICOM files are skipped).
        series_uid: which series to read when the folder holds several.
    """
    pydicom = _require("pydicom", "read_dicom_series")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"read_dicom_series: no folder at {folder}")
    datasets = _read_datasets(folder, pydicom)
    if not datasets:
        raise ValueError(f"read_dicom_series: no DICOM images in {folder}")
    by_series: dict[str, list] = {}
    for ds in datasets:
        by_series.setdefault(str(getattr(ds, "SeriesInstanceUID", "")), []).append(ds)
    if series_uid is None:
        if len(by_series) > 1:
            listing = ", ".join(f"{uid} ({len(v)} files)" for uid, v in by_series.items())
            raise ValueError(f"read_dicom_series: {folder} holds {len(by_series)} series; pick one with "
                             f"series_uid=...: {listing}")
        series_uid = next(iter(by_series))
    if series_uid not in by_series:
        raise ValueError(f"read_dicom_series: series {series_uid!r} not found in {folder}")
    series = by_series[series_uid]
    if any(int(getattr(ds, "NumberOfFrames", 1) or 1) > 1 for ds in series):
        raise ValueError(f"read_dicom_series: {folder} holds multi-frame images, which are not supported")
    shapes = {(int(ds.Rows), int(ds.Columns)) for ds in series}
    if len(shapes) > 1:
        raise ValueError(f"read_dicom_series: slices of series {series_uid} have different sizes "
                         f"{sorted(shapes)}")

    orientation = _floats(getattr(series[0], "ImageOrientationPatient", None), [1, 0, 0, 0, 1, 0])
    row_cos, col_cos = orientation[:3], orientation[3:]
    normal = np.cross(row_cos, col_cos)
    has_positions = all("ImagePositionPatient" in ds for ds in series)
    if has_positions:
        positions = np.stack([_floats(ds.ImagePositionPatient) for ds in series])
        order = np.argsort(positions @ normal, kind="stable")
    elif all("InstanceNumber" in ds for ds in series):
        order = np.argsort([int(ds.InstanceNumber) for ds in series], kind="stable")
        positions = None
    else:
        raise ValueError(f"read_dicom_series: slices in {folder} have neither ImagePositionPatient nor "
                         f"InstanceNumber, so their order is unknown")
    series = [series[i] for i in order]

    pixel_spacing = _floats(getattr(series[0], "PixelSpacing", None), [1.0, 1.0])
    if positions is not None:
        positions = positions[order]
        along = positions @ normal
        steps = np.diff(along)
        if steps.size and np.any(np.isclose(steps, 0.0, atol=1e-6)):
            raise ValueError(f"read_dicom_series: several slices of series {series_uid} share one position "
                             f"(several time points or echoes?); split them before reading")
    if positions is not None and len(series) > 1:
        slice_step = float(np.median(steps))
        if not np.allclose(steps, slice_step, rtol=1e-3, atol=1e-3):
            warnings.warn(f"read_dicom_series: slice spacing in {folder} is not uniform (from "
                          f"{steps.min():.4g} to {steps.max():.4g} mm); using the median {slice_step:.4g}",
                          stacklevel=2)
        step_vector = (positions[-1] - positions[0]) / (len(series) - 1)
        origin_lps = positions[0]
    else:
        ds0 = series[0]
        slice_step = float(getattr(ds0, "SpacingBetweenSlices", None) or getattr(ds0, "SliceThickness", None)
                           or 1.0)
        step_vector = normal * slice_step
        origin_lps = positions[0] if positions is not None else np.zeros(3)

    stored = np.stack([ds.pixel_array for ds in series])  # (Z, rows, columns)
    slopes = np.array([float(getattr(ds, "RescaleSlope", 1.0)) for ds in series])
    intercepts = np.array([float(getattr(ds, "RescaleIntercept", 0.0)) for ds in series])
    if np.all(slopes == 1.0) and np.all(intercepts == 0.0):
        volume = stored
    else:
        volume = (stored.astype(np.float32) * slopes[:, None, None].astype(np.float32)
                  + intercepts[:, None, None].astype(np.float32))

    # Voxel (k, r, c) sits at origin + k * step + r * PixelSpacing[0] * col_cos + c * PixelSpacing[1] *
    # row_cos (PS3.3 C.7.6.2.1.1: the first row cosine is the direction of increasing column index).
    affine_lps = np.eye(4)
    affine_lps[:3, 0] = step_vector
    affine_lps[:3, 1] = col_cos * pixel_spacing[0]
    affine_lps[:3, 2] = row_cos * pixel_spacing[1]
    affine_lps[:3, 3] = origin_lps
    affine = _LPS_TO_RAS @ affine_lps
    meta = VolumeMeta(
        spacing=(abs(slice_step), float(pixel_spacing[0]), float(pixel_spacing[1])),
        affine=affine,
        orientation=axis_codes(affine),
        origin=tuple(float(v) for v in affine[:3, 3]),
        extra={"format": "dicom", "series_uid": series_uid,
               "modality": str(getattr(series[0], "Modality", "")),
               "files": [ds.filename for ds in series],
               "rescale_slope": slopes, "rescale_intercept": intercepts,
               "sorted_by": "ImagePositionPatient" if positions is not None else "InstanceNumber"},
    )
    return volume, meta


def _ds_number(value: float) -> float:
    """``value`` rounded to what a DICOM decimal string (at most 16 characters) can hold."""
    valuerep = importlib.import_module("pydicom.valuerep")
    return float(valuerep.DSfloat(value, auto_format=True))


def write_dicom_series(folder: str | os.PathLike, volume: np.ndarray,
                       spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
                       origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
                       series_uid: str | None = None, patient_id: str = "MEDGRAD-TEST") -> list[Path]:
    """Write ``volume`` (slices, rows, columns) as a minimal CT series, one file per slice.

    Axial slices (ImageOrientationPatient = [1, 0, 0, 0, 1, 0]); slice k is at
    ``origin + (0, 0, k * spacing[0])`` in DICOM patient coordinates (LPS, mm); PixelSpacing is
    (spacing[1], spacing[2]). Integer volumes that fit int16 or uint16 are stored as they are; other
    volumes (floats, wider integers) are stored as uint16 with RescaleSlope/Intercept chosen to span
    their range, so they read back to within half a slope step. Returns the file paths in slice order.

    Meant for tests and teaching; it writes the tags the Image Plane, Image Pixel and CT Image modules
    need for this reader and common viewers, not a complete clinical header.
    """
    pydicom = _require("pydicom", "write_dicom_series")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    volume = np.asarray(volume)
    if volume.ndim == 2:
        volume = volume[None]
    if volume.ndim != 3 or min(volume.shape) == 0:
        raise ValueError(f"write_dicom_series: volume must be (slices, rows, columns), got shape "
                         f"{volume.shape}")
    if volume.dtype.kind not in "biuf":
        raise TypeError(f"write_dicom_series: cannot store dtype {volume.dtype}")
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"write_dicom_series: spacing must be 3 positive numbers, got {spacing}")

    lo, hi = float(volume.min()), float(volume.max())
    if volume.dtype.kind in "biu" and lo >= -32768 and hi <= 32767:
        stored, signed, slope, intercept = volume.astype("<i2"), True, 1.0, 0.0
    elif volume.dtype.kind in "bu" and hi <= 65535:
        stored, signed, slope, intercept = volume.astype("<u2"), False, 1.0, 0.0
    else:  # quantise the range [lo, hi] onto 0..65535
        intercept = _ds_number(lo)
        slope = _ds_number((hi - intercept) / 65535.0) if hi > intercept else 1.0
        levels = np.rint((volume.astype(np.float64) - intercept) / slope)
        stored, signed = np.clip(levels, 0, 65535).astype("<u2"), False

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    study_uid, frame_uid = generate_uid(), generate_uid()
    series_uid = series_uid or generate_uid()
    legacy = int(pydicom.__version__.split(".")[0]) < 3
    paths = []
    for k in range(stored.shape[0]):
        sop_uid = generate_uid()
        file_meta = FileMetaDataset()
        file_meta.MediaStorageSOPClassUID = CTImageStorage
        file_meta.MediaStorageSOPInstanceUID = sop_uid
        file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"slice_{k:04d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=file_meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.PatientName = "Test^Phantom"
        ds.PatientID = patient_id
        ds.Modality = "CT"
        ds.SeriesNumber = 1
        ds.InstanceNumber = k + 1
        position = [float(origin[0]), float(origin[1]), float(origin[2]) + k * spacing[0]]
        ds.ImagePositionPatient = [_ds_number(v) for v in position]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [_ds_number(spacing[1]), _ds_number(spacing[2])]
        ds.SliceThickness = _ds_number(spacing[0])
        ds.SliceLocation = _ds_number(position[2])
        ds.Rows, ds.Columns = int(stored.shape[1]), int(stored.shape[2])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if signed else 0
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.RescaleType = "US"  # unspecified units
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        if legacy:  # pydicom 2.x takes the encoding from these flags
            ds.is_little_endian, ds.is_implicit_VR = True, False
            ds.save_as(str(path), write_like_original=False)
        else:
            ds.save_as(str(path), enforce_file_format=True)
        paths.append(path)
    return paths
