"""RED-CNN: a residual encoder-decoder CNN for low-dose CT (Chen et al., "Low-dose CT with a residual
encoder-decoder convolutional neural network", IEEE TMI 36:2524-2535, 2017).

Five 5x5 convolutions without padding shrink the image by 4 pixels each (the encoder); five 5x5
transposed convolutions grow it back (the decoder). Three shortcuts add earlier maps to later ones,
so the decoder only has to restore what the encoder lost, and the whole network learns a residual
of its input:

    x ---------------------------------------------------------------------------------(+)-> ReLU -> out
    '-> conv1 -> ReLU -> conv2 -> ReLU --------------------------------------(+) -> ReLU -> deconv4 -> ReLU -> deconv5
                               '-> conv3 -> ReLU -> conv4 -> ReLU -(+) -> ReLU -> deconv2 -> ReLU -> deconv3
                                                          '-> conv5 -> ReLU -> deconv1

(each (+) adds the shortcut before the ReLU that follows it). No pooling: downsampling would throw
away the fine detail that the radiologist needs. The paper uses 96 filters per layer and trains on
55x55 patches; input and output sizes are equal (any size of at least 21 pixels).
"""

from __future__ import annotations

from engine import nn
from engine.ops.activation import relu

__all__ = ["REDCNN"]


class REDCNN(nn.Module):
    """REDCNN(in_channels=1, width=96): x (N, c, H, W) -> restored (N, c, H, W), H, W >= 21."""

    def __init__(self, in_channels: int = 1, width: int = 96):
        super().__init__()
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"REDCNN: width must be a positive integer, got {width!r}")
        self.encoder = nn.ModuleList([nn.Conv2d(in_channels if i == 0 else width, width, 5) for i in range(5)])
        self.decoder = nn.ModuleList(
            [nn.ConvTranspose2d(width, in_channels if i == 4 else width, 5) for i in range(5)])

    def forward(self, x):
        if x.ndim != 4 or min(x.shape[2:]) < 21:
            raise ValueError(f"REDCNN: expected (N, C, H, W) with H, W >= 21 (five unpadded 5x5 convolutions), "
                             f"got {tuple(x.shape)}")
        c1, c2, c3, c4, c5 = self.encoder
        d1, d2, d3, d4, d5 = self.decoder
        h = relu(c2(relu(c1(x))))
        skip2 = h
        h = relu(c4(relu(c3(h))))
        skip4 = h
        h = relu(c5(h))
        h = relu(d1(h) + skip4)
        h = relu(d3(relu(d2(h))) + skip2)
        return relu(d5(relu(d4(h))) + x)
