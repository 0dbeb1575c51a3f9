"""Convolutional recurrent layers for image sequences (cine MRI, ultrasound video, time-lapse).

A plain LSTM flattens each frame into a vector, losing the image's geometry and needing an
enormous W_ih. The ConvLSTM (Shi et al. 2015, "Convolutional LSTM Network: A Machine Learning
Approach for Precipitation Nowcasting") keeps the state as feature maps and replaces every
matrix product of the LSTM by a convolution, so each pixel's memory is updated from a local
neighbourhood of the input frame and of the previous state:

    [a_i, a_f, a_g, a_o] = W_ih * x_t + b_ih + W_hh * h_{t-1} + b_hh        (* : 2-D convolution)
    c_t = sigma(a_f) . c_{t-1} + sigma(a_i) . tanh(a_g),     h_t = sigma(a_o) . tanh(c_t)

x_t: (N, C_in, H, W); h_t, c_t: (N, C_h, H, W). The convolutions use 'same' padding, so the
state keeps the frame's size. Unlike the paper we leave out the peephole terms (W_c . c inside
the gates), as PyTorch's LSTM and most ConvLSTM implementations do.

The ConvGRU (Ballas et al. 2016, "Delving Deeper into Convolutional Networks for Learning Video
Representations") does the same to the GRU, with PyTorch's GRU equations:

    r = sigma(W_ir * x + b_ir + W_hr * h + b_hr),   z = sigma(W_iz * x + b_iz + W_hz * h + b_hz)
    n = tanh(W_in * x + b_in + r . (W_hn * h + b_hn)),   h' = (1 - z) . n + z . h

Parameters are named and laid out as the LSTM's/GRU's with convolution kernels instead of
matrices: weight_ih (G*C_h, C_in, kh, kw), weight_hh (G*C_h, C_h, kh, kw), bias_ih, bias_hh
(G*C_h,), initialised as PyTorch initialises a Conv2d, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
fan_in = channels * kh * kw. The gate maths is shared with the LSTM/GRU
(engine.nn.functional.recurrent.lstm_update / gru_update) and written with engine operations,
so these cells are differentiable twice (create_graph=True goes through the convolutions'
differentiable backward). Their cost is in the convolutions.
"""

from __future__ import annotations

import math

from engine import backend
from engine.dtypes import get_default_dtype
from engine.nn import init
from engine.nn.functional.conv import conv2d
from engine.nn.functional.recurrent import gru_update, lstm_update
from engine.nn.module import Module
from engine.nn.modules.container import ModuleList
from engine.ops.shape import split, stack
from engine.tensor import Parameter, Tensor

__all__ = ["ConvLSTMCell", "ConvGRUCell", "ConvLSTM"]


