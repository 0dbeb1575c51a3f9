"""Nucleus detection in histology with sparse auto-encoder features (Xu et al., "Stacked sparse
autoencoder (SSAE) for nuclei detection on breast cancer histopathology images", IEEE TMI 35(1), 2016),
against a Laplacian-of-Gaussian blob detector.

1. Unsupervised: a sparse auto-encoder (models/autoencoder.py; KL sparsity penalty) learns features
   of ``--patch`` x ``--patch`` RGB patches drawn at random from the training tiles, without labels.
2. Supervised, with few labels: a logistic regression on those features separates patches centred on a
   nucleus (within 2 px of an annotated centre) from patches elsewhere (at least ``--radius`` px away).
3. Detection: every pixel's patch is scored in one batched pass (a sliding-window view, no loop over
   pixels), the probability map is lightly smoothed, and its local maxima above a threshold are the
   detections. The threshold is chosen on the validation tiles (best F1 among quantiles of the peak
   scores); the test tiles are used once.

``--features pixels`` replaces step 1 by the standardised raw patch: the same pipeline without the
auto-encoder, to see what the learned features add. The classical baseline needs no training: the
scale-normalised LoG of the tile's darkness (nuclei are dark), its local maxima, a threshold chosen on
validation tiles.

A detection is correct when it lies within ``--radius`` pixels of an annotated nucleus centre, one
detection per nucleus (the highest-scoring; the others count as false positives). Reported: precision,
recall and F1 over the test tiles with percentile-bootstrap 95% intervals (resampling tiles).
Data: H&E-like tiles with nucleus instance masks (tasks/data/phantoms/histology.py), split 60/20/20 by tile.
"""

from __future__ import annotations

import numpy as np

from tasks.evaluation import format_ci, metric_ci
from tasks.experiment import Experiment
from tasks.options import Option

DATA_SEED = 0
N_THRESHOLDS = 40  # candidate thresholds tried on the validation tiles


def nucleus_centres(instances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tile (M,), centre (M, 2)) of every nucleus instance: the centroid of its pixels."""
    n, h, w = instances.shape
    ids = instances.reshape(n, -1)
    key = (np.arange(n)[:, None] * (ids.max() + 1) + ids).ravel()[ids.ravel() > 0]
    rows = np.broadcast_to(np.repeat(np.arange(h), w), ids.shape).ravel()[ids.ravel() > 0]
    cols = np.broadcast_to(np.tile(np.arange(w), h), ids.shape).ravel()[ids.ravel() > 0]
    uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    centres = np.stack([np.bincount(inverse, rows) / counts, np.bincount(inverse, cols) / counts], 1)
    return (uniq // (ids.max() + 1)).astype(np.int64), centres


def all_patches(images: np.ndarray, size: int) -> np.ndarray:
    """Every pixel's patch: (N, C, H, W) -> (N * H * W, C * size * size), edges replicated."""
    half = size // 2
    padded = np.pad(images, [(0, 0), (0, 0), (half, size - 1 - half), (half, size - 1 - half)], mode="edge")
    view = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(2, 3))  # (N, C, H, W, s, s)
    return np.ascontiguousarray(view.transpose(0, 2, 3, 1, 4, 5)).reshape(-1, images.shape[1] * size * size)


def match_detections(det_tile, det_points, det_scores, tiles, centres, radius) -> tuple[int, int, int]:
    """(TP, FP, FN): each nucleus is matched by at most one detection, the highest-scoring within radius."""
    from tasks.metrics.detection import assign_hits

    if len(det_tile) == 0:
        return 0, 0, len(tiles)
    hits = assign_hits(det_tile, det_points, tiles, centres, np.full(len(tiles), float(radius)))
    order = np.argsort(-det_scores, kind="stable")
    hit_sorted = hits[order]
    found = hit_sorted[hit_sorted >= 0]
    tp = len(np.unique(found))
    return tp, len(det_tile) - tp, len(tiles) - tp


