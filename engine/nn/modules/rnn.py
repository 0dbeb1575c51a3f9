"""Recurrent layers: RNN, LSTM, GRU over sequences, and their one-step cells (torch.nn names).

The equations, gate orders, parameter names and shapes, initialisation and input/output shapes
are PyTorch's, so ``load_state_dict`` moves weights between the two in both directions. The
maths lives in engine/nn/functional/recurrent.py; these classes own the parameters and check
the shapes of what they are given.

    lstm = LSTM(input_size=64, hidden_size=128, num_layers=2, batch_first=True)
    output, (h_n, c_n) = lstm(x)        # x: (N, T, 64) -> output: (N, T, 128), h_n: (2, N, 128)

``fused=True`` (default) runs each layer's time loop as one Function with a hand-written
backward (fast); ``fused=False`` builds the graph step by step from engine operations (readable).
Both compute the same values and both are differentiable twice (the fused layer's create_graph
backward differentiates the step-by-step equations).
"""

from __future__ import annotations

import math
import warnings

from engine import backend
from engine.dtypes import get_default_dtype
from engine.nn import init
from engine.nn.functional import recurrent
from engine.nn.module import Module
from engine.tensor import Parameter, Tensor

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]


def _parameter(*shape, device=None, dtype=None) -> Parameter:
    xp = backend.xp_for_device(backend.normalize_device(device))
    return Parameter(xp.zeros(shape, dtype=dtype or get_default_dtype()))


def _check_dtype(name, tensor, what, reference):
    if tensor.dtype != reference.dtype:
        raise TypeError(f"{name}: {what} has dtype {tensor.dtype} but the parameters are {reference.dtype}; "
                        f"convert it (.float() / .double()) or the layer (.to(dtype))")


def _check_state(name, state, what, shape):
    if not isinstance(state, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(state).__name__}")
    if tuple(state.shape) != tuple(shape):
        raise ValueError(f"{name}: {what} must have shape {tuple(shape)}, got {tuple(state.shape)}")


