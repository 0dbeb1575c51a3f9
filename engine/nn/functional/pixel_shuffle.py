"""Sub-pixel rearrangement: ``pixel_shuffle`` and its inverse ``pixel_unshuffle`` (PyTorch names).

ESPCN (Shi et al., "Real-time single image and video super-resolution using an efficient sub-pixel
convolutional neural network", CVPR 2016) upsamples by r without any interpolation: a convolution
at the low resolution produces C r^2 channels, and ``pixel_shuffle`` lays each group of r^2
channels out as an r x r block of neighbouring pixels:

    y[n, c, h r + i, w r + j] = x[n, c r^2 + i r + j, h, w],   0 <= i, j < r

    channels of x (r = 2)          one output block
    [c*4 + 0] [c*4 + 1]      ->    a b       a = x[c*4+0][h, w], b = x[c*4+1][h, w]
    [c*4 + 2] [c*4 + 3]            c d       c = x[c*4+2][h, w], d = x[c*4+3][h, w]

In array terms: reshape (N, C, r, r, H, W), move the two r axes next to H and W
((N, C, H, r, W, r)) and merge them. ``pixel_unshuffle`` does the reverse (space-to-depth).

Both are permutations of the elements, so each is the other's derivative: the gradient of a
shuffle is the unshuffle of the upstream gradient (dL/dx = pixel_unshuffle(dL/dy, r)), and the
gradient of an unshuffle is a shuffle. Written that way, the backward is itself an engine op and
second derivatives come for free.

Leading axes are batch axes, as in PyTorch: x is (*, C r^2, H, W) with at least 3 dimensions.
"""

from __future__ import annotations

from engine.autograd import Function

__all__ = ["pixel_shuffle", "pixel_unshuffle"]


def _shuffle(x, r: int):
    """(*, C r^2, H, W) -> (*, C, H r, W r) on raw arrays."""
    *lead, c, h, w = x.shape
    k = len(lead)
    blocks = x.reshape(*lead, c // (r * r), r, r, h, w)
    # axes (..., C, i, j, H, W) -> (..., C, H, i, W, j)
    order = tuple(range(k)) + (k, k + 3, k + 1, k + 4, k + 2)
    return blocks.transpose(order).reshape(*lead, c // (r * r), h * r, w * r)


def _unshuffle(x, r: int):
    """(*, C, H r, W r) -> (*, C r^2, H, W) on raw arrays."""
    *lead, c, hr, wr = x.shape
    k = len(lead)
    h, w = hr // r, wr // r
    blocks = x.reshape(*lead, c, h, r, w, r)
    # axes (..., C, H, i, W, j) -> (..., C, i, j, H, W)
    order = tuple(range(k)) + (k, k + 2, k + 4, k + 1, k + 3)
    return blocks.transpose(order).reshape(*lead, c * r * r, h, w)


class PixelShuffle(Function):
    """y[..., c, h r + i, w r + j] = x[..., c r^2 + i r + j, h, w]:  (*, C r^2, H, W) -> (*, C, H r, W r).

    A permutation of the elements, so dL/dx = pixel_unshuffle(dL/dy, r).
    """

    def __init__(self, r: int):
        self.r = r

    def forward(self, x):
        return _shuffle(x, self.r)

    def backward(self, gy):
        return PixelUnshuffle(self.r)(gy)

    def backward_arrays(self, gy):
        return _unshuffle(gy, self.r)


class PixelUnshuffle(Function):
    """y[..., c r^2 + i r + j, h, w] = x[..., c, h r + i, w r + j]:  (*, C, H r, W r) -> (*, C r^2, H, W).

    The inverse permutation of PixelShuffle, so dL/dx = pixel_shuffle(dL/dy, r).
    """

    def __init__(self, r: int):
        self.r = r

    def forward(self, x):
        return _unshuffle(x, self.r)

    def backward(self, gy):
        return PixelShuffle(self.r)(gy)

    def backward_arrays(self, gy):
        return _shuffle(gy, self.r)


def _check_factor(fn: str, name: str, r) -> int:
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ValueError(f"{fn}: {name} must be a positive integer, got {r!r}")
    return r


def pixel_shuffle(input, upscale_factor: int):
    """Rearrange (*, C r^2, H, W) into (*, C, H r, W r), r = upscale_factor (depth-to-space).

    As torch.nn.functional.pixel_shuffle. Raises ValueError when the input has fewer than 3
    dimensions or its channels are not divisible by r^2.
    """
    r = _check_factor("pixel_shuffle", "upscale_factor", upscale_factor)
    shape = tuple(input.shape)
    if len(shape) < 3:
        raise ValueError(f"pixel_shuffle: expected an input of shape (*, C, H, W) with at least 3 dimensions, "
                         f"got {shape}")
    if shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: the channels ({shape[-3]}, input shape {shape}) must be divisible by "
                         f"upscale_factor^2 = {r * r}")
    return PixelShuffle(r)(input)


def pixel_unshuffle(input, downscale_factor: int):
    """Rearrange (*, C, H r, W r) into (*, C r^2, H, W), r = downscale_factor (space-to-depth).

    As torch.nn.functional.pixel_unshuffle. Raises ValueError when the input has fewer than 3
    dimensions or its height or width is not divisible by r.
    """
    r = _check_factor("pixel_unshuffle", "downscale_factor", downscale_factor)
    shape = tuple(input.shape)
    if len(shape) < 3:
        raise ValueError(f"pixel_unshuffle: expected an input of shape (*, C, H, W) with at least 3 dimensions, "
                         f"got {shape}")
    if shape[-2] % r or shape[-1] % r:
        raise ValueError(f"pixel_unshuffle: the height and width {shape[-2:]} (input shape {shape}) must be "
                         f"divisible by downscale_factor = {r}")
    return PixelUnshuffle(r)(input)
