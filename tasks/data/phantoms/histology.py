"""Histology-like H&E tiles: nuclei, stroma and site-dependent stain colour.

Beer-Lambert colour model (Ruifrok and Johnston, "Quantification of histochemical staining by
color deconvolution", Anal. Quant. Cytol. Histol. 23:291-299, 2001). Each stain s has an optical
density (OD) colour vector v_s (3,) (unit length) and a concentration map c_s(x) >= 0; the light
transmitted through the slide in channel j is

    I_j(x) = I0 * 10^(-OD_j(x)),   OD(x) = sum_s c_s(x) v_s,   i.e. OD = C V, V the (2, 3) stain matrix.

Haematoxylin (blue-purple) binds nuclear chromatin, eosin (pink) the cytoplasm and stroma. The
published vectors are v_H = (0.65, 0.70, 0.29) and v_E = (0.07, 0.99, 0.11) (before normalisation).
Colour deconvolution inverts the model: C = OD V^+ (``stain_concentrations``).

Site variation. Slides from different hospitals ("sites") differ in staining protocol and scanner:
each site gets its own stain matrix (each vector perturbed by Gaussian noise of std
``site_variation`` and renormalised) and stain-strength factors, the domain shift that stain
normalisation and augmentation address (e.g. Macenko et al., ISBI 2009; Tellez et al., Med. Image
Anal. 58:101544, 2019).
"""

from __future__ import annotations

import numpy as np

from ._common import (
    as_rng,
    check_float,
    check_int,
    check_int_range,
    check_range,
    inside_ellipsoids,
    normalized_grid,
    random_rotations,
    smooth_noise,
)

H_E_STAIN_MATRIX = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11]])
H_E_STAIN_MATRIX = H_E_STAIN_MATRIX / np.linalg.norm(H_E_STAIN_MATRIX, axis=1, keepdims=True)
"""Rows: unit OD vectors (R, G, B) of haematoxylin and eosin (Ruifrok and Johnston 2001)."""


