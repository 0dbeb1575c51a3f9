"""Brain-network connectomes with a planted sub-network linked to an outcome score.

A connectome is a symmetric (R, R) matrix of connection strengths between R brain regions (here:
Fisher z-transformed functional correlations, z = artanh(r), zero diagonal). Model for subject n:

    C_n = T + E_n + z_n * P,        y_n = z_n + score_noise * xi_n,

* T, the group template: regions fall into ``n_modules`` communities, stronger within (0.5) than
  between (0.1), plus a fixed random perturbation (brain networks are modular);
* E_n, subject noise: symmetric, i.i.d. Gaussian of std ``noise`` per edge;
* P, the planted sub-network: a random subset (``edge_density``) of the edges among
  ``subnetwork_size`` regions, each with weight +-``effect`` (random sign);
* z_n ~ N(0, 1), the subject's latent trait, which drives both the sub-network and the outcome
  score y_n (corr(z, y) = 1 / sqrt(1 + score_noise^2)).

Ground truth: the planted edges and their weights, the sub-network's regions, z and y. This is the
setting of the network-based statistic (Zalesky, Fornito and Bullmore, "Network-based statistic:
identifying differences in brain networks", NeuroImage 53:1197-1207, 2010) and of connectome-based
predictive modelling (Shen et al., Nature Protocols 12:506-518, 2017).
"""

from __future__ import annotations

import numpy as np

from ._common import as_rng, check_float, check_int


def _symmetric_from_upper(upper: np.ndarray, r: int) -> np.ndarray:
    """(..., R(R-1)/2) upper-triangle values -> (..., R, R) symmetric matrices with zero diagonal."""
    iu = np.triu_indices(r, k=1)
    out = np.zeros(upper.shape[:-1] + (r, r), dtype=upper.dtype)
    out[..., iu[0], iu[1]] = upper
    out[..., iu[1], iu[0]] = upper
    return out


def make_connectome_cohort(
    n_subjects: int = 200,
    n_regions: int = 90,
    n_modules: int = 6,
    subnetwork_size: int = 8,
    edge_density: float = 0.6,
    effect: float = 0.1,
    noise: float = 0.2,
    score_noise: float = 0.5,
    seed=0,
) -> dict:
    """A cohort of connectomes and outcome scores with a planted, score-linked sub-network.

    Returns a dict:
      ``connectomes``     (N, R, R) float32 symmetric, zero diagonal (Fisher-z edge weights),
      ``scores``          (N,) float32 outcome y, ``latent`` (N,) float32 trait z,
      ``planted_edges``   (E, 2) int64 region pairs (i < j) of the sub-network's edges,
      ``planted_mask``    (R, R) bool symmetric, ``planted_weights`` (R, R) float32 (+-effect on planted
                          edges, 0 elsewhere),
      ``subnetwork``      (k,) int64 regions of the sub-network, ``modules`` (R,) int64 community of each
                          region, ``template`` (R, R) float32 group template T.
    """
    fn = "make_connectome_cohort"
    n = check_int(n_subjects, "n_subjects", fn)
    r = check_int(n_regions, "n_regions", fn, minimum=3)
    n_modules = check_int(n_modules, "n_modules", fn)
    k = check_int(subnetwork_size, "subnetwork_size", fn, minimum=2)
    if k > r:
        raise ValueError(f"{fn}: subnetwork_size {k} exceeds n_regions {r}")
    density = check_float(edge_density, "edge_density", fn, low=0.0, high=1.0)
    effect = check_float(effect, "effect", fn)
    noise = check_float(noise, "noise", fn, low=0.0)
    score_noise = check_float(score_noise, "score_noise", fn, low=0.0)
    rng = as_rng(seed, fn)

    modules = np.sort(rng.integers(0, n_modules, r))
    same = modules[:, None] == modules[None, :]
    template = np.where(same, 0.5, 0.1) + _symmetric_from_upper(
        0.05 * rng.standard_normal(r * (r - 1) // 2), r
    )
    np.fill_diagonal(template, 0.0)

    subnetwork = np.sort(rng.choice(r, size=k, replace=False))
    iu = np.triu_indices(k, k=1)
    pairs = np.stack([subnetwork[iu[0]], subnetwork[iu[1]]], axis=1).astype(np.int64)
    n_planted = max(1, int(round(density * len(pairs))))
    planted_edges = pairs[np.sort(rng.choice(len(pairs), size=n_planted, replace=False))]
    mask = np.zeros((r, r), dtype=bool)
    mask[planted_edges[:, 0], planted_edges[:, 1]] = True
    mask |= mask.T
    weights = np.zeros((r, r))
    signs = rng.choice([-1.0, 1.0], size=n_planted)
    weights[planted_edges[:, 0], planted_edges[:, 1]] = effect * signs
    weights[planted_edges[:, 1], planted_edges[:, 0]] = effect * signs

    latent = rng.standard_normal(n)
    subject_noise = _symmetric_from_upper(noise * rng.standard_normal((n, r * (r - 1) // 2)), r)
    connectomes = template[None] + subject_noise + latent[:, None, None] * weights[None]
    scores = latent + score_noise * rng.standard_normal(n)
    return {
        "connectomes": connectomes.astype(np.float32),
        "scores": scores.astype(np.float32),
        "latent": latent.astype(np.float32),
        "planted_edges": planted_edges,
        "planted_mask": mask,
        "planted_weights": weights.astype(np.float32),
        "subnetwork": subnetwork.astype(np.int64),
        "modules": modules.astype(np.int64),
        "template": template.astype(np.float32),
    }
