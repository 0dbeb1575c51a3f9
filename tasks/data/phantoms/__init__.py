"""Seeded medical-imaging phantoms with exact ground truth (host-side NumPy, float32 images).

Every generator takes ``seed`` (an int or a ``numpy.random.Generator``) and is deterministic for it.
Modules, one model each:

  anatomy       Shepp-Logan 2D/3D, random-ellipse bodies with tissue classes, CT (HU) and MRI maps
  lesions       benign (smooth) vs malignant (irregular) lesions; classification and detection data
  deformation   smooth random and affine deformations, pull-back warping, registration pairs
  degradation   Radon transform / FBP, low-dose CT, low/high-resolution and noise/blur pairs
  kspace        centred FFTs, undersampling masks, zero-filled and cine k-space
  cine          beating-heart cine with ejection fraction; ultrasound-like speckle video
  ecg           synthetic heartbeats (sum of Gaussian waves), normal vs infarct-like
  histology     H&E-like tiles with nucleus masks and per-site stain variation
  oct           retinal OCT B-scans with layer boundaries
  connectome    connectomes with a planted, outcome-linked sub-network
  survival      Cox proportional-hazards cohorts with censoring (optionally with lesion images)
  diffusion     DTI signals from known tensors, Rician noise, tensor fitting
"""

from __future__ import annotations

import numpy as np

from ._common import as_rng
from .anatomy import (
    CT_HU,
    TISSUE_CLASSES,
    labels_to_ct,
    labels_to_mri,
    make_modality_pairs,
    random_ellipse_phantoms,
    shepp_logan,
)
from .cine import beating_heart, ultrasound_speckle_video
from .connectome import make_connectome_cohort
from .deformation import (
    affine_displacement_field,
    compose_displacements,
    jacobian_determinant,
    make_registration_pairs,
    random_affine,
    random_displacement_field,
    warp,
    warp_labels,
)
from .degradation import (
    add_noise,
    fbp,
    low_dose_sinogram,
    make_low_dose_ct_pairs,
    make_resolution_pairs,
    make_restoration_pairs,
    radon,
)
from .diffusion import (
    dti_phantom_slice,
    dti_signal,
    fit_tensor,
    fractional_anisotropy,
    make_diffusion_dataset,
    mean_diffusivity,
)
from .ecg import ECG_CLASSES, make_ecg_beats
from .histology import make_histology_tiles, stain_concentrations
from .kspace import (
    cartesian_mask,
    fft2c,
    ifft2c,
    make_cine_kspace,
    make_kspace_dataset,
    undersample,
    variable_density_mask,
    zero_filled,
)
from .lesions import make_lesion_dataset, make_lesion_detection_scene, render_lesion_images
from .oct import make_oct_bscans
from .survival import make_survival_cohort

__all__ = [
    "CT_HU",
    "ECG_CLASSES",
    "TISSUE_CLASSES",
    "add_noise",
    "affine_displacement_field",
    "beating_heart",
    "cartesian_mask",
    "compose_displacements",
    "dti_phantom_slice",
    "dti_signal",
    "fbp",
    "fft2c",
    "fit_tensor",
    "fractional_anisotropy",
    "gallery_samples",
    "ifft2c",
    "jacobian_determinant",
    "labels_to_ct",
    "labels_to_mri",
    "low_dose_sinogram",
    "make_cine_kspace",
    "make_connectome_cohort",
    "make_diffusion_dataset",
    "make_ecg_beats",
    "make_histology_tiles",
    "make_kspace_dataset",
    "make_lesion_dataset",
    "make_lesion_detection_scene",
    "make_low_dose_ct_pairs",
    "make_modality_pairs",
    "make_oct_bscans",
    "make_registration_pairs",
    "make_resolution_pairs",
    "make_restoration_pairs",
    "make_survival_cohort",
    "mean_diffusivity",
    "radon",
    "random_affine",
    "random_displacement_field",
    "random_ellipse_phantoms",
    "render_lesion_images",
    "shepp_logan",
    "stain_concentrations",
    "ultrasound_speckle_video",
    "undersample",
    "variable_density_mask",
    "warp",
    "warp_labels",
    "zero_filled",
]


