"""Enhancement and generation: low-dose CT denoising, super-resolution, MRI-to-CT synthesis.

``--task denoise``    low-dose CT (projection-domain Poisson noise at ``--dose`` of the full dose,
                      FBP) -> the noise-free FBP; DnCNN or RED-CNN beside Gaussian, median and TV.
``--task superres``   x2 / x4 on phantom pairs or the real T1 volume (``--dataset t1``; in-plane or
                      through-plane with ``--plane through``); SRCNN or ESPCN beside bicubic.
``--task synthesis``  T1 MRI phantoms -> CT in HU; a U-Net trained with L1, or L1 + a PatchGAN
                      adversarial loss (``--adversarial``), beside a piecewise-linear intensity map.

Data and splits are described in tasks/data/enhancement.py; they are fixed by ``--data-seed``
(default 0), so runs with different --seed compare on the same cases, and another data seed gives
fresh phantoms on which a recipe settled on the first ones can be confirmed. Every classical method
chooses its parameter on the validation split; networks keep their best validation epoch (PSNR;
MAE in HU for synthesis). Test metrics are per case (image or slice) with bootstrap 95% intervals: PSNR and SSIM with an
explicit data range (1 for images in [0, 1]; 2000 HU, the [-1000, 1000] window, for synthesis),
and for synthesis the MAE in HU inside the body (and inside bone, where T1 MRI has no signal).
"""

from __future__ import annotations

import json

import numpy as np

from tasks.errors import UsageError
from tasks.evaluation import format_ci, summarize_cases
from tasks.experiment import Experiment
from tasks.options import Option, training_options

TASKS = ("denoise", "superres", "synthesis")
MODELS = {"denoise": ("dncnn", "redcnn"), "superres": ("srcnn", "espcn"), "synthesis": ("unet",)}
DATA_SEED = 0
# Adam moves every weight by about lr per step: the small residuals of denoising need a small step
# (pix2pix uses 2e-4 over 200 epochs; our default schedules are ten times shorter, so synthesis takes 1e-3)
DEFAULT_LR = {"denoise": 1e-4, "superres": 1e-3, "synthesis": 1e-3}
GRIDS = {"gaussian": (0.5, 0.75, 1.0, 1.5, 2.0), "median": (3, 5), "tv": (0.005, 0.01, 0.02, 0.04, 0.08),
         "knots": (4, 8, 16, 32)}


# --------------------------------------------------------------------------------------- evaluation
def case_metrics(pred, target, data_range: float, hu=None, body=None, bone=None) -> dict:
    """Per-case PSNR and SSIM (and MAE in HU inside the body / bone masks when ``hu`` is given)."""
    from tasks.metrics import psnr, ssim

    out = {"psnr": [psnr(t, p, data_range) for p, t in zip(pred, target)],
           "ssim": list(ssim(pred, target, data_range, per_image=True).reshape(len(pred)))}
    if hu is not None:
        pred_hu, true_hu = hu
        err = np.abs(pred_hu - true_hu)
        out["mae_hu"] = [float(e[m].mean()) for e, m in zip(err, body)]
        out["mae_bone_hu"] = [float(e[m].mean()) if m.any() else np.nan for e, m in zip(err, bone)]
    return out


def _val_psnr(data_range):
    from tasks.metrics import psnr

    return lambda out, target: float(np.mean([psnr(t, o, data_range) for o, t in zip(out, target)]))


def select(candidates: dict, score) -> tuple:
    """The (name, value) whose validation score is highest, and every trial."""
    trials = {name: float(score(fn())) for name, fn in candidates.items()}
    best = max(trials, key=trials.get)
    return best, trials


def train_network(ctx, model, x_train, y_train, x_val, y_val, data_range, loss="mse"):
    """fit() with an MSE (or L1) loss, selecting the epoch on validation PSNR; returns the FitResult."""
    import engine.nn.functional as F
    from engine.data import DataLoader, TensorDataset
    from tasks.training import fit

    config = ctx.config
    model.to(config.device)
    loss_fn = F.mse_loss if loss == "mse" else F.l1_loss
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=config.batch_size, shuffle=True,
                       seed=config.seed)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=8)
    return fit(ctx, model, loss_fn, train, val, metrics={"psnr": _val_psnr(data_range)}, monitor="val_psnr",
               mode="max")


