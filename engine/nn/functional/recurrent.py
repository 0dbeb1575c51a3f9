"""Recurrent networks as functions: the Elman RNN, the LSTM and the GRU, one step or a whole sequence.

A recurrent layer reads a sequence x_1 .. x_T and carries a hidden state h_t from step to step,
computed from the current input and the previous state with the *same* weights at every step.
The equations and the gate order are PyTorch's (torch.nn.RNN / LSTM / GRU), so that weights move
between the two frameworks unchanged. Weights: W_ih (G*H, I), W_hh (G*H, H), biases (G*H,), where
G is the number of gates (1, 4, 3) stacked along the first axis in the order given below.

Elman RNN (Elman 1990)
    h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),     phi = tanh or relu

LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000), gates i, f, g, o
    i = sigma(W_ii x + b_ii + W_hi h + b_hi)        input gate
    f = sigma(W_if x + b_if + W_hf h + b_hf)        forget gate
    g = tanh (W_ig x + b_ig + W_hg h + b_hg)        candidate cell
    o = sigma(W_io x + b_io + W_ho h + b_ho)        output gate
    c_t = f * c_{t-1} + i * g,      h_t = o * tanh(c_t)

GRU (Cho et al. 2014), gates r, z, n
    r = sigma(W_ir x + b_ir + W_hr h + b_hr)        reset gate
    z = sigma(W_iz x + b_iz + W_hz h + b_hz)        update gate
    n = tanh (W_in x + b_in + r * (W_hn h + b_hn))  candidate (the reset gate scales W_hn h + b_hn)
    h_t = (1 - z) * n + z * h_{t-1}

Two implementations of the same equations
-----------------------------------------
*Composed* (``fused=False``): every step is written with engine operations (linear, chunk,
sigmoid, tanh, *, +), exactly as the equations read. The graph has ~15 nodes per step and is
differentiable twice (create_graph, gradient penalties, Hessian-vector products).

*Fused* (``fused=True``, the default): one Function per layer and direction runs the whole time
loop on raw arrays and writes back-propagation through time (BPTT) by hand (``backward_arrays``).
At the sizes of a course (hidden 128, batch 32) each engine operation costs more in Python
bookkeeping than in arithmetic, so one node instead of ~15 per step is several times faster. Its
differentiable ``backward`` (used for create_graph=True) differentiates the composed equations
(``composed_recurrence``) with ``engine.autograd.derivative_of``, so second derivatives go through
the very equations printed above.

In both, the input projection x_proj = x W_ih^T + b_ih does not depend on the state, so it is
computed for all time steps at once with one matrix product before the loop; only the hidden
projection h_proj = h_{t-1} W_hh^T + b_hh stays inside. The weight gradient
dL/dW_hh = sum_t dA_t^T h_{t-1} is likewise one product after the loop.
"""

from __future__ import annotations

import numpy as np

from engine.autograd import Function, derivative_of
from engine.nn.functional.dropout import dropout as dropout_fn
from engine.nn.functional.linear import check_linear, linear
from engine.ops.activation import relu, sigmoid, tanh
from engine.ops.shape import cat, split, stack
from engine.tensor import Tensor

__all__ = [
    "lstm_update",
    "gru_update",
    "rnn_cell",
    "lstm_cell",
    "gru_cell",
    "rnn",
    "lstm",
    "gru",
    "RNNRecurrence",
    "LSTMRecurrence",
    "GRURecurrence",
    "composed_recurrence",
]

_NONLINEARITIES = ("tanh", "relu")
_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


# ============================================================================================
# Composed steps: the equations written with engine operations (readable, twice differentiable)
# ============================================================================================
# Each step receives x_proj = x_t W_ih^T + b_ih already computed (for all steps at once) and the state.


def lstm_update(a, c, dim=-1):
    """The LSTM's gating, given the pre-activations a = [a_i, a_f, a_g, a_o] stacked along ``dim``:
    c' = sigma(a_f) * c + sigma(a_i) * tanh(a_g),  h' = sigma(a_o) * tanh(c').  Returns (h', c').

    Shared by the LSTM (a: (N, 4H), dim=-1) and the ConvLSTM (a: (N, 4C, H, W), dim=1), which
    differ only in how a is computed from x and h (matrix products or convolutions).
    """
    i, f, g, o = a.chunk(4, dim=dim)
    i, f, g, o = sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
    c = f * c + i * g
    h = o * tanh(c)
    return h, c


