"""``medgrad explain RUN_DIR``: attribution maps of a trained classification run, checked.

For ``n`` test images (half misclassified where possible) every method of tasks/attribution.py draws
its map; each method gets the cascading model-randomisation check, optionally the label-randomisation
check (the network retrained on permuted labels), and deletion/insertion AUCs. A figure of the maps and
metrics.json go to ``RUN_DIR/explain/``.
"""

from __future__ import annotations

import numpy as np

from tasks.attribution import (
    METHODS,
    SANITY_THRESHOLD,
    cascading_randomization,
    deletion_insertion,
    explain,
    integrated_gradients,
    last_conv_layer,
    probabilities,
    spearman_per_image,
)


def train_on_shuffled_labels(config, data, seed: int = 0):
    """The run's network trained like the run (Adam, its lr, epochs and batch size) on the training
    images with their labels permuted: the model of Adebayo et al.'s data-randomisation test. (The
    run's schedule, augmentation and imbalance options are not repeated: a plain loop suffices for
    a model that can only memorise.)"""
    import engine
    import engine.nn.functional as F
    from engine import optim
    from tasks.classification import build_network, single_logit

    engine.manual_seed(seed)
    model, _ = build_network(config, data)
    one = single_logit(model, data)
    opt = optim.Adam(model.parameters(), lr=config.lr)
    rng = np.random.default_rng(seed)
    y = rng.permutation(data.y_train)
    model.train()
    for _ in range(config.epochs):
        order = rng.permutation(len(y))
        for i in range(0, len(y), config.batch_size):
            idx = order[i:i + config.batch_size]
            out = model(engine.tensor(data.x_train[idx]))
            target = engine.tensor(y[idx])
            loss = (F.binary_cross_entropy_with_logits(out.reshape(-1), target.float()) if one
                    else F.cross_entropy(out, target))
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model


def explain_run(run_dir, methods=METHODS, layer: str | None = None, n: int = 16, sanity_n: int = 8,
                seed: int = 0, label_randomization: bool = False) -> dict:
    """Maps of ``methods`` for ``n`` test images (half classified correctly, half wrongly where possible),
    the sanity checks and deletion/insertion AUCs per method; writes ``RUN_DIR/explain/``.

    label_randomization: also train the network on permuted labels and report the rank correlation of
    its maps with the real model's (it should be low: the maps must depend on what the labels taught)."""
    from pathlib import Path

    from tasks.classification import load_trained_run
    from tasks.errors import UsageError
    from tasks.runfolder import write_json_atomic

    model, data, config = load_trained_run(run_dir)
    if data.multilabel:
        raise UsageError(f"{run_dir}: multi-label runs are not supported by medgrad explain")
    if layer is not None and layer not in dict(model.named_modules()):
        raise UsageError(f"--layer {layer!r}: no such layer; layers: "
                         f"{', '.join(n for n, _ in model.named_modules() if n)}")
    x, y = data.x_test.astype(np.float32), np.asarray(data.y_test)
    pred = (probabilities(model, x, np.ones(len(x), int)) > 0.5).astype(int) if data.n_outputs == 2 else None
    if pred is None:
        import engine

        with engine.no_grad():
            pred = np.concatenate([model(engine.tensor(x[i:i + 256])).numpy().argmax(1) for i in range(0, len(x), 256)])
    right, wrong = np.flatnonzero(pred == y), np.flatnonzero(pred != y)
    rng = np.random.default_rng(seed)
    n_wrong = min(len(wrong), n // 2)
    chosen = np.concatenate([rng.choice(wrong, n_wrong, replace=False),
                             rng.choice(right, min(len(right), n - n_wrong), replace=False)]).astype(int)
    xs, target = x[chosen], pred[chosen]  # explain the class the model chose
    results, maps = {}, {}
    shuffled = train_on_shuffled_labels(config, data, seed) if label_randomization else None
    for method in methods:
        maps[method] = explain(method, model, xs, target, layer, seed)
        sanity = cascading_randomization(method, model, xs[:sanity_n], target[:sanity_n], layer, seed)
        results[method] = {**deletion_insertion(model, xs, target, maps[method]), "sanity": sanity}
        if shuffled is not None:
            corr = float(np.nanmean(spearman_per_image(maps[method], explain(method, shuffled, xs, target, layer,
                                                                             seed))))
            results[method]["label_randomization"] = {"correlation": corr, "passes": bool(corr < SANITY_THRESHOLD)}
        if method == "integrated_gradients":
            results[method]["completeness_error"] = float(np.mean(integrated_gradients(model, xs, target)[1]))
    out_dir = Path(run_dir) / "explain"
    out_dir.mkdir(exist_ok=True)
    figure = _maps_figure(xs, y[chosen], pred[chosen], maps, data.class_names, out_dir / "maps.png")
    summary = {"run": str(run_dir), "cases": chosen.tolist(), "true": y[chosen].tolist(),
               "predicted": pred[chosen].tolist(), "layer": layer or (last_conv_layer(model) if "grad_cam" in methods
                                                                      else None),
               "sanity_threshold": SANITY_THRESHOLD, "methods": results, "figure": figure}
    write_json_atomic(out_dir / "metrics.json", summary)
    return summary


def _maps_figure(x, y, pred, maps, class_names, path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tasks import figures

    def plane(a):  # 3D volumes: the middle slice
        return a[a.shape[0] // 2] if a.ndim == 3 else a

    rows = min(8, len(x))
    fig, axes = plt.subplots(rows, 1 + len(maps), figsize=(1.7 * (1 + len(maps)), 1.7 * rows), squeeze=False)
    for r in range(rows):
        image = plane(x[r].mean(0))
        axes[r, 0].imshow(image, cmap="gray")
        mark = "ok" if y[r] == pred[r] else "WRONG"
        axes[r, 0].set_title(f"{class_names[y[r]]} -> {class_names[pred[r]]} ({mark})", fontsize=7)
        for c, (name, m) in enumerate(maps.items(), start=1):
            axes[r, c].imshow(image, cmap="gray")
            axes[r, c].imshow(plane(np.abs(m[r])), cmap="jet", alpha=0.5)
            if r == 0:
                axes[r, c].set_title(name.replace("_", " "), fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    return figures._save(fig, path)
