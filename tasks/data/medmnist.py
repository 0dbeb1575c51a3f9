"""MedMNIST v2 / MedMNIST+ : eighteen small, standardised biomedical image-classification datasets.

Each dataset is one ``.npz`` file (a zip of ``.npy`` arrays) with six members::

    train_images, val_images, test_images   uint8   (N, S, S)      2D grey
                                                    (N, S, S, 3)   2D RGB
                                                    (N, S, S, S)   3D (D, H, W) grey
    train_labels, val_labels, test_labels   uint8   (N, L)         L = 1, or the number of labels
                                                                   for the multi-label ChestMNIST

S is the image side: 28 (the original MedMNIST v2), or 64, 128, 224 for the larger 2D versions and 64
for the larger 3D versions added by MedMNIST+. The file for size 28 is ``<name>.npz``, the others are
``<name>_<S>.npz``; all live in Zenodo record 10519652.

``INFO`` holds the published facts for every dataset (task, channels, class names, split sizes,
licence, file MD5s). They were transcribed from ``medmnist/info.py`` of the official ``medmnist``
package, version 3.0.2 (https://github.com/MedMNIST/MedMNIST). Every size of every dataset has a
published MD5; an entry of ``None`` (possible for hand-made entries) makes the loader skip the check
with a warning. The 28x28 MD5s of BreastMNIST and PneumoniaMNIST were checked against the real files
in ``../shared/data/medmnist`` (see ``tests/tasks/data/test_medmnist.py``).

Licences: CC BY 4.0, except DermaMNIST (CC BY-NC 4.0, inherited from HAM10000).

References:
    Yang J. et al., "MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical
    image classification", Scientific Data 10, 41 (2023).
    Doerrich S. et al., "Rethinking model prototyping through the MedMNIST+ dataset collection",
    arXiv:2404.15786 (2024).

Typical use::

    train = load_medmnist("breastmnist", "train")
    x = train.as_float_channels_first()   # (N, 1, 28, 28) float32 in [0, 1]
    y = train.targets()                   # (N,) int64 class indices
"""

from __future__ import annotations

import os
import shutil
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from tasks.data import download as _download_module

__all__ = [
    "BASE_URL",
    "INFO",
    "NAMES_2D",
    "NAMES_3D",
    "SPLITS",
    "TASKS",
    "MedMNISTInfo",
    "MedMNISTSplit",
    "available_medmnist",
    "default_cache_dir",
    "find_medmnist_file",
    "get_info",
    "load_medmnist",
    "medmnist_search_dirs",
]

ZENODO_RECORD = "10519652"
BASE_URL = f"https://zenodo.org/records/{ZENODO_RECORD}/files"
SPLITS = ("train", "val", "test")
TASKS = ("binary-class", "multi-class", "multi-label", "ordinal-regression")
SIZES_2D = (28, 64, 128, 224)
SIZES_3D = (28, 64)

