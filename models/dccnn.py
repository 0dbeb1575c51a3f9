"""Data consistency and the DC-CNN cascade for undersampled MRI (Schlemper et al., IEEE TMI 37:491-503, 2018).

Layouts. Complex images and k-space are real tensors with a trailing (real, imag) axis, as in
engine.fft: x, k0: (N, H, W, 2). The CNNs see the same data as two channels, (N, 2, H, W).
The sampling mask is (N, H, W) (or anything broadcastable to it, e.g. (N, 1, W) for Cartesian
lines), 1 where k-space was measured.

Data consistency (DC)
---------------------
A network proposes an image x_cnn; its k-space k = F x_cnn is then corrected where measurements
k0 exist. With measurement noise of level sigma and a weight lam ~ 1/sigma^2 the closed-form
minimiser of  lam ||M (k - k0)||^2 + ||k - F x_cnn||^2  is, pointwise in k-space,

    k_dc[j] = k[j]                              if j not sampled
    k_dc[j] = (k[j] + lam k0[j]) / (1 + lam)    if j sampled

    x_dc = F^H k_dc.

Noiseless data (lam -> infinity) give the *hard* DC  k_dc = (1 - M) k + M k0, a projection onto
the set of images consistent with the measurements (applying it twice changes nothing). The
*soft* DC learns lam; we write it with w = lam / (1 + lam) in (0, 1), w = sigmoid(a), a learnable,
so that k_dc = k + w M (k0 - k) and w can never leave its range.

The gradient of x_dc with respect to x_cnn is F^H (1 - w M) F (self-adjoint), computed by the
engine from fft2c / ifft2c's own backward passes.

DC-CNN (a deep cascade)
-----------------------
    x_0 = zero-filled image F^H k0
    x_{c+1} = DC(x_c + CNN_c(x_c))          c = 0 .. n_cascades - 1

Each CNN_c is n_convs 3x3 convolutions (2 -> nf -> ... -> nf -> 2, ReLU between) with a residual
connection. The cascade is an unrolled iterative reconstruction: FISTA for compressed sensing
alternates the same DC step with a TV denoiser (models/classical_reconstruction.py); DC-CNN learns
the denoisers. ``shared=True`` uses one CNN for every cascade (fewer parameters, like a fixed
iteration); the paper uses separate weights (the default).
"""

from __future__ import annotations

import math

import engine
from engine import nn
from engine.fft import fft2c, ifft2c
from engine.nn.module import Module
from engine.ops.activation import sigmoid
from engine.tensor import Parameter, Tensor, as_tensor

__all__ = ["DataConsistency", "DCCNN", "CascadeCNN", "to_channels", "to_complex", "pack_inputs", "unpack_inputs"]


def to_channels(x: Tensor) -> Tensor:
    """(N, ..., H, W, 2) complex layout -> (N, 2, ..., H, W) channels (real, imag)."""
    order = (0, x.ndim - 1) + tuple(range(1, x.ndim - 1))
    return x.permute(*order)


def to_complex(x: Tensor) -> Tensor:
    """(N, 2, ..., H, W) channels -> (N, ..., H, W, 2) complex layout (the inverse of to_channels)."""
    order = (0,) + tuple(range(2, x.ndim)) + (1,)
    return x.permute(*order)


def _mask_for(mask: Tensor, k: Tensor) -> Tensor:
    """Mask (..., H, W) -> (..., H, W, 1) of k's dtype, so that it broadcasts over (real, imag)."""
    mask = as_tensor(mask, like=k)
    if mask.dtype != k.dtype:
        mask = Tensor(mask.data.astype(k.dtype))
    return mask.unsqueeze(-1)


