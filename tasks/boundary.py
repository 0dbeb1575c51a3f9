"""Boundary segmentation with a recurrent network in polar coordinates, against thresholding.

Given a seed point inside a lesion (a click, or a detector's output; here the phantom's lesion
centre), the image is unwrapped into A rays of K samples each (bilinear interpolation, radii
0, dr, 2 dr, ... up to ``max_radius`` = 0.45 of the image side). A bidirectional RNN
(models/polar.py) predicts the boundary radius of every ray; the mask is rebuilt by filling, around
the seed, every pixel closer than the (linearly interpolated) radius at its angle. The training
target of each ray is where the true mask ends along it.

A polar boundary can only describe shapes that every ray from the seed crosses once (star-shaped
about the seed); spiculated malignant lesions are not quite. The report therefore also gives the
*polar ceiling*: the Dice of the mask rebuilt from the true radii, the best any polar method can do.

Classical baseline: Otsu's threshold, the connected region that contains (or is nearest to) the seed,
holes filled
(models/classical_segmentation.py) - with the same seed, so the comparison is fair.

Data: lesion phantoms (``--irregularity`` as in classification), 60/20/20 split. Reported on the test
images with bootstrap 95% intervals: Dice of the network, of the baseline and the ceiling, and the
network's mean absolute radius error in pixels.
"""

from __future__ import annotations

import time

import numpy as np

from tasks.evaluation import format_ci, summarize_cases
from tasks.experiment import Experiment
from tasks.options import Option, training_options

DATA_SEED = 0


def ray_geometry(n_angles: int, n_radii: int, max_radius: float):
    """Angles (A,) in radians and radii (K,) in pixels of the polar grid (radius 0 at the seed)."""
    return 2 * np.pi * np.arange(n_angles) / n_angles, np.linspace(0.0, max_radius, n_radii)


def to_polar(images: np.ndarray, seeds: np.ndarray, n_angles: int, n_radii: int, max_radius: float,
             order: int = 1) -> np.ndarray:
    """(N, H, W) images sampled on rays around (N, 2) seeds (row, col): (N, A, K) float32."""
    from scipy import ndimage

    theta, r = ray_geometry(n_angles, n_radii, max_radius)
    n = len(images)
    rows = seeds[:, 0, None, None] - r[None, None, :] * np.sin(theta)[None, :, None]  # image rows grow downwards
    cols = seeds[:, 1, None, None] + r[None, None, :] * np.cos(theta)[None, :, None]
    case = np.broadcast_to(np.arange(n)[:, None, None], rows.shape)
    # one call over the whole stack: coordinates (case, row, col); the case axis is sampled exactly
    coords = np.stack([case, rows, cols]).reshape(3, -1)
    values = ndimage.map_coordinates(np.asarray(images, np.float64), coords, order=order, mode="nearest",
                                     prefilter=False)
    return values.reshape(n, n_angles, n_radii).astype(np.float32)


def boundary_radii(masks: np.ndarray, seeds: np.ndarray, n_angles: int, n_radii: int, max_radius: float):
    """Where each ray leaves the mask, in units of the ray's sample spacing: (N, A) float32."""
    inside = to_polar(masks.astype(np.float64), seeds, n_angles, n_radii, max_radius) > 0.5
    leaves = np.where(inside.all(2), n_radii, np.argmax(~inside, axis=2))  # the first sample outside
    return np.maximum(leaves - 0.5, 0).astype(np.float32)  # the boundary lies between the last in and first out


def radii_to_masks(radii: np.ndarray, seeds: np.ndarray, shape, n_radii: int, max_radius: float) -> np.ndarray:
    """(N, A) radii (sample units) around (N, 2) seeds -> (N, H, W) bool masks (star-shaped about the seed)."""
    n, a = radii.shape
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    dy = seeds[:, 0, None, None] - rows[None]
    dx = cols[None] - seeds[:, 1, None, None]
    rho = np.hypot(dy, dx) * (n_radii - 1) / max_radius  # in sample units
    position = (np.arctan2(dy, dx) % (2 * np.pi)) / (2 * np.pi) * a  # fractional ray index
    j0 = np.floor(position).astype(int) % a
    w = position - np.floor(position)
    case = np.arange(n)[:, None, None]
    r = (1 - w) * radii[case, j0] + w * radii[case, (j0 + 1) % a]
    return rho <= r


