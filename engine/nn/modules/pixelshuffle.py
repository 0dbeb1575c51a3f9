"""PixelShuffle / PixelUnshuffle layers (torch.nn names); see engine/nn/functional/pixel_shuffle.py."""

from __future__ import annotations

from engine.nn.functional.pixel_shuffle import pixel_shuffle, pixel_unshuffle
from engine.nn.module import Module
from engine.tensor import Tensor

__all__ = ["PixelShuffle", "PixelUnshuffle"]


class PixelShuffle(Module):
    """(*, C r^2, H, W) -> (*, C, H r, W r), r = upscale_factor; no parameters.

    The last layer of a sub-pixel convolution (ESPCN): a convolution at the low resolution makes
    r^2 channels per output channel, and this layer places them as r x r blocks of pixels.
    """

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r^2, H, W), r = downscale_factor: the inverse of PixelShuffle."""

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