# tasks/data/medmnist.py -> repository root is three levels up
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class MedMNISTInfo:
    """Published facts about one MedMNIST dataset.

    Attributes:
        name: file stem, e.g. ``"pathmnist"``.
        title: display name, e.g. ``"PathMNIST"``.
        modality: what the images are, in a few words.
        ndim: 2 for images, 3 for volumes.
        task: one of ``TASKS``. (The official table calls ChestMNIST "multi-label, binary-class":
            14 independent yes/no labels.)
        n_channels: 1 (grey) or 3 (RGB).
        class_names: label index -> name (for multi-label: label column -> finding).
        n_samples: split -> number of samples (identical for every image size).
        license: the licence of the dataset.
        md5: image size -> MD5 of the official file, or None when unknown.
        base_url: folder URL the files are downloaded from.
    """

    name: str
    title: str
    modality: str
    ndim: int
    task: str
    n_channels: int
    class_names: tuple[str, ...]
    n_samples: Mapping[str, int]
    license: str
    md5: Mapping[int, str | None]
    base_url: str = field(default=BASE_URL)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Published image sides (28/64/128/224 for 2D, 28/64 for 3D)."""
        return tuple(self.md5)

    @property
    def n_classes(self) -> int:
        """Number of classes (single-label tasks) or of label columns (multi-label)."""
        return len(self.class_names)

    @property
    def label_width(self) -> int:
        """Columns of the stored label array: the number of labels for multi-label, else 1."""
        return self.n_classes if self.task == "multi-label" else 1

    def file_name(self, size: int = 28) -> str:
        """``<name>.npz`` for size 28, ``<name>_<size>.npz`` otherwise (as published)."""
        self._check_size(size)
        return f"{self.name}.npz" if size == 28 else f"{self.name}_{size}.npz"

    def url(self, size: int = 28) -> str:
        """Download address of the file of this size."""
        return f"{self.base_url}/{self.file_name(size)}?download=1"

    def image_shape(self, size: int = 28) -> tuple[int, ...]:
        """Shape of one stored image: (S, S), (S, S, 3) or (S, S, S)."""
        self._check_size(size)
        if self.ndim == 3:
            return (size, size, size)
        return (size, size) if self.n_channels == 1 else (size, size, 3)

    def _check_size(self, size: int) -> None:
        if size not in self.md5:
            raise ValueError(f"{self.title}: size {size!r} is not published; available sizes: {self.sizes}")


def _info(name: str, title: str, modality: str, task: str, n_channels: int, class_names: tuple[str, ...],
          n_samples: tuple[int, int, int], md5: tuple[str | None, ...],
          license: str = "CC BY 4.0") -> MedMNISTInfo:
    ndim = 3 if name.endswith("3d") else 2
    sizes = SIZES_3D if ndim == 3 else SIZES_2D
    if len(md5) != len(sizes):
        raise AssertionError(f"{name}: {len(md5)} MD5s for sizes {sizes}")
    return MedMNISTInfo(
        name=name, title=title, modality=modality, ndim=ndim, task=task, n_channels=n_channels,
        class_names=class_names, n_samples=MappingProxyType(dict(zip(SPLITS, n_samples))),
        license=license, md5=MappingProxyType(dict(zip(sizes, md5))),
    )


_ORGANS_2D = ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver",
              "lung-left", "lung-right", "pancreas", "spleen")
# OrganMNIST3D numbers the same eleven organs in a different order (as published).
_ORGANS_3D = ("liver", "kidney-right", "kidney-left", "femur-right", "femur-left", "bladder", "heart",
              "lung-right", "lung-left", "spleen", "pancreas")

# Published numbers, medmnist 3.0.2 medmnist/info.py. MD5 tuples are for sizes (28, 64, 128, 224) in 2D and
# (28, 64) in 3D. Split sizes are (train, val, test).
_TABLE = (
    _info("pathmnist", "PathMNIST", "colon pathology (H&E patches)", "multi-class", 3,
          ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa",
           "cancer-associated stroma", "colorectal adenocarcinoma epithelium"),
          (89996, 10004, 7180),
          ("a8b06965200029087d5bd730944a56c1", "55aa9c1e0525abe5a6b9d8343a507616",
           "ac42d08fb904d92c244187169d1fd1d9", "2c51a510bcdc9cf8ddb2af93af1eadec")),
    _info("chestmnist", "ChestMNIST", "chest X-ray (NIH ChestX-ray14)", "multi-label", 1,
          ("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia",
           "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia"),
          (78468, 11219, 22433),
          ("02c8a6516a18b556561a56cbdd36c4a8", "9de6cd0b934ebb5b7426cfba5efbae16",
           "db107e5590b27930b62dbaf558aebee3", "45bd33e6f06c3e8cdb481c74a89152aa")),
    _info("dermamnist", "DermaMNIST", "dermatoscopy (HAM10000)", "multi-class", 3,
          ("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
           "benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi",
           "vascular lesions"),
          (7007, 1003, 2005),
          ("0744692d530f8e62ec473284d019b0c7", "b70a2f5635c6199aeaa28c31d7202e1f",
           "2defd784463fa5243564e855ed717de1", "8974907d8e169bef5f5b96bc506ae45d"),
          license="CC BY-NC 4.0"),
    _info("octmnist", "OCTMNIST", "retinal optical coherence tomography", "multi-class", 1,
          ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
          (97477, 10832, 1000),
          ("c68d92d5b585d8d81f7112f81e2d0842", "e229e9440236b774d9f0dfef9d07bdaf",
           "0a97e76651ace45c5d943ee3f65b63ae", "abc493b6d529d5de7569faaef2773ba3")),
    _info("pneumoniamnist", "PneumoniaMNIST", "paediatric chest X-ray", "binary-class", 1,
          ("normal", "pneumonia"),
          (4708, 524, 624),
          ("28209eda62fecd6e6a2d98b1501bb15f", "8f4eceb4ccffa70c672198ea285246c6",
           "05b46931834c231683c68f40c47b2971", "d6a3c71de1b945ea11211b03746c1fe1")),
    _info("retinamnist", "RetinaMNIST", "retinal fundus photography (DeepDRiD)", "ordinal-regression", 3,
          ("0", "1", "2", "3", "4"),
          (1080, 120, 400),
          ("bd4c0672f1bba3e3a89f0e4e876791e4", "afda852cc34dcda56f86ad2b2457dbcc",
           "e48e916a24454daf90583d4e6efb1a18", "eae7e3b6f3fcbda4ae613ebdcbe35348")),
    _info("breastmnist", "BreastMNIST", "breast ultrasound", "binary-class", 1,
          ("malignant", "normal, benign"),
          (546, 78, 156),
          ("750601b1f35ba3300ea97c75c52ff8f6", "742edef2a1fd1524b2efff4bd7ba9364",
           "363e4b3f8d712e9b5de15470a2aaadf1", "b56378a6eefa9fed602bb16d192d4c8b")),
    _info("bloodmnist", "BloodMNIST", "blood cell microscopy", "multi-class", 3,
          ("basophil", "eosinophil", "erythroblast",
           "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)", "lymphocyte", "monocyte",
           "neutrophil", "platelet"),
          (11959, 1712, 3421),
          ("7053d0359d879ad8a5505303e11de1dc", "2b94928a2ae4916078ca51e05b6b800b",
           "adace1e0ed228fccda1f39692059dd4c", "b718ff6835fcbdb22ba9eacccd7b2601")),
    _info("tissuemnist", "TissueMNIST", "kidney cortex cell microscopy (BBBC051)", "multi-class", 1,
          ("Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule", "Glomerular endothelial cells",
           "Interstitial endothelial cells", "Leukocytes", "Podocytes", "Proximal Tubule Segments",
           "Thick Ascending Limb"),
          (165466, 23640, 47280),
          ("ebe78ee8b05294063de985d821c1c34b", "123ece2eba09d0aa5d698fda57103344",
           "61b955355d7425a89687b06cca3ce0c2", "b077128c4a949f0a4eb01517f9037b9c")),
    _info("organamnist", "OrganAMNIST", "abdominal CT, axial slices (LiTS)", "multi-class", 1, _ORGANS_2D,
          (34561, 6491, 17778),
          ("68e3f8846a6bd62f0c9bf841c0d9eacc", "2dcccc29b88e6da5a01161ef20cda288",
           "eeae80d0a227a8d099027e1b3cfd3b60", "50747347e05c87dd3aaf92c49f9f3170")),
    _info("organcmnist", "OrganCMNIST", "abdominal CT, coronal slices (LiTS)", "multi-class", 1, _ORGANS_2D,
          (12975, 2392, 8216),
          ("b9ceb9546e10131b32923c5bbeaea2b1", "3ce34a8724ea6f548e6db4744d03b6a9",
           "773c1f009daa3fe5d9a2a201b2a7ed94", "050f5e875dc056f6768abf94ec9995d1")),
    _info("organsmnist", "OrganSMNIST", "abdominal CT, sagittal slices (LiTS)", "multi-class", 1, _ORGANS_2D,
          (13932, 2452, 8827),
          ("9ab87b696fb54e2a387ebe992d6ed5f1", "53a6d115339d874c25e309a994ff46d3",
           "ded0c5fa01a95dc4978b956f613e9b8e", "b354719e553fbbb2513d5533f52a4cb1")),
    _info("organmnist3d", "OrganMNIST3D", "abdominal CT volumes (LiTS)", "multi-class", 1, _ORGANS_3D,
          (971, 161, 610),
          ("a0c5a1ff56af4f155c46d46fbb45a2fe", "58a2205adf14a9d0a189cb06dc78bf10")),
    _info("nodulemnist3d", "NoduleMNIST3D", "chest CT lung nodules (LIDC-IDRI)", "binary-class", 1,
          ("benign", "malignant"),
          (1158, 165, 310),
          ("8755a7e9e05a4d9ce80a24c3e7a256f3", "c47c5b7d457bf6332200d2ea6d64ecd8")),
    _info("adrenalmnist3d", "AdrenalMNIST3D", "adrenal gland shapes from abdominal CT", "binary-class", 1,
          ("normal", "hyperplasia"),
          (1188, 98, 298),
          ("bbd3c5a5576322bc4cdfea780653b1ce", "17721accfe9fb005146a47d33bc54b2f")),
    _info("fracturemnist3d", "FractureMNIST3D", "chest CT rib fractures (RibFrac)", "multi-class", 1,
          ("buckle rib fracture", "nondisplaced rib fracture", "displaced rib fracture"),
          (1027, 103, 240),
          ("6aa7b0143a6b42da40027a9dda61302f", "f01d7e6316aedf4210da0da5b7437b42")),
    _info("vesselmnist3d", "VesselMNIST3D", "brain vessel shapes from MRA (IntrA)", "binary-class", 1,
          ("vessel", "aneurysm"),
          (1335, 191, 382),
          ("b41fd4f7e7e2feedddb201585ecafa1b", "6bb274a8846e1097066dcd64e2c4520f")),
    _info("synapsemnist3d", "SynapseMNIST3D", "electron microscopy of synapses", "binary-class", 1,
          ("inhibitory synapse", "excitatory synapse"),
          (1230, 177, 352),
          ("1235b78a3cd6280881dd7850a78eadb6", "43bd14ebf3af9d3dd072446fedc14d5e")),
)

INFO: dict[str, MedMNISTInfo] = {info.name: info for info in _TABLE}
NAMES_2D = tuple(name for name, info in INFO.items() if info.ndim == 2)
NAMES_3D = tuple(name for name, info in INFO.items() if info.ndim == 3)


def get_info(name: str) -> MedMNISTInfo:
    """The ``MedMNISTInfo`` of a dataset; the name is case-insensitive (``"PathMNIST"`` works)."""
    key = str(name).lower()
    if key not in INFO:
        raise ValueError(f"unknown MedMNIST dataset {name!r}; known: {', '.join(INFO)}")
    return INFO[key]


# --------------------------------------------------------------------------------------------------
# Where the files live
# --------------------------------------------------------------------------------------------------

def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/medgrad/medmnist``, or ``~/.cache/medgrad/medmnist`` when it is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "medgrad" / "medmnist"


def medmnist_search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for MedMNIST files, in order.

    1. ``data_dir`` (and its ``medmnist/`` subfolder), when given;
    2. ``$MEDGRAD_DATA_DIR`` and ``$MEDGRAD_DATA_DIR/medmnist``, when the variable is set;
    3. ``../shared/data/medmnist`` next to the repository, when it exists;
    4. the user cache folder (``default_cache_dir()``), where downloads go.
    """
    dirs: list[Path] = []
    if data_dir is not None:
        dirs += [Path(data_dir), Path(data_dir) / "medmnist"]
    env = os.environ.get("MEDGRAD_DATA_DIR")
    if env:
        dirs += [Path(env), Path(env) / "medmnist"]
    shared = _REPO_ROOT.parent / "shared" / "data" / "medmnist"
    if shared.is_dir():
        dirs.append(shared)
    dirs.append(default_cache_dir())
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def find_medmnist_file(name: str, size: int = 28, data_dir: str | os.PathLike | None = None) -> Path | None:
    """First existing ``<name>[_<size>].npz`` along ``medmnist_search_dirs(data_dir)``, or None."""
    file_name = get_info(name).file_name(size)
    for d in medmnist_search_dirs(data_dir):
        candidate = d / file_name
        if candidate.is_file():
            return candidate
    return None