# ============================================================================================
# Cells: one time step
# ============================================================================================
class _CellBase(Module):
    """Parameters weight_ih (G*H, I), weight_hh (G*H, H), bias_ih, bias_hh (G*H,), all
    initialised U(-1/sqrt(H), 1/sqrt(H)) as in PyTorch."""

    gates = 1

    def __init__(self, input_size, hidden_size, bias=True, *, fused=True, device=None, dtype=None):
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(f"{type(self).__name__}: input_size and hidden_size must be positive, got "
                             f"{input_size} and {hidden_size}")
        self.input_size, self.hidden_size, self.bias, self.fused = int(input_size), int(hidden_size), bias, fused
        G, H = self.gates * self.hidden_size, self.hidden_size
        self.weight_ih = _parameter(G, self.input_size, device=device, dtype=dtype)
        self.weight_hh = _parameter(G, H, device=device, dtype=dtype)
        if bias:
            self.bias_ih = _parameter(G, device=device, dtype=dtype)
            self.bias_hh = _parameter(G, device=device, dtype=dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _prepare(self, input, states):
        """Check shapes and dtypes; give a 1-D (unbatched) input and its states a batch axis of 1.
        states: the given state tensors (None for zeros). Returns (input, states, batched)."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (N, {self.input_size}) or ({self.input_size},), "
                             f"got {tuple(input.shape)}")
        _check_dtype(name, input, "input", self.weight_ih)
        batched = input.ndim == 2
        shape = (input.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        out = []
        for what, s in states:
            if s is None:
                s = Tensor(input._xp.zeros(shape, dtype=input.dtype))
            else:
                _check_state(name, s, what, shape)
                _check_dtype(name, s, what, self.weight_ih)
            out.append(s if batched else s.unsqueeze(0))
        return (input if batched else input.unsqueeze(0)), out, batched

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        return s


class RNNCell(_CellBase):
    """One Elman step  h' = phi(x W_ih^T + b_ih + h W_hh^T + b_hh),  phi = tanh or relu.

    input: (N, I) or (I,);  hx: (N, H) or (H,), zeros when omitted.  Returns h': like hx.
    """

    gates = 1

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", *, fused=True, device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, fused=fused, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [("hx", hx)])
        h = recurrent.rnn_cell(x, h, *self._weights(), nonlinearity=self.nonlinearity, fused=self.fused)
        return h if batched else h.squeeze(0)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity!r}"


class LSTMCell(_CellBase):
    """One LSTM step (gates i, f, g, o; see engine.nn.functional.recurrent for the equations).

    input: (N, I) or (I,);  hx: (h, c), each (N, H) or (H,), zeros when omitted.
    Returns (h', c'). Parameters: weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H,).
    """

    gates = 4

    def forward(self, input, hx=None):
        if hx is None:
            hx = (None, None)
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"LSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
        x, (h, c), batched = self._prepare(input, [("h", hx[0]), ("c", hx[1])])
        h, c = recurrent.lstm_cell(x, (h, c), *self._weights(), fused=self.fused)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(_CellBase):
    """One GRU step (gates r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn))).

    input: (N, I) or (I,);  hx: (N, H) or (H,), zeros when omitted.  Returns h'.
    Parameters: weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh (3H,).
    """

    gates = 3

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [("hx", hx)])
        h = recurrent.gru_cell(x, h, *self._weights(), fused=self.fused)
        return h if batched else h.squeeze(0)


# ============================================================================================
# Sequences: several layers, one or two directions
# ============================================================================================
class _RNNBase(Module):
    """Parameters per layer k (and with the suffix ``_reverse`` for the backward direction):
    weight_ih_l{k} (G*H, I_k), weight_hh_l{k} (G*H, H), bias_ih_l{k}, bias_hh_l{k} (G*H,), where
    I_0 = input_size and I_k = D*H above (D = 2 when bidirectional). All U(-1/sqrt(H), 1/sqrt(H)).
    """

    kind = "RNN"
    gates = 1

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, *, fused=True, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"{name}: input_size, hidden_size and num_layers must be positive, got "
                             f"{input_size}, {hidden_size}, {num_layers}")
        if isinstance(dropout, bool) or not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} acts between layers, so it does nothing with num_layers=1",
                          stacklevel=2)
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.fused = bool(bidirectional), fused
        directions = 2 if bidirectional else 1
        G, H = self.gates * self.hidden_size, self.hidden_size
        self._weight_names = []
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else H * directions
            for d in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if d == 1 else "")
                names = [f"weight_ih{suffix}", f"weight_hh{suffix}", f"bias_ih{suffix}", f"bias_hh{suffix}"]
                setattr(self, names[0], _parameter(G, layer_input, device=device, dtype=dtype))
                setattr(self, names[1], _parameter(G, H, device=device, dtype=dtype))
                if bias:
                    setattr(self, names[2], _parameter(G, device=device, dtype=dtype))
                    setattr(self, names[3], _parameter(G, device=device, dtype=dtype))
                else:
                    names[2:] = [None, None]
                self._weight_names.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    @property
    def all_weights(self) -> list:
        """[[w_ih, w_hh, b_ih, b_hh], ...] per layer and direction (as torch's ``all_weights``)."""
        return [[getattr(self, n) for n in names if n is not None] for names in self._weight_names]

    def _weights(self):
        return [tuple(None if n is None else getattr(self, n) for n in names) for names in self._weight_names]

    def _prepare(self, input, states):
        """Check shapes; return the input time-major and batched, the states batched, and how to
        undo it. states: (what, tensor or None) pairs, each expected (L*D, N, H) or (L*D, H)."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        layout = "(N, T, features)" if self.batch_first else "(T, N, features)"
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape {layout} or (T, features) with features = "
                             f"{self.input_size}, got {tuple(input.shape)}")
        _check_dtype(name, input, "input", self.weight_ih_l0)
        batched = input.ndim == 3
        if not batched:
            x = input.unsqueeze(1)
        elif self.batch_first:
            x = input.transpose(0, 1)
        else:
            x = input
        count = self.num_layers * (2 if self.bidirectional else 1)
        shape = (count, x.shape[1], self.hidden_size) if batched else (count, self.hidden_size)
        out = []
        for what, s in states:
            if s is not None:
                _check_state(name, s, what, shape)
                _check_dtype(name, s, what, self.weight_ih_l0)
                if not batched:
                    s = s.unsqueeze(1)
            out.append(s)
        return x, out, batched

    def _finish(self, output, batched):
        if not batched:
            return output.squeeze(1)
        return output.transpose(0, 1) if self.batch_first else output

    def _run(self, x, hx):
        return recurrent._recurrent(self.kind, x, hx, self._weights(), self.num_layers, self.bidirectional,
                                    self.dropout, self.training, self.fused, getattr(self, "nonlinearity", "tanh"),
                                    name=type(self).__name__)

    def forward(self, input, hx=None):
        """input: (T, N, I), or (N, T, I) with batch_first, or (T, I) unbatched;
        hx: (num_layers * D, N, H) (or (num_layers * D, H) unbatched), zeros when omitted.
        Returns (output: (T, N, D*H) / (N, T, D*H) / (T, D*H), h_n: shaped like hx)."""
        x, (h0,), batched = self._prepare(input, [("hx", hx)])
        output, h_n = self._run(x, h0)
        return self._finish(output, batched), (h_n if batched else h_n.squeeze(1))

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """A multi-layer Elman RNN:  h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),  phi = tanh or relu.

    RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False,
    dropout=0.0, bidirectional=False) as torch.nn.RNN; forward(input, hx=None) -> (output, h_n).
    """

    kind = "RNN"
    gates = 1

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, fused=True, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         fused=fused, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity!r}"


class LSTM(_RNNBase):
    """A multi-layer LSTM (gates i, f, g, o), as torch.nn.LSTM without ``proj_size``.

    forward(input, hx=None) with hx = (h0, c0) -> (output, (h_n, c_n)); shapes as in ``RNN``.
    """

    kind = "LSTM"
    gates = 4

    def forward(self, input, hx=None):
        name = type(self).__name__
        if hx is None:
            hx = (None, None)
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"{name}: hx must be a tuple (h0, c0), got {type(hx).__name__}")
        x, (h0, c0), batched = self._prepare(input, [("h0", hx[0]), ("c0", hx[1])])
        output, (h_n, c_n) = self._run(x, (h0, c0))
        if not batched:
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return self._finish(output, batched), (h_n, c_n)


class GRU(_RNNBase):
    """A multi-layer GRU (gates r, z, n), as torch.nn.GRU; forward(input, hx=None) -> (output, h_n)."""

    kind = "GRU"
    gates = 3
