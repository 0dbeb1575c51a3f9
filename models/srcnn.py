"""Super-resolution networks: SRCNN (Dong et al., "Image super-resolution using deep convolutional
networks", IEEE TPAMI 38:295-307, 2016) and ESPCN (Shi et al., "Real-time single image and video
super-resolution using an efficient sub-pixel convolutional neural network", CVPR 2016).

SRCNN works on the *interpolated* image: the low-resolution input is first upsampled to the target
grid (bicubic), and three convolutions do patch extraction, non-linear mapping and reconstruction:

    conv f1 x f1 (c -> n1) - ReLU - conv f2 x f2 (n1 -> n2) - ReLU - conv f3 x f3 (n2 -> c)

(the paper's 9-1-5 and 9-5-5 networks with n1 = 64, n2 = 32). We pad every convolution so the output
has the input's size (the paper used unpadded convolutions and a smaller target); with
``residual=True`` the network predicts a correction to its input (x + f(x), as VDSR does), which
trains faster from a bicubic start; ``residual=True`` also sets the last convolution to zero, so
the untrained network returns its (bicubic) input.

ESPCN works at the *low* resolution and upsamples only at the end, with a sub-pixel convolution:
the last convolution makes c r^2 channels and ``pixel_shuffle`` arranges them as r x r blocks:

    conv 5x5 (c -> 64) - tanh - conv 3x3 (64 -> 32) - tanh - conv 3x3 (32 -> c r^2) - pixel_shuffle(r)

Every convolution runs on r^2 fewer pixels than SRCNN's, which is where its speed comes from, and the
upsampling filter is learned instead of fixed. Both map 2D images; SRCNN also accepts an input
interpolated along one axis only (through-plane super-resolution of thick slices), ESPCN's
pixel shuffle is isotropic.
"""

from __future__ import annotations

from engine import nn
from engine.ops.activation import relu, tanh

__all__ = ["SRCNN", "ESPCN"]


def _positive(name, value, fn):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{fn}: {name} must be a positive integer, got {value!r}")


class SRCNN(nn.Module):
    """SRCNN(in_channels=1, n1=64, n2=32, f1=9, f2=5, f3=5, residual=False):
    interpolated x (N, c, H, W) -> (N, c, H, W). Kernel sizes must be odd (same padding)."""

    def __init__(self, in_channels: int = 1, n1: int = 64, n2: int = 32, f1: int = 9, f2: int = 5, f3: int = 5,
                 residual: bool = False):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("n1", n1), ("n2", n2), ("f1", f1), ("f2", f2), ("f3", f3)):
            _positive(name, v, "SRCNN")
        if any(f % 2 == 0 for f in (f1, f2, f3)):
            raise ValueError(f"SRCNN: kernel sizes must be odd for same padding, got {f1}, {f2}, {f3}")
        self.extract = nn.Conv2d(in_channels, n1, f1, padding=f1 // 2)
        self.map = nn.Conv2d(n1, n2, f2, padding=f2 // 2)
        self.reconstruct = nn.Conv2d(n2, in_channels, f3, padding=f3 // 2)
        self.residual = residual
        if residual:  # start from the identity: the network's first answer is the bicubic image
            self.reconstruct.weight.data[...] = 0
            self.reconstruct.bias.data[...] = 0

    def forward(self, x):
        y = self.reconstruct(relu(self.map(relu(self.extract(x)))))
        return x + y if self.residual else y


class ESPCN(nn.Module):
    """ESPCN(scale, in_channels=1, n1=64, n2=32): low-resolution x (N, c, H, W) -> (N, c, H r, W r)."""

    def __init__(self, scale: int, in_channels: int = 1, n1: int = 64, n2: int = 32):
        super().__init__()
        for name, v in (("scale", scale), ("in_channels", in_channels), ("n1", n1), ("n2", n2)):
            _positive(name, v, "ESPCN")
        self.scale = scale
        self.conv1 = nn.Conv2d(in_channels, n1, 5, padding=2)
        self.conv2 = nn.Conv2d(n1, n2, 3, padding=1)
        self.conv3 = nn.Conv2d(n2, in_channels * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.shuffle(self.conv3(tanh(self.conv2(tanh(self.conv1(x))))))
