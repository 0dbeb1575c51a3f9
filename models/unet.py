"""U-Net (2D and 3D) and a plain fully convolutional network (FCN) without skips.

U-Net (Ronneberger et al., MICCAI 2015; 3D: Cicek et al., MICCAI 2016). An encoder halves the
resolution ``depth - 1`` times while doubling the channels; a decoder doubles it back. At every
level the decoder concatenates the encoder's feature map of the same resolution (the *skip
connection*), so fine, local detail (where exactly the boundary lies) meets coarse, contextual
information (what the structure is):

    level 0:  x -> [block w]  ------------------------------ concat -> [block w]  -> 1x1 conv -> logits
    level 1:        pool -> [block 2w] ------------ concat -> [block 2w] -> up
    ...                                                       ^
    level d-1:              pool -> [block 2^(d-1) w] (bottleneck) -> up

A block is (conv 3x3 - norm - ReLU) twice, with ``padding=1`` so that the output has the input's
size (the 2015 paper used unpadded convolutions and cropped the skips; padded convolutions are what
MONAI and nnU-Net use). ``up="transpose"`` upsamples with a 2x2 transposed convolution of stride 2
(c -> c/2 channels, as in the paper); ``up="upsample"`` with bilinear/trilinear interpolation
followed by a 3x3 convolution (c -> c/2), which avoids checkerboard artefacts (Odena et al. 2016).

FCN (Long et al., CVPR 2015, the "FCN-32s" idea): the same encoder, a 1x1 convolution to class
scores at the coarsest level, and interpolation back to the input size. No skip connections: it sees
the same context but must recover boundaries from a map 2^(depth-1) times coarser, which is what
the skips of the U-Net buy back (the lesson in notebooks/08_segmentation.ipynb).

Parameter counts (2D, in_channels=1, out_channels=2, norm="batch", up="transpose"):
  U-Net depth 4, width 16: 482,466    depth 5, width 64 (the 2015 paper's size): 31,036,546
  FCN depth 4, width 16: 293,970       U-Net 3D, depth 3, width 8: 85,186
Input sizes must be divisible by 2^(depth-1) (sliding-window inference uses such patches).

Both networks map (N, in_channels, *spatial) to logits (N, out_channels, *spatial); they apply no
final activation (softmax/sigmoid live in the loss), so a pix2pix generator can add its own tanh.
"""

from __future__ import annotations

import engine
from engine import nn

NORMS = ("batch", "instance", "group", "none")
UPS = ("transpose", "upsample")


def _dims_layers(dims: int):
    if dims == 2:
        return nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d, "bilinear"
    if dims == 3:
        return nn.Conv3d, nn.ConvTranspose3d, nn.MaxPool3d, "trilinear"
    raise ValueError(f"dims must be 2 (images) or 3 (volumes), got {dims!r}")


def norm_layer(norm: str, channels: int, dims: int):
    """The normalisation layer for ``channels`` feature maps: batch, instance (affine), group
    (8 groups, or fewer when ``channels`` is small) or none (Identity)."""
    if norm == "batch":
        return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(channels)
    if norm == "instance":
        return (nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d)(channels, affine=True)
    if norm == "group":
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


