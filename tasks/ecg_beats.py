"""R-peak (heartbeat) detection on a real ECG: a 1D fully convolutional heatmap detector versus
Pan-Tompkins (1985), on MIT-BIH Arrhythmia record 100 (or any WFDB record with beat annotations).

Detection in time is the 1D case of lesion detection: the network predicts, at every sample, the logit
that a beat's R peak is there (Gaussian targets, penalty-reduced focal loss; models/heatmap_detector.py);
beats are the local maxima of the heatmap over a 200 ms neighbourhood (a physiological refractory
period) above a threshold chosen on the validation segment.

Split in time, no overlap: the first ``train_minutes`` of the record train the network, the next
``val_minutes`` select the epoch and the threshold, the rest is the test segment, used once. A
detection is correct when it lies within 150 ms of an annotated beat, matched one-to-one (the ANSI/AAMI
EC57 rule). Sensitivity Se = TP / (TP + FN), positive predictive value PPV = TP / (TP + FP) and F1
are reported with percentile-bootstrap 95% intervals over one-minute blocks of the test segment.
Pan-Tompkins, the classical baseline, has nothing to fit: it reads the whole record with the paper's
parameters (its thresholds adapt as it reads, without labels) and is scored on the same test segment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.errors import UsageError
from tasks.evaluation import format_ci, metric_ci
from tasks.experiment import Experiment
from tasks.options import Option, training_options

DEFAULT_RECORD = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg" / "mitdb_100" / "100"
BEAT_SYMBOLS = tuple("NLRBAaJSVrFejnE/fQ?")  # the beat labels of the MIT-BIH annotations (EC57)
REFRACTORY_S = 0.200  # no two beats closer than this: the NMS neighbourhood is +-200 ms
TOLERANCE_S = 0.150  # EC57 matching window
THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def open_annotated_record(stem: Path):
    """(WFDBRecord, Annotations) of ``--record``, or one UsageError line naming the record."""
    from tasks.data.ecg import read_annotations, read_record

    if not stem.with_name(stem.name + ".hea").is_file():
        raise UsageError(f"--record {stem}: no WFDB header {stem.name}.hea there (MIT-BIH record 100 is in "
                         f"../shared/data/ecg/mitdb_100/100)")
    try:
        return read_record(stem), read_annotations(stem.with_name(stem.name + ".atr"))
    except (OSError, ValueError) as e:
        raise UsageError(f"--record {stem}: {str(e).splitlines()[0]}") from None


def load_record(config):
    """(signal (C, T) float32 with baseline removed and unit std on the training part, beats (B,), fs)."""
    from scipy import ndimage


    stem = Path(config.record)
    rec, ann = open_annotated_record(stem)
    x = rec.signal.T.astype(np.float64)
    if config.lead != "all":
        if config.lead not in rec.names:
            raise UsageError(f"--lead {config.lead}: record {stem.name} has leads {', '.join(rec.names)}")
        x = x[[rec.names.index(config.lead)]]
    # remove baseline wander (a 0.6 s moving average), scale by the training part's spread
    x = x - ndimage.uniform_filter1d(x, max(1, int(0.6 * rec.fs)), axis=1, mode="nearest")
    train_end = int(config.train_minutes * 60 * rec.fs)
    x = x / x[:, :train_end].std(axis=1, keepdims=True).clip(1e-6)
    beats = ann.sample[np.isin(ann.symbol, BEAT_SYMBOLS)]
    return x.astype(np.float32), beats.astype(np.int64), float(rec.fs)


def cut_windows(x, beats, lo, hi, length, stride, sigma):
    """Windows (N, C, length) of x[:, lo:hi] every ``stride`` samples and their heatmaps (N, 1, length)."""
    from models.heatmap_detector import gaussian_heatmap

    starts = np.arange(lo, hi - length + 1, stride)
    xw = x[:, starts[:, None] + np.arange(length)].transpose(1, 0, 2)
    inside = (beats[None, :] >= starts[:, None]) & (beats[None, :] < starts[:, None] + length)
    w, b = np.nonzero(inside)
    target = gaussian_heatmap((length,), (beats[b] - starts[w])[:, None], sigma, batch_index=w,
                              batch_size=len(starts))
    return np.ascontiguousarray(xw), target


def detect(prob, fs, threshold):
    """Beat sample indices from heatmaps (N, 1, L) laid end to end: NMS over +-200 ms, then threshold."""
    from models.heatmap_detector import heatmap_peaks

    b, pos, scores = heatmap_peaks(prob, kernel_size=2 * int(round(REFRACTORY_S * fs)) + 1, threshold=threshold)
    return b * prob.shape[-1] + pos[:, 0], scores


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def best_threshold(prob, beats, fs):
    """(threshold, F1) maximising F1 on validation heatmaps (N, 1, L) laid end to end; ties: the middle."""
    from tasks.metrics.detection import beat_detection_scores

    pos, scores = detect(prob, fs, float(THRESHOLDS[0]))
    f1 = np.array([beat_detection_scores(beats, pos[scores >= t], fs)["f1"] for t in THRESHOLDS])
    f1 = np.nan_to_num(f1)
    ties = np.flatnonzero(f1 == f1.max())
    return float(THRESHOLDS[ties[len(ties) // 2]]), float(f1.max())


def evaluate_segment(ref, det, lo, hi, fs, n_boot, seed) -> dict:
    """Se/PPV/F1 over [lo, hi) with bootstrap intervals over one-minute blocks (the cases)."""
    from tasks.metrics.detection import beat_detection_scores, match_events

    ref, det = ref[(ref >= lo) & (ref < hi)], det[(det >= lo) & (det < hi)]
    out = beat_detection_scores(ref, det, fs, TOLERANCE_S)
    ref_m, det_m = match_events(ref, det, TOLERANCE_S * fs)
    block = int(60 * fs)
    n_blocks = int(np.ceil((hi - lo) / block))
    count = lambda t, mask: np.bincount((t[mask] - lo) // block, minlength=n_blocks)  # noqa: E731
    tp, fn, fp = count(ref, ref_m), count(ref, ~ref_m), count(det, ~det_m)
    ratios = {"sensitivity": lambda tp, fn, fp: tp.sum() / max(tp.sum() + fn.sum(), 1),
              "ppv": lambda tp, fn, fp: tp.sum() / max(tp.sum() + fp.sum(), 1),
              "f1": lambda tp, fn, fp: 2 * tp.sum() / max(2 * tp.sum() + fp.sum() + fn.sum(), 1)}
    for name, fn_ in ratios.items():
        out[name + "_ci"] = metric_ci(fn_, tp, fn, fp, n_boot=n_boot, seed=seed)
    out["n_beats"], out["minutes"] = int(ref.size), round((hi - lo) / fs / 60, 2)
    return out


def write_figure(x, beats, pt, cnn, prob, prob_start, lo, fs, path):
    """Ten seconds from sample ``lo``: the ECG, annotated beats, both detectors' beats, and the heatmap
    ``prob`` (T',) whose first sample is the record's sample ``prob_start``."""
    import matplotlib.pyplot as plt

    hi = lo + int(10 * fs)
    t = np.arange(lo, hi) / fs
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True)
    a1.plot(t, x[0, lo:hi], lw=0.8, color="k")
    for marks, style, name in ((beats, "o", "annotated"), (pt, "v", "Pan-Tompkins"), (cnn, "x", "CNN")):
        m = marks[(marks >= lo) & (marks < hi)]
        a1.plot(m / fs, x[0, m] + {"o": 0.0, "v": 0.6, "x": 1.2}[style], style, label=name, ms=6, mfc="none")
    a1.legend(loc="lower right", ncol=3, fontsize=8)
    a1.set_ylabel("ECG (lead 1, scaled)")
    a2.plot(t, prob[lo - prob_start: hi - prob_start], color="tab:red")
    a2.set_ylabel("CNN beat heatmap")
    a2.set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def _figure_start(beats, detected, lo, hi, fs) -> int:
    """Where the 10-second figure starts: around the network's first error on the test part, if any."""
    from tasks.metrics.detection import match_events

    ref = beats[(beats >= lo) & (beats < hi)]
    ref_m, det_m = match_events(ref, detected, TOLERANCE_S * fs)
    errors = np.r_[ref[~ref_m], detected[~det_m]]
    start = int(errors.min() - 5 * fs) if errors.size else lo + int(60 * fs)
    return int(np.clip(start, lo, hi - 10 * fs))


class ECGBeatsExperiment(Experiment):
    name = "ecg-beats"
    description = ("R-peak detection on a real ECG (MIT-BIH record 100): 1D heatmap CNN vs Pan-Tompkins; "
                   "Se/PPV/F1 within 150 ms (EC57), time split, bootstrap 95% CIs over minutes")
    options = (
        Option("record", str, str(DEFAULT_RECORD), "WFDB record path without extension (.hea/.dat/.atr)"),
        Option("lead", str, "all", "lead name to use (e.g. MLII), or all"),
        Option("train_minutes", float, 15.0, "training part: the record's first minutes", low=1.0, high=600.0),
        Option("val_minutes", float, 5.0, "validation part right after it; the test part is the rest",
               low=0.5, high=600.0),
        Option("window", int, 1024, "training window length (samples; a multiple of 2**depth)", low=64),
        Option("stride", int, 512, "step between training windows (samples)", quick=1024, low=16),
        Option("width", int, 8, "channels of the network's first level", low=1, high=256),
        Option("depth", int, 3, "down-sampling levels of the network", low=0, high=6),
        Option("sigma_ms", float, 25.0, "std of the Gaussian beat targets (ms)", low=1.0, high=200.0),
        *training_options(epochs=6, lr=2e-3, batch_size=32, quick_epochs=3),
    )

    def check(self, config) -> None:
        if config.window % 2**config.depth:
            raise UsageError(f"--window {config.window} must be a multiple of 2**depth = {2**config.depth}")
        stem = Path(config.record)
        if not stem.with_name(stem.name + ".hea").is_file():
            raise UsageError(f"--record {stem}: no WFDB header {stem.name}.hea there (MIT-BIH record 100 is in "
                             f"../shared/data/ecg/mitdb_100/100)")

    def folder_name(self, config) -> str:
        return f"{self.name}-{Path(config.record).name}"

    def run(self, ctx) -> dict:
        from engine.data import DataLoader, TensorDataset
        from engine.nn.functional.detection_loss import heatmap_focal_loss
        from models.heatmap_detector import HeatmapDetector
        from models.pan_tompkins import PanTompkins
        from tasks import figures
        from tasks.training import fit, predict

        config = ctx.config
        x, beats, fs = load_record(config)
        n = x.shape[1]
        tr_end = int(config.train_minutes * 60 * fs)
        va_end = tr_end + int(config.val_minutes * 60 * fs)
        if va_end + 60 * fs > n:
            raise UsageError(f"--train-minutes {config.train_minutes} + --val-minutes {config.val_minutes} leave less "
                             f"than a minute of the {n / fs / 60:.1f}-minute record for testing")
        sigma = config.sigma_ms / 1000 * fs
        x_tr, y_tr = cut_windows(x, beats, 0, tr_end, config.window, config.stride, sigma)
        val_len = 8 * config.window  # long, non-overlapping validation windows (few edge effects)
        x_va, y_va = cut_windows(x, beats, tr_end, va_end, val_len, val_len, sigma)
        ctx.log(f"{x_tr.shape[0]} training windows of {config.window} samples; time split: train 0-"
                f"{tr_end / fs / 60:g} min, validation -{va_end / fs / 60:g} min, test -{n / fs / 60:.2f} min")

        model = HeatmapDetector(in_channels=x.shape[0], dims=1, width=config.width, depth=config.depth,
                                kernel_size=7).to(config.device)

        def val_f1(logits, target):  # the best F1 over thresholds: the selection score per epoch
            ref = np.flatnonzero(target.reshape(-1) == 1)
            return best_threshold(_sigmoid(logits), ref, fs)[1]

        train_loader = DataLoader(TensorDataset(x_tr, y_tr), batch_size=config.batch_size, shuffle=True,
                                  seed=config.seed)
        val_loader = DataLoader(TensorDataset(x_va, y_va), batch_size=8)
        result = fit(ctx, model, heatmap_focal_loss, train_loader, val_loader, metrics={"f1": val_f1},
                     monitor="val_f1", mode="max")
        val_prob = _sigmoid(predict(ctx, model, x_va, batch_size=8))
        threshold, val_best = best_threshold(val_prob, np.flatnonzero(y_va.reshape(-1) == 1), fs)

        # test: the whole test segment in one pass (zero-padded to a multiple of 2**depth)
        pad = (-(n - va_end)) % 2**config.depth
        seg = np.pad(x[:, va_end:], ((0, 0), (0, pad)))[None]
        prob = _sigmoid(predict(ctx, model, seg, batch_size=1))[..., : n - va_end]
        cnn = detect(prob, fs, threshold)[0] + va_end
        pt = PanTompkins().detect(x[0], fs)
        args = (va_end, n, fs, config.bootstrap, config.seed)
        test = {"cnn": evaluate_segment(beats, cnn, *args), "pan_tompkins": evaluate_segment(beats, pt, *args)}
        paths = [figures.training_curves(result.history, ctx.figures_dir / "training_curves.png",
                                         metrics=("loss", "f1")),
                 write_figure(x, beats, pt, cnn, prob[0, 0], va_end, _figure_start(beats, cnn, va_end, n, fs), fs,
                              ctx.figures_dir / "test_beats.png")]
        return {
            "experiment": self.name, "record": str(config.record), "fs": fs,
            "split_minutes": {"train": [0, tr_end / fs / 60], "val": [tr_end / fs / 60, va_end / fs / 60],
                              "test": [va_end / fs / 60, n / fs / 60]},
            "model_info": {"parameters": model.num_parameters(), "best_epoch": result.best_epoch,
                           "train_seconds": result.train_seconds, "threshold": threshold},
            "val": {"cnn_f1": val_best, "pan_tompkins": evaluate_segment(beats, pt, tr_end, va_end, fs, 50, 0)},
            "test": test, "figures": paths,
        }

    def summary(self, metrics: dict) -> str:
        c, p = metrics["test"]["cnn"], metrics["test"]["pan_tompkins"]
        return (f"test Se/PPV/F1  CNN {c['sensitivity']:.4f}/{c['ppv']:.4f}/{format_ci(c, 'f1', 4)}  "
                f"Pan-Tompkins {p['sensitivity']:.4f}/{p['ppv']:.4f}/{format_ci(p, 'f1', 4)}  "
                f"[{Path(metrics['record']).name}, {metrics['test']['cnn']['n_beats']} test beats]")


EXPERIMENT = ECGBeatsExperiment()
