"""Beating-heart cine phantom (short-axis MRI-like) and an ultrasound-like speckle video.

Geometry of one short-axis slice, in pixels, about the left-ventricle (LV) centre c, angle theta:

* contraction curve s(phi) over the cardiac phase phi in [0, 1): 0 at end-diastole (ED, phi = 0),
  1 at end-systole (ES, phi = phi_es), raised-cosine rise (systole) and fall (diastole);
* endocardial radius  r_endo(theta, phi) = R_ed (1 - k s(phi) m(theta)), k the fractional radial
  shortening and m(theta) the regional wall motion: 1 in healthy myocardium, ``infarct_motion`` in an
  infarcted segment (a raised-cosine dip of the given angular width, e.g. hypokinesia after a
  myocardial infarction);
* epicardial radius   r_epi(theta, phi) = sqrt(r_endo^2 + R_epi_ed^2 - R_ed^2): the myocardial area
  in every angular sector stays constant (incompressible myocardium), so the wall thickens when the
  cavity shrinks.

The blood pool is {|x - c| < r_endo}, the myocardium {r_endo <= |x - c| < r_epi}. With ``n_slices`` > 1
the LV is a stack of short-axis slices of an ellipsoid (slice radius scale sqrt(1 - z^2)), and volumes
are summed slice areas times slice thickness: Simpson's method of discs, as used clinically
(Lang et al., "Recommendations for cardiac chamber quantification by echocardiography in adults",
J Am Soc Echocardiogr 28:1-39, 2015). Ejection fraction EF = (EDV - ESV) / EDV, computed from the
drawn masks (EDV, ESV the largest and smallest blood-pool volume over the cycle).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._common import as_rng, check_float, check_int, gaussian_smooth_periodic, pixel_grid

HEART_CLASSES = ("background", "body", "lung", "myocardium", "lv_blood", "rv_blood")
"""Label values of the heart phantom's label maps."""

BRIGHT_BLOOD_INTENSITY = np.array([0.0, 0.3, 0.05, 0.22, 0.9, 0.85], dtype=np.float32)
"""Per-class intensity in a bright-blood (balanced SSFP-like) cine MRI."""

ECHOGENICITY = np.array([0.0, 0.45, 0.15, 0.8, 0.04, 0.04], dtype=np.float32)
"""Per-class mean backscatter for the ultrasound-like video (blood is nearly anechoic)."""


def contraction_curve(phase, es_phase: float = 0.35) -> np.ndarray:
    """s(phi): 0 at ED (phi = 0 mod 1), 1 at ES (phi = es_phase); raised-cosine systole and diastole."""
    phi = np.mod(np.asarray(phase, dtype=np.float64), 1.0)
    systole = 0.5 * (1.0 - np.cos(np.pi * phi / es_phase))
    diastole = 0.5 * (1.0 + np.cos(np.pi * (phi - es_phase) / (1.0 - es_phase)))
    return np.where(phi <= es_phase, systole, diastole)


def _wall_motion(theta, infarct_angle: float | None, infarct_width: float, infarct_motion: float):
    """m(theta): 1 except a raised-cosine dip to ``infarct_motion`` over ``infarct_width`` radians."""
    if infarct_angle is None:
        return np.ones_like(theta)
    delta = np.angle(np.exp(1j * (theta - infarct_angle)))  # wrapped to (-pi, pi]
    window = np.where(
        np.abs(delta) < infarct_width / 2, 0.5 * (1 + np.cos(2 * np.pi * delta / infarct_width)), 0.0
    )
    return 1.0 - (1.0 - infarct_motion) * window