def threshold_baseline(images: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Otsu's threshold per image, the region containing (or nearest to) the seed, holes filled: (N, H, W)."""
    from scipy import ndimage

    from models.classical_segmentation import otsu_threshold

    out = np.zeros(images.shape, bool)
    for i, (image, seed) in enumerate(zip(images, seeds)):  # one image at a time: per-image thresholds
        labels, count = ndimage.label(image > otsu_threshold(image))
        if count == 0:
            continue
        # the region under the seed, or - a seed in a dark hole or necrotic core - the nearest one
        _, (near_r, near_c) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
        r, c = int(round(seed[0])), int(round(seed[1]))
        out[i] = ndimage.binary_fill_holes(labels == labels[near_r[r, c], near_c[r, c]])
    return out


def dice_per_case(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    from tasks import metrics as M

    return M.dice(pred, true, per_sample=True)


class BoundaryExperiment(Experiment):
    name = "boundary"
    description = ("lesion boundary as a sequence: a bidirectional RNN predicts the boundary radius per angle "
                   "around a seed (polar coordinates) vs Otsu thresholding; Dice with CIs and the polar ceiling")
    options = (
        Option("model", str, "gru", "recurrent cell of the bidirectional layer", choices=("gru", "lstm")),
        Option("n_samples", int, 600, "number of generated lesion images", quick=60, low=20, high=1_000_000),
        Option("size", int, 64, "image side", low=16, high=512),
        Option("irregularity", float, 1.0, "boundary irregularity of malignant lesions", low=0.0, high=10.0),
        Option("angles", int, 64, "rays around the seed", low=8, high=1024),
        Option("hidden_size", int, 64, "hidden units per direction", low=1, high=4096),
        *training_options(epochs=30, lr=1e-3, batch_size=32, quick_epochs=2),
    )

    def folder_name(self, config) -> str:
        return f"{self.name}-{config.model}"

    def run(self, ctx) -> dict:
        import engine.nn.functional as F
        from engine.data import DataLoader, TensorDataset, train_val_test_split
        from models.polar import PolarBoundaryRNN
        from tasks.data.phantoms import make_lesion_dataset
        from tasks.training import fit, predict

        config = ctx.config
        d = make_lesion_dataset(config.n_samples, image_size=config.size, irregularity=config.irregularity,
                                seed=DATA_SEED)
        images, masks, seeds = d["images"][:, 0], d["masks"], d["centres"].astype(np.float64)
        n_radii, max_radius = config.size // 2, 0.45 * config.size
        geometry = (config.angles, n_radii, max_radius)
        rays = to_polar(images, seeds, *geometry)
        radii = boundary_radii(masks, seeds, *geometry)
        tr, va, te = train_val_test_split(len(images), fractions=(0.6, 0.2, 0.2), seed=DATA_SEED)

        model = PolarBoundaryRNN(n_radii, cell=config.model, hidden_size=config.hidden_size).to(config.device)

        def loss_fn(pred, target):
            return F.smooth_l1_loss(pred, target)

        def radius_error(pred, target):
            return float(np.abs(pred - target).mean() * max_radius / (n_radii - 1))

        result = fit(ctx, model, loss_fn,
                     DataLoader(TensorDataset(rays[tr], radii[tr]), batch_size=config.batch_size, shuffle=True,
                                seed=config.seed),
                     DataLoader(TensorDataset(rays[va], radii[va]), batch_size=256),
                     metrics={"radius_error": radius_error}, monitor="val_loss", mode="min")
        predicted = predict(ctx, model, rays[te], 256)
        shape = images.shape[1:]
        started = time.time()
        baseline = threshold_baseline(images[te], seeds[te])
        baseline_seconds = time.time() - started
        per_case = {
            "dice_rnn": dice_per_case(radii_to_masks(predicted, seeds[te], shape, n_radii, max_radius), masks[te]),
            "dice_otsu": dice_per_case(baseline, masks[te]),
            "dice_polar_ceiling": dice_per_case(radii_to_masks(radii[te], seeds[te], shape, n_radii, max_radius),
                                                masks[te]),
            "radius_error_px": np.abs(predicted - radii[te]).mean(1) * max_radius / (n_radii - 1),
        }
        test = summarize_cases(per_case, n_boot=config.bootstrap, seed=config.seed)
        from tasks import figures

        paths = [figures.training_curves(result.history, ctx.figures_dir / "training_curves.png",
                                         metrics=("loss", "radius_error")),
                 self._figure(images[te], masks[te], predicted, baseline, seeds[te], geometry, ctx.figures_dir)]
        return {"experiment": self.name, "model": config.model,
                "model_info": {"parameters": model.num_parameters(), "train_seconds": result.train_seconds,
                               "best_epoch": result.best_epoch, "baseline_seconds": baseline_seconds},
                "split_sizes": {"train": len(tr), "val": len(va), "test": len(te)}, "test": test,
                "figures": paths}

    @staticmethod
    def _figure(images, masks, predicted, baseline, seeds, geometry, fig_dir) -> str:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from tasks import figures

        rnn = radii_to_masks(predicted, seeds, images.shape[1:], geometry[1], geometry[2])
        fig, axes = plt.subplots(2, 6, figsize=(13, 4.6))
        for k, ax in enumerate(axes.T):
            ax[0].imshow(images[k], cmap="gray")
            ax[0].contour(masks[k], [0.5], colors="lime", linewidths=1)
            ax[0].contour(rnn[k], [0.5], colors="red", linewidths=1)
            ax[1].imshow(images[k], cmap="gray")
            ax[1].contour(masks[k], [0.5], colors="lime", linewidths=1)
            ax[1].contour(baseline[k], [0.5], colors="orange", linewidths=1)
            for a in ax:
                a.axis("off")
        axes[0, 0].set_title("truth (green) vs polar RNN (red)", loc="left", fontsize=9)
        axes[1, 0].set_title("truth (green) vs Otsu (orange)", loc="left", fontsize=9)
        return figures._save(fig, fig_dir / "test_boundaries.png")

    def summary(self, metrics: dict) -> str:
        t = metrics["test"]
        return (f"test Dice: polar RNN {format_ci(t, 'dice_rnn')}  Otsu {format_ci(t, 'dice_otsu')}  "
                f"(polar ceiling {t['dice_polar_ceiling']:.3f})  [{metrics['model']}]")


EXPERIMENT = BoundaryExperiment()
