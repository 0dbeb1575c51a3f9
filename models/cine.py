"""Networks for cardiac cine: ejection fraction and the end-diastolic / end-systolic frames from one
cycle of short-axis images, with three ways of handling time.

Every model reads a cine ``(N, T, 1, H, W)`` and returns one tensor ``(N, 1 + 2T)``: column 0 is
the ejection fraction's logit (EF = sigmoid of it, in [0, 1]), columns 1..T score each frame as
end-diastole (ED) and columns T+1..2T as end-systole (ES); a softmax over the T frames gives the
probability that a frame is ED or ES (``split_outputs``). One packed tensor keeps the engine's
Trainer, which moves single outputs, unchanged.

* ``temporal="pool"`` - a frame-wise CNN: every frame is encoded independently (one batched conv
  call over all N*T frames), frames are scored from their own features, and EF is regressed from the
  features pooled over time (mean, max and min: the largest and smallest cavity live in max/min).
* ``temporal="lstm"`` - the same frame encoder, then a bidirectional LSTM over the T feature
  vectors, so each frame's score sees the whole cycle (Kong et al. 2016 and Xue et al. 2018 used such
  CNN+RNN pairs for ED/ES detection and cardiac indices).
* ``temporal="convlstm"`` - a convolutional stem, then a ConvLSTM (Shi et al. 2015) that keeps the
  spatial layout while it reads the frames; its hidden maps are averaged in space per frame.
"""

from __future__ import annotations

import engine
from engine import nn

TEMPORAL = ("pool", "lstm", "convlstm")


def _stem(width: int):
    """(M, 1, H, W) -> (M, 2w, H/4, W/4): two conv-BN-ReLU-maxpool blocks."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
    )


def split_outputs(out):
    """(N, 1 + 2T) -> (EF logit (N,), ED frame logits (N, T), ES frame logits (N, T)); Tensors or arrays."""
    t = (out.shape[1] - 1) // 2
    return out[:, 0], out[:, 1:1 + t], out[:, 1 + t:]


class CineNet(nn.Module):
    """(N, T, 1, H, W) -> (N, 1 + 2T); H and W divisible by 4. See the module docstring."""

    def __init__(self, temporal: str = "lstm", width: int = 16, hidden_size: int = 32):
        super().__init__()
        if temporal not in TEMPORAL:
            raise ValueError(f"CineNet: temporal must be one of {', '.join(TEMPORAL)}, got {temporal!r}")
        self.temporal = temporal
        self.stem = _stem(width)
        if temporal == "convlstm":
            self.rnn = nn.ConvLSTM(2 * width, hidden_size, 3, batch_first=True)
            features = hidden_size
        else:
            self.head_conv = nn.Sequential(nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.BatchNorm2d(4 * width),
                                           nn.ReLU())
            features = 4 * width
            if temporal == "lstm":
                self.rnn = nn.LSTM(features, hidden_size, batch_first=True, bidirectional=True)
                features = 2 * hidden_size
        self.frame_scores = nn.Linear(features, 2)  # ED and ES score of each frame
        self.ef = nn.Linear(3 * features, 1)  # from [mean, max, min] over time

    def forward(self, x):
        if x.ndim != 5 or x.shape[2] != 1 or x.shape[3] % 4 or x.shape[4] % 4:
            raise ValueError(f"CineNet: expected cines (N, T, 1, H, W) with H and W divisible by 4, got shape "
                             f"{tuple(x.shape)}")
        n, t = x.shape[:2]
        maps = self.stem(x.reshape(n * t, *x.shape[2:]))  # all frames in one batched call
        if self.temporal == "convlstm":
            seq, _ = self.rnn(maps.reshape(n, t, *maps.shape[1:]))
            feats = seq.mean((3, 4))  # (N, T, hidden)
        else:
            feats = self.head_conv(maps).mean((2, 3)).reshape(n, t, -1)  # (N, T, F)
            if self.temporal == "lstm":
                feats, _ = self.rnn(feats)
        scores = self.frame_scores(feats)  # (N, T, 2)
        pooled = engine.cat([feats.mean(1), feats.max(1), feats.min(1)], 1)
        return engine.cat([self.ef(pooled), scores[:, :, 0], scores[:, :, 1]], 1)
