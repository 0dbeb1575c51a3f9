"""Registration figures and the shared-MRI evaluation (used by tasks/registration.py).

MRI with known transforms (../shared/data/mri, see its README):
* four PD slices whose transform is in the file name: the iterative affine registration recovers it;
  we report the rotation (degrees), scale and translation (pixels, of the image centre) and their errors.
  The names give |angle| 10 degrees and scale 1.2, but not the direction of the map nor the rotation centre:
  the angle error is against |angle|, the scale error against 1.2 or 1/1.2 (whichever direction the file
  encodes), and the translation error is reported for the pure shift only (with a rotation, the shift of the
  image centre depends on the unrecorded centre of the generating rotation).
* the B-spline-deformed slice: intensity error before/after affine+dense registration and % folding;
* T1 -> PD (multimodal): the T1 slice moved by a known affine, registered back onto the PD slice with
  mutual information (and, for contrast, MSE): parameter errors;
* 3-D: the volunteer's T1 volume warped by a known smooth deformation: TRE at foreground landmarks.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def _middle(a):
    """A 2-D view of a (C, *spatial) image or (d, *spatial) field: the middle slice of a volume."""
    return a if a.ndim == 3 else a[:, a.shape[1] // 2]


def example_figure(pairs, flows, path) -> str:
    """Fixed / moving / warped, checkerboard, differences before and after, deformation grid, det J map
    (first test pair; the middle slice of a volume)."""
    import matplotlib.pyplot as plt

    import engine
    import engine.nn.functional as F
    from tasks.metrics.registration import jacobian_determinant

    warped = F.warp(engine.tensor(pairs.moving[:1]), engine.tensor(flows[:1])).numpy()[0]
    moving, fixed = _middle(pairs.moving[0])[0], _middle(pairs.fixed[0])[0]
    warped = _middle(warped)[0]
    flow = flows[0] if flows.ndim == 4 else flows[0][1:, flows.shape[2] // 2]  # in-plane components
    tiles = (np.add.outer(np.arange(fixed.shape[0]) // 8, np.arange(fixed.shape[1]) // 8) % 2).astype(bool)
    panels = [("moving", moving), ("fixed", fixed), ("warped moving", warped),
              ("checkerboard fixed/warped", np.where(tiles, fixed, warped)),
              ("|fixed - moving|", np.abs(fixed - moving)), ("|fixed - warped|", np.abs(fixed - warped))]
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.5))
    diff_max = max(float(np.abs(fixed - moving).max()), 1e-6)  # one scale for both differences
    for ax, (title, im) in zip(axes.flat, panels):
        ax.imshow(im, cmap="gray", vmin=0, vmax=1 if "|" not in title else diff_max)
        ax.set_title(title, fontsize=9)
    ax = axes.flat[6]
    step = max(1, fixed.shape[0] // 16)
    ys, xs = np.mgrid[0:fixed.shape[0], 0:fixed.shape[1]].astype(float)
    py, px = ys + flow[0], xs + flow[1]
    for i in range(0, fixed.shape[0], step):
        ax.plot(px[i], py[i], "b-", lw=0.6)
    for j in range(0, fixed.shape[1], step):
        ax.plot(px[:, j], py[:, j], "b-", lw=0.6)
    ax.set_ylim(fixed.shape[0], 0)
    ax.set_aspect("equal")
    ax.set_title("deformation grid (x + u(x))", fontsize=9)
    det = jacobian_determinant(flow)
    im = axes.flat[7].imshow(det, cmap="RdBu", vmin=0, vmax=2)
    axes.flat[7].contour(det <= 0, levels=[0.5], colors="k", linewidths=0.8)
    axes.flat[7].set_title(f"det J (folding {100 * (det <= 0).mean():.2f}%)", fontsize=9)
    fig.colorbar(im, ax=axes.flat[7], fraction=0.046)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path).name


def training_figure(history, path) -> str:
    from tasks.figures import training_curves

    training_curves(history, path, metrics=("loss",))
    return Path(path).name


# ------------------------------------------------------------------------------------------------- MRI
def _mri_root(mri_dir) -> Path:
    given = Path(mri_dir)
    if given.is_dir() or given.is_absolute():
        return given
    return Path(__file__).resolve().parents[1] / given  # relative to the project root, as the README says


def _affine(moving, fixed, similarity, iterations):
    import engine
    from models.affine_net import similarity_parameters, theta_to_pixel
    from models.iterative_registration import register_affine

    started = time.perf_counter()
    theta = register_affine(engine.tensor(moving[None, None]), engine.tensor(fixed[None, None]), similarity,
                            iterations=iterations, lr=0.01)
    seconds = time.perf_counter() - started
    m, t = theta_to_pixel(theta.numpy(), fixed.shape)
    p = {k: float(v[0]) for k, v in similarity_parameters(m, t).items()}
    return p, m[0], t[0], seconds, theta


def known_transform_recovery(slices, similarity, iterations, figure=None) -> dict:
    """Recovered parameters and errors per known-transform slice; with ``figure`` (a path) also draws, per
    pair, the moving slice, the warped one and the differences to the fixed slice before/after."""
    import engine
    import engine.nn.functional as F
    from tasks.data.registration_pairs import KNOWN_TRANSFORMS

    out, rows = {}, []
    for name, true in KNOWN_TRANSFORMS.items():
        moving = slices["moving"][name]
        p, _, _, seconds, theta = _affine(moving, slices["fixed"], similarity, iterations)
        grid = F.affine_grid(theta, (1, 1, *moving.shape), align_corners=True)
        warped = F.grid_sample(engine.tensor(moving[None, None]), grid, padding_mode="border",
                               align_corners=True).numpy()[0, 0]
        rows.append((name, moving, warped))
        row = {"recovered": p, "named": true, "seconds": seconds,
               "rotation_error_deg": abs(abs(p["angle_deg"]) - true["angle_deg"]),
               "scale_error": min(abs(p["scale"] - true["scale"]),
                                  abs(1.0 / p["scale"] - true["scale"])) / true["scale"]}
        if true["angle_deg"] == 0 and true["scale"] == 1:
            row["translation_error_px"] = float(np.hypot(p["tx"] - true["tx"], p["ty"] - true["ty"]))
        out[name] = row
    if figure is not None:
        _pairs_figure(slices["fixed"], rows, figure)
    return out


def _pairs_figure(fixed, rows, path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 4, figsize=(11, 3 * len(rows)))
    for r, (name, moving, warped) in enumerate(rows):
        panels = [(f"{name} (moving)", moving, 1), ("registered", warped, 1),
                  ("|fixed - moving|", np.abs(fixed - moving), 0.5),
                  ("|fixed - registered|", np.abs(fixed - warped), 0.5)]
        for ax, (title, im, vmax) in zip(axes[r], panels):
            ax.imshow(im, cmap="gray", vmin=0, vmax=vmax)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def multimodal_recovery(slices, iterations) -> dict:
    """T1 moved by a known affine, registered back onto the PD slice: MI vs MSE."""
    from models.affine_net import similarity_parameters
    from tasks.data.phantoms.deformation import affine_displacement_field, warp
    from tasks.metrics.registration import affine_parameter_error

    a, s = np.radians(8.0), 1.05
    rot_xy = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    matrix, shift = rot_xy[::-1, ::-1].copy(), np.array([-5.0, 6.0])  # array order (y, x)
    moving = warp(slices["t1"], affine_displacement_field(np.linalg.inv(matrix), -np.linalg.inv(matrix) @ shift,
                                                          slices["t1"].shape))
    true = {k: float(v[0]) for k, v in similarity_parameters(matrix[None], shift[None]).items()}
    out = {"true": true}
    for similarity in ("mi", "mse"):
        p, m, t, seconds, _ = _affine(moving, slices["fixed"], similarity, iterations)
        out[similarity] = {"recovered": p, "seconds": seconds, **affine_parameter_error(matrix, shift, m, t)}
    return out


def bspline_registration(slices, config, ctx=None, model=None) -> dict:
    """The B-spline-deformed slice registered onto the fixed one: the iterative method (affine, then dense),
    and, given the experiment's trained 2-D network, that network's one forward pass (under ``"network"``)."""
    import engine
    from models.iterative_registration import affine_flow, register_affine, register_dense

    fixed, moving = slices["fixed"], slices["bspline"]
    shape = tuple(s - s % 4 for s in fixed.shape)  # coarse-to-fine levels need sizes divisible by 4
    f, m = (engine.tensor(a[None, None, :shape[0], :shape[1]].copy()) for a in (fixed, moving))
    started = time.perf_counter()
    theta = register_affine(m, f, config.similarity, iterations=max(config.iterations, 100))
    base = affine_flow(theta, shape)
    u = base + register_dense(m, f, base, config.similarity, config.reg_weight, iterations=max(config.iterations, 100))

    out = _warp_summary(m.numpy(), f.numpy(), u) | {"seconds": time.perf_counter() - started}
    if model is not None:
        out["network"] = _network_on_slice(ctx, model, fixed, moving)
    return out


def _network_on_slice(ctx, model, fixed, moving) -> dict:
    """The phantom-trained network on a real pair: the U-Net is fully convolutional, so it runs on the slice
    cropped to a size its four poolings divide (257 x 221 -> 256 x 208, the crop taken from the top left as
    for the iterative method). Its training data were 64 x 64 phantoms with deformations of at most 4 px: how
    far it transfers to real anatomy at this scale is what the row measures."""
    from tasks.data.registration_pairs import PairSet
    from tasks.registration import network_flows

    h, w = (s - s % 16 for s in fixed.shape)
    crop = (slice(None), slice(None), slice(0, h), slice(0, w))
    pair = PairSet(moving[None, None][crop].astype(np.float32), fixed[None, None][crop].astype(np.float32))
    flows, seconds = network_flows(ctx, model, pair)
    return {"crop": [h, w]} | _warp_summary(pair.moving, pair.fixed, flows) | {"seconds": seconds}


def _warp_summary(moving, fixed, flow) -> dict:
    """Intensity MSE before and after warping ``moving`` (1, 1, H, W) by ``flow`` (1, 2, H, W), % folding
    and std log|J| of the field: the columns of the B-spline rows."""
    import engine
    import engine.nn.functional as F
    from tasks.metrics.registration import folding_fraction, log_jacobian_std

    warped = F.warp(engine.tensor(moving), engine.tensor(flow)).numpy()
    return {"mse_before": float(((moving - fixed) ** 2).mean()), "mse_after": float(((warped - fixed) ** 2).mean()),
            "folding_pct": 100.0 * folding_fraction(flow[0]), "std_log_jac": log_jacobian_std(flow[0])}


def volume_tre(ctx, root, model=None) -> dict | None:
    """The volunteer T1 at --size^3 warped by a known smooth field; iterative (and network) TRE."""
    from tasks.data.phantoms.deformation import random_displacement_field, warp
    from tasks.data.registration_pairs import PairSet, draw_landmarks, volunteer_t1

    c = ctx.config
    volume = volunteer_t1(root, c.size)
    if volume is None:
        return None
    field = random_displacement_field(volume.shape, c.magnitude, c.size / 10.0, seed=c.seed)
    pairs = PairSet(volume[None, None], warp(volume, field)[None, None], field=field[None],
                    landmarks=draw_landmarks(np.digitize(volume, [0.2, 0.5])[None], 100, ctx.rng("mri-landmarks")))
    from tasks.registration import iterative_flows, network_flows, per_pair_metrics

    out = {}
    for name, run in (("iterative", lambda: iterative_flows(c, pairs)),
                      ("network", (lambda: network_flows(ctx, model, pairs)) if model is not None else None)):
        if run is None:
            continue
        flows, seconds = run()
        values = per_pair_metrics(pairs, flows)
        out[name] = {k: float(np.mean(v)) for k, v in values.items()} | {"seconds": seconds}
    return out


def mri_evaluation(ctx, dims: int, model=None) -> dict:
    from tasks.data.registration_pairs import brain_slices

    c = ctx.config
    if c.mri_dir is None:
        return {"skipped": "no --mri-dir (quick runs skip the shared MRI)"}
    root = _mri_root(c.mri_dir)
    if dims == 3:
        result = volume_tre(ctx, root, model)
        if result is None:
            ctx.log(f"shared MRI volume not found under {root} (or nibabel missing): phantoms only")
            return {"skipped": f"{root}/volunteer_3d/chris_t1.nii.gz not found or nibabel missing"}
        return {"volunteer_t1_synthetic_deformation": result}
    slices = brain_slices(root)
    if slices is None:
        ctx.log(f"shared MRI not found under {root}: phantoms only")
        return {"skipped": f"{root}/brain_slices_2d not found"}
    ctx.log("shared MRI: known transforms, B-spline pair, T1 -> PD")
    iterations = max(c.iterations, 150)
    figure = ctx.figures_dir / "mri_known_transforms.png"
    return {"known_transforms": known_transform_recovery(slices, c.similarity, iterations, figure),
            "multimodal_t1_to_pd": multimodal_recovery(slices, iterations),
            "bspline10": bspline_registration(slices, c, ctx, model)}