def beating_heart(
    n_frames: int = 20,
    image_size: int = 64,
    n_slices: int = 1,
    radial_shortening: float = 0.35,
    infarct: bool = False,
    infarct_motion: float = 0.15,
    infarct_width_deg: float = 90.0,
    es_phase: float = 0.35,
    noise: float = 0.02,
    seed=0,
) -> dict:
    """Short-axis cine of a beating left ventricle with exact masks and ejection fraction.

    Returns a dict:
      ``images``      (T, H, W) float32 bright-blood cine frames ((T, S, H, W) with n_slices = S > 1),
                      lightly blurred (partial volume) plus Gaussian noise ``noise``,
      ``labels``      int64 label maps (HEART_CLASSES) of the same shape,
      ``blood_pool``, ``myocardium``  bool LV masks of the same shape,
      ``volumes``     (T,) float64 blood-pool area (pixels) or Simpson volume (pixels x slice thickness),
      ``ejection_fraction``  float, (EDV - ESV) / EDV from ``volumes`` (the drawn masks),
      ``ejection_fraction_continuous``  float, the same from the exact continuous geometry,
      ``ed_frame``, ``es_frame`` int, ``contraction`` (T,) s(phi), ``centre`` (2,) LV centre (row, col),
      ``infarct_angle`` float radians (x towards the image right, y up) or None.
    The seed varies the LV size and position, the shortening (+-10 %) and the infarct location.
    """
    fn = "beating_heart"
    t = check_int(n_frames, "n_frames", fn, minimum=2)
    size = check_int(image_size, "image_size", fn, minimum=24)
    n_slices = check_int(n_slices, "n_slices", fn)
    shortening = check_float(radial_shortening, "radial_shortening", fn, low=0.0, high=0.8)
    infarct_motion = check_float(infarct_motion, "infarct_motion", fn, low=0.0, high=1.0)
    width = np.deg2rad(check_float(infarct_width_deg, "infarct_width_deg", fn, low=1.0, high=360.0))
    es_phase = check_float(es_phase, "es_phase", fn, low=0.05, high=0.95)
    noise = check_float(noise, "noise", fn, low=0.0)
    rng = as_rng(seed, fn)

    r_ed = size * rng.uniform(0.12, 0.15)
    wall = size * rng.uniform(0.045, 0.055)
    k = shortening * rng.uniform(0.9, 1.1)
    centre = np.array([0.5, 0.56]) * size + rng.uniform(-0.03, 0.03, 2) * size
    infarct_angle = float(rng.uniform(-np.pi, np.pi)) if infarct else None

    phase = np.arange(t) / t
    s = contraction_curve(phase, es_phase)  # (T,)
    # slice scale of an ellipsoidal LV, apex (z -> -1) to base (z = 0.5); one slice = mid-ventricle
    z = np.linspace(-0.8, 0.5, n_slices) if n_slices > 1 else np.zeros(1)
    slice_scale = np.sqrt(1.0 - z**2)  # (S,)

    row, col = pixel_grid((size, size))
    dy, dx = -(row - centre[0]), col - centre[1]  # y up, x right
    dist = np.hypot(dy, dx)
    theta = np.arctan2(dy, dx)
    motion = _wall_motion(theta, infarct_angle, width, infarct_motion)  # (H, W)

    shape4 = (t, n_slices, size, size)
    r_endo = (r_ed * slice_scale[None, :, None, None]) * (1.0 - k * s[:, None, None, None] * motion)
    r_epi_ed = (r_ed + wall) * slice_scale[None, :, None, None]
    r_epi = np.sqrt(r_endo**2 + r_epi_ed**2 - (r_ed * slice_scale[None, :, None, None]) ** 2)
    blood = np.broadcast_to(dist < r_endo, shape4)
    myo = (dist >= r_endo) & (dist < r_epi)

    # surrounding anatomy: body ellipse, lungs, and a right ventricle beating in phase (smaller motion)
    rr, cc = row / size, col / size
    body = ((rr - 0.5) / 0.44) ** 2 + ((cc - 0.5) / 0.47) ** 2 < 1.0
    lungs = (((rr - 0.45) / 0.3) ** 2 + ((cc - 0.14) / 0.1) ** 2 < 1.0) | (
        ((rr - 0.45) / 0.3) ** 2 + ((cc - 0.88) / 0.08) ** 2 < 1.0
    )
    rv_centre_col = centre[1] - 1.05 * (r_ed + wall)
    rv_radius = (1.25 * r_ed) * slice_scale[None, :, None, None] * (1.0 - 0.5 * k * s[:, None, None, None])
    rv = (np.hypot(row - centre[0], col - rv_centre_col) < rv_radius) & ~(dist < r_epi)

    labels = np.where(body, 1, 0) + np.zeros(shape4, dtype=np.int64)
    labels = np.where(lungs, 2, labels)
    labels = np.where(rv, 5, labels)
    labels = np.where(myo, 3, labels)
    labels = np.where(blood, 4, labels)

    images = BRIGHT_BLOOD_INTENSITY[labels]
    images = ndimage.gaussian_filter(images, (0, 0, 0.6, 0.6))
    if noise > 0:
        images = images + noise * rng.standard_normal(shape4).astype(np.float32)

    volumes = blood.sum(axis=(2, 3)).sum(axis=1).astype(np.float64)  # discs: area x thickness 1
    ef = float((volumes.max() - volumes.min()) / volumes.max())
    # the continuous geometry: area(t, slice) = (1/2) integral r_endo^2 dtheta
    angles = np.linspace(-np.pi, np.pi, 3600, endpoint=False)
    m = _wall_motion(angles, infarct_angle, width, infarct_motion)
    r_c = (r_ed * slice_scale[None, :, None]) * (1.0 - k * s[:, None, None] * m[None, None, :])
    area = 0.5 * (r_c**2).mean(axis=-1) * 2 * np.pi  # (T, S)
    vol_c = area.sum(axis=1)
    ef_c = float((vol_c.max() - vol_c.min()) / vol_c.max())

    squeeze = (lambda a: a[:, 0]) if n_slices == 1 else (lambda a: a)
    return {
        "images": squeeze(images.astype(np.float32)),
        "labels": squeeze(labels),
        "blood_pool": squeeze(blood.copy()),
        "myocardium": squeeze(myo),
        "volumes": volumes,
        "ejection_fraction": ef,
        "ejection_fraction_continuous": ef_c,
        "ed_frame": int(np.argmax(volumes)),
        "es_frame": int(np.argmin(volumes)),
        "contraction": s,
        "centre": centre,
        "infarct_angle": infarct_angle,
    }