def gru_update(x_proj, h_proj, h, dim=-1):
    """The GRU's gating, given the input projection x_proj = W_i x + b_i and the hidden projection
    h_proj = W_h h + b_h, each [r, z, n] stacked along ``dim`` (kept apart because the reset gate
    multiplies only the hidden part of n). Returns h'. Shared by the GRU (dim=-1) and the ConvGRU (dim=1)."""
    x_r, x_z, x_n = x_proj.chunk(3, dim=dim)
    h_r, h_z, h_n = h_proj.chunk(3, dim=dim)
    r = sigmoid(x_r + h_r)
    z = sigmoid(x_z + h_z)
    n = tanh(x_n + r * h_n)
    return (1.0 - z) * n + z * h


def _rnn_step(x_proj, h, w_hh, b_hh, nonlinearity):
    a = x_proj + linear(h, w_hh, b_hh)
    return tanh(a) if nonlinearity == "tanh" else relu(a)


def _lstm_step(x_proj, h, c, w_hh, b_hh):
    return lstm_update(x_proj + linear(h, w_hh, b_hh), c)


def _gru_step(x_proj, h, w_hh, b_hh):
    return gru_update(x_proj, linear(h, w_hh, b_hh), h)


def composed_recurrence(kind, x_proj, h0, c0, w_hh, b_hh=None, reverse=False, nonlinearity="tanh"):
    """One layer in one direction, step by step with engine operations (the reference).

    x_proj: (T, N, G*H) input projections of every step;  h0 (and c0 for the LSTM): (N, H).
    Returns (y: (T, N, H) the states in time order, h_T, c_T or None). The fused Functions below
    compute the same thing; their differentiable backward differentiates this.
    """
    T = x_proj.shape[0]
    # split once (one node whose backward is one concatenation) rather than T slices
    steps = [s.squeeze(0) for s in split(x_proj, 1, dim=0)]
    outputs = [None] * T
    h, c = h0, c0
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        if kind == "LSTM":
            h, c = _lstm_step(steps[t], h, c, w_hh, b_hh)
        elif kind == "GRU":
            h = _gru_step(steps[t], h, w_hh, b_hh)
        else:
            h = _rnn_step(steps[t], h, w_hh, b_hh, nonlinearity)
        outputs[t] = h
    return stack(outputs, dim=0), h, c


# ============================================================================================
# Fused recurrences: one Function for a whole sequence (one layer, one direction)
# ============================================================================================
def _sigmoid_(xp, a):
    """sigma(a) = 1 / (1 + e^-a), in place. Via exp rather than tanh because NumPy's float32 exp
    is vectorised and its tanh is not (2x faster here). For a < -88 (float32) e^-a overflows to
    inf and sigma to the correct limit 0: callers silence that overflow warning (np.errstate)."""
    xp.negative(a, out=a)
    xp.exp(a, out=a)
    a += 1
    xp.reciprocal(a, out=a)
    return a


