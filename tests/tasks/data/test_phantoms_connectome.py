"""tasks.data.phantoms.connectome: symmetric connectomes with a planted, outcome-linked sub-network."""

import numpy as np
import pytest

from tasks.data.phantoms.connectome import make_connectome_cohort


def _edge_score_correlation(d):
    r = d["connectomes"].shape[1]
    iu = np.triu_indices(r, k=1)
    edges = d["connectomes"][:, iu[0], iu[1]].astype(np.float64)
    edges = (edges - edges.mean(0)) / edges.std(0)
    y = (d["scores"] - d["scores"].mean()) / d["scores"].std()
    return (edges * y[:, None]).mean(0), d["planted_mask"][iu]


def test_contract_symmetry_and_planted_edges():
    d = make_connectome_cohort(n_subjects=30, n_regions=40, subnetwork_size=6, edge_density=0.6, seed=0)
    c = d["connectomes"]
    assert c.shape == (30, 40, 40) and c.dtype == np.float32
    assert np.array_equal(c, c.transpose(0, 2, 1))
    assert np.all(np.diagonal(c, axis1=1, axis2=2) == 0)
    edges = d["planted_edges"]
    assert edges.shape == (round(0.6 * 15), 2) and (edges[:, 0] < edges[:, 1]).all()
    assert np.isin(edges, d["subnetwork"]).all()
    mask = d["planted_mask"]
    assert np.array_equal(mask, mask.T) and mask.sum() == 2 * len(edges)
    assert np.allclose(np.abs(d["planted_weights"][mask]), 0.1) and np.all(d["planted_weights"][~mask] == 0)
    assert d["scores"].shape == (30,) and d["latent"].shape == (30,)


def test_planted_edges_track_the_outcome_and_can_be_recovered():
    d = make_connectome_cohort(n_subjects=400, n_regions=50, effect=0.15, seed=1)
    corr, planted = _edge_score_correlation(d)
    assert np.abs(corr[planted]).mean() > 0.4 and np.abs(corr[~planted]).mean() < 0.08
    top = np.argsort(-np.abs(corr))[: planted.sum()]
    assert planted[top].mean() >= 0.8
    # signs follow the planted weights
    iu = np.triu_indices(50, k=1)
    assert np.all(np.sign(corr[planted]) == np.sign(d["planted_weights"][iu][planted]))


def test_no_effect_means_no_association():
    d = make_connectome_cohort(n_subjects=300, n_regions=30, effect=0.0, seed=2)
    corr, planted = _edge_score_correlation(d)
    assert np.abs(corr[planted]).mean() < 0.1 and planted.sum() > 0


def test_scores_follow_the_latent_trait():
    d = make_connectome_cohort(n_subjects=2000, n_regions=10, subnetwork_size=3, score_noise=0.5, seed=3)
    assert np.corrcoef(d["latent"], d["scores"])[0, 1] == pytest.approx(1 / np.sqrt(1.25), abs=0.03)


def test_modular_template():
    d = make_connectome_cohort(n_subjects=5, n_regions=60, n_modules=4, seed=4)
    same = d["modules"][:, None] == d["modules"][None, :]
    off = ~np.eye(60, dtype=bool)
    assert d["template"][same & off].mean() > d["template"][~same].mean() + 0.3


def test_determinism_and_errors():
    a, b, c = (make_connectome_cohort(10, 20, seed=s) for s in (5, 5, 6))
    assert np.array_equal(a["connectomes"], b["connectomes"]) and np.array_equal(
        a["planted_edges"], b["planted_edges"]
    )
    assert not np.array_equal(a["connectomes"], c["connectomes"])
    with pytest.raises(ValueError, match="subnetwork_size"):
        make_connectome_cohort(10, 5, subnetwork_size=8)
