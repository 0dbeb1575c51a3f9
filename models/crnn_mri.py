"""CRNN-MRI: convolutional recurrent networks for dynamic (cine) MRI reconstruction.

Qin, Schlemper, Caballero, Price, Hajnal and Rueckert, "Convolutional Recurrent Neural Networks for
Dynamic MR Image Reconstruction", IEEE TMI 38:280-290 (2019).

A cine acquisition measures T frames of a moving heart, each frame undersampled with its own mask.
What one frame misses, a neighbouring frame often measured: the heart moves little between frames.
CRNN-MRI exploits this twice with recurrence:

* over **time**: a bidirectional convolutional recurrent layer (BCRNN) reads the frames forwards and
  backwards, so every frame's features see every other frame;
* over **iterations**: the reconstruction is an unrolled iterative algorithm (like DC-CNN and FISTA:
  denoise, then enforce data consistency), and each layer's hidden state at iteration i also feeds
  the same layer at iteration i + 1, so the network remembers what it inferred in earlier
  iterations. The weights are shared across iterations, so the parameter count does not grow with
  the number of iterations.

One iteration i (x^(i) the current estimate, frames t = 1..T; h^(i) hidden feature maps):

    BCRNN:   f_t = cell_f([x_t^(i), b_t^(i-1)], f_{t-1})        forward in time
             g_t = cell_b([x_t^(i), b_t^(i-1)], g_{t+1})        backward in time
             b_t^(i) = f_t + g_t
    CRNN-i:  h_{l,t}^(i) = cell_l(h_{l-1,t}^(i), h_{l,t}^(i-1))  recurrence over iterations, l = 1..L
    output:  x^(i+1) = DC(x^(i) + conv(h_{L}^(i)), k0, M)        residual + data consistency (models.dccnn)

Difference from the paper: its recurrent unit is a plain convolutional RNN with ReLU,
h = ReLU(W_l * input + W_t * h_{t-1} + W_i * h^(i-1)); here every unit is the engine's ConvGRUCell
(engine/nn/modules/conv_rnn.py), whose gates make long recurrences better behaved. The BCRNN's
iteration term enters the GRU as extra input channels, [x_t, b_t^(i-1)].

Layouts: x, k0 (N, T, H, W, 2) complex (engine.fft), mask (N, T, H, W) or broadcastable.
"""

from __future__ import annotations

from engine import nn
from engine.nn.module import Module
from engine.nn.modules.conv_rnn import ConvGRUCell
from engine.ops.shape import cat, stack
from engine.tensor import Tensor
from models.dccnn import DataConsistency, unpack_inputs

__all__ = ["CRNNMRI"]


class CRNNMRI(Module):
    """CRNN-MRI (Qin et al. 2019) with ConvGRU units.

    CRNNMRI(n_iter=5, nf=16, n_layers=3, kernel_size=3, dc="hard")
        n_iter: unrolled iterations (weights shared); nf: feature maps per layer;
        n_layers: CRNN-i layers after the BCRNN (recurrent over iterations only).
    forward(x, k0=None, mask=None)
        x: zero-filled frames (N, T, H, W, 2); k0 (N, T, H, W, 2); mask (N, T, H, W). Returns (N, T, H, W, 2).
        With k0 omitted, x is the packed array (N, 5, T, H, W) of models.dccnn.pack_inputs.
    """

    def __init__(self, n_iter: int = 5, nf: int = 16, n_layers: int = 3, kernel_size: int = 3, dc: str = "hard"):
        super().__init__()
        if n_iter < 1 or n_layers < 0 or nf < 1:
            raise ValueError(f"CRNNMRI: need n_iter >= 1, n_layers >= 0, nf >= 1; got {n_iter}, {n_layers}, {nf}")
        self.n_iter, self.nf = int(n_iter), int(nf)
        self.forward_cell = ConvGRUCell(2 + nf, nf, kernel_size)
        self.backward_cell = ConvGRUCell(2 + nf, nf, kernel_size)
        self.layers = nn.ModuleList([ConvGRUCell(nf, nf, kernel_size) for _ in range(n_layers)])
        self.out = nn.Conv2d(nf, 2, kernel_size, padding=kernel_size // 2)
        self.dc = DataConsistency(dc)

    def _zeros(self, like: Tensor, shape) -> Tensor:
        return Tensor(like._xp.zeros(shape, dtype=like.dtype))

    def _bcrnn(self, frames: Tensor, previous: Tensor) -> Tensor:
        """frames (T, N, 2, H, W), previous iteration's BCRNN output (T, N, nf, H, W) -> (T, N, nf, H, W)."""
        T, N, _, H, W = frames.shape
        inp = cat([frames, previous], dim=2).reshape(T * N, 2 + self.nf, H, W)
        outputs = []
        for cell in (self.forward_cell, self.backward_cell):
            gx = cell.input_part(inp).reshape(T, N, 3 * self.nf, H, W)  # all frames in one convolution
            h = self._zeros(frames, (N, self.nf, H, W))
            hs = [None] * T
            order = range(T) if cell is self.forward_cell else range(T - 1, -1, -1)
            for t in order:
                h = cell.step(gx[t], h)
                hs[t] = h
            outputs.append(stack(hs, dim=0))
        return outputs[0] + outputs[1]

    def forward(self, x, k0=None, mask=None):
        if k0 is None:
            x, k0, mask = unpack_inputs(x)
        if x.ndim != 5 or x.shape[-1] != 2:
            raise ValueError(f"CRNNMRI: expected frames (N, T, H, W, 2), got {tuple(x.shape)}")
        N, T, H, W, _ = x.shape
        bcrnn_state = self._zeros(x, (T, N, self.nf, H, W))
        layer_states = [self._zeros(x, (T * N, self.nf, H, W)) for _ in self.layers]
        for _ in range(self.n_iter):
            frames = x.permute(1, 0, 4, 2, 3)  # (T, N, 2, H, W)
            bcrnn_state = self._bcrnn(frames, bcrnn_state)
            feat = bcrnn_state.reshape(T * N, self.nf, H, W)
            for j, cell in enumerate(self.layers):  # frames batched: these recur over iterations only
                feat = cell.step(cell.input_part(feat), layer_states[j])
                layer_states[j] = feat
            residual = self.out(feat).reshape(T, N, 2, H, W).permute(1, 0, 3, 4, 2)  # (N, T, H, W, 2)
            x = self.dc(x + residual, k0, mask)
        return x

    def extra_repr(self) -> str:
        return f"n_iter={self.n_iter}, nf={self.nf}, n_layers={len(self.layers)}"