def available_medmnist(data_dir: str | os.PathLike | None = None, size: int = 28,
                       only_data_dir: bool = False) -> dict[str, Path]:
    """Datasets whose file of this ``size`` exists on disk: name -> path (in ``INFO`` order).

    ``only_data_dir=True`` looks in ``data_dir`` (and its ``medmnist/`` subfolder) only.
    """
    if only_data_dir:
        if data_dir is None:
            raise ValueError("available_medmnist: only_data_dir=True needs a data_dir")
        dirs = [Path(data_dir), Path(data_dir) / "medmnist"]
    else:
        dirs = medmnist_search_dirs(data_dir)
    found: dict[str, Path] = {}
    for name, info in INFO.items():
        if size not in info.md5:
            continue
        for d in dirs:
            if (d / info.file_name(size)).is_file():
                found[name] = d / info.file_name(size)
                break
    return found


# --------------------------------------------------------------------------------------------------
# One loaded split
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class MedMNISTSplit:
    """One split of one dataset, exactly as stored.

    Attributes:
        images: uint8, (N, S, S) grey / (N, S, S, 3) RGB / (N, S, S, S) 3D volumes (D, H, W).
        labels: integer, (N, L): L = 1, or ``info.n_classes`` for multi-label.
        info: the dataset's ``MedMNISTInfo``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        size: image side S.
        path: the file the arrays came from.
    """

    images: np.ndarray
    labels: np.ndarray
    info: MedMNISTInfo
    split: str
    size: int
    path: Path

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (f"MedMNISTSplit({self.info.title}, split={self.split!r}, size={self.size}, n={len(self)}, "
                f"images={self.images.shape} {self.images.dtype}, labels={self.labels.shape}, "
                f"task={self.task!r})")

    @property
    def task(self) -> str:
        return self.info.task

    @property
    def n_classes(self) -> int:
        return self.info.n_classes

    @property
    def n_channels(self) -> int:
        return self.info.n_channels

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.info.class_names

    def as_float_channels_first(self, dtype=np.float32) -> np.ndarray:
        """Images as floats in [0, 1], channels first: (N, C, S, S) in 2D, (N, C, S, S, S) in 3D.

        ``x = images / 255``; grey images and volumes get a channel axis of length 1, RGB images have
        their trailing colour axis moved to position 1. Allocates one new array (memory maps are read).
        """
        images = self.images
        if images.ndim == 4 and self.info.ndim == 2:          # (N, H, W, 3) -> (N, 3, H, W)
            source = np.moveaxis(images, -1, 1)
        else:                                                   # (N, H, W) / (N, D, H, W) -> add C = 1
            source = images[:, None]
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"as_float_channels_first: dtype must be a float type, got {dtype}")
        out = np.empty(source.shape, dtype=dtype)
        np.divide(source, dtype.type(255), out=out)
        return out

    def targets(self) -> np.ndarray:
        """Labels in the form losses expect.

        Single-label tasks (binary, multi-class, ordinal): (N,) int64 class indices.
        Multi-label (ChestMNIST): (N, L) float32 of 0/1, one column per finding.
        """
        if self.task == "multi-label":
            return np.asarray(self.labels, dtype=np.float32)
        return np.asarray(self.labels[:, 0], dtype=np.int64)


