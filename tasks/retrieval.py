"""Content-based image retrieval: find the training cases most similar to a query image.

The embedding of an image is what a trained classification network feeds its last linear layer (its
penultimate features), read with a forward pre-hook on that layer - no change to the model - or, for
a ``medgrad run codes`` run, the convolutional auto-encoder's code (learned without labels). The
training images form the index; similarity is the cosine of the angle between embeddings, so
neighbours are the k training images with the largest

    cos(q, t) = q . t / (|q| |t|).

Evaluated on the test split, each test image queries the index; a neighbour is relevant when it has
the query's class. Precision@k is the fraction of relevant images among the first k; average precision
(AP) averages the precision at every rank where a relevant image appears, over the whole ranked index;
mAP is the mean of AP over queries (and reported per class). Raw pixels as embeddings are the baseline.
"""

from __future__ import annotations

import numpy as np


def last_linear(model) -> str:
    """Dotted name of the model's last Linear layer (its input is the embedding)."""
    from engine import nn

    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"retrieval: {type(model).__name__} has no Linear layer to read embeddings from")
    return names[-1]


def embeddings(model, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Penultimate features (N, D) of x (N, C, *S), from a forward pre-hook on the last Linear layer."""
    import engine

    layer = dict(model.named_modules())[last_linear(model)]
    captured = []
    model.eval()
    with layer.register_forward_pre_hook(lambda module, args: captured.append(args[0].numpy().reshape(
            len(args[0]), -1))), engine.no_grad():
        for i in range(0, len(x), batch):
            model(engine.tensor(np.ascontiguousarray(x[i:i + batch])))
    return np.concatenate(captured)


def cosine_ranking(queries: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order (Q, N) of index rows by decreasing cosine similarity, the similarities (Q, N))."""
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    t = index / np.maximum(np.linalg.norm(index, axis=1, keepdims=True), 1e-12)
    sim = q @ t.T
    return np.argsort(-sim, axis=1, kind="stable"), sim


def retrieval_metrics(order: np.ndarray, query_labels: np.ndarray, index_labels: np.ndarray,
                      ks=(1, 5, 10)) -> dict:
    """precision@k for each k and mAP (overall and per query class) of ranked lists (Q, N)."""
    relevant = index_labels[order] == query_labels[:, None]  # (Q, N) in rank order
    hits = np.cumsum(relevant, axis=1)
    ranks = np.arange(1, relevant.shape[1] + 1)
    ap = (relevant * hits / ranks).sum(1) / np.maximum(relevant.sum(1), 1)
    out = {f"precision_at_{k}": float(relevant[:, :k].mean()) for k in ks if k <= relevant.shape[1]}
    out["map"] = float(ap.mean())
    out["map_per_class"] = {int(c): float(ap[query_labels == c].mean()) for c in np.unique(query_labels)}
    out["ap"] = ap
    return out


def load_embedder(run_dir):
    """(embed: images -> (N, D) features, the run's data, "network" or "autoencoder") for a classification
    run (penultimate features)
    or a ``medgrad run codes`` run (the convolutional auto-encoder's codes: retrieval without labels)."""
    import json
    from pathlib import Path

    from tasks.classification import load_trained_run

    config_path = Path(run_dir) / "config.json"
    if config_path.is_file() and json.loads(config_path.read_text()).get("experiment") == "codes":
        return (*_codes_embedder(Path(run_dir)), "autoencoder")
    model, data, _ = load_trained_run(run_dir)
    return (lambda x: embeddings(model, x)), data, "network"


def _codes_embedder(run_dir):
    import json

    import engine
    from engine.train import load_checkpoint
    from models.autoencoder import ConvAutoencoder
    from tasks.classification import load_data
    from tasks.errors import UsageError
    from tasks.options import Config

    values = json.loads((run_dir / "config.json").read_text())
    values.pop("experiment")
    best = run_dir / "checkpoints" / "best.npz"
    if not best.is_file():
        raise UsageError(f"{run_dir}: no trained model (checkpoints/best.npz is missing; did the run finish?)")
    config = Config(values)
    data = load_data(config)
    model = ConvAutoencoder(data.in_channels, data.spatial, config.code_size, config.width)
    load_checkpoint(best, model)
    model.eval()

    def embed(x):
        with engine.no_grad():
            return np.concatenate([model.encode(engine.tensor(np.clip(x[i:i + 256], 0, 1).astype(np.float32)))
                                   .numpy() for i in range(0, len(x), 256)])
    return embed, data


def retrieve_run(run_dir, query=None, test_index: int | None = None, k: int = 8, n_boot: int = 1000) -> dict:
    """Evaluate retrieval on the test split of a classification run and show the neighbours of one query
    (an image file, or the test image ``test_index``). Writes ``RUN_DIR/retrieval/``."""
    from pathlib import Path

    from tasks.errors import UsageError
    from tasks.evaluation import summarize_cases
    from tasks.runfolder import write_json_atomic

    embed, data, source = load_embedder(run_dir)
    if data.multilabel:
        raise UsageError(f"{run_dir}: multi-label runs are not supported by medgrad retrieve")
    if k < 1 or k > len(data.x_train):
        raise UsageError(f"--k must be between 1 and the {len(data.x_train)} training images, got {k}")
    train_emb, test_emb = embed(data.x_train), embed(data.x_test)
    y_train, y_test = np.asarray(data.y_train), np.asarray(data.y_test)
    results = {}
    for name, (q, t) in {source: (test_emb, train_emb),
                         "pixels": (data.x_test.reshape(len(data.x_test), -1),
                                    data.x_train.reshape(len(data.x_train), -1))}.items():
        order, _ = cosine_ranking(q, t)
        m = retrieval_metrics(order, y_test, y_train, ks=(1, 5, k))
        ci = summarize_cases({"ap": m.pop("ap"), f"precision_at_{k}": (y_train[order[:, :k]] == y_test[:, None])
                              .mean(1)}, n_boot=n_boot)
        m["map_ci"], m[f"precision_at_{k}_ci"] = ci["ap_ci"], ci[f"precision_at_{k}_ci"]
        results[name] = m
    if query is not None:
        image, query_label = _load_query(query, data), None
    else:
        i = 0 if test_index is None else test_index
        if not 0 <= i < len(data.x_test):
            raise UsageError(f"--test-index must be in 0..{len(data.x_test) - 1}, got {i}")
        image, query_label = data.x_test[i], y_test[i]
    order, sim = cosine_ranking(embed(image[None]), train_emb)
    neighbours = order[0, :k]
    out_dir = Path(run_dir) / "retrieval"
    out_dir.mkdir(exist_ok=True)
    # the figure: this query, then three more test images (seeded) with their neighbours
    others = np.random.default_rng(0).choice(len(data.x_test), size=min(3, len(data.x_test)), replace=False)
    o_order, o_sim = cosine_ranking(test_emb[others], train_emb)
    rows = [(image, query_label, neighbours, sim[0, neighbours])] + [
        (data.x_test[i], y_test[i], o_order[r, :k], o_sim[r, o_order[r, :k]]) for r, i in enumerate(others)]
    figure = _figure(rows, data.x_train, y_train, data.class_names, out_dir / "neighbours.png")
    label = str(query) if query else f"test image {test_index or 0}"
    summary = {"run": str(run_dir), "k": k, "test": results, "query": label,
               "neighbours": neighbours.tolist(), "neighbour_labels": y_train[neighbours].tolist(),
               "similarities": sim[0, neighbours].tolist(), "figure": figure}
    write_json_atomic(out_dir / "metrics.json", summary)
    return summary


def _load_query(path, data) -> np.ndarray:
    """A query image file (PNG, .npy, NIfTI), scaled and resized as the run's images were: (C, *S)."""
    from pathlib import Path

    from tasks.errors import UsageError
    from tasks.userdata import normalize_intensity, read_image, resize

    try:
        image = read_image(Path(path))  # (C, *spatial)
    except (OSError, ValueError, UsageError) as e:
        raise UsageError(f"--query {path}: {' '.join(str(e).split())}") from None
    channels = data.x_train.shape[1]
    if image.shape[0] == 3 and channels == 1:
        image = image.mean(0, keepdims=True)
    if image.ndim != len(data.spatial) + 1 or image.shape[0] != channels:
        raise UsageError(f"--query {path}: an image of shape {tuple(image.shape)} (channels first) does not fit "
                         f"this run's {channels}-channel {len(data.spatial)}D images of size {tuple(data.spatial)}")
    return np.stack([resize(normalize_intensity(c), data.spatial) for c in image]).astype(np.float32)


def _figure(rows, x_train, y_train, class_names, path) -> str:
    """One row per query: the query image, then its neighbours with their class and cosine similarity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tasks import figures

    def plane(a):
        a = a.mean(0)
        return a[a.shape[0] // 2] if a.ndim == 3 else a

    k = len(rows[0][2])
    fig, axes = plt.subplots(len(rows), 1 + k, figsize=(1.8 * (1 + k), 2.1 * len(rows)), squeeze=False)
    for r, (query, label, neighbours, sims) in enumerate(rows):
        axes[r, 0].imshow(plane(query), cmap="gray")
        axes[r, 0].set_title("query" + ("" if label is None else f": {class_names[label]}"), fontsize=8)
        for ax, j, s in zip(axes[r, 1:], neighbours, sims):
            ax.imshow(plane(x_train[j]), cmap="gray")
            ax.set_title(f"{class_names[y_train[j]]}\ncos {s:.3f}", fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    return figures._save(fig, path)