def _pair(value, name, what):
    if isinstance(value, bool):
        raise TypeError(f"{name}: {what} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        value = (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) < 1:
        raise ValueError(f"{name}: {what} must be a positive int or a pair of positive ints, got {value!r}")
    return value


class _ConvCellBase(Module):
    gates = 1

    def __init__(self, input_channels, hidden_channels, kernel_size, bias=True, *, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if input_channels <= 0 or hidden_channels <= 0:
            raise ValueError(f"{name}: input_channels and hidden_channels must be positive, got {input_channels} "
                             f"and {hidden_channels}")
        self.input_channels, self.hidden_channels = int(input_channels), int(hidden_channels)
        self.kernel_size = _pair(kernel_size, name, "kernel_size")
        self.bias = bias
        G, kh, kw = self.gates * self.hidden_channels, *self.kernel_size
        xp = backend.xp_for_device(backend.normalize_device(device))
        dtype = dtype or get_default_dtype()
        self.weight_ih = Parameter(xp.zeros((G, self.input_channels, kh, kw), dtype=dtype))
        self.weight_hh = Parameter(xp.zeros((G, self.hidden_channels, kh, kw), dtype=dtype))
        if bias:
            self.bias_ih = Parameter(xp.zeros((G,), dtype=dtype))
            self.bias_hh = Parameter(xp.zeros((G,), dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Each convolution as PyTorch's Conv2d default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        area = self.kernel_size[0] * self.kernel_size[1]
        for w, b, channels in ((self.weight_ih, self.bias_ih, self.input_channels),
                               (self.weight_hh, self.bias_hh, self.hidden_channels)):
            bound = 1.0 / math.sqrt(channels * area)
            init.uniform_(w, -bound, bound)
            if b is not None:
                init.uniform_(b, -bound, bound)

    # --- the two halves of a step, so that a sequence can do the input half for all frames at once
    def input_part(self, x):
        """W_ih * x + b_ih.  x: (N, C_in, H, W) -> (N, G*C_h, H, W)."""
        return conv2d(x, self.weight_ih, self.bias_ih, padding="same")

    def hidden_part(self, h):
        """W_hh * h + b_hh.  h: (N, C_h, H, W) -> (N, G*C_h, H, W)."""
        return conv2d(h, self.weight_hh, self.bias_hh, padding="same")

    def _check(self, input, states):
        """Check the frame (N, C_in, H, W) and the given states; returns the states (zeros for None)."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim != 4 or input.shape[1] != self.input_channels:
            raise ValueError(f"{name}: expected input of shape (N, {self.input_channels}, H, W), "
                             f"got {tuple(input.shape)}")
        return self._states(input, input.shape[0], input.shape[2:], states)

    def _states(self, like, n, size, states):
        """States (what, tensor or None) checked against (n, C_h, *size); None becomes zeros like ``like``."""
        name = type(self).__name__
        if like.dtype != self.weight_ih.dtype:
            raise TypeError(f"{name}: input has dtype {like.dtype} but the parameters are {self.weight_ih.dtype}")
        shape = (n, self.hidden_channels, *size)
        out = []
        for what, s in states:
            if s is None:
                s = Tensor(like._xp.zeros(shape, dtype=like.dtype))
            elif not isinstance(s, Tensor) or tuple(s.shape) != shape:
                got = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
                raise ValueError(f"{name}: {what} must have shape {shape}, got {got}")
            out.append(s)
        return out

    def extra_repr(self) -> str:
        s = f"{self.input_channels}, {self.hidden_channels}, kernel_size={self.kernel_size}"
        return s if self.bias is True else s + f", bias={self.bias}"


class ConvLSTMCell(_ConvCellBase):
    """One ConvLSTM step (Shi et al. 2015, without peepholes): gates i, f, g, o from convolutions.

    input: (N, C_in, H, W);  hx: (h, c), each (N, C_h, H, W), zeros when omitted.
    Returns (h', c'), each (N, C_h, H, W).
    """

    gates = 4

    def forward(self, input, hx=None):
        if hx is None:
            hx = (None, None)
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"ConvLSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
        h, c = self._check(input, [("h", hx[0]), ("c", hx[1])])
        return self.step(self.input_part(input), h, c)

    def step(self, x_proj, h, c):
        """One step from a precomputed input part x_proj = W_ih * x + b_ih: (N, 4 C_h, H, W)."""
        return lstm_update(x_proj + self.hidden_part(h), c, dim=1)


class ConvGRUCell(_ConvCellBase):
    """One ConvGRU step (Ballas et al. 2016, with PyTorch's GRU equations): gates r, z, n.

    input: (N, C_in, H, W);  hx: (N, C_h, H, W), zeros when omitted.  Returns h'.
    """

    gates = 3

    def forward(self, input, hx=None):
        (h,) = self._check(input, [("hx", hx)])
        return self.step(self.input_part(input), h)

    def step(self, x_proj, h):
        """One step from a precomputed input part x_proj = W_ih * x + b_ih: (N, 3 C_h, H, W)."""
        return gru_update(x_proj, self.hidden_part(h), h, dim=1)


class ConvLSTM(Module):
    """A stack of ConvLSTM cells run over an image sequence.

    ConvLSTM(input_channels, hidden_channels, kernel_size, num_layers=1, bias=True, batch_first=False)
    hidden_channels: an int, or one per layer. Layer k reads the hidden maps of layer k-1.

    forward(input, hx=None)
        input: (T, N, C_in, H, W), or (N, T, C_in, H, W) with batch_first;
        hx: a list of (h0, c0) per layer, each (N, C_h, H, W); zeros when omitted.
    Returns (output, states): output holds the last layer's h for every frame, (T, N, C_h, H, W)
    (or (N, T, ...) with batch_first), and states is the list of the final (h, c) of every layer.
    The input convolution of all frames is one conv2d call per layer, outside the time loop.
    Parameters: cells.{k}.weight_ih, cells.{k}.weight_hh, ... (see ConvLSTMCell).
    """

    def __init__(self, input_channels, hidden_channels, kernel_size, num_layers=1, bias=True, batch_first=False,
                 *, device=None, dtype=None):
        super().__init__()
        if num_layers <= 0:
            raise ValueError(f"ConvLSTM: num_layers must be positive, got {num_layers}")
        if isinstance(hidden_channels, int):
            hidden_channels = [hidden_channels] * num_layers
        hidden_channels = [int(c) for c in hidden_channels]
        if len(hidden_channels) != num_layers:
            raise ValueError(f"ConvLSTM: hidden_channels {hidden_channels} must give one value per layer "
                             f"(num_layers={num_layers})")
        self.input_channels, self.hidden_channels = int(input_channels), hidden_channels
        self.num_layers, self.batch_first = int(num_layers), bool(batch_first)
        channels = [self.input_channels] + hidden_channels
        self.cells = ModuleList([
            ConvLSTMCell(channels[k], channels[k + 1], kernel_size, bias, device=device, dtype=dtype)
            for k in range(num_layers)
        ])

    def forward(self, input, hx=None):
        if not isinstance(input, Tensor):
            raise TypeError(f"ConvLSTM: input must be a Tensor, got {type(input).__name__}")
        layout = "(N, T, C, H, W)" if self.batch_first else "(T, N, C, H, W)"
        if input.ndim != 5 or input.shape[2] != self.input_channels:
            raise ValueError(f"ConvLSTM: expected input of shape {layout} with C = {self.input_channels}, "
                             f"got {tuple(input.shape)}")
        if hx is not None and (not isinstance(hx, (list, tuple)) or len(hx) != self.num_layers):
            raise ValueError(f"ConvLSTM: hx must be a list of {self.num_layers} (h0, c0) pairs, one per layer")
        x = input.transpose(0, 1) if self.batch_first else input
        T, N = x.shape[:2]
        states = []
        for k, cell in enumerate(self.cells):
            h0, c0 = (None, None) if hx is None else hx[k]
            h, c = cell._states(x, N, x.shape[3:], [(f"hx[{k}][0] (h0)", h0), (f"hx[{k}][1] (c0)", c0)])
            x_proj = cell.input_part(x.reshape(T * N, *x.shape[2:]))  # all frames in one convolution
            x_proj = x_proj.reshape(T, N, *x_proj.shape[1:])
            outputs = []
            for x_proj_t in split(x_proj, 1, dim=0):
                h, c = cell.step(x_proj_t.squeeze(0), h, c)
                outputs.append(h)
            x = stack(outputs, dim=0)
            states.append((h, c))
        return (x.transpose(0, 1) if self.batch_first else x), states

    def extra_repr(self) -> str:
        s = f"{self.input_channels}, {self.hidden_channels}, num_layers={self.num_layers}"
        return s + (", batch_first=True" if self.batch_first else "")
