"""Auto-encoder codes as features: does an unsupervised convolutional auto-encoder give a k-NN classifier
better features than PCA of the same size, or than the raw pixels?

1. A convolutional auto-encoder (models/autoencoder.py) is trained on the training images without their
   labels (binary cross-entropy reconstruction), its checkpoint chosen on the validation images'
   reconstruction loss - still without labels.
2. Three feature sets for every image: the auto-encoder's code (``--code-size`` numbers), the first
   ``--code-size`` principal components (PCA fitted on the training images), and the raw pixels.
3. For each, k-nearest neighbours on standardised features, k chosen on validation AUC; the test split
   is used once: AUC and accuracy with bootstrap 95% intervals, and the test reconstruction error of the
   auto-encoder and of PCA (the mean squared error per pixel, beside that of the mean training image),
   since a code that reconstructs better need not classify better.

Data as ``medgrad run classification``: lesion phantoms, a MedMNIST name or a folder (2D; sides divisible
by 4, e.g. 28). Multi-label sets are refused.
"""

from __future__ import annotations

import numpy as np

from tasks.classification import check_image_data, image_data_options
from tasks.errors import UsageError
from tasks.evaluation import format_ci, metric_ci
from tasks.experiment import Experiment
from tasks.options import Option, training_options

K_GRID = (1, 3, 5, 9, 15, 25)


def knn_on(features, data, n_boot, seed) -> dict:
    """k-NN with k chosen on validation AUC; test AUC/ACC with intervals."""
    from models.classical import KNeighborsClassifier, StandardScaler, probabilities
    from tasks import metrics as M
    from tasks.classification import scores_for_task

    f_train, f_val, f_test = features
    scaler = StandardScaler().fit(f_train)
    f_train, f_val, f_test = (scaler.transform(f) for f in (f_train, f_val, f_test))

    def evaluate(y, probs):
        return M.medmnist_evaluate(data.metric_task, y, scores_for_task(data, probs))

    trials = []
    for k in K_GRID:
        model = KNeighborsClassifier(n_neighbors=k).fit(f_train, data.y_train)
        trials.append((evaluate(data.y_val, probabilities(model, f_val))["auc"], k, model))
    val_auc, k, model = max(trials, key=lambda t: (t[0], -t[1]))  # ties: the smaller k
    probs = probabilities(model, f_test)
    scores = scores_for_task(data, probs)
    out = {**evaluate(data.y_test, probs), "k": k, "val_auc": float(val_auc), "dims": int(f_train.shape[1])}
    ci = dict(n_boot=n_boot, seed=seed, stratify=data.y_test)
    out["auc_ci"] = metric_ci(lambda t, s: M.medmnist_evaluate(data.metric_task, t, s)["auc"], data.y_test, scores,
                              **ci)
    out["acc_ci"] = metric_ci(lambda t, s: M.medmnist_evaluate(data.metric_task, t, s)["acc"], data.y_test, scores,
                              **ci)
    return out


