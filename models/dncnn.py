"""DnCNN: a deep residual denoiser with batch normalisation (Zhang et al., "Beyond a Gaussian denoiser:
residual learning of deep CNN for image denoising", IEEE TIP 26:3142-3155, 2017).

Residual learning. A noisy image is y = x + v. Instead of mapping y to the clean x, the network
R learns the noise v, and the estimate is

    x_hat = y - R(y),        trained with  || R(y) - (y - x) ||^2  (the same as || x_hat - x ||^2).

Near the identity map the residual is small and zero-mean, which (with batch normalisation) makes a
17-layer plain CNN train quickly; the paper's argument is that the two help each other.

Layers (depth D, width w, 3x3 convolutions, padding 1 so the size is kept):

    conv(c -> w) - ReLU,   (D - 2) x [conv(w -> w, no bias) - BatchNorm - ReLU],   conv(w -> c)

D = 17 and w = 64 for Gaussian denoising at a known noise level in the paper (receptive field
35 x 35). 2D or 3D (``dims``). Input and output (N, c, *S), any S.

``identity_init=True`` sets the last convolution to zero, so the untrained network is the identity
(x_hat = y) and training starts from "no denoising" instead of from random noise subtracted from
the image; with short training budgets this matters (the paper's initialisation is the default).
"""

from __future__ import annotations

from engine import nn
from models._layers import layers

__all__ = ["DnCNN"]


class DnCNN(nn.Module):
    """DnCNN(in_channels=1, depth=17, width=64, dims=2, identity_init=False): y (N, c, *S) -> x_hat = y - R(y).

    ``residual(y)`` returns R(y), the predicted noise.
    """

    def __init__(self, in_channels: int = 1, depth: int = 17, width: int = 64, dims: int = 2,
                 identity_init: bool = False):
        super().__init__()
        if not isinstance(depth, int) or depth < 2:
            raise ValueError(f"DnCNN: depth must be an integer >= 2 (first and last convolutions), got {depth!r}")
        if not isinstance(width, int) or width < 1 or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"DnCNN: in_channels and width must be positive integers, got {in_channels!r}, "
                             f"{width!r}")
        Conv, BatchNorm = layers(dims)[:2]
        body = [Conv(in_channels, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 2):
            # no bias: the batch norm's shift plays its part
            body += [Conv(width, width, 3, padding=1, bias=False), BatchNorm(width), nn.ReLU()]
        body.append(Conv(width, in_channels, 3, padding=1))
        if identity_init:
            body[-1].weight.data[...] = 0
            body[-1].bias.data[...] = 0
        self.body = nn.Sequential(*body)
        self.depth, self.dims = depth, dims

    def residual(self, y):
        """R(y): the noise the network sees in y, (N, c, *S)."""
        return self.body(y)

    def forward(self, y):
        return y - self.body(y)