# --------------------------------------------------------------------------------------------------
# Checking and reading a file
# --------------------------------------------------------------------------------------------------

# (resolved path, byte size, mtime) of files whose MD5 was already checked in this process: hashing a
# multi-GB file once per split would be wasteful.
_VERIFIED: set[tuple[str, int, int]] = set()


def _how_to_get(info: MedMNISTInfo, size: int) -> str:
    md5 = info.md5[size]
    return (f"Get it with load_medmnist({info.name!r}, size={size}, download=True) (saved under "
            f"{default_cache_dir()}), or download {info.url(size)} yourself"
            + (f" (MD5 {md5})" if md5 else "")
            + " into one of the search folders or a folder named by $MEDGRAD_DATA_DIR.")


def _verify_md5(path: Path, info: MedMNISTInfo, size: int) -> None:
    expected = info.md5[size]
    if expected is None:
        warnings.warn(f"load_medmnist: no published MD5 is recorded for {info.file_name(size)}; "
                      f"{path} is loaded without a checksum check", stacklevel=3)
        return
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED:
        return
    actual = _download_module.md5sum(path)
    if actual != expected:
        raise ValueError(
            f"load_medmnist: {path} has MD5 {actual} but the official {info.file_name(size)} has {expected}: "
            f"the file is corrupt, truncated or not the published release. Delete it and get it again. "
            f"{_how_to_get(info, size)} Pass verify=False for a file you made yourself.")
    _VERIFIED.add(key)


