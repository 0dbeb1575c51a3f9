"""Auto-encoders for unsupervised pre-training: denoising auto-encoder layers, their stack, and the
classifier that fine-tunes it.

A denoising auto-encoder (Vincent et al., "Stacked denoising autoencoders: learning useful
representations in a deep network with a local denoising criterion", JMLR 11:3371-3408, 2010) sees a
corrupted input x~ (here: masking noise, a random fraction of the inputs set to 0) and must
reconstruct the clean x::

    h = sigmoid(W x~ + b)            (encoder)
    r = sigmoid(W' h + b')           (decoder; untied W' as in most later work)
    loss = BCE(r, x) = -sum_i [x_i log r_i + (1 - x_i) log(1 - r_i)]   for x in [0, 1]

A sparse auto-encoder (Ng, "Sparse autoencoder", CS294A lecture notes, 2011) instead keeps each hidden
unit j quiet on average: with rho_hat_j its mean activation over a batch and rho a small target,

    loss = reconstruction error + beta * sum_j KL(rho || rho_hat_j),
    KL(rho || rho_hat) = rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat)),

so every unit fires for a few inputs only and becomes a detector of one local pattern (Xu et al. 2016
used such units to find nuclei in histology).

Stacking: layer k is trained on the clean codes of layers 1..k-1 (greedy layer-wise pre-training);
then the encoders are stacked, a classifier layer is put on top and the whole network is fine-tuned
with labels. The training loops live in the task (tasks/pretraining.py); the models only say what is
computed. Inputs are flattened: (N, C, *spatial) or (N, D) -> (N, D).
"""

from __future__ import annotations

import numpy as np

from engine import nn


class DenoisingAutoencoder(nn.Module):
    """One layer: encoder Linear(n_in, n_hidden) + sigmoid, decoder Linear(n_hidden, n_in).

    forward(x) -> reconstruction *logits* (N, n_in): train with binary_cross_entropy_with_logits
    against the clean input (the sigmoid of the decoder is inside the loss, for stability).
    """

    def __init__(self, n_in: int, n_hidden: int):
        super().__init__()
        self.encoder = nn.Linear(n_in, n_hidden)
        self.decoder = nn.Linear(n_hidden, n_in)

    def encode(self, x):
        return self.encoder(x.flatten(1)).sigmoid()

    def forward(self, x):
        return self.decoder(self.encode(x))


class SparseAutoencoder(nn.Module):
    """encoder Linear(n_in, n_hidden) + sigmoid, linear decoder: (N, n_in) -> (reconstruction, hidden).

    The linear decoder suits inputs that are not probabilities (standardised patches); train with
    mse_loss(reconstruction, x) + beta * kl_sparsity(hidden, rho).
    """

    def __init__(self, n_in: int, n_hidden: int):
        super().__init__()
        self.encoder = nn.Linear(n_in, n_hidden)
        self.decoder = nn.Linear(n_hidden, n_in)

    def forward(self, x):
        hidden = self.encoder(x.flatten(1)).sigmoid()
        return self.decoder(hidden), hidden


def kl_sparsity(hidden, rho: float = 0.05, eps: float = 1e-6):
    """sum over units j of KL(rho || rho_hat_j), rho_hat_j = mean of hidden[:, j] over the batch.

    hidden: (N, H) activations in (0, 1). The derivative with respect to rho_hat_j is
    -rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j): it pushes an over-active unit down, and is 0 at rho.
    """
    if not 0.0 < rho < 1.0:
        raise ValueError(f"kl_sparsity: rho must be in (0, 1), got {rho}")
    rho_hat = hidden.mean(0).clamp(eps, 1 - eps)
    return (rho * (rho / rho_hat).log() + (1 - rho) * ((1 - rho) / (1 - rho_hat)).log()).sum()


class StackedEncoder(nn.Module):
    """Linear + sigmoid layers of the given sizes: (N, sizes[0]) -> (N, sizes[-1])."""

    def __init__(self, sizes):
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"StackedEncoder: sizes must list at least an input and one layer size, all positive; "
                             f"got {sizes}")
        self.sizes = sizes
        self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])

    def forward(self, x):
        h = x.flatten(1)
        for layer in self.layers:
            h = layer(h).sigmoid()
        return h


class SDAEClassifier(nn.Module):
    """A stacked encoder with a linear classifier on top: (N, ...) -> logits (N, num_classes).

    ``load_pretrained(daes)`` copies the encoder weights of greedily trained DenoisingAutoencoders
    into the stack; without it the network is the same architecture from random initialisation.
    """

    def __init__(self, sizes, num_classes: int):
        super().__init__()
        self.encoder = StackedEncoder(sizes)
        self.classifier = nn.Linear(self.encoder.sizes[-1], num_classes)

    def load_pretrained(self, daes) -> None:
        if len(daes) != len(self.encoder.layers):
            raise ValueError(f"SDAEClassifier.load_pretrained: {len(daes)} auto-encoders for "
                             f"{len(self.encoder.layers)} encoder layers")
        for layer, dae in zip(self.encoder.layers, daes):
            if tuple(layer.weight.shape) != tuple(dae.encoder.weight.shape):
                raise ValueError(f"SDAEClassifier.load_pretrained: encoder layer {tuple(layer.weight.shape)} but "
                                 f"auto-encoder {tuple(dae.encoder.weight.shape)}")
            layer.weight.data[...] = dae.encoder.weight.data
            layer.bias.data[...] = dae.encoder.bias.data

    def forward(self, x):
        return self.classifier(self.encoder(x))


def masking_noise(x: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """x with a random ``fraction`` of its entries set to 0 (each entry independently), x unchanged."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"masking_noise: fraction must be in [0, 1), got {fraction}")
    return x * (rng.random(x.shape) >= fraction).astype(x.dtype)


class ConvAutoencoder(nn.Module):
    """Convolutional auto-encoder with a small code: (N, C, H, W) -> reconstruction logits (N, C, H, W).

    encoder: Conv(C, w, 3, stride 2) - ReLU - Conv(w, 2w, 3, stride 2) - ReLU - Linear(2w H/4 W/4, code)
    decoder: Linear(code, 2w H/4 W/4) - ReLU - ConvTranspose(2w, w, 4, stride 2) - ReLU -
             ConvTranspose(w, C, 4, stride 2)
    H and W must be divisible by 4. Train with binary_cross_entropy_with_logits against images in
    [0, 1]; ``encode(x)`` gives the (N, code) codes used as features.
    """

    def __init__(self, in_channels: int = 1, image_size=(28, 28), code_size: int = 32, width: int = 16):
        super().__init__()
        h, w = image_size
        if h % 4 or w % 4:
            raise ValueError(f"ConvAutoencoder: image sides must be divisible by 4, got {tuple(image_size)}")
        self.shape = (2 * width, h // 4, w // 4)
        flat = 2 * width * (h // 4) * (w // 4)
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(flat, code_size),
        )
        self.expand = nn.Sequential(nn.Linear(code_size, flat), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(width, in_channels, 4, stride=2, padding=1),
        )

    def encode(self, x):
        return self.encoder(x)

    def forward(self, x):
        h = self.expand(self.encode(x))
        return self.decoder(h.reshape(h.shape[0], *self.shape))