def local_maxima(score_maps: np.ndarray, threshold: float, min_distance: int):
    """Peaks of (N, H, W) maps: (tile, points (P, 2), scores) above threshold, one per neighbourhood."""
    from scipy import ndimage

    peak = ndimage.maximum_filter(score_maps, size=(1, 2 * min_distance + 1, 2 * min_distance + 1),
                                  mode="nearest")
    keep = (score_maps == peak) & (score_maps > threshold)
    idx = np.argwhere(keep)
    return idx[:, 0], idx[:, 1:].astype(np.float64), score_maps[keep]


def per_tile_counts(maps, threshold, tiles, centres, n_tiles, radius, min_distance) -> np.ndarray:
    """(n_tiles, 3) TP, FP, FN of each tile, from score maps at one threshold."""
    d_tile, d_points, d_scores = local_maxima(maps, threshold, min_distance)
    counts = np.zeros((n_tiles, 3), dtype=np.int64)
    for t in range(n_tiles):  # one tile at a time: tiles are the bootstrap's resampling unit
        sel, ref = d_tile == t, tiles == t
        counts[t] = match_detections(np.zeros(sel.sum(), int), d_points[sel], d_scores[sel],
                                     np.zeros(ref.sum(), int), centres[ref], radius)
    return counts


def f1_from_counts(counts) -> float:
    tp, fp, fn = np.asarray(counts).sum(0)
    return float(2 * tp / max(2 * tp + fp + fn, 1))


def prf(counts) -> dict:
    tp, fp, fn = np.asarray(counts).sum(0)
    return {"precision": float(tp / max(tp + fp, 1)), "recall": float(tp / max(tp + fn, 1)),
            "f1": f1_from_counts(counts), "tp": int(tp), "fp": int(fp), "fn": int(fn)}


def choose_threshold(maps, tiles, centres, radius, min_distance) -> tuple[float, float]:
    """The threshold with the best validation F1, among 0.01 ... 0.95 and quantiles of the maps' peak
    scores (so the grid follows the score's scale: smoothed probabilities can peak far below 1)."""
    _, _, peaks = local_maxima(maps, -np.inf, min_distance)
    grid = np.concatenate([np.quantile(peaks, np.linspace(0.0, 0.99, N_THRESHOLDS)), np.linspace(0.01, 0.95, 95)])
    thresholds = np.unique(grid) - 1e-12
    scores = [f1_from_counts(per_tile_counts(maps, t, tiles, centres, len(maps), radius, min_distance))
              for t in thresholds]
    best = int(np.argmax(scores))
    return float(thresholds[best]), float(scores[best])


