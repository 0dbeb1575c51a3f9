"""tasks.data.phantoms.lesions: benign vs malignant look-alikes that differ only in boundary shape."""

import numpy as np
import pytest
from scipy import ndimage

from tasks.data.phantoms.lesions import (
    lesion_radius_function,
    lesion_shape_parameters,
    make_lesion_dataset,
    make_lesion_detection_scene,
    render_lesion_images,
)

roc_auc_score = pytest.importorskip("sklearn.metrics").roc_auc_score


@pytest.fixture(scope="module")
def dataset():
    return make_lesion_dataset(1500, seed=0)


def _compactness(masks):
    """perimeter^2 / area of 2D masks (N, H, W): 4 pi for a disc, larger for irregular shapes."""
    eroded = ndimage.binary_erosion(masks, structure=np.ones((1, 3, 3)))
    perimeter = (masks & ~eroded).sum(axis=(1, 2))
    return perimeter**2 / masks.sum(axis=(1, 2))


def test_dataset_contract(dataset):
    d = dataset
    assert d["images"].shape == (1500, 1, 28, 28) and d["images"].dtype == np.float32
    assert 0.0 <= d["images"].min() and d["images"].max() <= 1.0
    assert d["labels"].shape == (1500,) and d["labels"].dtype == np.int64
    assert set(np.unique(d["labels"])) == {0, 1} and d["labels"].sum() == 750
    assert d["masks"].shape == (1500, 28, 28) and d["masks"].dtype == bool
    assert d["centres"].shape == (1500, 2) and d["radii"].shape == (1500,)
    # every centre lies inside its own lesion
    idx = np.round(d["centres"]).astype(int)
    assert d["masks"][np.arange(1500), idx[:, 0], idx[:, 1]].all()


def test_mask_area_matches_the_equivalent_radius(dataset):
    area = dataset["masks"].sum(axis=(1, 2))
    ratio = area / (np.pi * dataset["radii"] ** 2)
    assert ratio.mean() == pytest.approx(1.0, abs=0.03)
    assert np.median(np.abs(ratio - 1)) < 0.1


def test_trivial_statistics_do_not_separate_the_classes(dataset):
    x, y = dataset["images"], dataset["labels"]
    stats = {
        "mean intensity": x.mean(axis=(1, 2, 3)),
        "intensity std": x.std(axis=(1, 2, 3)),
        "max intensity": x.max(axis=(1, 2, 3)),
        "mask area": dataset["masks"].sum(axis=(1, 2)),
        "radius": dataset["radii"],
        "contrast": dataset["contrasts"],
    }
    for name, s in stats.items():
        auc = roc_auc_score(y, s)
        assert max(auc, 1 - auc) < 0.65, f"{name} alone separates the classes (AUC {auc:.3f})"


def test_boundary_shape_does_separate_the_classes(dataset):
    auc = roc_auc_score(dataset["labels"], _compactness(dataset["masks"]))
    assert auc > 0.85  # the signal is there, in the shape of the boundary
    assert (dataset["irregularity"][dataset["labels"] == 0] == 0).all()
    assert (dataset["irregularity"][dataset["labels"] == 1] > 0).all()


def test_irregularity_controls_difficulty():
    smooth = make_lesion_dataset(400, irregularity=0.0, noise=0.0, seed=1)
    auc = roc_auc_score(smooth["labels"], _compactness(smooth["masks"]))
    assert max(auc, 1 - auc) < 0.65  # no shape difference left


def test_determinism_and_class_imbalance():
    a = make_lesion_dataset(50, malignant_fraction=0.2, seed=7)
    b = make_lesion_dataset(50, malignant_fraction=0.2, seed=7)
    c = make_lesion_dataset(50, malignant_fraction=0.2, seed=8)
    for key in ("images", "labels", "masks", "centres", "radii"):
        assert np.array_equal(a[key], b[key])
    assert not np.array_equal(a["images"], c["images"])
    assert a["labels"].sum() == 10


def test_3d_lesions():
    d = make_lesion_dataset(12, image_size=20, ndim=3, seed=0)
    assert d["images"].shape == (12, 1, 20, 20, 20) and d["masks"].shape == (12, 20, 20, 20)
    assert d["centres"].shape == (12, 3)
    volume = d["masks"].sum(axis=(1, 2, 3))
    assert (volume / (4 / 3 * np.pi * d["radii"] ** 3)).mean() == pytest.approx(1.0, abs=0.06)


def test_radius_function_is_an_oval_for_benign_without_lobes():
    params = lesion_shape_parameters(np.array([0]), 2, seed=0)
    params["lobe_amp"][:] = 0
    theta = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    u = np.stack([np.sin(theta), np.cos(theta)], axis=1)[None]
    g = lesion_radius_function(params, u)[0]
    quad = np.einsum("pi,ij,pj->p", u[0] * g[:, None], params["oval"][0], u[0] * g[:, None])
    assert np.allclose(quad, 1.0, atol=1e-5)  # the boundary points satisfy x^T M x = 1


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="make_lesion_dataset"):
        make_lesion_dataset(10, malignant_fraction=1.5)
    with pytest.raises(ValueError, match="ndim"):
        make_lesion_dataset(10, ndim=4)
    with pytest.raises(ValueError, match="render_lesion_images"):
        render_lesion_images(np.array([0, 1]), np.array([3.0]))
    with pytest.raises(TypeError, match="seed"):
        make_lesion_dataset(10, seed="zero")


def test_detection_scene_ground_truth():
    scene = make_lesion_detection_scene(96, n_lesions=(3, 5), seed=2)
    k = len(scene["labels"])
    assert 3 <= k <= 5
    assert scene["image"].shape == (1, 96, 96) and scene["image"].dtype == np.float32
    lm, cm = scene["label_mask"], scene["class_mask"]
    assert set(np.unique(lm)) == set(range(k + 1))
    for i in range(k):
        inst = lm == i + 1
        r, c = np.round(scene["centres"][i]).astype(int)
        assert inst[r, c]
        assert np.all(cm[inst] == scene["labels"][i] + 1)
        rows, cols = np.nonzero(inst)
        assert np.array_equal(scene["boxes"][i], [rows.min(), cols.min(), rows.max(), cols.max()])
        assert inst.sum() == pytest.approx(np.pi * scene["radii"][i] ** 2, rel=0.2)
    again = make_lesion_detection_scene(96, n_lesions=(3, 5), seed=2)
    assert np.array_equal(scene["image"], again["image"])


def test_detection_scene_3d_and_exact_count():
    scene = make_lesion_detection_scene(40, ndim=3, n_lesions=2, radius=(3.0, 4.0), seed=0)
    assert scene["image"].shape == (1, 40, 40, 40) and len(scene["labels"]) == 2
    assert scene["boxes"].shape == (2, 6)
    empty = make_lesion_detection_scene(48, n_lesions=0, seed=0)
    assert len(empty["labels"]) == 0 and not empty["label_mask"].any() and empty["boxes"].shape == (0, 4)
    with pytest.raises(ValueError, match="could not place"):
        make_lesion_detection_scene(20, n_lesions=10, radius=(3.0, 3.0), seed=0)
    with pytest.raises(ValueError, match="do not fit"):
        make_lesion_detection_scene(20, n_lesions=1, radius=(6.0, 6.0), seed=0)
