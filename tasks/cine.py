"""Cardiac cine: ejection fraction (EF) and the end-diastolic / end-systolic (ED / ES) frames of a
beating heart, learned from the image sequence, beside a classical segmentation-based measurement.

Data: short-axis cine phantoms (tasks/data/phantoms/cine.py), one cardiac cycle of ``--frames``
frames each, with a different heart in every case: left-ventricle size and position, radial
shortening drawn from 10-45% (EF roughly 20-70%), an infarct with hypokinetic wall in half of the
cases, noise, and the cycle starting at a random frame (so ED is not always frame 0). Ground truth
comes from the drawn masks: EF = (EDV - ESV) / EDV, ED / ES the frames of largest / smallest LV
blood pool. A seeded 60/20/20 split of the cases.

Models (models/cine.py): a frame-wise CNN with temporal pooling, CNN + bidirectional LSTM, and a
ConvLSTM. Loss: squared EF error (in units of 10 percentage points) plus cross-entropy of the ED
and ES frame over the cycle's frames. Selected on validation loss.

Classical baseline (nothing learned): threshold every cine at Otsu's level within the body (Otsu of the
pixels above a first Otsu level, which separates body from background), keep per frame the bright
connected region that overlaps a disc at the image centre the most (the LV blood pool, by the usual
short-axis framing), take its area as the volume, then EF = (max - min) / max, ED = argmax, ES = argmin.
Its EF is calibrated by a straight line fitted on the training cines (reported also uncalibrated).

Reported on the test cases with bootstrap 95% intervals: EF mean absolute error (percentage points),
EF bias (mean of predicted - true, Bland-Altman), and the ED / ES frame errors (cyclic distance in
frames: frame 0 and frame T-1 are neighbours).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from tasks.evaluation import format_ci, summarize_cases
from tasks.experiment import Experiment
from tasks.options import Option, training_options

MODELS = ("pool", "lstm", "convlstm")
DATA_SEED = 0


@dataclasses.dataclass
class CineData:
    x: np.ndarray  # (N, T, 1, H, W) float32
    ef: np.ndarray  # (N,) float64 in [0, 1]
    ed: np.ndarray  # (N,) int64 frame index
    es: np.ndarray
    parts: tuple  # (train, val, test) index arrays

    def targets(self, idx) -> np.ndarray:
        """(n, 3) float32: EF, ED frame, ES frame (the loss reads the frames back as integers)."""
        return np.stack([self.ef[idx], self.ed[idx], self.es[idx]], 1).astype(np.float32)


def make_cines(n: int, frames: int, size: int, seed: int = DATA_SEED) -> CineData:
    from engine.data import train_val_test_split
    from tasks.data.phantoms import beating_heart

    rng = np.random.default_rng(seed)
    xs, ef, ed, es = [], [], [], []
    for _ in range(n):  # one phantom per case, its settings drawn from rng
        d = beating_heart(n_frames=frames, image_size=size, radial_shortening=float(rng.uniform(0.10, 0.45)),
                          infarct=bool(rng.random() < 0.5), noise=0.03, seed=int(rng.integers(2**31)))
        shift = int(rng.integers(frames))  # the recording starts anywhere in the cycle
        xs.append(np.roll(d["images"], shift, axis=0))
        ef.append(d["ejection_fraction"])
        ed.append((d["ed_frame"] + shift) % frames)
        es.append((d["es_frame"] + shift) % frames)
    parts = train_val_test_split(n, fractions=(0.6, 0.2, 0.2), seed=seed)
    return CineData(np.stack(xs)[:, :, None].astype(np.float32), np.array(ef), np.array(ed, dtype=np.int64),
                    np.array(es, dtype=np.int64), parts)


def cyclic_frame_error(pred, true, frames: int) -> np.ndarray:
    d = np.abs(np.asarray(pred) - np.asarray(true)) % frames
    return np.minimum(d, frames - d)


def classical_measurement(cines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Otsu threshold + central connected region per frame: (EF, ED frame, ES frame) for (N, T, 1, H, W)."""
    from scipy import ndimage

    from models.classical_segmentation import otsu_threshold

    n, t, _, h, w = cines.shape
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2 <= (min(h, w) / 8) ** 2
    within_frame = np.zeros((3, 3, 3), bool)
    within_frame[1] = ndimage.generate_binary_structure(2, 1)  # regions never connect across frames
    areas = np.zeros((n, t))
    for i, cine in enumerate(cines[:, :, 0]):
        # Otsu twice: the first level separates the body from the dark background and lungs, the
        # second, within the body, bright blood from myocardium and tissue
        body = cine > otsu_threshold(cine)
        labels, count = ndimage.label(cine > otsu_threshold(cine[body]), structure=within_frame)
        if count == 0:
            continue
        sizes = np.bincount(labels.reshape(t, -1).ravel() + (count + 1) * np.repeat(np.arange(t), h * w),
                            minlength=t * (count + 1)).reshape(t, count + 1)
        overlap = np.bincount((labels[:, disc] + (count + 1) * np.arange(t)[:, None]).ravel(),
                              minlength=t * (count + 1)).reshape(t, count + 1)
        overlap[:, 0] = 0  # background is never the ventricle
        best = overlap.argmax(1)
        areas[i] = np.where(overlap.max(1) > 0, sizes[np.arange(t), best], 0)
    top = areas.max(1)
    ef = np.where(top > 0, (top - areas.min(1)) / np.maximum(top, 1), 0.0)
    return ef, areas.argmax(1), areas.argmin(1)