class _Recurrence(Function):
    """Shared bookkeeping: processing order, optional bias and the hidden-to-hidden gradient.

    Arrays saved for backward are stored in *processing order* k = 0..T-1 (k = T-1-t when
    running in reverse), so forward and backward loops are the same for both directions.
    hs[k] is the state before step k (hs[0] = h0), hs[k + 1] the state after it.

    ``backward`` (differentiable) is the derivative of ``composed_recurrence`` on the same
    inputs; ``backward_arrays`` is the hand-written BPTT of each subclass.
    """

    kind = "RNN"
    nonlinearity = "tanh"

    def __init__(self, reverse: bool = False):
        self.reverse = bool(reverse)

    def _composed(self, x_proj, h0, *rest):
        """The same computation with engine operations: (y, h_T[, c_T]) like forward."""
        c0 = rest[0] if self.kind == "LSTM" else None
        w_hh, *b_hh = rest[1:] if self.kind == "LSTM" else rest
        y, h, c = composed_recurrence(self.kind, x_proj, h0, c0, w_hh, b_hh[0] if b_hh else None, self.reverse,
                                      self.nonlinearity)
        return (y, h, c) if self.kind == "LSTM" else (y, h)

    def backward(self, *grads):
        return derivative_of(self._composed, self.inputs, grads)

    def _in_order(self, a):
        return a[::-1] if self.reverse else a

    def _outputs(self, hs):
        """y in time order: the saved states, reversed (as a contiguous copy) for a reverse pass."""
        return self.xp.ascontiguousarray(hs[:0:-1]) if self.reverse else hs[1:]

    def _finish_backward(self, d_x_proj, d_h_proj, dh0, extra=()):
        """dL/dx_proj (given in processing order), dL/dh0, ..., dL/dW_hh = sum_k d_h_proj_k^T h_{k-1},
        dL/db_hh = sum_k d_h_proj_k."""
        xp = self.xp
        T, N, G = d_h_proj.shape
        hs = self.hs
        w_grad = d_h_proj.reshape(T * N, G).T @ hs[:-1].reshape(T * N, hs.shape[-1])
        grads = (xp.ascontiguousarray(self._in_order(d_x_proj)), dh0, *extra, w_grad)
        if self.has_bias:
            grads += (d_h_proj.sum(axis=(0, 1)),)
        return grads


class RNNRecurrence(_Recurrence):
    """h_k = phi(x_proj_k + h_{k-1} W_hh^T + b_hh) for k = 1..T, in one Function.

    x_proj: (T, N, H) = x W_ih^T + b_ih for every step;  h0: (N, H);  w_hh: (H, H);  b_hh: (H,) or absent.
    Returns (y: (T, N, H) all states, h_T: (N, H)).

    BPTT: with a_k the pre-activation, dL/da_k = (dL/dh_k) phi'(a_k), where dL/dh_k is the
    gradient arriving from the output y_k plus the one flowing back from step k+1,
    dL/dh_{k-1} = dL/da_k W_hh.  phi' = 1 - h_k^2 (tanh) or [h_k > 0] (relu).
    """

    def __init__(self, nonlinearity: str = "tanh", reverse: bool = False):
        super().__init__(reverse)
        self.nonlinearity = nonlinearity

    def forward(self, x_proj, h0, w_hh, b_hh=None):
        xp = self.xp
        self.has_bias = b_hh is not None
        if self.has_bias:
            x_proj = x_proj + b_hh  # once for all steps rather than once per step
        x_proj = self._in_order(x_proj)
        T, N, H = x_proj.shape
        hs = xp.empty((T + 1, N, H), dtype=x_proj.dtype)
        hs[0] = h0
        w_t = xp.ascontiguousarray(w_hh.T)  # OpenBLAS runs h @ W^T ~1.3x faster with W^T contiguous
        for k in range(T):
            h = hs[k + 1]
            xp.matmul(hs[k], w_t, out=h)
            h += x_proj[k]
            if self.nonlinearity == "tanh":
                xp.tanh(h, out=h)
            else:
                xp.maximum(h, 0, out=h)
        self.hs = hs
        return self._outputs(hs), hs[T].copy()

    def backward_arrays(self, gy, dh_last):
        xp = self.xp
        hs, w_hh = self.hs, self.inputs[2].data
        gy = self._in_order(gy)
        after = hs[1:]
        deriv = 1 - after * after if self.nonlinearity == "tanh" else (after > 0).astype(after.dtype)
        da = xp.empty_like(after)
        dh = dh_last.copy()  # never modify the incoming gradient: it may be another tensor's
        for k in range(len(da) - 1, -1, -1):
            dh += gy[k]
            xp.multiply(dh, deriv[k], out=da[k])
            dh = da[k] @ w_hh
        return self._finish_backward(da, da, dh)


