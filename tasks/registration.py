"""Image registration: VoxelMorph-style unsupervised networks (and an affine network) against per-pair
iterative optimisation of the same objective, on phantoms with exact deformations, your own pairs, and
the shared MRI with known transforms.

A network is trained on training pairs to minimise -Sim(fixed, warped) + lambda Reg(u) (+ a Dice term on
warped label maps with --label-weight: weak supervision), selected on the validation loss, and applied
to the test pairs in one forward pass each. The classical baseline optimises the same similarity per test
pair with Adam (affine, then dense; models/iterative_registration.py). Test metrics with bootstrap CIs over
pairs: Dice of warped labels before/after, TRE at landmarks, % folding, std log|J|, seconds per pair.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tasks.errors import UsageError
from tasks.evaluation import format_ci, summarize_cases
from tasks.experiment import Experiment
from tasks.options import Option, training_options

MODELS = ("voxelmorph", "voxelmorph-diff", "affine")


# ----------------------------------------------------------------------------------------------------- data
def load_pairs(ctx):
    """(train, val, test) PairSets and a description of the data."""
    from tasks.data.registration_pairs import folder_pairs, phantom_pairs
    from tasks.userdata import seeded_split

    c = ctx.config
    if c.dataset in ("phantoms", "phantoms3d"):
        shape = (c.size,) * (2 if c.dataset == "phantoms" else 3)
        n_eval = max(4, c.n_pairs // 6)
        sets = [phantom_pairs(n, shape, c.magnitude, c.affine, seed=c.seed * 1000 + k, landmarks=c.landmarks)
                for k, n in enumerate((c.n_pairs, n_eval, n_eval))]
        return (*sets, f"{c.dataset} {'x'.join(map(str, shape))}")
    if not Path(c.dataset).is_dir():
        raise UsageError(f"--dataset {c.dataset}: use phantoms, phantoms3d, or a folder with fixed/ and moving/")
    pairs = folder_pairs(c.dataset, c.size if c.resize else None)
    if len(pairs) < 3:
        raise UsageError(f"{c.dataset}: {len(pairs)} pairs; at least 3 are needed for train/val/test splits")
    split = seeded_split(len(pairs), seed=c.seed)
    sets = [pairs.subset(np.flatnonzero(split == s)) for s in ("train", "val", "test")]
    return (*sets, f"folder {Path(c.dataset).name}")


def check_network_fits(pairs, dims: int, levels: int):
    factor = 2**levels
    shape = pairs.fixed.shape[2:]
    if len(shape) != dims:
        raise UsageError(f"a {dims}-D network cannot register {len(shape)}-D images of shape {shape}")
    if any(s % factor for s in shape):
        raise UsageError(f"image size {shape} must be divisible by {factor} for the U-Net; pass --resize --size N")


# ----------------------------------------------------------------------------------------------- networks
def build_network(config, dims: int):
    import engine
    from engine import nn
    from engine.ops.shape import cat
    from models.affine_net import AffineNet, theta_to_flow
    from models.voxelmorph import VoxelMorph

    engine.manual_seed(config.seed)
    if config.model == "affine":
        net = AffineNet(dims)
    else:
        net = VoxelMorph(dims, int_steps=7 if config.model == "voxelmorph-diff" else 0, seed=config.seed)

    class PairModel(nn.Module):
        """pair (N, 2, *spatial) = [moving, fixed] -> (N, 1 + d, *spatial) = [warped, flow] for the Trainer."""

        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, pair):
            warped, out = self.net(pair[:, :1], pair[:, 1:])
            flow = theta_to_flow(out, tuple(pair.shape[2:])) if config.model == "affine" else out
            return cat([warped, flow], dim=1)

    return PairModel()


def make_loss(config, dims: int, classes: int):
    import engine.nn.functional as F
    from models.iterative_registration import similarity_loss

    reg = F.diffusion_loss if config.regulariser == "diffusion" else F.bending_energy_loss
    weight = 0.0 if config.model == "affine" else config.reg_weight

    def loss_fn(outputs, target):
        warped, flow = outputs[:, :1], outputs[:, 1:]
        loss = similarity_loss(config.similarity, warped, target[:, :1])
        if weight:
            loss = loss + weight * reg(flow)
        if config.label_weight and classes:
            fixed_oh, moving_oh = target[:, 1:1 + classes], target[:, 1 + classes:]
            loss = loss + config.label_weight * F.soft_dice_loss(F.warp(moving_oh, flow), fixed_oh)
        return loss

    return loss_fn


def _targets(pairs, classes: int, use_labels: bool) -> np.ndarray:
    if not use_labels:
        return pairs.fixed
    onehot = lambda lab: np.moveaxis(np.eye(classes, dtype=np.float32)[lab], -1, 1)  # noqa: E731
    return np.concatenate([pairs.fixed, onehot(pairs.fixed_labels), onehot(pairs.moving_labels)], axis=1)


def train_network(ctx, train, val):
    from engine.data import DataLoader, TensorDataset
    from tasks.training import fit

    c, dims = ctx.config, train.fixed.ndim - 2
    model = build_network(c, dims)
    model.to(c.device)
    classes = int(max(train.fixed_labels.max(), train.moving_labels.max())) + 1 if train.fixed_labels is not None else 0
    use_labels = bool(c.label_weight and classes)
    loaders = [DataLoader(TensorDataset(np.concatenate([s.moving, s.fixed], 1), _targets(s, classes, use_labels)),
                          batch_size=c.batch_size, shuffle=shuffle, seed=c.seed)
               for s, shuffle in ((train, True), (val, False))]
    result = fit(ctx, model, make_loss(c, dims, classes), *loaders, monitor="val_loss", mode="min")
    return model, result


def network_flows(ctx, model, pairs) -> tuple[np.ndarray, float]:
    """Predicted flows (N, d, *spatial) and seconds per pair (one forward pass each, batched)."""
    from tasks.training import predict

    started = time.perf_counter()
    out = predict(ctx, model, np.concatenate([pairs.moving, pairs.fixed], 1), batch_size=8)
    return out[:, 1:], (time.perf_counter() - started) / len(pairs)


def iterative_flows(config, pairs) -> tuple[np.ndarray, float]:
    """The baseline: per-pair affine, then dense, optimisation of the same objective; seconds per pair."""
    import engine
    from models.iterative_registration import affine_flow, register_affine, register_dense

    started = time.perf_counter()
    flows = []
    for start in range(0, len(pairs), 8):
        m = engine.tensor(pairs.moving[start:start + 8], device=config.device)
        f = engine.tensor(pairs.fixed[start:start + 8], device=config.device)
        theta = register_affine(m, f, config.similarity, iterations=config.iterations)
        base = affine_flow(theta.to("cpu"), m.shape[2:])
        flows.append(base + register_dense(m, f, base, config.similarity, config.reg_weight,
                                           iterations=config.iterations, regulariser=config.regulariser))
    return np.concatenate(flows), (time.perf_counter() - started) / len(pairs)


# --------------------------------------------------------------------------------------------- evaluation
def per_pair_metrics(pairs, flows, affine: bool = False) -> dict:
    """{metric: per-pair values}: Dice/TRE before and after (when labels/fields exist), folding, std log|J|,
    the mean squared intensity error after warping, and with ``affine`` the error of the affine part."""
    import engine
    import engine.nn.functional as F
    from tasks.data.phantoms.deformation import warp_labels
    from tasks.metrics import registration as R

    warped = F.warp(engine.tensor(pairs.moving), engine.tensor(flows)).numpy()
    out = {"mse_before": ((pairs.moving - pairs.fixed) ** 2).mean(axis=tuple(range(1, pairs.fixed.ndim))),
           "mse_after": ((warped - pairs.fixed) ** 2).mean(axis=tuple(range(1, pairs.fixed.ndim))),
           "folding_pct": [100.0 * R.folding_fraction(u) for u in flows],
           "std_log_jac": [R.log_jacobian_std(u) for u in flows]}
    if pairs.fixed_labels is not None:
        mean_dice = lambda a, b: float(np.nanmean(list(R.dice_per_label(a, b).values())))  # noqa: E731
        out["dice_before"] = [mean_dice(f, m) for f, m in zip(pairs.fixed_labels, pairs.moving_labels)]
        out["dice_after"] = [mean_dice(f, warp_labels(m, u))
                             for f, m, u in zip(pairs.fixed_labels, pairs.moving_labels, flows)]
    if pairs.field is not None:
        out["tre_before"] = [R.target_registration_error(p, 0 * t, t).mean()
                             for p, t in zip(pairs.landmarks, pairs.field)]
        out["tre_after"] = [R.target_registration_error(p, u, t).mean()
                            for p, u, t in zip(pairs.landmarks, flows, pairs.field)]
        if affine:  # the error of the affine part (least-squares fits of the true and estimated fields)
            errors = [R.affine_parameter_error(*R.fit_affine(t), *R.fit_affine(u)) for u, t in zip(flows, pairs.field)]
            for key in errors[0]:
                out[f"affine_{key}"] = [e[key] for e in errors]
    return out


def per_structure_dice(pairs, flows) -> dict:
    from tasks.data.phantoms.deformation import warp_labels
    from tasks.metrics import registration as R

    if pairs.fixed_labels is None:
        return {}
    rows = [R.dice_per_label(f, warp_labels(m, u)) for f, m, u in zip(pairs.fixed_labels, pairs.moving_labels, flows)]
    labels = sorted({k for r in rows for k in r})
    return {str(k): float(np.nanmean([r.get(k, np.nan) for r in rows])) for k in labels}


# ---------------------------------------------------------------------------------------- the experiment
class RegistrationExperiment(Experiment):
    name = "registration"
    description = ("Deformable/affine registration: VoxelMorph (displacement or diffeomorphic), affine network, "
                   "iterative baseline; phantoms 2D/3D, your pairs, the shared MRI with known transforms")
    options = (
        Option("dataset", str, "phantoms", "phantoms, phantoms3d, or a folder with fixed/ and moving/ (same file "
               "names; a pair must share one size unless --resize)"),
        Option("model", str, "voxelmorph", "network; the iterative baseline always runs beside it", choices=MODELS),
        Option("size", int, 64, "phantom side length (and the --resize target)", quick=32, low=16, high=512),
        Option("resize", bool, False, "resample folder images to --size per side (linear)"),
        Option("n_pairs", int, 240, "training phantom pairs (val/test: n/6 each, at least 4)", quick=24, low=4),
        Option("magnitude", float, 4.0, "largest phantom displacement in pixels", low=0.0, high=100.0),
        Option("affine", bool, False, "add a random affine transform to each phantom pair"),
        Option("landmarks", int, 20, "landmarks per phantom pair for the TRE", low=1, high=10_000),
        Option("similarity", str, "ncc", "similarity: local NCC (window 9), MSE, or Parzen mutual information",
               choices=("ncc", "mse", "mi")),
        Option("regulariser", str, "diffusion", "smoothness penalty on the displacement",
               choices=("diffusion", "bending")),
        Option("reg_weight", float, 1.0, "lambda of the regulariser (VoxelMorph's NCC setting: 1)", low=0.0),
        Option("label_weight", float, 0.0, "weight of the Dice of warped label maps (weak supervision; phantoms)",
               low=0.0),
        Option("iterations", int, 100, "Adam steps per resolution level of the iterative baseline", quick=15, low=1),
        Option("mri_dir", str, "../shared/data/mri", "the shared MRI folder (skipped, saying so, when absent)",
               quick=None, nullable=True),
        *training_options(epochs=12, lr=1e-3, batch_size=8, quick_epochs=2),
    )

    def check(self, config) -> None:
        if config.dataset not in ("phantoms", "phantoms3d") and not Path(config.dataset).is_dir():
            raise UsageError(f"--dataset {config.dataset}: use phantoms, phantoms3d, or a folder with fixed/ and "
                             f"moving/")
        if config.dataset in ("phantoms", "phantoms3d") and config.size % 16:
            raise UsageError(f"--size {config.size}: phantom sizes must be multiples of 16 (4 U-Net levels)")

    def folder_name(self, config) -> str:
        return f"registration-{Path(config.dataset).name}-{config.model}"

    def run(self, ctx) -> dict:
        c = ctx.config
        train, val, test, description = load_pairs(ctx)
        dims = test.fixed.ndim - 2
        check_network_fits(test, dims, 4 if c.model != "affine" else 0)
        ctx.log(f"{description}: {len(train)}/{len(val)}/{len(test)} pairs; training {c.model}")
        model, result = train_network(ctx, train, val)
        net_flows, net_seconds = network_flows(ctx, model, test)
        ctx.log(f"iterative baseline on {len(test)} test pairs")
        it_flows, it_seconds = iterative_flows(c, test)
        summarize = lambda flows: summarize_cases(per_pair_metrics(test, flows, c.affine and test.field is not None),  # noqa: E731
                                                  c.bootstrap, c.seed)
        metrics = {
            "experiment": self.name, "dataset": description, "model": c.model,
            "split_sizes": {"train": len(train), "val": len(val), "test": len(test)},
            "train_seconds": result.train_seconds, "best_epoch": result.best_epoch,
            "val": {"loss": min(r["val_loss"] for r in result.history)},
            "test": {**summarize(net_flows), "seconds_per_pair": net_seconds,
                     "dice_per_structure": per_structure_dice(test, net_flows)},
            "baseline": {"name": "iterative (Adam; affine then dense)", **summarize(it_flows),
                         "seconds_per_pair": it_seconds, "dice_per_structure": per_structure_dice(test, it_flows)},
        }
        from tasks.registration_report import example_figure, mri_evaluation, training_figure

        metrics["figures"] = [example_figure(test, net_flows, ctx.figures_dir / "example_network.png"),
                              example_figure(test, it_flows, ctx.figures_dir / "example_iterative.png"),
                              training_figure(result.history, ctx.figures_dir / "training.png")]
        metrics["mri"] = mri_evaluation(ctx, dims, model)
        return metrics

    def summary(self, metrics: dict) -> str:
        t, b = metrics["test"], metrics["baseline"]
        if "dice_after" in t:
            return (f"test Dice {format_ci(t, 'dice_before')} -> {format_ci(t, 'dice_after')} (network, "
                    f"{t['seconds_per_pair']:.3f} s/pair) vs {format_ci(b, 'dice_after')} (iterative, "
                    f"{b['seconds_per_pair']:.2f} s/pair); folding {t['folding_pct']:.2f}% [{metrics['dataset']}]")
        return (f"test MSE {format_ci(t, 'mse_before', 4)} -> {format_ci(t, 'mse_after', 4)} (network) vs "
                f"{format_ci(b, 'mse_after', 4)} (iterative) [{metrics['dataset']}]")


EXPERIMENT = RegistrationExperiment()