def evaluate(ef_pred, ed_pred, es_pred, data: CineData, idx, n_boot, seed) -> dict:
    frames = data.x.shape[1]
    per_case = {
        "ef_abs_error": 100 * np.abs(ef_pred - data.ef[idx]),
        "ef_bias": 100 * (ef_pred - data.ef[idx]),
        "ed_frame_error": cyclic_frame_error(ed_pred, data.ed[idx], frames),
        "es_frame_error": cyclic_frame_error(es_pred, data.es[idx], frames),
    }
    out = summarize_cases(per_case, n_boot=n_boot, seed=seed)
    out["ef_pearson_r"] = float(np.corrcoef(ef_pred, data.ef[idx])[0, 1]) if np.std(ef_pred) > 0 else None
    return out


def _loss(out, target):
    import engine.nn.functional as F
    from models.cine import split_outputs

    ef_logit, ed_logits, es_logits = split_outputs(out)
    ef_error = (ef_logit.sigmoid() - target[:, 0]) * 10  # units of 10 EF points: comparable to the CE terms
    return (ef_error * ef_error).mean() + F.cross_entropy(ed_logits, target[:, 1].long()) + \
        F.cross_entropy(es_logits, target[:, 2].long())


def _decode(outputs: np.ndarray):
    from models.cine import split_outputs

    ef_logit, ed_logits, es_logits = split_outputs(outputs)
    return 1 / (1 + np.exp(-ef_logit)), ed_logits.argmax(1), es_logits.argmax(1)


def run_network(ctx, data: CineData):
    from engine.data import DataLoader, TensorDataset
    from models.cine import CineNet
    from tasks.training import fit, predict

    config = ctx.config
    tr, va, te = data.parts
    model = CineNet(config.model, width=config.width, hidden_size=config.hidden_size).to(config.device)
    frames = data.x.shape[1]

    def ef_mae(outputs, target):
        return float(np.mean(np.abs(_decode(outputs)[0] - target[:, 0]))) * 100

    def es_error(outputs, target):
        return float(cyclic_frame_error(_decode(outputs)[2], target[:, 2], frames).mean())

    train_loader = DataLoader(TensorDataset(data.x[tr], data.targets(tr)), batch_size=config.batch_size,
                              shuffle=True, seed=config.seed)
    val_loader = DataLoader(TensorDataset(data.x[va], data.targets(va)), batch_size=32)
    result = fit(ctx, model, _loss, train_loader, val_loader, metrics={"ef_mae": ef_mae, "es_error": es_error},
                 monitor="val_loss", mode="min", grad_clip_norm=5.0)
    info = {"parameters": model.num_parameters(), "train_seconds": result.train_seconds,
            "best_epoch": result.best_epoch}
    return info, _decode(predict(ctx, model, data.x[te], 32)), result.history