class NucleiExperiment(Experiment):
    name = "nuclei"
    description = ("histology nucleus detection: sparse auto-encoder patch features + logistic regression vs a "
                   "LoG blob detector; precision/recall/F1 with bootstrap CIs over tiles")
    options = (
        Option("features", str, "sae", "patch features: sae (sparse auto-encoder) or pixels (no auto-encoder)",
               choices=("sae", "pixels")),
        Option("n_tiles", int, 60, "number of generated 64x64 tiles", quick=15, low=5, high=100_000),
        Option("patch", int, 11, "patch side in pixels", low=3, high=63),
        Option("hidden", int, 100, "sparse auto-encoder units", low=1, high=10_000),
        Option("rho", float, 0.05, "target mean activation of a unit", low=0.0, open_low=True, high=0.99),
        Option("beta", float, 3.0, "weight of the sparsity penalty", low=0.0, high=1000.0),
        Option("updates", int, 3000, "Adam updates of the auto-encoder (batch 256)", quick=100, low=1),
        Option("lr", float, 1e-3, "Adam learning rate", low=0.0, open_low=True, high=10.0),
        Option("radius", float, 4.0, "a detection within this many pixels of a nucleus centre is correct",
               low=0.5, high=100.0),
    )

    def folder_name(self, config) -> str:
        return f"{self.name}-{config.features}"

    def run(self, ctx) -> dict:
        from engine.data import train_val_test_split
        from models.classical import LogisticRegression, StandardScaler
        from models.classical_detection import blob_response
        from tasks.data.phantoms import make_histology_tiles

        config = ctx.config
        d = make_histology_tiles(config.n_tiles, seed=DATA_SEED)
        images = d["images"].astype(np.float32)
        tile_of, centres = nucleus_centres(d["instances"])
        parts = train_val_test_split(config.n_tiles, fractions=(0.6, 0.2, 0.2), seed=DATA_SEED)
        min_distance = max(1, int(round(config.radius * 0.75)))

        def refs(idx):  # nucleus centres of some tiles, renumbered 0..len(idx)-1
            sel = np.isin(tile_of, idx)
            return np.searchsorted(idx, tile_of[sel]), centres[sel]

        # ---- learned detector
        tr, va, te = parts
        patches_tr = all_patches(images[tr], config.patch)
        scaler = StandardScaler().fit(patches_tr)
        encode, info = self._features(ctx, scaler.transform(patches_tr).astype(np.float32))
        labels = self._patch_labels(d["instances"][tr], *refs(tr), config.radius)
        rng = ctx.rng("patches")
        pos = np.flatnonzero(labels == 1)
        neg = rng.choice(np.flatnonzero(labels == 0), size=min(len(pos) * 3, int((labels == 0).sum())),
                         replace=False)
        chosen = np.concatenate([pos, neg])
        clf = LogisticRegression(C=1.0, max_iter=1000).fit(encode(scaler.transform(patches_tr[chosen])),
                                                          labels[chosen])

        def score_maps(idx):
            feats = encode(scaler.transform(all_patches(images[idx], config.patch)))
            p = clf.predict_proba(feats)[:, 1].reshape(len(idx), *images.shape[2:])
            from scipy import ndimage

            return ndimage.gaussian_filter(p, (0, 1.0, 1.0))

        # ---- classical: LoG of the darkness (nuclei absorb), scaled to [0, 1] on the training tiles
        darkness = 1 - images.mean(1)
        log_maps = blob_response(darkness, np.geomspace(1.5, 4.0, 5)).max(1)
        log_maps = log_maps / np.quantile(log_maps[tr], 0.999)

        results = {}
        for name, maps_of in (("network", score_maps), ("log", lambda idx: log_maps[idx])):
            val_maps = maps_of(va)
            threshold, val_f1 = choose_threshold(val_maps, *refs(va), config.radius, min_distance)
            test_maps = maps_of(te)
            counts = per_tile_counts(test_maps, threshold, *refs(te), len(te), config.radius, min_distance)
            out = {**prf(counts), "threshold": threshold, "val_f1": val_f1, "n_tiles": len(te)}
            ci = dict(n_boot=config.bootstrap, seed=config.seed)
            out["f1_ci"] = metric_ci(lambda c: f1_from_counts(c), counts, **ci)
            out["precision_ci"] = metric_ci(lambda c: prf(c)["precision"], counts, **ci)
            out["recall_ci"] = metric_ci(lambda c: prf(c)["recall"], counts, **ci)
            results[name] = out
            if name == "network":
                shown_maps = test_maps
        figures = [self._figure(images[te], shown_maps, results["network"]["threshold"], refs(te), min_distance,
                                info.get("units"), ctx.figures_dir, config.patch)]
        return {"experiment": self.name, "features": config.features, "feature_info": {
                    k: v for k, v in info.items() if k != "units"},
                "split_tiles": {k: len(p) for k, p in zip(("train", "val", "test"), parts)},
                "n_nuclei_test": int(np.isin(tile_of, te).sum()), "test": results, "figures": figures}

    @staticmethod
    def _patch_labels(instances, tiles, centres, radius) -> np.ndarray:
        """Per pixel of the training tiles: 1 within 2 px of a centre, 0 beyond ``radius``, -1 between."""
        n, h, w = instances.shape
        dist = np.full((n, h, w), np.inf)
        rows, cols = np.mgrid[:h, :w]
        for t, (r, c) in zip(tiles, centres):  # one nucleus at a time: tens per tile
            dist[t] = np.minimum(dist[t], np.hypot(rows - r, cols - c))
        return np.where(dist <= 2.0, 1, np.where(dist > radius, 0, -1)).reshape(-1)

    def _features(self, ctx, x: np.ndarray):
        """The encoder: the sparse auto-encoder trained on unlabelled training patches, or the identity."""
        config = ctx.config
        if config.features == "pixels":
            return (lambda a: a), {"dims": int(x.shape[1])}
        import engine
        import engine.nn.functional as F
        from engine import optim
        from models.autoencoder import SparseAutoencoder, kl_sparsity

        engine.manual_seed(config.seed)
        sae = SparseAutoencoder(x.shape[1], config.hidden).to(config.device)
        opt = optim.Adam(sae.parameters(), lr=config.lr)
        rng = ctx.rng("sae")
        for _ in range(config.updates):
            batch = engine.tensor(x[rng.integers(0, len(x), 256)], device=config.device)
            recon, hidden = sae(batch)
            loss = F.mse_loss(recon, batch) + config.beta * kl_sparsity(hidden, config.rho)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sae.eval()

        def encode(a):
            with engine.no_grad():
                return np.concatenate([sae(engine.tensor(np.asarray(a[i:i + 8192], np.float32),
                                                         device=config.device))[1].numpy()
                                       for i in range(0, len(a), 8192)])

        sample = encode(x[:4096])
        info = {"dims": config.hidden, "final_loss": float(loss.item()), "mean_activation": float(sample.mean()),
                "units": sae.encoder.weight.detach().numpy()}
        return encode, info

    @staticmethod
    def _figure(images, maps, threshold, refs, min_distance, units, fig_dir, patch) -> str:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from tasks import figures

        tiles, centres = refs
        d_tile, d_points, _ = local_maxima(maps[:3], threshold, min_distance)
        cols = 4 if units is not None else 3
        fig, axes = plt.subplots(1, cols, figsize=(4 * cols, 4))
        for k in range(3):
            axes[k].imshow(images[k].transpose(1, 2, 0))
            c = centres[tiles == k]
            axes[k].plot(c[:, 1], c[:, 0], "o", mfc="none", mec="lime", ms=9, label="nucleus")
            p = d_points[d_tile == k]
            axes[k].plot(p[:, 1], p[:, 0], "x", color="red", label="detection")
            axes[k].axis("off")
        axes[0].legend(loc="lower left", fontsize=8)
        if units is not None:  # the first 36 units' input weights, as RGB patches
            w = units[:36].reshape(-1, 3, patch, patch).transpose(0, 2, 3, 1)
            w = (w - w.min((1, 2, 3), keepdims=True)) / np.ptp(w, axis=(1, 2, 3), keepdims=True).clip(1e-8)
            grid = np.ones((6 * (patch + 1), 6 * (patch + 1), 3))
            for i, u in enumerate(w):
                r, c = divmod(i, 6)
                grid[r * (patch + 1):r * (patch + 1) + patch, c * (patch + 1):c * (patch + 1) + patch] = u
            axes[3].imshow(grid)
            axes[3].set_title("sparse auto-encoder units")
            axes[3].axis("off")
        return figures._save(fig, fig_dir / "test_detections.png")

    def summary(self, metrics: dict) -> str:
        net, log = metrics["test"]["network"], metrics["test"]["log"]
        return (f"test F1: {metrics['features']} + logistic regression {format_ci(net, 'f1')}  LoG "
                f"{format_ci(log, 'f1')}  ({metrics['n_nuclei_test']} nuclei)")


EXPERIMENT = NucleiExperiment()