class LSTMRecurrence(_Recurrence):
    """The LSTM over a whole sequence, input projection included, in one Function (gates i, f, g, o
    as in PyTorch).

    x: (T, N, I);  h0, c0: (N, H);  w_ih: (4H, I);  w_hh: (4H, H);  then b_ih and b_hh, (4H,) each,
    those of them that ``biases`` = (has b_ih, has b_hh) says are given.
    Returns (y: (T, N, H), h_T: (N, H), c_T: (N, H)).

    Forward: the input projections of all steps, W_ih x_t^T + b_ih + b_hh, are one batched product
    before the loop, written into the gates' array (T, 4H, N); step k adds W_hh h_{k-1} to its block
    and applies the gates in place.

    BPTT, per step going backwards (dh, dc: gradients w.r.t. h_k and c_k so far):
        dh += dL/dy_k
        dc += dh * o * (1 - tanh(c_k)^2)                      (through h_k = o tanh c_k)
        da_i = dc * g * i(1-i)      da_f = dc * c_{k-1} * f(1-f)
        da_g = dc * i * (1-g^2)     da_o = dh * tanh(c_k) * o(1-o)
        dc_{k-1} = dc * f           dh_{k-1} = da W_hh
    The factors that do not depend on the running gradients are computed for all steps at once
    before the loop, leaving a handful of array operations per step. After it, with dA the
    pre-activation gradients of all steps as a (4H, T*N) matrix, four products and a sum give the rest:
        dL/dX = dA^T W_ih     dL/dW_ih = dA X     dL/dW_hh = dA H_prev     dL/db_ih = dL/db_hh = row sums of dA

    Layout: inside, every per-step array is stored *feature-major*, (features, N) rather than
    (N, features): the recurrent product becomes W_hh @ h with both operands contiguous, which
    OpenBLAS runs about twice as fast as h @ W_hh^T for these shapes (batch 32, H = 128: 21 vs
    40 us per step), and each gate is a contiguous block of rows. dA is transposed to (4H, T*N) once,
    after the loop. Inputs and outputs keep PyTorch's (T, N, features) layout.
    Measured alternatives (LSTM 64 -> 128, 32 steps, batch 32, benchmarks/run.py): the projection
    done outside by a Linear, whose (T, N, 4H) output and gradient had to be transposed for the loop,
    9.8 against 8.2 ms; dA and the projections stored (4H, T, N), so that no transposing copy is
    needed, slower (strided per-step blocks: 9.3 ms); every per-step array (features, T, N), 1.5x slower.
    """

    kind = "LSTM"

    def __init__(self, reverse: bool = False, biases: tuple = (True, True)):
        super().__init__(reverse)
        self.biases = tuple(bool(b) for b in biases)

    def _composed(self, x, h0, c0, w_ih, w_hh, *rest):
        """The same computation with engine operations: (y, h_T, c_T) like forward."""
        b_ih, b_hh = self._split_biases(rest)
        T, N, I = x.shape
        x_proj = linear(x.reshape(T * N, I), w_ih, b_ih).reshape(T, N, w_ih.shape[0])
        return composed_recurrence("LSTM", x_proj, h0, c0, w_hh, b_hh, self.reverse)

    def _split_biases(self, rest):
        rest = list(rest)
        return tuple(rest.pop(0) if given else None for given in self.biases)

    def _time(self, k, T):
        """The time index of processing step k."""
        return T - 1 - k if self.reverse else k

    def forward(self, x, h0, c0, w_ih, w_hh, *biases):
        xp = self.xp
        T, N, I = x.shape
        G = w_ih.shape[0]
        H = G // 4
        # the input projections W_ih x_t^T of all steps, in processing order, become the gates' array:
        # (4H, I) @ (T, I, N) -> (T, 4H, N), each step's block contiguous for the loop
        acts = xp.matmul(w_ih, self._in_order(x).transpose(0, 2, 1))
        if biases:
            acts += sum(biases)[:, None]
        hs = xp.empty((T + 1, H, N), dtype=x.dtype)
        cs = xp.empty((T + 1, H, N), dtype=x.dtype)
        tanh_c = xp.empty((T, H, N), dtype=x.dtype)
        h_proj = xp.empty((G, N), dtype=x.dtype)
        hs[0], cs[0] = h0.T, c0.T
        with np.errstate(over="ignore"):
            for k in range(T):
                a = acts[k]  # becomes the gates after their nonlinearities (kept for backward)
                a += xp.matmul(w_hh, hs[k], out=h_proj)
                i, f, g, o = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]
                # tanh(a) = 2 sigma(2a) - 1: one sigmoid pass over all gates serves all four
                # (NumPy's float32 tanh is not vectorised, its exp is: 2x faster here)
                g *= 2
                _sigmoid_(xp, a)
                g *= 2
                g -= 1
                c = cs[k + 1]
                xp.multiply(f, cs[k], out=c)
                c += i * g
                xp.tanh(c, out=tanh_c[k])
                xp.multiply(o, tanh_c[k], out=hs[k + 1])
        self.acts, self.hs, self.cs, self.tanh_c = acts, hs, cs, tanh_c
        y = self._in_order(hs[1:]).transpose(0, 2, 1)  # (T, N, H) in time order
        return xp.ascontiguousarray(y), hs[T].T.copy(), cs[T].T.copy()

    def backward_arrays(self, gy, dh_last, dc_last):
        xp = self.xp
        acts, hs, cs, tanh_c = self.acts, self.hs, self.cs, self.tanh_c
        x, _, _, w_ih, w_hh = (t.data for t in self.inputs[:5])
        T, G, N = acts.shape
        I = x.shape[-1]
        H = G // 4
        gy = self._in_order(gy).transpose(0, 2, 1)  # (T, H, N), processing order
        i, f, g, o = (acts[:, j * H : (j + 1) * H] for j in range(4))
        # factor[k] multiplies dc (gates i, f, g) or dh (gate o) to give the pre-activation gradient
        factor = acts * (1 - acts)  # sigma' = s (1 - s)
        factor[:, 2 * H : 3 * H] = 1 - g * g  # tanh' for the candidate
        factor[:, :H] *= g
        factor[:, H : 2 * H] *= cs[:-1]
        factor[:, 2 * H : 3 * H] *= i
        factor[:, 3 * H :] *= tanh_c
        h_to_c = o * (1 - tanh_c * tanh_c)
        factor_icg = factor[:, : 3 * H].reshape(T, 3, H, N)
        da = xp.empty_like(acts)
        da_icg = da[:, : 3 * H].reshape(T, 3, H, N)
        # copies of the incoming gradients (never modify them: they may be other tensors' memory)
        dh, dc = xp.ascontiguousarray(dh_last.T), xp.ascontiguousarray(dc_last.T)
        w_t = xp.ascontiguousarray(w_hh.T)  # (H, 4H)
        for k in range(T - 1, -1, -1):
            dh += gy[k]
            dc += dh * h_to_c[k]
            xp.multiply(factor_icg[k], dc[None], out=da_icg[k])
            xp.multiply(factor[k, 3 * H :], dh, out=da[k, 3 * H :])
            dc *= f[k]
            dh = w_t @ da[k]
        # dA: the pre-activation gradients in time order as a (4H, T*N) matrix (one transposing copy)
        da = xp.ascontiguousarray(self._in_order(da).transpose(1, 0, 2)).reshape(G, T * N)
        # the states before each step, in time order, as (T*N, H) rows
        h_prev = xp.ascontiguousarray(self._in_order(hs[:-1]).transpose(0, 2, 1)).reshape(T * N, H)
        grads = ((da.T @ w_ih).reshape(x.shape), xp.ascontiguousarray(dh.T), xp.ascontiguousarray(dc.T),
                 da @ x.reshape(T * N, I), da @ h_prev)
        if any(self.biases):
            db = da.sum(axis=1)
            grads += tuple(db.copy() if j else db for j in range(sum(self.biases)))  # never one array twice
        return grads