def write_figure(data: CineData, idx, network, classical, path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tasks import figures

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    true = 100 * data.ef[idx]
    for (name, ef), marker in zip((("network", network), ("classical", classical)), ("o", "x")):
        axes[0].scatter(true, 100 * ef, marker=marker, label=name, alpha=0.7)
        axes[1].scatter((true + 100 * ef) / 2, 100 * ef - true, marker=marker, label=name, alpha=0.7)
    lims = [true.min() - 5, true.max() + 5]
    axes[0].plot(lims, lims, "k--", lw=1)
    axes[0].set(xlabel="true EF (%)", ylabel="estimated EF (%)", title="EF (test)")
    axes[1].axhline(0, color="k", lw=1)
    axes[1].set(xlabel="mean of true and estimated EF (%)", ylabel="estimated - true (points)",
                title="Bland-Altman (test)")
    axes[0].legend()
    return figures._save(fig, path)


class CineExperiment(Experiment):
    name = "cine"
    description = ("cardiac cine: ejection fraction and ED/ES frames from the image sequence; frame-wise CNN, "
                   "CNN+LSTM, ConvLSTM vs Otsu segmentation; EF MAE and frame errors with CIs")
    options = (
        Option("model", str, "lstm", "how time is handled: pool (frame-wise CNN), lstm (CNN+LSTM), convlstm",
               choices=MODELS),
        Option("n_samples", int, 300, "number of generated cines", quick=40, low=20, high=100_000),
        Option("frames", int, 16, "frames per cardiac cycle", low=4, high=64),
        Option("size", int, 32, "image side (a multiple of 4, at least 24)", low=24, high=256),
        Option("width", int, 16, "channels of the first convolution", low=1, high=512),
        Option("hidden_size", int, 32, "hidden units (channels for convlstm) of the recurrent layer", low=1,
               high=1024),
        *training_options(epochs=40, lr=1e-3, batch_size=8, quick_epochs=2),
    )

    def check(self, config) -> None:
        from tasks.errors import UsageError

        if config.size % 4:
            raise UsageError(f"--size must be a multiple of 4 (two 2x poolings), got {config.size}")

    def folder_name(self, config) -> str:
        return f"{self.name}-{config.model}"

    def run(self, ctx) -> dict:
        config = ctx.config
        data = make_cines(config.n_samples, config.frames, config.size)
        tr, _, te = data.parts
        started = time.time()
        classical = classical_measurement(data.x[te])
        classical_seconds = time.time() - started
        # thresholding loses the blurred rim of a small end-systolic cavity, so raw EF runs high; a line
        # fitted on the training cines (true EF against measured EF) removes that bias
        slope, intercept = np.polyfit(classical_measurement(data.x[tr])[0], data.ef[tr], 1)
        calibrated = (np.clip(slope * classical[0] + intercept, 0, 1), *classical[1:])
        info, network, history = run_network(ctx, data)
        from tasks import figures

        paths = [figures.training_curves(history, ctx.figures_dir / "training_curves.png", metrics=("loss", "ef_mae",
                                                                                                 "es_error")),
                 write_figure(data, te, network[0], calibrated[0], ctx.figures_dir / "ef_agreement.png")]
        n, seed = config.bootstrap, config.seed
        return {
            "experiment": self.name, "model": config.model, "model_info": info,
            "split_sizes": {k: len(p) for k, p in zip(("train", "val", "test"), data.parts)},
            "test": {"network": evaluate(*network, data, te, n, seed),
                     "classical": {**evaluate(*calibrated, data, te, n, seed), "seconds": classical_seconds,
                                   "calibration": {"slope": float(slope), "intercept": float(intercept)}},
                     "classical_uncalibrated": evaluate(*classical, data, te, n, seed)},
            "figures": paths,
        }

    def summary(self, metrics: dict) -> str:
        net, cl = metrics["test"]["network"], metrics["test"]["classical"]
        return (f"test EF MAE {format_ci(net, 'ef_abs_error', 1)} points, ES frame error "
                f"{format_ci(net, 'es_frame_error', 2)}  [{metrics['model']}];  Otsu baseline EF MAE "
                f"{format_ci(cl, 'ef_abs_error', 1)}, ES {format_ci(cl, 'es_frame_error', 2)}")


EXPERIMENT = CineExperiment()