class DataConsistency(Module):
    """k_dc = k + w M (k0 - k) with k = F x; returns F^H k_dc.   Hard: w = 1.  Soft: w = sigmoid(a), learnable.

    DataConsistency(mode="hard" | "soft", lam=None)
        lam: the initial noise weight lam of the soft version (w = lam / (1 + lam)); default 10 (w ~ 0.91).
    forward(x, k0, mask): x, k0 (N, H, W, 2) (any leading axes); mask broadcastable to (N, H, W).
    """

    def __init__(self, mode: str = "hard", lam: float | None = None):
        super().__init__()
        if mode not in ("hard", "soft"):
            raise ValueError(f"DataConsistency: mode must be 'hard' or 'soft', got {mode!r}")
        self.mode = mode
        if mode == "soft":
            lam = 10.0 if lam is None else float(lam)
            if not lam > 0:
                raise ValueError(f"DataConsistency: lam must be positive, got {lam}")
            # w = lam / (1 + lam) = sigmoid(log lam), so the logit a starts at log(lam)
            self.logit = Parameter(engine.tensor([math.log(lam)]))
        elif lam is not None:
            raise ValueError("DataConsistency: lam applies to mode='soft' only")

    @property
    def weight(self) -> Tensor | float:
        """w: 1 for hard DC, sigmoid(logit) = lam / (1 + lam) for soft DC."""
        return 1.0 if self.mode == "hard" else sigmoid(self.logit)

    def forward(self, x, k0, mask):
        if x.shape != k0.shape or x.shape[-1] != 2:
            raise ValueError(f"DataConsistency: image {tuple(x.shape)} and k-space {tuple(k0.shape)} must have "
                             f"the same shape (..., H, W, 2)")
        k = fft2c(x)
        m = _mask_for(mask, k)
        return ifft2c(k + (m * self.weight) * (k0 - k))

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class CascadeCNN(Module):
    """One cascade's denoiser: n_convs 3x3 convolutions 2 -> nf -> ... -> 2 with ReLU, plus the input (residual).

    forward(x): (N, 2, H, W) -> (N, 2, H, W). Works on (N, 2, D, H, W) with dims=3.
    """

    def __init__(self, nf: int = 32, n_convs: int = 5, dims: int = 2):
        super().__init__()
        if n_convs < 2:
            raise ValueError(f"CascadeCNN: n_convs must be at least 2, got {n_convs}")
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        layers = [conv(2, nf, 3, padding=1), nn.ReLU()]
        for _ in range(n_convs - 2):
            layers += [conv(nf, nf, 3, padding=1), nn.ReLU()]
        layers.append(conv(nf, 2, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.body(x)


class DCCNN(Module):
    """Deep cascade of CNNs with data consistency (Schlemper et al. 2018) for 2-D single-coil MRI.

    DCCNN(n_cascades=5, nf=32, n_convs=5, dc="hard", shared=False)
    forward(x, k0=None, mask=None)
        x: zero-filled image (N, H, W, 2); k0: measured k-space (N, H, W, 2) (zero where not sampled);
        mask: (N, H, W) or broadcastable. Returns the reconstructed complex image (N, H, W, 2).
        With k0 omitted, x is the packed single array (N, 5, H, W) of ``pack_inputs`` (for trainers
        that pass one input array).
    """

    def __init__(self, n_cascades: int = 5, nf: int = 32, n_convs: int = 5, dc: str = "hard", shared: bool = False):
        super().__init__()
        if n_cascades < 1:
            raise ValueError(f"DCCNN: n_cascades must be at least 1, got {n_cascades}")
        self.n_cascades, self.shared = int(n_cascades), bool(shared)
        n_nets = 1 if shared else self.n_cascades
        self.cnns = nn.ModuleList([CascadeCNN(nf, n_convs) for _ in range(n_nets)])
        self.dcs = nn.ModuleList([DataConsistency(dc) for _ in range(self.n_cascades)])

    def forward(self, x, k0=None, mask=None):
        if k0 is None:
            x, k0, mask = unpack_inputs(x)
        for c in range(self.n_cascades):
            cnn = self.cnns[0 if self.shared else c]
            x = self.dcs[c](to_complex(cnn(to_channels(x))), k0, mask)
        return x

    def extra_repr(self) -> str:
        return f"n_cascades={self.n_cascades}, shared={self.shared}"


def pack_inputs(image, kspace, mask):
    """One float array (N, 5, ..., H, W) = [Re x, Im x, Re k0, Im k0, mask] from NumPy arrays:
    image, kspace complex (N, ..., H, W) and mask (N, ..., H, W) (or broadcastable to it)."""
    import numpy as np

    image, kspace = np.asarray(image), np.asarray(kspace)
    mask = np.broadcast_to(np.asarray(mask, dtype=np.float32), image.shape)
    parts = [image.real, image.imag, kspace.real, kspace.imag, mask]
    return np.stack(parts, axis=1).astype(np.float32)


def unpack_inputs(packed: Tensor):
    """The inverse of pack_inputs on a Tensor (N, 5, ..., H, W):
    returns zero-filled image (N, ..., H, W, 2), k0 (N, ..., H, W, 2) and mask (N, ..., H, W)."""
    if packed.ndim < 4 or packed.shape[1] != 5:
        raise ValueError(f"unpack_inputs: expected packed inputs (N, 5, ..., H, W), got {tuple(packed.shape)}")
    x = to_complex(packed[:, 0:2])
    k0 = to_complex(packed[:, 2:4])
    return x, k0, packed[:, 4]