def comparison_figure(path, columns: dict, target, error_range: float, cases=None, box=None):
    """Rows of [column images..., target] for a few test cases, each followed by |column - target|
    maps; a zoomed inset of ``box`` = (row, col, size) in every image. Default cases: the first and the
    middle one (test slices of a volume come in runs of neighbours)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    names = list(columns) + ["target"]
    cases = sorted({0, len(target) // 2}) if cases is None else [c for c in cases if c < len(target)]
    fig, axes = plt.subplots(2 * len(cases), len(names), figsize=(2.4 * len(names), 4.8 * len(cases)),
                             squeeze=False)
    h, w = target.shape[-2:]
    box = box or (h // 3, w // 3, max(8, min(h, w) // 4))
    lo, hi = float(np.percentile(target, 1)), float(np.percentile(target, 99.5))
    for k, case in enumerate(cases):
        for j, name in enumerate(names):
            img = (columns[name] if name != "target" else target)[case, 0]
            ax = axes[2 * k, j]
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
            r, c, s = box
            ax.add_patch(Rectangle((c, r), s, s, fill=False, edgecolor="yellow", linewidth=0.8))
            inset = ax.inset_axes([0.6, 0.6, 0.4, 0.4])
            inset.imshow(img[r:r + s, c:c + s], cmap="gray", vmin=lo, vmax=hi)
            inset.set_xticks([]), inset.set_yticks([])
            ax.set_title(name, fontsize=9)
            err_ax = axes[2 * k + 1, j]
            if name != "target":
                err_ax.imshow(np.abs(img - target[case, 0]), cmap="magma", vmin=0, vmax=error_range)
                err_ax.set_title(f"|{name} - target|", fontsize=8)
            for a in (ax, err_ax):
                a.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def _summaries(rows: dict, config) -> dict:
    return {name: summarize_cases(values, config.bootstrap, config.seed) for name, values in rows.items()}


def paired(rows: dict, network: str, baseline: str, config) -> dict:
    """Per-case differences network - baseline (same test cases) with bootstrap intervals: the direct
    answer to "does the network beat the baseline?", which overlapping per-method intervals do not give."""
    diffs = {k: np.asarray(rows[network][k], float) - np.asarray(rows[baseline][k], float) for k in rows[network]}
    return {"network": network, "baseline": baseline, **summarize_cases(diffs, config.bootstrap, config.seed)}


# --------------------------------------------------------------------------------------- the tasks
def run_denoise(ctx) -> dict:
    from models.classical_enhancement import gaussian_denoise, median_denoise, tv_denoise
    from models.dncnn import DnCNN
    from models.redcnn import REDCNN
    from tasks.data.enhancement import low_dose_ct, random_split

    config = ctx.config
    if config.dataset not in ("phantoms", "t1"):  # your own folder of pairs (inputs/ + targets/)
        from tasks.data.enhancement import image_folder

        d = image_folder(config.dataset, config.data_seed)
        if d["x"] is None:
            raise UsageError(f"{config.dataset}: denoising needs inputs/ and targets/ folders of image pairs")
        parts, d["hu_noise_std"] = d["split"], None
    else:
        d = low_dose_ct(config.n_samples, config.image_size, config.dose, config.full_dose_i0, config.data_seed)
        parts = random_split(config.n_samples, config.data_seed)
    x = {s: d["x"][i] for s, i in parts.items()}
    y = {s: d["y"][i] for s, i in parts.items()}
    L = config.data_range or 1.0
    score = _val_psnr(L)
    methods = {"gaussian": lambda v, p: gaussian_denoise(v, p), "median": lambda v, p: median_denoise(v, p),
               "tv": lambda v, p: tv_denoise(v, p)}
    selected, trials, test_preds = {}, {}, {"input (low dose)": x["test"]}
    for name, fn in methods.items():
        cands = {p: (lambda fn=fn, p=p: fn(x["val"], p)) for p in GRIDS[name]}
        best, trials[name] = select(cands, lambda out: score(out, y["val"]))
        selected[name] = best
        test_preds[f"{name} ({best})"] = fn(x["test"], best)
    ctx.log(f"baselines selected on validation PSNR: {selected}")
    if config.model == "redcnn":
        model = REDCNN(width=config.width)
    else:
        model = DnCNN(depth=config.depth, width=config.width, identity_init=True)
    result = train_network(ctx, model, x["train"], y["train"], x["val"], y["val"], L)
    from tasks.training import predict

    test_preds[config.model] = predict(ctx, model, x["test"], 8)
    rows = {name: case_metrics(p, y["test"], L) for name, p in test_preds.items()}
    figs = [comparison_figure(ctx.figures_dir / "denoise_test.png",
                              {"low dose": x["test"], f"tv ({selected['tv']})": test_preds[f"tv ({selected['tv']})"],
                               config.model: test_preds[config.model]}, y["test"], 0.05)]
    return {"data": {"dose": config.dose, "full_dose_i0": config.full_dose_i0, "i0": config.dose * config.full_dose_i0,
                     "noise_std_hu": d["hu_noise_std"], "data_range": L,
                     "split_sizes": {s: int(len(i)) for s, i in parts.items()}},
            "baselines": {"selected": selected, "val_psnr": trials},
            "network": _network_info(model, result), "test": _summaries(rows, config),
            "paired": paired(rows, config.model, f"tv ({selected['tv']})", config), "figures": figs,
            "_history": result.history}


def run_superres(ctx) -> dict:
    from models.classical_enhancement import bicubic_upsample
    from models.srcnn import ESPCN, SRCNN
    from tasks.data import enhancement as data
    from tasks.training import predict

    config = ctx.config
    f = config.factor
    if config.dataset == "t1":
        sl = data.t1_slices(data.load_t1(data.find_t1_volume(config.data_dir)), f, config.plane)
        low, high, scale = sl["low"], sl["high"], sl["scale"]
        low["train"], high["train"] = data.training_patches(low["train"], high["train"], scale, config.patch,
                                                            config.n_patches, config.data_seed)
        split_info = {"positions": sl["positions"], "train_patches": config.n_patches}
    else:
        if config.dataset == "phantoms":
            d = data.resolution_phantoms(config.n_samples, config.image_size, f, config.data_seed)
            parts = data.random_split(config.n_samples, config.data_seed)
        else:  # your own high-resolution images, degraded by the same block-averaging rule
            folder = data.image_folder(config.dataset, config.data_seed)
            d = {"high": folder["y"], "low": data.block_average(folder["y"], (f, f))}
            parts = folder["split"]
        low = {s: d["low"][i] for s, i in parts.items()}
        high = {s: d["high"][i] for s, i in parts.items()}
        scale, split_info = (f, f), {"split_sizes": {s: int(len(i)) for s, i in parts.items()}}
    L = config.data_range or 1.0

    def network_input(v):  # SRCNN refines the bicubic image; ESPCN starts from the low-resolution one
        return bicubic_upsample(v, scale) if config.model == "srcnn" else v

    if config.model == "espcn":
        model = ESPCN(f, n1=config.width, n2=max(config.width // 2, 1))
    else:
        model = SRCNN(n1=config.width, n2=max(config.width // 2, 1), residual=True)
    result = train_network(ctx, model, network_input(low["train"]), high["train"], network_input(low["val"]),
                           high["val"], L)
    nearest = np.repeat(np.repeat(low["test"], scale[0], axis=2), scale[1], axis=3)
    test_preds = {"input (nearest)": nearest, "bicubic": bicubic_upsample(low["test"], scale),
                  config.model: predict(ctx, model, network_input(low["test"]), 4)}
    rows = {name: case_metrics(p, high["test"], L) for name, p in test_preds.items()}
    figs = [comparison_figure(ctx.figures_dir / "superres_test.png", test_preds, high["test"], 0.1)]
    return {"data": {"dataset": config.dataset, "factor": f, "plane": config.plane, "data_range": L,
                     "anti_aliasing": "block average over each low-resolution voxel (thick slices: mean of "
                                      "factor consecutive slices)", **split_info},
            "network": _network_info(model, result), "test": _summaries(rows, config),
            "paired": paired(rows, config.model, "bicubic", config), "figures": figs, "_history": result.history}


def run_synthesis(ctx) -> dict:
    from models.classical_enhancement import PiecewiseLinearMap
    from tasks.data.enhancement import HU_WINDOW, mri_ct_pairs, random_split

    config = ctx.config
    d = mri_ct_pairs(config.n_samples, config.image_size, config.data_seed)
    parts = random_split(config.n_samples, config.data_seed)
    sp = {s: {k: v[i] for k, v in d.items()} for s, i in parts.items()}
    lo, hi = HU_WINDOW
    L = config.data_range or (hi - lo)

    def mae_body(pred_hu, part):
        return float(np.mean([np.abs(p - t)[m].mean() for p, t, m in zip(pred_hu, part["hu"], part["body"])]))

    fits = {k: PiecewiseLinearMap(k).fit(sp["train"]["x"], sp["train"]["hu"]) for k in GRIDS["knots"]}
    val_mae = {k: mae_body(m.predict(sp["val"]["x"]), sp["val"]) for k, m in fits.items()}
    knots = min(val_mae, key=val_mae.get)
    pred_hu, info, history = train_synthesis(ctx, sp)
    test = sp["test"]
    preds = {f"piecewise-linear ({knots} knots)": fits[knots].predict(test["x"]),
             "u-net, L1 + adversarial" if config.adversarial else "u-net, L1": pred_hu}

    def clip(v):
        return np.clip(v, lo, hi)

    rows = {name: case_metrics(clip(p), clip(test["hu"]), L, hu=(p, test["hu"]), body=test["body"],
                               bone=test["labels"] == 3)
            for name, p in preds.items()}
    shown = {"T1 input (shown in HU range)": test["x"] * 2000.0 - 1000.0, **preds}
    figs = [comparison_figure(ctx.figures_dir / "synthesis_test.png", shown, test["hu"], 300.0)]
    return {"data": {"data_range_hu": L, "split_sizes": {s: int(len(i)) for s, i in parts.items()}},
            "baselines": {"selected_knots": knots, "val_mae_hu": val_mae}, "network": info,
            "test": _summaries(rows, config), "paired": paired(rows, list(preds)[1], list(preds)[0], config),
            "figures": figs, "_history": history}


def train_synthesis(ctx, sp):
    """U-Net generator (+ PatchGAN) trained with pix2pix_step; the epoch with the lowest validation
    MAE (HU, body) is kept (saved as checkpoints/best.npz). Returns (test HU, info, history).

    Resumable: after every epoch checkpoints/last.npz holds both networks, both optimisers, the batch
    order's generator, the history and the best epoch so far, so ``medgrad run --resume`` continues
    exactly where an interrupted run stopped (the same losses as an uninterrupted run).
    """
    import time

    import engine
    from engine import nn, optim
    from engine.train import load_checkpoint, save_checkpoint
    from models.patchgan import PatchGAN, pix2pix_step
    from models.unet import UNet
    from tasks.training import predict

    config = ctx.config
    rng = ctx.rng("batches")

    def scale(hu):  # the generator's target: HU / 1000 + 1 (air 0, water 1, bone 1.7)
        return (hu / 1000.0 + 1.0).astype(np.float32)

    g = UNet(1, 1, depth=config.depth, width=config.width).to(config.device)
    d = PatchGAN(2, width=config.width, n_layers=2).to(config.device)
    pair = nn.Module()  # one module holding both networks, so that one checkpoint carries both
    pair.generator, pair.discriminator = g, d
    opt_g = optim.Adam(g.parameters(), lr=config.lr, betas=(0.5, 0.999))  # pix2pix's Adam
    opt_d = optim.Adam(d.parameters(), lr=config.lr, betas=(0.5, 0.999))
    x_tr, y_tr = sp["train"]["x"], scale(sp["train"]["hu"])
    history, best, done, seconds = [], None, 0, 0.0
    if ctx.resume_from is not None:
        saved = load_checkpoint(ctx.resume_from, pair, optimizer=opt_g, restore_rng=True)
        state = saved["trainer_state"]
        opt_d.load_state_dict(state["opt_d"])
        rng.bit_generator.state = state["batches_rng"]
        history, best, done, seconds = state["history"], tuple(state["best"]), saved["epoch"], state["seconds"]
        ctx.log(f"resumed after epoch {done}")
    started = time.time()
    for epoch in range(done + 1, config.epochs + 1):
        g.train(), d.train()
        order, losses = rng.permutation(len(x_tr)), []
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            xb, yb = (engine.tensor(a[idx], device=config.device) for a in (x_tr, y_tr))
            losses.append(pix2pix_step(g, d, opt_g, opt_d, xb, yb, config.l1_weight, config.adversarial))
        val_hu = (predict(ctx, g, sp["val"]["x"], 16) - 1.0) * 1000.0
        val_mae = float(np.mean([np.abs(p - t)[m].mean() for p, t, m in zip(val_hu, sp["val"]["hu"],
                                                                             sp["val"]["body"])]))
        row = {"epoch": epoch, **{f"train_{k}": float(np.mean([r[k] for r in losses])) for k in losses[0]},
               "val_mae_hu": val_mae}
        history.append(row)
        ctx.log(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch"))
        if best is None or val_mae < best[0]:
            best = (val_mae, epoch)
            save_checkpoint(ctx.checkpoints_dir / "best.npz", g, epoch=epoch, metadata={"val_mae_hu": val_mae})
        state = {"opt_d": opt_d.state_dict(), "batches_rng": rng.bit_generator.state, "history": history,
                 "best": list(best), "seconds": seconds + time.time() - started}
        save_checkpoint(ctx.checkpoints_dir / "last.npz", pair, optimizer=opt_g, epoch=epoch, trainer_state=state)
        _write_history(ctx.run_dir / "history.jsonl", history)
    load_checkpoint(ctx.checkpoints_dir / "best.npz", g)
    info = {"generator": f"U-Net depth {config.depth} width {config.width}", "parameters": g.num_parameters(),
            "adversarial": config.adversarial, "l1_weight": config.l1_weight, "best_epoch": best[1],
            "val_mae_hu": best[0], "train_seconds": seconds + time.time() - started}
    if config.adversarial:
        info["discriminator_parameters"] = d.num_parameters()
    return (predict(ctx, g, sp["test"]["x"], 16) - 1.0) * 1000.0, info, history


def _write_history(path, history) -> None:
    """history.jsonl, one line per epoch as fit() writes it; rewritten whole (atomically), so that a resumed
    run never shows an epoch twice."""
    from tasks.runfolder import write_text_atomic

    write_text_atomic(path, "".join(json.dumps(row) + "\n" for row in history))


def _network_info(model, result) -> dict:
    return {"name": type(model).__name__, "parameters": model.num_parameters(), "best_epoch": result.best_epoch,
            "train_seconds": result.train_seconds}


# --------------------------------------------------------------------------------------- the experiment
class EnhancementExperiment(Experiment):
    name = "enhancement"
    description = ("denoise low-dose CT, super-resolve phantoms or a real T1 MRI (x2/x4, in-plane or thick "
                   "slices), synthesise CT from MRI (L1 or L1 + PatchGAN); classical baselines; PSNR/SSIM/MAE "
                   "with bootstrap 95% CIs")
    options = (
        Option("task", str, "denoise", "denoise, superres or synthesis", choices=TASKS),
        Option("model", str, None, "network: dncnn/redcnn (denoise), srcnn/espcn (superres), unet (synthesis); "
               "default the first", nullable=True, choices=sum(MODELS.values(), ())),
        Option("dataset", str, "phantoms", "phantoms; t1 (superres: the volunteer T1 volume); or a folder: "
               "inputs/ + targets/ image pairs (denoise) or images/ (superres: high-resolution images, "
               "block-averaged by --factor); 2D one-channel PNG/.npy/NIfTI of one size, scaled to [0, 1] by "
               "the targets' min and max, split 70/15/15"),
        Option("data_dir", str, None, "folder holding chris_t1.nii.gz (default: ../shared/data/mri/volunteer_3d)",
               nullable=True),
        Option("plane", str, "axial", "superres on t1: axial (in-plane) or through (thick slices -> isotropic)",
               choices=("axial", "through")),
        Option("factor", int, 2, "super-resolution scale factor (must divide the image size)", choices=(2, 3, 4)),
        Option("dose", float, 0.25, "denoise: dose as a fraction of the full dose", low=0.0, open_low=True,
               high=1.0),
        Option("full_dose_i0", float, 1e5, "denoise: incident photons per detector bin at full dose", low=1.0),
        Option("n_samples", int, 600, "generated phantom cases (70/15/15 split)", quick=60, low=10, high=100_000),
        Option("data_seed", int, DATA_SEED, "seed of the generated phantoms, the noise and the splits (another value: "
               "fresh cases, e.g. to confirm a recipe chosen on the first ones)", low=0, high=2**32 - 1),
        Option("image_size", int, 64, "phantom image side in pixels", low=24, high=512),
        Option("patch", int, 48, "t1: side of the training patches (high resolution)", quick=32, low=8, high=256),
        Option("n_patches", int, 2000, "t1: training patches drawn from the training slices", quick=64, low=8),
        Option("width", int, 32, "network width (DnCNN/RED-CNN channels, SRCNN/ESPCN n1, U-Net first level)",
               quick=8, low=1, high=512),
        Option("depth", int, 8, "DnCNN layers (the paper: 17) or U-Net levels (synthesis uses min(depth, 4))",
               quick=3, low=2, high=64),
        Option("adversarial", bool, False, "synthesis: add the PatchGAN adversarial loss to L1 (pix2pix)"),
        Option("l1_weight", float, 100.0, "synthesis: weight of the L1 term (pix2pix: 100)", low=0.0),
        Option("data_range", float, None, "intensity range for PSNR/SSIM (default: 1 for [0, 1] images; 2000 HU "
               "for synthesis)", nullable=True, low=0.0, open_low=True),
        *[o.replace(default=None, nullable=True, help="learning rate (default per task: denoise 1e-4 as RED-CNN, "
                    "superres 1e-3, synthesis 1e-3)") if o.name == "lr" else o
          for o in training_options(epochs=10, lr=1e-3, batch_size=16, quick_epochs=1)],
    )

    def check(self, config) -> None:
        from pathlib import Path

        model = config.model or MODELS[config.task][0]
        if config.dataset not in ("phantoms", "t1"):
            if not Path(config.dataset).is_dir():
                raise UsageError(f"--dataset {config.dataset}: not phantoms or t1, and no such folder")
            if config.task == "synthesis":
                raise UsageError("--task synthesis runs on the MRI/CT phantoms only (--dataset phantoms)")
        elif config.dataset == "t1" and config.task != "superres":
            raise UsageError("--dataset t1 is for --task superres")
        if model not in MODELS[config.task]:
            raise UsageError(f"--model {model} does not do --task {config.task}; choose from "
                             f"{', '.join(MODELS[config.task])}")
        if config.task == "superres":
            if config.dataset == "phantoms" and config.image_size % config.factor:
                raise UsageError(f"--factor {config.factor} does not divide --image-size {config.image_size}")
            if config.dataset == "t1" and config.patch % config.factor:
                raise UsageError(f"--factor {config.factor} does not divide --patch {config.patch}")
            if config.dataset != "t1" and config.plane != "axial":
                raise UsageError("--plane through needs --dataset t1 (phantoms and folders hold 2D images)")
            if model == "espcn" and config.plane == "through":
                raise UsageError("espcn upsamples both axes (pixel shuffle); use srcnn for --plane through")
            if config.dataset == "t1" and config.factor == 3:
                raise UsageError("--factor 3 does not divide the T1 slices (184 x 256, 188 x 188); use 2 or 4")
        if config.task == "denoise" and model == "redcnn" and config.image_size < 21:
            raise UsageError("redcnn needs images of at least 21 pixels per side")
        if config.task == "synthesis" and config.image_size % 2 ** (min(config.depth, 4) - 1):
            raise UsageError(f"--image-size {config.image_size} must be divisible by 2^(levels-1) for the U-Net")

    def folder_name(self, config) -> str:
        return f"enhancement-{config.task}-{config.model or MODELS[config.task][0]}"

    def run(self, ctx) -> dict:
        from tasks import figures

        values = ctx.config.to_dict()
        values["model"] = values["model"] or MODELS[values["task"]][0]
        if values["lr"] is None:
            values["lr"] = DEFAULT_LR[values["task"]]
        if values["task"] == "synthesis":
            values["depth"] = min(values["depth"], 4)
        ctx.config = type(ctx.config)(values)
        runner = {"denoise": run_denoise, "superres": run_superres, "synthesis": run_synthesis}[values["task"]]
        out = runner(ctx)
        history = out.pop("_history")
        if history:
            keys = ("loss", "psnr") if values["task"] != "synthesis" else ("g_l1", "d", "mae_hu")
            out["figures"].append(figures.training_curves(history, ctx.figures_dir / "training_curves.png", keys))
        return {"experiment": self.name, "task": values["task"], "model": values["model"], **out}

    def summary(self, metrics: dict) -> str:
        test = metrics["test"]
        key = "mae_hu" if metrics["task"] == "synthesis" else "psnr"
        parts = [f"{name} {format_ci(row, key, 2)}" for name, row in test.items()]
        unit = "MAE in body (HU)" if key == "mae_hu" else "PSNR (dB)"
        return f"{metrics['task']}: test {unit}: " + "; ".join(parts)


EXPERIMENT = EnhancementExperiment()