class GRURecurrence(_Recurrence):
    """The GRU over a whole sequence in one Function (gates r, z, n as in PyTorch).

    x_proj: (T, N, 3H) = x W_ih^T + b_ih for every step;  h0: (N, H);  w_hh: (3H, H);
    b_hh: (3H,) or absent.  Returns (y: (T, N, H), h_T: (N, H)).

    BPTT, per step going backwards, with h_k = n + z (h_{k-1} - n) and h_proj_n = W_hn h + b_hn:
        dh += dL/dy_k
        da_n = dh (1 - z)(1 - n^2)      da_z = dh (h_{k-1} - n) z(1-z)     da_r = da_n h_proj_n r(1-r)
        d(h_proj) = (da_r, da_z, da_n * r)  and  dh_{k-1} = dh z + d(h_proj) W_hh
    The gradient w.r.t. x_proj is (da_r, da_z, da_n); W_hh and b_hh get d(h_proj).
    """

    kind = "GRU"

    def forward(self, x_proj, h0, w_hh, b_hh=None):
        xp = self.xp
        self.has_bias = b_hh is not None
        x_proj = self._in_order(x_proj)
        T, N, G = x_proj.shape
        H = G // 3
        rz = xp.empty((T, N, 2 * H), dtype=x_proj.dtype)
        n = xp.empty((T, N, H), dtype=x_proj.dtype)
        h_proj_n = xp.empty((T, N, H), dtype=x_proj.dtype)
        hs = xp.empty((T + 1, N, H), dtype=x_proj.dtype)
        hs[0] = h0
        w_t = xp.ascontiguousarray(w_hh.T)  # OpenBLAS runs h @ W^T ~1.3x faster with W^T contiguous
        for k in range(T):
            h_proj = hs[k] @ w_t
            if self.has_bias:
                h_proj += b_hh
            s = rz[k]
            xp.add(x_proj[k, :, : 2 * H], h_proj[:, : 2 * H], out=s)
            with np.errstate(over="ignore"):
                _sigmoid_(xp, s)
            h_proj_n[k] = h_proj[:, 2 * H :]
            nk = n[k]
            xp.multiply(s[:, :H], h_proj_n[k], out=nk)  # r * (W_hn h + b_hn)
            nk += x_proj[k, :, 2 * H :]
            xp.tanh(nk, out=nk)
            h = hs[k + 1]
            xp.subtract(hs[k], nk, out=h)  # h = n + z (h_prev - n)
            h *= s[:, H:]
            h += nk
        self.rz, self.n, self.h_proj_n, self.hs = rz, n, h_proj_n, hs
        return self._outputs(hs), hs[T].copy()

    def backward_arrays(self, gy, dh_last):
        xp = self.xp
        rz, n, h_proj_n, hs, w_hh = self.rz, self.n, self.h_proj_n, self.hs, self.inputs[2].data
        T, N, H = n.shape
        gy = self._in_order(gy)
        r, z = rz[..., :H], rz[..., H:]
        # per-step factors, for all steps at once
        dn_factor = (1 - z) * (1 - n * n)
        dz_factor = (hs[:-1] - n) * z * (1 - z)
        dr_factor = h_proj_n * r * (1 - r)
        d_x_proj = xp.empty((T, N, 3 * H), dtype=n.dtype)
        d_h_proj = xp.empty((T, N, 3 * H), dtype=n.dtype)
        dh = dh_last.copy()
        for k in range(T - 1, -1, -1):
            dh += gy[k]
            d = d_x_proj[k]
            da_n = d[:, 2 * H :]
            xp.multiply(dh, dn_factor[k], out=da_n)
            xp.multiply(da_n, dr_factor[k], out=d[:, :H])
            xp.multiply(dh, dz_factor[k], out=d[:, H : 2 * H])
            e = d_h_proj[k]
            e[:, : 2 * H] = d[:, : 2 * H]
            xp.multiply(da_n, r[k], out=e[:, 2 * H :])
            dh = dh * z[k]
            dh += e @ w_hh
        return self._finish_backward(d_x_proj, d_h_proj, dh)