class ConvBlock(nn.Sequential):
    """(conv 3x3 - norm - ReLU) x 2, then dropout when p > 0: (N, c_in, *S) -> (N, c_out, *S).

    The convolutions have no bias when a normalisation follows (its shift makes the bias redundant).
    """

    def __init__(self, c_in: int, c_out: int, dims: int, norm: str = "batch", dropout: float = 0.0):
        Conv = _dims_layers(dims)[0]
        bias = norm == "none"
        layers = [Conv(c_in, c_out, 3, padding=1, bias=bias), norm_layer(norm, c_out, dims), nn.ReLU(),
                  Conv(c_out, c_out, 3, padding=1, bias=bias), norm_layer(norm, c_out, dims), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


def _check(in_channels, out_channels, depth, width, norm, dropout, up=None):
    for name, v in (("in_channels", in_channels), ("out_channels", out_channels), ("width", width)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth (number of resolution levels) must be an integer >= 1, got {depth!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
    if up is not None and up not in UPS:
        raise ValueError(f"up must be one of {UPS}, got {up!r}")


class _Encoder(nn.Module):
    """Blocks of width, 2 width, ... 2^(depth-1) width, each after a 2x max-pool but the first."""

    def __init__(self, in_channels, depth, width, dims, norm, dropout):
        super().__init__()
        Pool = _dims_layers(dims)[2]
        self.pool = Pool(2)
        chans = [width * 2**i for i in range(depth)]
        self.channels = chans
        self.blocks = nn.ModuleList(
            [ConvBlock(in_channels if i == 0 else chans[i - 1], c, dims, norm, dropout) for i, c in enumerate(chans)])

    def forward(self, x):
        features = []
        for i, block in enumerate(self.blocks):
            x = block(x if i == 0 else self.pool(x))
            features.append(x)
        return features


def _check_input(name, x, dims, depth, in_channels):
    if x.ndim != dims + 2 or x.shape[1] != in_channels:
        raise ValueError(f"{name}: expected input (N, {in_channels}, {', '.join('S' * dims)}) for a {dims}D "
                         f"network, got shape {tuple(x.shape)}")
    factor = 2 ** (depth - 1)
    if any(s % factor for s in x.shape[2:]):
        raise ValueError(f"{name}: spatial size {tuple(x.shape[2:])} must be divisible by 2^(depth-1) = {factor} "
                         f"(pad the input or use patches of such a size)")


class UNet(nn.Module):
    """U-Net: x (N, in_channels, *S) -> logits (N, out_channels, *S), S divisible by 2^(depth-1).

    in_channels, out_channels: input channels and classes (or output channels);
    dims: 2 (images) or 3 (volumes); depth: number of resolution levels (depth - 1 poolings);
    width: channels at the first level (doubled per level); norm: 'batch', 'instance', 'group' or
    'none'; dropout: probability after every block (0 disables); up: 'transpose' or 'upsample'.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 2, dims: int = 2, depth: int = 4,
                 width: int = 16, norm: str = "batch", dropout: float = 0.0, up: str = "transpose"):
        super().__init__()
        _check(in_channels, out_channels, depth, width, norm, dropout, up)
        Conv, ConvT, _, mode = _dims_layers(dims)
        self.in_channels, self.out_channels, self.dims, self.depth = in_channels, out_channels, dims, depth
        self.encoder = _Encoder(in_channels, depth, width, dims, norm, dropout)
        chans = self.encoder.channels
        ups, blocks = [], []
        for i in range(depth - 1, 0, -1):  # from the bottleneck up: level i -> level i - 1
            c, c_half = chans[i], chans[i - 1]
            if up == "transpose":
                ups.append(ConvT(c, c_half, 2, stride=2))
            else:
                ups.append(nn.Sequential(nn.Upsample(scale_factor=2, mode=mode), Conv(c, c_half, 3, padding=1)))
            blocks.append(ConvBlock(2 * c_half, c_half, dims, norm, dropout))  # after the concatenation
        self.ups = nn.ModuleList(ups)
        self.decoder = nn.ModuleList(blocks)
        self.head = Conv(chans[0], out_channels, 1)

    def forward(self, x):
        _check_input("UNet", x, self.dims, self.depth, self.in_channels)
        features = self.encoder(x)
        y = features[-1]
        for up, block, skip in zip(self.ups, self.decoder, reversed(features[:-1])):
            y = block(engine.cat([up(y), skip], dim=1))  # the skip connection
        return self.head(y)


class FCN(nn.Module):
    """Encoder + 1x1 class scores at the coarsest level + interpolation to the input size (no skips).

    Same arguments as UNet (without ``up``): x (N, in_channels, *S) -> logits (N, out_channels, *S).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 2, dims: int = 2, depth: int = 4,
                 width: int = 16, norm: str = "batch", dropout: float = 0.0):
        super().__init__()
        _check(in_channels, out_channels, depth, width, norm, dropout)
        Conv, _, _, mode = _dims_layers(dims)
        self.in_channels, self.out_channels, self.dims, self.depth = in_channels, out_channels, dims, depth
        self.encoder = _Encoder(in_channels, depth, width, dims, norm, dropout)
        self.head = Conv(self.encoder.channels[-1], out_channels, 1)
        self.mode = mode

    def forward(self, x):
        _check_input("FCN", x, self.dims, self.depth, self.in_channels)
        scores = self.head(self.encoder(x)[-1])
        if self.depth == 1:
            return scores
        return nn.functional.interpolate(scores, size=tuple(x.shape[2:]), mode=self.mode, align_corners=False)


def receptive_field(depth: int) -> int:
    """Receptive field (pixels along one axis) of a centre output voxel of the U-Net/FCN encoder.

    Each 3x3 convolution at level l (stride 2^l) adds 2 * 2^l; each 2x pooling entering level l
    adds 2^(l-1). With two convolutions per level: r = 1 + sum_l 4 * 2^l + sum_{l>=1} 2^(l-1)
    (for the U-Net the decoder's convolutions add more; this is the encoder's, the FCN's field).
    """
    r = 1
    for level in range(depth):
        if level > 0:
            r += 2 ** (level - 1)
        r += 2 * 2 * 2**level
    return r
