"""Undersampled MRI reconstruction: zero-filled, compressed sensing (TV, FISTA), DC-CNN and CRNN-MRI.

    medgrad run reconstruction                                   # anatomy phantoms, 4x random lines, DC-CNN
    medgrad run reconstruction --dataset brain --acceleration 8  # real magnitude slices, simulated k-space
    medgrad run reconstruction --dataset cine                    # beating-heart cine, per-frame masks, CRNN

Each case's fully sampled single-coil k-space is undersampled with a Cartesian line mask
(tasks/data/undersampling.py: fastMRI's random / equispaced rules, or variable density; a new mask per
image, and per frame for cine), and reconstructed four ways: zero-filled (F^H of the measured
k-space), compressed sensing with total variation (FISTA; its weight chosen on the validation split),
and a network trained on the training split and selected on validation PSNR: the DC-CNN cascade
(models/dccnn.py) for images, CRNN-MRI (models/crnn_mri.py) for cine. Test metrics as fastMRI (NMSE,
PSNR, SSIM with data range = max of the target case, on magnitudes) with bootstrap 95% intervals
over cases, plus the reconstruction time per image. For phantoms and real magnitude images the
k-space is SIMULATED (tasks/data/mri_reconstruction.py explains how).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tasks.errors import UsageError
from tasks.evaluation import format_ci, summarize_cases
from tasks.experiment import Experiment
from tasks.options import Option, training_options

DATASETS = ("anatomy", "cine", "brain")
METHODS = {"zero_filled": "zero-filled", "cs_tv": "CS-TV (FISTA)", "dccnn": "DC-CNN", "crnn": "CRNN-MRI"}
CS_LAMBDAS = (1e-3, 3e-3, 1e-2, 3e-2)


def load(config, rng):
    from tasks.data import mri_reconstruction as D

    if config.dataset == "anatomy":
        return D.anatomy(config.n_samples, config.size, rng)
    if config.dataset == "cine":
        return D.cine(config.n_samples, config.size, config.frames, rng)
    if config.dataset == "brain":
        return D.brain(config.size, rng, config.data_dir, limit=config.n_samples)
    return D.user_file(config.dataset, rng)


def measure(images, masks, noise: float, rng):
    """(k-space measured where masks is True, zero-filled image) for complex images (N, [T,] H, W)."""
    from models.classical_reconstruction import fft2c_np, ifft2c_np

    k = fft2c_np(images)
    if noise > 0:
        k = k + noise * (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape))
    k = (k * masks).astype(np.complex64)
    return k, ifft2c_np(k).astype(np.complex64)


def make_masks(config, data, split: str, shape, rng) -> np.ndarray:
    from tasks.data.undersampling import sampling_mask

    if data.masks is not None:
        return data.masks[split]
    n_masks = int(np.prod(shape[:-2]))  # one mask per image, and per frame for cine
    try:
        m = sampling_mask(shape[-2:], config.mask, config.acceleration, config.center_fraction, seed=rng,
                          n_frames=n_masks)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return m.reshape(shape)


def choose_cs_lambda(config, val) -> tuple[float, dict]:
    """The TV weight with the best mean PSNR on (up to 16 cases of) the validation split."""
    from models.classical_reconstruction import cs_tv_fista
    from tasks.metrics.reconstruction import case_metrics

    if config.cs_lambda is not None:
        return config.cs_lambda, {}
    n = min(16, len(val["images"]))
    scores = {}
    for lam in CS_LAMBDAS:
        rec = cs_tv_fista(val["kspace"][:n], val["masks"][:n], lam=lam, n_iter=config.cs_iters)
        scores[lam] = float(case_metrics(np.abs(val["images"][:n]), np.abs(rec))["psnr"].mean())
    return max(scores, key=scores.get), {str(k): v for k, v in scores.items()}


def model_name(config) -> str:
    """--model, or its default: CRNN-MRI for cine, DC-CNN otherwise."""
    return config.model or ("crnn" if config.dataset == "cine" else "dccnn")


def build_network(config, dynamic: bool):
    from models.crnn_mri import CRNNMRI
    from models.dccnn import DCCNN

    if model_name(config) == "crnn":
        return CRNNMRI(n_iter=config.cascades, nf=config.features, n_layers=max(0, config.convs - 2), dc=config.dc)
    return DCCNN(n_cascades=config.cascades, nf=config.features, n_convs=config.convs, dc=config.dc,
                 shared=config.shared)


def network_arrays(split: dict, frames_as_images: bool):
    """Packed inputs (N, 5, [T,] H, W) and complex-layout targets (N, [T,] H, W, 2), float32."""
    from engine.fft import to_complex_layout
    from models.dccnn import pack_inputs

    arrays = [split[k] for k in ("zero_filled", "kspace", "masks", "images")]
    if frames_as_images:  # DC-CNN on cine: every frame is an independent 2-D image
        arrays = [a.reshape(-1, *a.shape[-2:]) for a in arrays]
    zf, k, m, img = arrays
    return pack_inputs(zf, k, m), to_complex_layout(img)


def run_network(ctx, splits: dict, dynamic: bool):
    """Train on the training split, select on validation PSNR; returns (info, magnitude predictions per split)."""
    import engine
    from engine.data import DataLoader, TensorDataset
    from tasks.metrics.image_quality import psnr
    from tasks.training import fit, predict

    config = ctx.config
    frames_as_images = dynamic and model_name(config) == "dccnn"
    arrays = {name: network_arrays(s, frames_as_images) for name, s in splits.items()}
    model = build_network(config, dynamic)
    model.to(config.device)

    def loss_fn(out, target):
        return ((out - target) ** 2).mean()

    def magnitude(a):
        return np.sqrt(a[..., 0] ** 2 + a[..., 1] ** 2)

    def val_psnr(out, target):
        x, y = magnitude(target), magnitude(out)
        return float(np.mean([psnr(a, b, data_range=float(a.max())) for a, b in zip(x, y)]))

    x_tr, y_tr = arrays["train"]
    train_loader = DataLoader(TensorDataset(x_tr, y_tr), batch_size=config.batch_size, shuffle=True, seed=config.seed)
    val_loader = DataLoader(TensorDataset(*arrays["val"]), batch_size=config.batch_size)
    engine.manual_seed(config.seed)
    result = fit(ctx, model, loss_fn, train_loader, val_loader, metrics={"psnr": val_psnr}, monitor="val_psnr",
                 mode="max")
    preds, seconds = {}, {}
    for name in ("val", "test"):
        started = time.perf_counter()
        out = predict(ctx, model, arrays[name][0], batch_size=config.batch_size)
        seconds[name] = time.perf_counter() - started
        preds[name] = magnitude(out).reshape(splits[name]["images"].shape)
    n_images = int(np.prod(splits["test"]["images"].shape[:-2]))
    info = {"parameters": model.num_parameters(), "train_seconds": result.train_seconds,
            "best_epoch": result.best_epoch, "seconds_per_image": seconds["test"] / n_images}
    return info, preds, result.history


def write_figures(splits: dict, recon: dict, fig_dir: Path, dynamic: bool) -> list[str]:
    import matplotlib.pyplot as plt

    test = splits["test"]
    target = np.abs(test["images"][0])
    names = list(recon)
    vmax = float(target.max())
    files = []
    if not dynamic:
        fig, axes = plt.subplots(2, len(names) + 1, figsize=(2.6 * (len(names) + 1), 5.4))
        axes[0, 0].imshow(test["masks"][0], cmap="gray")
        axes[0, 0].set_title("mask (k-space)")
        axes[1, 0].imshow(target, cmap="gray", vmin=0, vmax=vmax)
        axes[1, 0].set_title("target")
        for j, name in enumerate(names, start=1):
            img = recon[name]["test"][0]
            axes[0, j].imshow(img, cmap="gray", vmin=0, vmax=vmax)
            axes[0, j].set_title(METHODS[name])
            axes[1, j].imshow(np.abs(img - target), cmap="magma", vmin=0, vmax=0.3 * vmax)
            axes[1, j].set_title(f"|error| {METHODS[name]}")
        for ax in axes.ravel():
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(fig_dir / "reconstructions.png", dpi=90)
        plt.close(fig)
        return ["reconstructions.png"]
    frames = np.linspace(0, target.shape[0] - 1, min(6, target.shape[0])).astype(int)
    rows = [("target", target)] + [(METHODS[n], recon[n]["test"][0]) for n in names]
    fig, axes = plt.subplots(len(rows), len(frames), figsize=(1.8 * len(frames), 1.9 * len(rows)))
    for i, (label, seq) in enumerate(rows):
        for j, f in enumerate(frames):
            axes[i, j].imshow(seq[f], cmap="gray", vmin=0, vmax=vmax)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            axes[0, j].set_title(f"frame {f}")
        axes[i, 0].set_ylabel(label)
    fig.tight_layout()
    fig.savefig(fig_dir / "frame_strip.png", dpi=90)
    plt.close(fig)
    # temporal profile: the middle row of every frame stacked over time (x-t plot), where motion shows
    row = target.shape[1] // 2
    fig, axes = plt.subplots(1, len(rows), figsize=(2.4 * len(rows), 2.6))
    for ax, (label, seq) in zip(axes, rows):
        ax.imshow(seq[:, row, :], cmap="gray", vmin=0, vmax=vmax, aspect="auto")
        ax.set_title(label)
        ax.set_xlabel("x")
    axes[0].set_ylabel("time (frame)")
    fig.tight_layout()
    fig.savefig(fig_dir / "temporal_profile.png", dpi=90)
    plt.close(fig)
    files += ["frame_strip.png", "temporal_profile.png"]
    return files


class ReconstructionExperiment(Experiment):
    name = "reconstruction"
    description = ("undersampled single-coil MRI (anatomy phantoms, real brain magnitude slices with simulated "
                   "k-space, beating-heart cine, or your .npz k-space): zero-filled, CS-TV, DC-CNN, CRNN-MRI; "
                   "NMSE/PSNR/SSIM with bootstrap 95% CIs")
    options = (
        Option("dataset", str, "anatomy", "anatomy, cine, brain (real magnitude images, simulated k-space), or a "
               ".npz file with 'kspace' (fully sampled, complex (N, H, W) or real (N, H, W, 2)) and optional 'mask'"),
        Option("data_dir", str, None, "folder holding volunteer_3d/ and brain_slices_2d/ for --dataset brain "
               "(default ../shared/data/mri)", nullable=True),
        Option("model", str, None, "network: dccnn or crnn (default: crnn for cine, dccnn otherwise); DC-CNN on cine "
               "reconstructs each frame alone", choices=("dccnn", "crnn"), nullable=True),
        Option("mask", str, "random", "Cartesian line mask: fastMRI random or equispaced, or variable density",
               choices=("random", "equispaced", "variable")),
        Option("acceleration", float, 4.0, "undersampling factor R (W / R lines kept)", low=1.0, high=64.0),
        Option("center_fraction", float, 0.08, "fully sampled central fraction of the lines", low=0.0, high=1.0),
        Option("size", int, 64, "image side (pixels)", quick=32, low=16, high=512),
        Option("n_samples", int, 200, "phantom images or cine sequences (brain: at most this many slices per "
               "split)", quick=60, low=10, high=100_000),
        Option("frames", int, 12, "frames per cine sequence", quick=6, low=2, high=200),
        Option("cascades", int, 3, "DC-CNN cascades / CRNN iterations", quick=2, low=1, high=50),
        Option("features", int, 16, "feature maps per convolution", quick=16, low=2, high=512),
        Option("convs", int, 4, "convolutions per cascade (CRNN: layers incl. BCRNN and output)", quick=3, low=2,
               high=20),
        Option("dc", str, "hard", "data consistency: hard replacement or soft with a learnt weight",
               choices=("hard", "soft")),
        Option("shared", bool, False, "DC-CNN: one CNN shared by every cascade"),
        Option("noise", float, 0.0, "k-space noise std per real/imaginary part (images have maximum 1)", low=0.0,
               high=1.0),
        Option("cs_lambda", float, None, f"TV weight of CS (default: best validation PSNR of {CS_LAMBDAS})",
               low=0.0, nullable=True),
        Option("cs_iters", int, 50, "FISTA iterations of CS", quick=20, low=1, high=10_000),
        *training_options(epochs=6, lr=2e-3, batch_size=8, quick_epochs=3),
    )

    def check(self, config) -> None:
        if config.dataset not in DATASETS:
            p = Path(config.dataset)
            if p.suffix != ".npz" or not p.is_file():
                raise UsageError(f"unknown dataset {config.dataset!r}; use {', '.join(DATASETS)} or an existing "
                                 f".npz file with 'kspace'")
            from tasks.data.mri_reconstruction import user_file

            user_file(config.dataset, np.random.default_rng(0))  # malformed files are refused before a run starts
        if config.model == "crnn" and config.dataset != "cine":
            raise UsageError(f"--model crnn reconstructs cine sequences (2D+t); dataset {config.dataset!r} is static: "
                             f"use --model dccnn")
        if config.data_dir is not None and not Path(config.data_dir).is_dir():
            raise UsageError(f"--data-dir {config.data_dir}: no such folder")

    def run(self, ctx) -> dict:
        from models.classical_reconstruction import cs_tv_fista, ifft2c_np
        from tasks.data.undersampling import effective_acceleration
        from tasks.metrics.reconstruction import case_metrics

        config = ctx.config
        model = model_name(config)
        data = load(config, ctx.rng("data"))
        splits = {}
        for name in ("train", "val", "test"):
            images = data.__dict__[name]
            masks = make_masks(config, data, name, images.shape, ctx.rng(f"mask-{name}"))
            k, zf = measure(images, masks, config.noise, ctx.rng(f"noise-{name}"))
            splits[name] = {"images": images, "masks": masks, "kspace": k, "zero_filled": zf}
        ctx.log(f"{data.name}: {len(data.train)}/{len(data.val)}/{len(data.test)} cases of shape "
                f"{data.train.shape[1:]}, measured acceleration {effective_acceleration(splits['test']['masks']):.2f}")

        lam, lam_scores = choose_cs_lambda(config, splits["val"])
        recon, seconds = {"zero_filled": {}, "cs_tv": {}}, {}
        n_test_images = int(np.prod(data.test.shape[:-2]))
        for name in ("val", "test"):
            s = splits[name]
            started = time.perf_counter()
            recon["zero_filled"][name] = np.abs(ifft2c_np(s["kspace"]))  # what measure() stored, timed here
            seconds["zero_filled"] = (time.perf_counter() - started) / n_test_images
            started = time.perf_counter()
            recon["cs_tv"][name] = np.abs(cs_tv_fista(s["kspace"], s["masks"], lam=lam, n_iter=config.cs_iters))
            seconds["cs_tv"] = (time.perf_counter() - started) / n_test_images
        info, preds, history = run_network(ctx, splits, data.dynamic)
        recon[model] = preds
        seconds[model] = info["seconds_per_image"]

        results = {}
        for name in ("val", "test"):
            target = np.abs(splits[name]["images"])
            results[name] = {m: summarize_cases(case_metrics(target, r[name]), config.bootstrap, config.seed)
                             for m, r in recon.items()}
        return {
            "experiment": self.name, "dataset": data.name, "dynamic": data.dynamic, "model": model,
            "kspace": ("simulated single-coil k-space of magnitude images given a smooth synthetic phase"
                       if data.simulated_kspace else "user-provided k-space"),
            "mask": config.mask if data.masks is None else "user", "acceleration": config.acceleration,
            "measured_acceleration": effective_acceleration(splits["test"]["masks"]),
            "cs_lambda": lam, "cs_lambda_val_psnr": lam_scores, "seconds_per_image": seconds,
            "model_info": info, "train_seconds": info["train_seconds"],
            "split_sizes": {k: len(v["images"]) for k, v in splits.items()},
            "val": results["val"], "test": results["test"],
            "figures": write_figures(splits, recon, ctx.figures_dir, data.dynamic),
        }

    def summary(self, metrics: dict) -> str:
        t = metrics["test"]
        parts = [f"{METHODS[m]} {format_ci(t[m], 'psnr', 2)} dB / SSIM {t[m]['ssim']:.3f}" for m in t]
        return (f"test PSNR: {' | '.join(parts)}  [{metrics['dataset']}, {metrics['acceleration']:g}x "
                f"{metrics['mask']}]")


EXPERIMENT = ReconstructionExperiment()