# ============================================================================================
# One step (cells)
# ============================================================================================
def _bias_args(b):
    return () if b is None else (b,)


def _lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """The fused LSTM over x: (T, N, I), with the input checks ``linear`` would have made."""
    check_linear(x, w_ih, b_ih, "lstm")
    biases = (b_ih is not None, b_hh is not None)
    return LSTMRecurrence(reverse, biases)(x, h0, c0, w_ih, w_hh, *(b for b in (b_ih, b_hh) if b is not None))


def rnn_cell(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh",
             fused: bool = True):
    """One Elman step h' = phi(x W_ih^T + b_ih + h W_hh^T + b_hh).

    input: (N, I);  hx: (N, H);  weight_ih: (H, I);  weight_hh: (H, H);  biases: (H,) or None.
    Returns h': (N, H). ``fused=False`` uses the composed (twice-differentiable) version.
    """
    if nonlinearity not in _NONLINEARITIES:
        raise ValueError(f"rnn_cell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    x_proj = linear(input, weight_ih, bias_ih)
    if not fused:
        return _rnn_step(x_proj, hx, weight_hh, bias_hh, nonlinearity)
    _, h = RNNRecurrence(nonlinearity)(x_proj.unsqueeze(0), hx, weight_hh, *_bias_args(bias_hh))
    return h


def lstm_cell(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None, fused: bool = True):
    """One LSTM step. input: (N, I);  hx: (h, c), each (N, H);  weight_ih: (4H, I);
    weight_hh: (4H, H);  biases: (4H,) or None.  Returns (h', c'), each (N, H)."""
    h, c = hx
    if not fused:
        return _lstm_step(linear(input, weight_ih, bias_ih), h, c, weight_hh, bias_hh)
    _, h, c = _lstm_layer(input.unsqueeze(0), h, c, weight_ih, weight_hh, bias_ih, bias_hh)
    return h, c


def gru_cell(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None, fused: bool = True):
    """One GRU step. input: (N, I);  hx: (N, H);  weight_ih: (3H, I);  weight_hh: (3H, H);
    biases: (3H,) or None.  Returns h': (N, H)."""
    x_proj = linear(input, weight_ih, bias_ih)
    if not fused:
        return _gru_step(x_proj, hx, weight_hh, bias_hh)
    _, h = GRURecurrence()(x_proj.unsqueeze(0), hx, weight_hh, *_bias_args(bias_hh))
    return h


# ============================================================================================
# Whole sequences: layers x directions
# ============================================================================================
def _direction(kind, x, h0, c0, weights, reverse, fused, nonlinearity):
    """One layer in one direction. x: (T, N, I) -> (y: (T, N, H), h_T, c_T or None)."""
    w_ih, w_hh, b_ih, b_hh = weights
    if kind == "LSTM" and fused:  # the projection is part of the fused Function
        return _lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
    T, N, I = x.shape
    # the input projection of all T steps as one (T*N, I) x (I, G*H) product
    x_proj = linear(x.reshape(T * N, I), w_ih, b_ih).reshape(T, N, w_ih.shape[0])
    if not fused:
        return composed_recurrence(kind, x_proj, h0, c0, w_hh, b_hh, reverse, nonlinearity)
    bias = _bias_args(b_hh)
    if kind == "GRU":
        y, h = GRURecurrence(reverse)(x_proj, h0, w_hh, *bias)
    else:
        y, h = RNNRecurrence(nonlinearity, reverse)(x_proj, h0, w_hh, *bias)
    return y, h, None


def _split_state(state, count, name, what):
    if state is None:
        return [None] * count
    if not isinstance(state, Tensor) or state.ndim != 3 or state.shape[0] != count:
        shape = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
        raise ValueError(f"{name}: {what} must be a tensor of shape (num_layers * num_directions = {count}, N, H), "
                         f"got {shape}")
    return [s.squeeze(0) for s in split(state, 1, dim=0)] if count > 1 else [state.squeeze(0)]


def _recurrent(kind, input, hx, weights, num_layers, bidirectional, dropout, training, fused,
               nonlinearity="tanh", name=None):
    """The multi-layer, optionally bidirectional recurrence shared by rnn, lstm and gru.

    input: (T, N, I) time-major;  hx: (L*D, N, H), or (h0, c0) for the LSTM, or None (zeros);
    weights: L*D tuples (w_ih, w_hh, b_ih, b_hh), ordered layer by layer, forward direction first.
    Returns output (T, N, D*H) and h_n (L*D, N, H) (with c_n for the LSTM).
    """
    name = name or kind.lower()
    directions = 2 if bidirectional else 1
    count = num_layers * directions
    if len(weights) != count:
        raise ValueError(f"{name}: expected {count} weight tuples (num_layers={num_layers} x "
                         f"{directions} directions), got {len(weights)}")
    if input.ndim != 3:
        raise ValueError(f"{name}: input must be (T, N, features) (time-major), got shape {tuple(input.shape)}")
    if input.shape[0] == 0:
        raise ValueError(f"{name}: the input sequence is empty (shape {tuple(input.shape)})")
    if not 0.0 <= dropout <= 1.0:
        raise ValueError(f"{name}: dropout must be in [0, 1], got {dropout}")
    T, N, _ = input.shape
    H = weights[0][1].shape[1]
    if kind == "LSTM":
        if hx is None:
            hx = (None, None)
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise ValueError(f"{name}: hx must be a tuple (h0, c0), got {type(hx).__name__}")
        h0s = _split_state(hx[0], count, name, "h0")
        c0s = _split_state(hx[1], count, name, "c0")
    else:
        h0s = _split_state(hx, count, name, "h0")
        c0s = [None] * count
    for what, states in (("h0", h0s), ("c0", c0s)):
        if states[0] is not None and tuple(states[0].shape) != (N, H):
            raise ValueError(f"{name}: {what} must have shape ({count}, {N}, {H}) for an input of shape "
                             f"{tuple(input.shape)}, got ({count}, *{tuple(states[0].shape)})")
    zeros = None
    x = input
    h_n, c_n = [], []
    for layer in range(num_layers):
        outputs = []
        for d in range(directions):
            j = layer * directions + d
            h0, c0 = h0s[j], c0s[j]
            if h0 is None or (kind == "LSTM" and c0 is None):
                if zeros is None:
                    zeros = Tensor(input._xp.zeros((N, H), dtype=input.dtype))
                h0 = zeros if h0 is None else h0
                c0 = zeros if c0 is None else c0
            y, h, c = _direction(kind, x, h0, c0, weights[j], d == 1, fused, nonlinearity)
            outputs.append(y)
            h_n.append(h)
            c_n.append(c)
        x = outputs[0] if directions == 1 else cat(outputs, dim=-1)
        if training and dropout > 0 and layer < num_layers - 1:
            x = dropout_fn(x, dropout, training=True)  # between layers only, as PyTorch
    h_n = stack(h_n, dim=0)
    if kind == "LSTM":
        return x, (h_n, stack(c_n, dim=0))
    return x, h_n


def rnn(input, hx, weights, num_layers=1, nonlinearity="tanh", bidirectional=False, dropout=0.0,
        training=False, fused: bool = True):
    """A multi-layer Elman RNN over a sequence (the function behind ``engine.nn.RNN``).

    input: (T, N, I), time-major;  hx: (num_layers * D, N, H) or None for zeros (D = 2 when
    bidirectional); weights: one (w_ih, w_hh, b_ih, b_hh) per layer and direction (biases may be
    None). dropout (probability) is applied to the outputs of every layer but the last when
    ``training``. Returns (output: (T, N, D*H), h_n: (num_layers * D, N, H)).
    """
    if nonlinearity not in _NONLINEARITIES:
        raise ValueError(f"rnn: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return _recurrent("RNN", input, hx, weights, num_layers, bidirectional, dropout, training, fused,
                      nonlinearity, name="rnn")


def lstm(input, hx, weights, num_layers=1, bidirectional=False, dropout=0.0, training=False,
         fused: bool = True):
    """A multi-layer LSTM over a sequence (the function behind ``engine.nn.LSTM``).

    input: (T, N, I);  hx: (h0, c0), each (num_layers * D, N, H), or None for zeros.
    Returns (output: (T, N, D*H), (h_n, c_n)). See ``rnn`` for the other arguments.
    """
    return _recurrent("LSTM", input, hx, weights, num_layers, bidirectional, dropout, training, fused,
                      name="lstm")


def gru(input, hx, weights, num_layers=1, bidirectional=False, dropout=0.0, training=False,
        fused: bool = True):
    """A multi-layer GRU over a sequence (the function behind ``engine.nn.GRU``).

    input: (T, N, I);  hx: (num_layers * D, N, H) or None. Returns (output: (T, N, D*H), h_n).
    """
    return _recurrent("GRU", input, hx, weights, num_layers, bidirectional, dropout, training, fused,
                      name="gru")