def _stored_member_data_offset(path: Path, zinfo: zipfile.ZipInfo) -> int:
    """Byte offset of an uncompressed zip member's data: after its local header (30 bytes + name + extra)."""
    with open(path, "rb") as f:
        f.seek(zinfo.header_offset)
        header = f.read(30)
    if header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for member {zinfo.filename}")
    name_len = int.from_bytes(header[26:28], "little")
    extra_len = int.from_bytes(header[28:30], "little")
    return zinfo.header_offset + 30 + name_len + extra_len


def _memmap_npy_at(path: Path, offset: int) -> np.ndarray:
    """Memory-map the ``.npy`` array that starts at byte ``offset`` of ``path`` (read-only)."""
    with open(path, "rb") as f:
        f.seek(offset)
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        data_offset = f.tell()
    if dtype.hasobject:
        raise ValueError("object arrays cannot be memory-mapped")
    return np.memmap(path, dtype=dtype, mode="r", offset=data_offset, shape=shape,
                     order="F" if fortran else "C")


def _member_as_memmap(path: Path, key: str) -> np.ndarray:
    """A read-only memory map of array ``key`` of an ``.npz`` file.

    Members stored without compression are mapped in place. Compressed (deflated) members cannot be
    mapped, so they are extracted once - as the plain ``.npy`` file they are - into
    ``<cache>/extracted/`` and that copy is mapped; the member's CRC in the folder name keeps stale
    copies from being reused.
    """
    with zipfile.ZipFile(path) as zf:
        zinfo = zf.getinfo(key + ".npy")
        if zinfo.compress_type == zipfile.ZIP_STORED:
            return _memmap_npy_at(path, _stored_member_data_offset(path, zinfo))
        target = default_cache_dir() / "extracted" / f"{path.stem}-{zinfo.CRC:08x}" / f"{key}.npy"
        if not target.is_file() or target.stat().st_size != zinfo.file_size:
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(target.name + ".part")
            with zf.open(zinfo) as src, open(part, "wb") as dst:  # zipfile checks the CRC as it reads
                shutil.copyfileobj(src, dst, length=1 << 22)
            os.replace(part, target)
    return np.load(target, mmap_mode="r", allow_pickle=False)


