"""Treatment response: did the lesion respond, judged from a baseline and a follow-up image?

Data: ``response-pairs`` phantoms (tasks/data/phantoms/graded_lesions.py: responders shrink and
fade, non-responders stay about the same; independent noise at each visit), or your folder:
``baseline/`` and ``followup/`` with same-named images plus ``labels.csv`` (file,label[,split]),
label 1 = responder, 0 = not. Split 70/15/15 stratified by response (or your split column).

Models: a siamese CNN (models/siamese.py: one VGG-style encoder, without batch normalisation,
for both visits, a head on the embeddings' difference), its epoch chosen on the validation AUC;
baseline: logistic regression on the change of radiomics features (follow-up minus baseline,
Otsu segmentations), C chosen on the validation AUC. Metrics: AUC and accuracy (threshold 0.5)
with bootstrap 95% intervals; ROC curves.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from tasks._prediction_common import fit_network, radiomics
from tasks.errors import UsageError
from tasks.evaluation import format_ci, metric_ci
from tasks.experiment import Experiment
from tasks.options import Option, training_options

DATA_SEED = 0


def _folder(root: Path, size: int):
    from tasks.userdata import normalize_intensity, read_image, resize, seeded_split

    table = root / "labels.csv"
    if not table.is_file() or not (root / "baseline").is_dir() or not (root / "followup").is_dir():
        raise UsageError(f"{root}: expected baseline/, followup/ and labels.csv (file,label[,split])")
    with open(table, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise UsageError(f"{table}: needs the columns file,label[,split] and at least one row")
    pairs, labels = [], []
    for line, row in enumerate(rows, start=2):
        name = (row["file"] or "").strip()
        for visit in ("baseline", "followup"):
            if not (root / visit / name).is_file():
                raise UsageError(f"{table} line {line}: {visit}/{name} does not exist (pairs need both visits)")
        if (row["label"] or "").strip() not in ("0", "1"):
            raise UsageError(f"{table} line {line}: label must be 1 (responder) or 0, found {row['label']!r}")
        images = [read_image(root / visit / name) for visit in ("baseline", "followup")]
        if any(im.shape[0] != 1 or im.ndim != 3 for im in images):
            raise UsageError(f"{root}: {name} must be a single-channel 2D image at both visits")
        pairs.append(np.concatenate([resize(normalize_intensity(im), (size, size)) for im in images]))
        labels.append(int(row["label"]))
    y = np.array(labels, dtype=np.int64)
    if any((r.get("split") or "").strip() for r in rows):
        split = np.array([(r.get("split") or "").strip().lower() for r in rows])
        if set(split) != {"train", "val", "test"}:
            raise UsageError(f"{table}: the split column must use train, val and test (each at least once)")
    else:
        split = seeded_split(len(y), y, seed=DATA_SEED)
    x = np.stack(pairs).astype(np.float32)
    return {s: x[split == s] for s in ("train", "val", "test")}, {s: y[split == s] for s in ("train", "val", "test")}


def load_data(config):
    """({split: pairs (N, 2, S, S)}, {split: labels (N,)}, name)."""
    if config.dataset == "response-pairs":
        from engine.data import train_val_test_split
        from tasks.data.phantoms.graded_lesions import make_response_pairs

        d = make_response_pairs(config.n_pairs, image_size=32, seed=DATA_SEED)
        x = np.concatenate([d["baseline"], d["followup"]], axis=1)
        y = d["response"]
        parts = train_val_test_split(y, (0.7, 0.15, 0.15), stratify=y, seed=DATA_SEED)
        names = ("train", "val", "test")
        return dict(zip(names, [x[p] for p in parts])), dict(zip(names, [y[p] for p in parts])), "response-pairs"
    if not Path(config.dataset).is_dir():
        raise UsageError(f"--dataset {config.dataset}: use response-pairs or a folder with baseline/, followup/ "
                         f"and labels.csv")
    x, y = _folder(Path(config.dataset), config.size)
    return x, y, Path(config.dataset).name


def evaluate(y, p, n_boot=None, seed=0) -> dict:
    from tasks import metrics as M

    acc = lambda t, s: M.accuracy(t, (s > 0.5).astype(int))  # noqa: E731
    out = {"auc": M.roc_auc(y, p), "acc": acc(y, p), "n": int(len(y))}
    if n_boot is not None:
        out["auc_ci"] = metric_ci(M.roc_auc, y, p, n_boot=n_boot, seed=seed, stratify=y)
        out["acc_ci"] = metric_ci(acc, y, p, n_boot=n_boot, seed=seed, stratify=y)
    return out


class ResponseExperiment(Experiment):
    name = "response"
    description = ("treatment response from baseline/follow-up pairs: a siamese CNN vs logistic regression on the "
                   "change of radiomics features; AUC with CI")
    options = (
        Option("dataset", str, "response-pairs", "response-pairs (phantoms) or a folder with baseline/, followup/ "
               "(same-named single-channel images, resized to --size) and labels.csv (file,label 0/1[,split])"),
        Option("size", int, 32, "side length user images are resized to", low=8, high=512),
        Option("n_pairs", int, 1200, "number of phantom pairs", quick=240, low=40, high=1_000_000),
        Option("width", int, 8, "channel width of the shared VGG-style encoder", low=1, high=256),
        Option("embed", int, 16, "embedding size of each visit", low=1, high=1024),
        *training_options(epochs=10, lr=2e-3, batch_size=32, quick_epochs=3),
    )

    def run(self, ctx) -> dict:
        import engine.nn.functional as F
        from models import build_model
        from models.classical import LogisticRegression
        from models.siamese import SiameseNet
        from tasks import figures
        from tasks import metrics as M
        from tasks.training import predict

        config = ctx.config
        x, y, name = load_data(config)
        for s in ("train", "val", "test"):
            if len(np.unique(y[s])) < 2:
                raise UsageError(f"{name}: the {s} split holds one class only; AUC needs responders and non-responders")

        started = time.time()  # baseline: the change of radiomics features between the visits
        change = {s: radiomics(v[:, 1:2]) - radiomics(v[:, 0:1]) for s, v in x.items()}
        mu, sd = change["train"].mean(0), change["train"].std(0) + 1e-8
        change = {s: (c - mu) / sd for s, c in change.items()}
        best = None
        for c in (0.01, 0.1, 1.0):
            model = LogisticRegression(C=c, max_iter=500).fit(change["train"], y["train"])
            auc = M.roc_auc(y["val"], model.predict_proba(change["val"])[:, 1])
            if best is None or auc > best[0]:
                best = (auc, c, model)
        base = {s: best[2].predict_proba(change[s])[:, 1] for s in ("val", "test")}
        base_info = {"selected_C": best[1], "train_seconds": time.time() - started}

        # no batch normalisation: its running statistics lag behind in a short run, and the pair's
        # difference is exactly what a drifting normalisation would distort
        encoder = build_model("vgg", 1, config.embed, x["train"].shape[2:], width=config.width, batchnorm=False,
                              dropout=0.0)
        net = SiameseNet(encoder, config.embed).to(config.device)

        def loss_fn(out, t):
            return F.binary_cross_entropy_with_logits(out.reshape(-1), t.float())

        def auc(out, t):
            return M.roc_auc(t, out.reshape(-1))

        result = fit_network(ctx, net, loss_fn, (x["train"], y["train"]), (x["val"], y["val"]),
                             metrics={"auc": auc}, monitor="val_auc", mode="max")
        probs = {s: 1 / (1 + np.exp(-predict(ctx, net, x[s], 256).reshape(-1).astype(np.float64)))
                 for s in ("val", "test")}
        paths = [figures.roc_curves(y["test"], probs["test"], ctx.figures_dir / "roc_siamese.png",
                                    ["non-responder", "responder"], title="ROC (test), siamese CNN"),
                 figures.roc_curves(y["test"], base["test"], ctx.figures_dir / "roc_baseline.png",
                                    ["non-responder", "responder"], title="ROC (test), radiomics change"),
                 figures.training_curves(result.history, ctx.figures_dir / "training_curves.png",
                                         metrics=("loss", "auc"))]
        return {"experiment": self.name, "dataset": name, "model": "siamese-vgg",
                "baseline": "logistic regression on radiomics change",
                "split_sizes": {s: int(len(v)) for s, v in y.items()},
                "model_info": {"network": {"parameters": net.num_parameters(), "best_epoch": result.best_epoch,
                                           "train_seconds": result.train_seconds}, "baseline": base_info},
                "val": {"network": evaluate(y["val"], probs["val"]), "baseline": evaluate(y["val"], base["val"])},
                "test": {"network": evaluate(y["test"], probs["test"], config.bootstrap, config.seed),
                         "baseline": evaluate(y["test"], base["test"], config.bootstrap, config.seed)},
                "figures": paths}

    def summary(self, metrics: dict) -> str:
        n, b = metrics["test"]["network"], metrics["test"]["baseline"]
        return (f"test AUC siamese CNN {format_ci(n, 'auc')}, radiomics change {format_ci(b, 'auc')}  "
                f"[{metrics['dataset']}]")


EXPERIMENT = ResponseExperiment()