class CodesExperiment(Experiment):
    name = "codes"
    description = ("auto-encoder codes as features: k-NN on a convolutional auto-encoder's codes vs PCA of the same "
                   "size vs raw pixels; test AUC with CIs and reconstruction error")
    options = (
        *image_data_options(n_samples=2000, quick_samples=300, irregularity=1.0),
        Option("code_size", int, 32, "length of the code (and number of principal components)", low=1, high=4096),
        Option("width", int, 16, "channels of the auto-encoder's first convolution", low=1, high=512),
        *training_options(epochs=30, lr=1e-3, batch_size=64, quick_epochs=2),
    )

    def check(self, config) -> None:
        check_image_data(config)
        if config.size is not None and config.size % 4:
            raise UsageError(f"--size must be divisible by 4 (two stride-2 convolutions), got {config.size}")

    def run(self, ctx) -> dict:
        import engine.nn.functional as F
        from engine.data import DataLoader, TensorDataset
        from models.autoencoder import ConvAutoencoder
        from models.classical import PCA
        from tasks.classification import load_data
        from tasks.training import fit, predict

        config = ctx.config
        data = load_data(config)
        if data.multilabel or len(data.spatial) != 2:
            raise UsageError(f"{data.name}: the codes experiment needs single-label 2D images, got "
                             f"{data.task} {len(data.spatial)}D")
        if any(s % 4 for s in data.spatial):
            raise UsageError(f"{data.name}: image sides {data.spatial} must be divisible by 4; use --size")
        x = [np.clip(a, 0, 1).astype(np.float32) for a in (data.x_train, data.x_val, data.x_test)]
        flat = [a.reshape(len(a), -1) for a in x]
        if config.code_size > min(flat[0].shape):
            raise UsageError(f"--code-size {config.code_size} exceeds the {min(flat[0].shape)} principal components "
                             f"that {len(flat[0])} training images of {flat[0].shape[1]} pixels allow")

        model = ConvAutoencoder(data.in_channels, data.spatial, config.code_size, config.width).to(config.device)
        result = fit(ctx, model, F.binary_cross_entropy_with_logits,
                     DataLoader(TensorDataset(x[0], x[0]), batch_size=config.batch_size, shuffle=True,
                                seed=config.seed),
                     DataLoader(TensorDataset(x[1], x[1]), batch_size=256), monitor="val_loss", mode="min")

        ae_codes = [predict(ctx, model.encoder, a, 256) for a in x]  # the encoder half is a Sequential
        recon = 1 / (1 + np.exp(-predict(ctx, model, x[2], 256)))
        pca = PCA(config.code_size).fit(flat[0])
        pca_codes = [pca.transform(f) for f in flat]
        n, seed = config.bootstrap, config.seed
        test = {"autoencoder": knn_on(ae_codes, data, n, seed), "pca": knn_on(pca_codes, data, n, seed),
                "pixels": knn_on(flat, data, n, seed)}
        test["autoencoder"]["reconstruction_mse"] = float(np.mean((recon.reshape(len(recon), -1) - flat[2]) ** 2))
        test["pca"]["reconstruction_mse"] = float(np.mean((pca.inverse_transform(pca_codes[2]) - flat[2]) ** 2))
        # the reference a code must beat: every test image replaced by the mean training image
        test["mean_image_mse"] = float(np.mean((flat[0].mean(0) - flat[2]) ** 2))
        from tasks import figures

        paths = [figures.training_curves(result.history, ctx.figures_dir / "training_curves.png", metrics=("loss",)),
                 self._figure(x[2][:8], recon[:8], pca.inverse_transform(pca_codes[2][:8]).reshape(x[2][:8].shape),
                              ctx.figures_dir)]
        return {"experiment": self.name, "dataset": data.name, "code_size": config.code_size,
                "model_info": {"parameters": model.num_parameters(), "train_seconds": result.train_seconds,
                               "best_epoch": result.best_epoch},
                "split_sizes": {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)},
                "test": test, "figures": paths}

    @staticmethod
    def _figure(images, ae, pca, fig_dir) -> str:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from tasks import figures

        fig, axes = plt.subplots(3, len(images), figsize=(1.6 * len(images), 5))
        for row, (name, stack) in enumerate((("image", images), ("auto-encoder", ae), ("PCA", pca))):
            for k, ax in enumerate(axes[row]):
                ax.imshow(stack[k, 0], cmap="gray", vmin=0, vmax=1)
                ax.axis("off")
            axes[row, 0].set_title(name, loc="left", fontsize=9)
        return figures._save(fig, fig_dir / "reconstructions.png")

    def summary(self, metrics: dict) -> str:
        t = metrics["test"]
        return (f"test AUC of k-NN on: auto-encoder codes {format_ci(t['autoencoder'], 'auc')}  PCA "
                f"{format_ci(t['pca'], 'auc')}  pixels {format_ci(t['pixels'], 'auc')}  "
                f"[{metrics['dataset']}, code {metrics['code_size']}]")


EXPERIMENT = CodesExperiment()