def _read_arrays(path: Path, info: MedMNISTInfo, size: int, splits: tuple[str, ...],
                 mmap: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Open the archive and return {split: (images, labels)}; format problems become one clear error."""
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"load_medmnist: {path} is not a valid .npz (zip) archive - probably a truncated or interrupted "
            f"download. Delete it and get it again. {_how_to_get(info, size)}")
    required = [f"{s}_{kind}" for s in SPLITS for kind in ("images", "labels")]
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in required if k not in npz.files]
            if missing:
                raise KeyError(missing)
            arrays = {}
            for s in splits:
                images = _member_as_memmap(path, f"{s}_images") if mmap else npz[f"{s}_images"]
                arrays[s] = (images, npz[f"{s}_labels"])
    except KeyError as err:
        raise ValueError(
            f"load_medmnist: {path} lacks the arrays {err.args[0]}; a MedMNIST file holds "
            f"{', '.join(required)}. {_how_to_get(info, size)}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as err:
        raise ValueError(
            f"load_medmnist: {path} is corrupt ({type(err).__name__}: {err}). Delete it and get it again. "
            f"{_how_to_get(info, size)}") from err
    return arrays


def _validate(path: Path, info: MedMNISTInfo, size: int, split: str, images: np.ndarray,
              labels: np.ndarray, verify: bool) -> None:
    """Check dtype, shapes, label values and (with ``verify``) the published split size."""
    where = f"load_medmnist: {path} [{split}]"
    if images.dtype != np.uint8:
        raise ValueError(f"{where}: images have dtype {images.dtype}, expected uint8")
    expected_shape = info.image_shape(size)
    if images.ndim != 1 + len(expected_shape) or images.shape[1:] != expected_shape:
        expected = "(N, " + ", ".join(map(str, expected_shape)) + ")"
        raise ValueError(f"{where}: images have shape {images.shape}, expected {expected} "
                         f"for {info.title} at size {size}")
    n = images.shape[0]
    if labels.ndim != 2 or labels.shape != (n, info.label_width):
        raise ValueError(f"{where}: labels have shape {labels.shape}, expected ({n}, {info.label_width}) "
                         f"to match {n} images and the {info.task} task")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
        raise ValueError(f"{where}: labels have dtype {labels.dtype}, expected integers")
    if n > 0:
        high = 1 if info.task == "multi-label" else info.n_classes - 1
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi > high:
            raise ValueError(f"{where}: label values span [{lo}, {hi}], expected [0, {high}] for the "
                             f"{info.task} task with {info.n_classes} classes")
    if verify and n != info.n_samples[split]:
        raise ValueError(f"{where}: {n} samples, but the published {split} split of {info.title} has "
                         f"{info.n_samples[split]} (pass verify=False for a subset you made yourself)")


def load_medmnist(name: str, split: str | None = "train", size: int = 28,
                  data_dir: str | os.PathLike | None = None, download: bool = False, mmap: bool = False,
                  verify: bool = True, progress: bool = True) -> MedMNISTSplit | dict[str, MedMNISTSplit]:
    """Load one split (or all three) of a MedMNIST dataset, checking that the file is what it claims.

    Args:
        name: dataset name, e.g. ``"breastmnist"`` (see ``INFO``; case-insensitive).
        split: ``"train"``, ``"val"``, ``"test"``, or None for a dict of all three.
        size: image side, 28/64/128/224 (2D) or 28/64 (3D).
        data_dir: folder searched first (see ``medmnist_search_dirs`` for the full order).
        download: fetch the file when it is not found - into ``data_dir`` when given, else into the
            cache folder - with ``tasks.data.download.download`` (resumable, MD5-checked).
        mmap: memory-map the image arrays instead of reading them into memory (for the large sizes).
        verify: check the file's MD5 (once per process) and the published split sizes. Set False for
            files you made yourself (subsets, test fixtures); structure and label checks still run.
        progress: progress bar while downloading.

    Returns:
        ``MedMNISTSplit`` (images as stored, labels (N, L)), or {split: MedMNISTSplit} when split is None.

    Raises:
        ValueError: unknown name/split/size; corrupt, truncated or inconsistent file (the message names
            the path, the problem and how to get a good copy).
        FileNotFoundError: no file found and ``download`` is False (lists the folders searched).
    """
    info = get_info(name)
    if split is not None and split not in SPLITS:
        raise ValueError(f"load_medmnist: split must be one of {SPLITS} or None, got {split!r}")
    info._check_size(size)
    splits = SPLITS if split is None else (split,)

    path = find_medmnist_file(info.name, size, data_dir)
    if path is None:
        if not download:
            searched = "\n  ".join(str(d) for d in medmnist_search_dirs(data_dir))
            raise FileNotFoundError(
                f"load_medmnist: {info.file_name(size)} not found; searched:\n  {searched}\n"
                f"{_how_to_get(info, size)}")
        dest_dir = Path(data_dir) if data_dir is not None else default_cache_dir()
        path = _download_module.download(info.url(size), dest_dir / info.file_name(size),
                                         md5=info.md5[size], progress=progress)

    if verify:
        _verify_md5(path, info, size)
    arrays = _read_arrays(path, info, size, splits, mmap)
    result = {}
    for s, (images, labels) in arrays.items():
        _validate(path, info, size, s, images, labels, verify)
        result[s] = MedMNISTSplit(images=images, labels=labels, info=info, split=s, size=size, path=path)
    return result if split is None else result[split]
