"""tasks.data.phantoms.histology: Beer-Lambert H&E tiles, nucleus masks, per-site stain variation."""

import numpy as np
import pytest

from tasks.data.phantoms.histology import (
    H_E_STAIN_MATRIX,
    concentrations_to_rgb,
    make_histology_tiles,
    site_stain_matrices,
    stain_concentrations,
)


@pytest.fixture(scope="module")
def tiles():
    return make_histology_tiles(9, tile_size=48, n_sites=3, noise=0.0, seed=0)


def test_contract(tiles):
    assert tiles["images"].shape == (9, 3, 48, 48) and tiles["images"].dtype == np.float32
    assert 0.0 < tiles["images"].min() and tiles["images"].max() <= 1.0
    assert tiles["masks"].shape == (9, 48, 48) and tiles["masks"].dtype == bool
    assert tiles["concentrations"].shape == (9, 2, 48, 48)
    assert np.array_equal(tiles["sites"], np.arange(9) % 3)
    assert tiles["stain_matrices"].shape == (3, 2, 3)
    assert np.allclose(np.linalg.norm(tiles["stain_matrices"], axis=-1), 1.0)


def test_beer_lambert_optical_density_is_linear_in_the_stains(tiles):
    od = -np.log10(tiles["images"].astype(np.float64))
    v = tiles["stain_matrices"][tiles["sites"]]
    expected = np.einsum("nshw,nsc->nchw", tiles["concentrations"], v)
    assert np.allclose(od, expected, atol=1e-5)
    recovered = stain_concentrations(tiles["images"], v)  # colour deconvolution inverts it
    assert np.allclose(recovered, tiles["concentrations"], atol=1e-4)


def test_nuclei_are_haematoxylin_rich_and_blue(tiles):
    c_h, c_e = tiles["concentrations"][:, 0], tiles["concentrations"][:, 1]
    m = tiles["masks"]
    assert c_h[m].mean() > 5 * c_h[~m].mean()
    assert c_e[~m].mean() > c_e[m].mean()
    red, blue = tiles["images"][:, 0], tiles["images"][:, 2]
    assert (blue - red)[m].mean() > (blue - red)[~m].mean()  # purple nuclei, pink stroma
    assert np.array_equal(tiles["instances"] > 0, m)
    assert tiles["instances"].max() >= 5


def test_sites_differ_and_same_site_shares_its_stain(tiles):
    v = tiles["stain_matrices"]
    assert not np.allclose(v[0], v[1]) and not np.allclose(v[1], v[2])
    # a nucleus pixel's OD is a mixture of its site's two stain vectors: it lies in their plane
    for n in range(9):
        od = -np.log10(tiles["images"][n][:, tiles["masks"][n]].astype(np.float64))  # (3, P)
        normal = np.cross(v[tiles["sites"][n], 0], v[tiles["sites"][n], 1])
        assert np.abs(normal @ od).max() < 1e-4
    matrices, strengths = site_stain_matrices(4, site_variation=0.0, seed=0)
    assert np.allclose(matrices, H_E_STAIN_MATRIX) and np.all(strengths == 1)


def test_rgb_of_zero_stain_is_white_and_errors():
    white = concentrations_to_rgb(np.zeros((1, 2, 4, 4)), H_E_STAIN_MATRIX)
    assert np.allclose(white, 1.0)
    with pytest.raises(ValueError, match="concentrations_to_rgb"):
        concentrations_to_rgb(np.zeros((1, 3, 4, 4)), H_E_STAIN_MATRIX)


def test_determinism():
    a = make_histology_tiles(3, tile_size=32, seed=1)
    b = make_histology_tiles(3, tile_size=32, seed=1)
    c = make_histology_tiles(3, tile_size=32, seed=2)
    assert np.array_equal(a["images"], b["images"]) and np.array_equal(a["masks"], b["masks"])
    assert not np.array_equal(a["images"], c["images"])