def rayleigh_speckle(
    rng: np.random.Generator, shape: tuple[int, ...], psf_sigma=(0.7, 1.5), correlation: float = 0.9
) -> np.ndarray:
    """Unit-mean Rayleigh speckle (T, H, W), float32, temporally correlated.

    Each frame is |h * z_t| for a complex white Gaussian scatterer field z_t filtered by a Gaussian
    point-spread function h (std ``psf_sigma`` = (axial, lateral) pixels); a filtered circular complex
    Gaussian field has a Rayleigh-distributed magnitude (Goodman, "Speckle Phenomena in Optics", 2007;
    Burckhardt, IEEE Trans. Sonics Ultrason. 25:1-6, 1978). Frames decorrelate as an AR(1) process,
    z_t = rho z_{t-1} + sqrt(1 - rho^2) w_t. The magnitude is divided by its expected value
    sigma sqrt(pi / 2) (sigma^2 the per-component variance, estimated from each frame's power), so the
    speckle has mean 1 and std sqrt(4 / pi - 1) ~ 0.52: a mean/std ("speckle SNR") of about 1.91.
    """
    t = shape[0]
    w = rng.standard_normal((2, *shape)).astype(np.float32)
    z = np.empty_like(w)
    z[:, 0] = w[:, 0]
    a, b = correlation, np.sqrt(1.0 - correlation**2)
    for i in range(1, t):  # a recurrence over frames; each step is vectorised over pixels
        z[:, i] = a * z[:, i - 1] + b * w[:, i]
    field = np.stack([ndimage.gaussian_filter(part, (0, *psf_sigma), mode="wrap") for part in z])
    # std of each filtered (real) component: ||h||_2 for unit white noise, estimated per frame
    sigma = np.sqrt(0.5 * (field**2).sum(axis=0).mean(axis=(1, 2), keepdims=True))
    return (np.hypot(field[0], field[1]) / (sigma * np.sqrt(np.pi / 2.0))).astype(np.float32)


def ultrasound_speckle_video(
    n_frames: int = 16,
    image_size: int = 64,
    speckle_correlation: float = 0.9,
    psf_sigma=(0.7, 1.5),
    infarct: bool = False,
    seed=0,
) -> dict:
    """Ultrasound-like video of the beating heart: echogenicity x Rayleigh speckle.

    Model: video(x, t) = E(x, t) * A(x, t), E the echogenicity of the tissue at x in frame t
    (ECHOGENICITY of the beating_heart labels, smoothed slightly; low in blood, high in myocardium)
    and A unit-mean multiplicative Rayleigh speckle (``rayleigh_speckle``). Returns a dict with
    ``video`` (T, H, W) float32 envelope (not log-compressed), ``echogenicity`` (T, H, W) float32,
    ``speckle`` (T, H, W) float32, ``blood_pool`` (T, H, W) bool and the heart's ``ejection_fraction``.
    """
    fn = "ultrasound_speckle_video"
    speckle_correlation = check_float(speckle_correlation, "speckle_correlation", fn, low=0.0, high=1.0)
    rng = as_rng(seed, fn)
    heart = beating_heart(n_frames=n_frames, image_size=image_size, infarct=infarct, noise=0.0, seed=rng)
    echo = ECHOGENICITY[heart["labels"]]
    echo = ndimage.gaussian_filter(echo, (0, 0.5, 0.5))
    # slow, smooth tissue heterogeneity (+-15 %) so the background is not perfectly uniform
    texture = gaussian_smooth_periodic(
        rng.standard_normal((1, image_size, image_size), dtype=np.float32), 4.0
    )
    texture = 1.0 + 0.15 * texture / max(float(texture.std()), 1e-12)
    echo = (echo * np.clip(texture, 0.5, 1.5)).astype(np.float32)
    speckle = rayleigh_speckle(rng, echo.shape, psf_sigma, speckle_correlation)
    return {
        "video": (echo * speckle).astype(np.float32),
        "echogenicity": echo,
        "speckle": speckle,
        "blood_pool": heart["blood_pool"],
        "ejection_fraction": heart["ejection_fraction"],
    }