def site_stain_matrices(n_sites: int, site_variation: float = 0.08, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Per-site stain matrices (n_sites, 2, 3) (unit rows) and stain-strength factors (n_sites, 2).

    Every site is drawn the same way: v_s' = normalise(max(v_s + site_variation * n, 0.01)), n standard
    Gaussian, and strengths ~ U(0.75, 1.25); with site_variation = 0 all sites use H_E_STAIN_MATRIX and
    unit strengths.
    """
    fn = "site_stain_matrices"
    n_sites = check_int(n_sites, "n_sites", fn)
    site_variation = check_float(site_variation, "site_variation", fn, low=0.0)
    rng = as_rng(seed, fn)
    perturbed = H_E_STAIN_MATRIX[None] + site_variation * rng.standard_normal((n_sites, 2, 3))
    perturbed = np.maximum(perturbed, 0.01)  # optical densities stay positive
    matrices = perturbed / np.linalg.norm(perturbed, axis=-1, keepdims=True)
    strengths = rng.uniform(0.75, 1.25, (n_sites, 2)) if site_variation > 0 else np.ones((n_sites, 2))
    return matrices, strengths


def concentrations_to_rgb(concentrations, stain_matrix) -> np.ndarray:
    """RGB (N, 3, H, W) in (0, 1] from stain concentrations (N, 2, H, W) and stain matrices (N, 2, 3)
    or one (2, 3): I / I0 = 10^(-C V)."""
    c = np.asarray(concentrations, dtype=np.float32)
    v = np.asarray(stain_matrix, dtype=np.float32)
    if v.ndim == 2:
        v = np.broadcast_to(v, (c.shape[0], *v.shape))
    if c.ndim != 4 or c.shape[1] != v.shape[1] or v.shape[0] != c.shape[0] or v.shape[2] != 3:
        raise ValueError(
            f"concentrations_to_rgb: expected concentrations (N, S, H, W) and stain matrices "
            f"(N, S, 3) or (S, 3), got {c.shape} and {np.shape(stain_matrix)}"
        )
    od = np.einsum("nshw,nsc->nchw", c, v)
    return np.exp(-np.log(10.0).astype(np.float32) * od)


def stain_concentrations(rgb, stain_matrix) -> np.ndarray:
    """Colour deconvolution: least-squares concentrations (N, 2, H, W) from RGB (N, 3, H, W) in (0, 1]
    and stain matrices (N, 2, 3) or (2, 3): C = OD V^+, OD = -log10(RGB)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    v = np.asarray(stain_matrix, dtype=np.float64)
    if v.ndim == 2:
        v = np.broadcast_to(v, (rgb.shape[0], *v.shape))
    od = -np.log10(np.clip(rgb, 1e-6, 1.0))
    pinv = np.linalg.pinv(v)  # (N, 3, 2)
    return np.einsum("nchw,ncs->nshw", od, pinv).astype(np.float32)


def make_histology_tiles(
    n_tiles: int,
    tile_size: int = 64,
    n_nuclei=(8, 25),
    nucleus_radius=(2.5, 5.0),
    n_sites: int = 3,
    site_variation: float = 0.08,
    noise: float = 0.01,
    seed=0,
) -> dict:
    """H&E-like RGB tiles with nucleus masks, from a Beer-Lambert stain model (module docstring).

    Tissue model per tile: eosin-stained stroma with a smooth fibrous texture and a faint haematoxylin
    background, a few unstained (white) gaps, and a random number of nuclei: ellipses (semi-axes drawn
    from ``nucleus_radius`` pixels, aspect up to 1.6, random orientation) with high haematoxylin and
    granular chromatin texture. Tiles are spread evenly over ``n_sites`` sites (tile i at site
    i mod n_sites) and stained with that site's matrix and strengths.

    Returns a dict:
      ``images``          (N, 3, S, S) float32 RGB in [0, 1] (channels first; ``images.transpose(0, 2, 3, 1)``
                          to display),
      ``masks``           (N, S, S) bool nucleus masks, ``instances`` (N, S, S) int32 nucleus ids (0 none),
      ``concentrations``  (N, 2, S, S) float32 ground-truth H and E concentrations (site strengths included),
      ``sites``           (N,) int64, ``stain_matrices`` (n_sites, 2, 3) float64 unit OD vectors.
    """
    fn = "make_histology_tiles"
    n = check_int(n_tiles, "n_tiles", fn)
    size = check_int(tile_size, "tile_size", fn, minimum=16)
    k_lo, k_hi = check_int_range(n_nuclei, "n_nuclei", fn, low=0)
    r_lo, r_hi = check_range(nucleus_radius, "nucleus_radius", fn, low=0.5)
    noise = check_float(noise, "noise", fn, low=0.0)
    rng = as_rng(seed, fn)
    matrices, strengths = site_stain_matrices(n_sites, site_variation, seed=rng)
    sites = np.arange(n) % n_sites

    # nuclei as ellipses in normalised coordinates ([-1, 1] spans the tile: a pixel is 2 / size)
    k_max = max(k_hi, 1)
    counts = rng.integers(k_lo, k_hi + 1, n)
    px = 2.0 / size
    semi = (
        rng.uniform(r_lo, r_hi, (n, k_max, 1))
        * px
        * np.stack([rng.uniform(1.0, 1.6, (n, k_max)), np.ones((n, k_max))], axis=-1)
    )
    centres = rng.uniform(-1.0, 1.0, (n, k_max, 2))
    rots = random_rotations(rng, n * k_max, 2).reshape(n, k_max, 2, 2)
    grid = normalized_grid((size, size))
    active = np.arange(k_max)[None, :] < counts[:, None]
    ids = np.where(active, np.arange(1, k_max + 1)[None, :], 0).astype(np.int32)[..., None, None]
    instances = np.empty((n, size, size), dtype=np.int32)
    chunk = max(1, 4_000_000 // (k_max * size * size))
    for s in range(0, n, chunk):  # memory-bounded chunks, each vectorised over tiles, nuclei and pixels
        sl = slice(s, s + chunk)
        inside = inside_ellipsoids(grid, centres[sl], semi[sl], rots[sl])
        instances[sl] = (inside * ids[sl]).max(axis=1)  # the later nucleus lies on top
    masks = instances > 0

    fibres = smooth_noise(rng, (n, size, size), sigma=1.5)
    gaps = smooth_noise(rng, (n, size, size), sigma=4.0) > 1.6  # a few unstained spaces
    chromatin = smooth_noise(rng, (n, size, size), sigma=0.7)
    c_e = np.where(gaps, 0.02, 0.32 + 0.1 * fibres)
    c_h = np.where(gaps, 0.01, 0.06 + 0.02 * fibres)
    nucleus_h = rng.uniform(0.7, 1.0, (n, 1, 1)) * (1.0 + 0.15 * chromatin)
    c_h = np.where(masks, nucleus_h, c_h)
    c_e = np.where(masks, 0.15, c_e)
    conc = np.clip(np.stack([c_h, c_e], axis=1), 0.0, None) * strengths[sites][:, :, None, None]

    rgb = concentrations_to_rgb(conc, matrices[sites])
    if noise > 0:
        rgb = rgb + noise * rng.standard_normal(rgb.shape)
    return {
        "images": np.clip(rgb, 0.0, 1.0).astype(np.float32),
        "masks": masks,
        "instances": instances,
        "concentrations": conc.astype(np.float32),
        "sites": sites.astype(np.int64),
        "stain_matrices": matrices,
    }