def _f(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def gallery_samples(seed=0) -> dict[str, list[np.ndarray]]:
    """A few display-ready images per phantom kind: {kind: [image, ...]}.

    Each image is a float32 (H, W) array, or (H, W, 3) RGB in [0, 1] for histology; 3D volumes and
    videos contribute a middle slice or representative frames. Small sizes: about a second in all.
    """
    rng = as_rng(seed, "gallery_samples")
    out: dict[str, list[np.ndarray]] = {}

    volume = shepp_logan((64, 64, 64))
    out["shepp_logan"] = [_f(shepp_logan(128)), _f(volume[32])]

    pairs = make_modality_pairs(2, (64, 64), seed=rng)
    out["anatomy_labels"] = [_f(x) for x in pairs["labels"]]
    out["anatomy_ct"] = [_f(x[0]) for x in pairs["ct"]]
    out["anatomy_mri_t1"] = [_f(x[0]) for x in pairs["t1"]]
    out["anatomy_mri_t2"] = [_f(x[0]) for x in pairs["t2"]]

    lesions = make_lesion_dataset(16, seed=rng)
    out["lesion_benign"] = [_f(x[0]) for x in lesions["images"][lesions["labels"] == 0][:4]]
    out["lesion_malignant"] = [_f(x[0]) for x in lesions["images"][lesions["labels"] == 1][:4]]
    lesions3d = make_lesion_dataset(2, image_size=24, ndim=3, seed=rng)
    out["lesion_3d"] = [_f(x[0, 12]) for x in lesions3d["images"]]
    scene = make_lesion_detection_scene(96, n_lesions=4, seed=rng)
    out["lesion_detection"] = [_f(scene["image"][0]), _f(scene["label_mask"])]

    reg = make_registration_pairs(1, (64, 64), magnitude=4.0, affine=True, seed=rng)
    field = reg["field"][0]
    out["registration"] = [_f(reg["moving"][0, 0]), _f(reg["fixed"][0, 0]), _f(np.linalg.norm(field, axis=0))]

    phantom = shepp_logan(96)
    sino = radon(phantom, 120)
    out["ct_projection"] = [_f(sino), _f(fbp(sino, 120, (96, 96)))]
    ct = make_low_dose_ct_pairs(1, 64, seed=rng)
    out["ct_low_dose"] = [_f(ct["full_dose"][0, 0]), _f(ct["low_dose"][0, 0])]
    sr = make_resolution_pairs(1, 64, factor=2, seed=rng)
    out["super_resolution"] = [_f(sr["high"][0, 0]), _f(sr["low"][0, 0]), _f(sr["low_upsampled"][0, 0])]
    restore = make_restoration_pairs(1, 64, blur_sigma=1.5, noise_sigma=0.05, seed=rng)
    out["restoration"] = [_f(restore["clean"][0, 0]), _f(restore["degraded"][0, 0])]

    ks = make_kspace_dataset(1, 64, acceleration=4.0, seed=rng)
    full_k = fft2c(ks["images"][0, 0])
    out["kspace"] = [
        _f(np.log1p(np.abs(full_k))),
        _f(ks["masks"][0]),
        _f(ks["zero_filled"][0, 0]),
        _f(ks["images"][0, 0]),
    ]

    heart = beating_heart(n_frames=16, image_size=64, infarct=True, seed=rng)
    out["cine_mri"] = [_f(heart["images"][heart["ed_frame"]]), _f(heart["images"][heart["es_frame"]])]
    us = ultrasound_speckle_video(n_frames=8, image_size=64, seed=rng)
    out["ultrasound"] = [_f(np.log1p(4.0 * us["video"][0])), _f(np.log1p(4.0 * us["video"][3]))]

    histo = make_histology_tiles(3, tile_size=64, seed=rng)
    out["histology"] = [_f(x.transpose(1, 2, 0)) for x in histo["images"]]
    out["oct"] = [_f(x[0]) for x in make_oct_bscans(2, (96, 128), seed=rng)["images"]]

    conn = make_connectome_cohort(n_subjects=4, n_regions=60, seed=rng)
    out["connectome"] = [_f(conn["connectomes"][0]), _f(conn["planted_mask"])]
    surv = make_survival_cohort(4, with_images=True, image_size=32, seed=rng)
    order = np.argsort(surv["risk"])
    out["survival_lesions"] = [_f(surv["images"][order[0], 0]), _f(surv["images"][order[-1], 0])]

    dti = dti_phantom_slice(32, seed=rng)
    out["diffusion"] = [_f(dti["fa"]), _f(dti["md"] * 1e3), _f(dti["signals"][0]), _f(dti["signals"][5])]
    return out
