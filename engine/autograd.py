"""Reverse-mode automatic differentiation: the Function base class and the backward pass.

The idea in three sentences. Every operation on tensors is a ``Function`` that computes its
output from raw arrays (``forward``) and remembers its inputs; the outputs point back at it
(``tensor.grad_fn``), so a computation leaves a graph behind. ``backward`` walks that graph
from the output to the inputs, newest function first, and asks each function to turn the
gradient of its outputs into the gradient of its inputs (the chain rule, ``backward``).
Gradients that reach the same tensor along several paths are added up.

The op protocol (the one contract every Function follows)
----------------------------------------------------------
``forward(self, *arrays)``
    raw arrays in (NumPy, CuPy, strict), an array or a tuple of arrays out. Take the array
    module from ``self.xp``, never hard-code NumPy.
``backward(self, *grads)``  -- required
    Tensors in (one gradient per output), Tensors out (one per input, ``None`` where an input
    needs no gradient). Written with engine operations, so it is itself differentiable:
    ``create_graph=True`` records it, which is what gives second derivatives, gradient
    penalties and Hessian-vector products.
``backward_arrays(self, *grads)``  -- optional fast path
    the same mathematics on raw arrays: arrays in, arrays (or ``None``) out. When an op
    defines it, the engine calls it instead of ``backward`` whenever no graph is being built
    (``create_graph=False``: ordinary training), skipping the Tensor bookkeeping. It must
    agree with ``backward``; the tests compare the two.

The engine checks what comes back: the number of gradients, their types (Tensors from
``backward``, arrays from ``backward_arrays``; anything else is a TypeError naming the
function), shapes (broadcast inputs are summed back here, once), dtypes and devices. It does
not convert a wrong type silently. A short example, y = x * sin(x)::

    class XSinX(Function):
        def forward(self, x):                  # arrays
            return x * self.xp.sin(x)

        def backward(self, gy):                # Tensors: differentiable
            (x,) = self.inputs
            return gy * (engine.sin(x) + x * engine.cos(x))

        def backward_arrays(self, gy):         # optional: arrays, first order only
            x = self.inputs[0].data
            return gy * (self.xp.sin(x) + x * self.xp.cos(x))

    y = XSinX()(x)

Heavy ops (convolution, pooling, resampling, the fused recurrent layers, normalisation, the
linear layer, the fused cross-entropy) keep their hand-tuned array code in ``backward_arrays``, and
the common element-wise ops (add, mul, relu, tanh, ...) have one-line array twins, which keep the
Tensor bookkeeping out of every ordinary backward step. Their ``backward`` is written with other
Functions: convolution's input gradient is a transposed convolution and its
weight gradient a product with ``unfold(x)``; the fused recurrences differentiate their
composed equations (``derivative_of``, below).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import weakref

import numpy as np

from engine import backend

__all__ = [
    "Function",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "backward",
    "grad",
    "derivative_of",
]


# --------------------------------------------------------------------------------------------
# Gradient mode
# --------------------------------------------------------------------------------------------
class _GradMode(threading.local):
    # thread-local so that a data-loading thread cannot switch recording off for the trainer
    enabled = True


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """Whether operations currently record a graph for backward."""
    return _mode.enabled


@contextlib.contextmanager
def set_grad_enabled(enabled: bool):
    """Context manager that switches graph recording on or off, restoring it afterwards."""
    previous = _mode.enabled
    _mode.enabled = bool(enabled)
    try:
        yield
    finally:
        _mode.enabled = previous


def no_grad():
    """``with engine.no_grad():`` — compute without recording a graph (evaluation, updates)."""
    return set_grad_enabled(False)


def enable_grad():
    """``with engine.enable_grad():`` — record a graph even inside ``no_grad``."""
    return set_grad_enabled(True)


# --------------------------------------------------------------------------------------------
# Function
# --------------------------------------------------------------------------------------------
class Function:
    """Base class of every differentiable operation (the protocol: see the module docstring).

    Subclasses write ``forward`` (arrays) and ``backward`` (Tensors, differentiable) side by
    side, and may add ``backward_arrays`` (arrays, the fast first-order path). Inside
    ``backward``, ``self.inputs`` holds the input Tensors and ``self.output(i)`` the outputs.

    Calling an instance (``Exp()(x)``) runs forward and, when gradients are needed, links the
    outputs to this function. Input gradients are summed back to each input's shape by the
    engine (so broadcasting never needs handling in an op's backward) and checked for type,
    shape, dtype and device.
    """

    # attributes set by __call__ when the function becomes part of a graph
    inputs: tuple | None
    generation: int = 0
    _has_array_backward = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "first_order_only" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__}: 'first_order_only' is no longer part of the op protocol. Write backward with "
                f"engine operations on Tensors (differentiable) and move the raw-array code to backward_arrays "
                f"(see engine/autograd.py)"
            )
        # whether this op has a raw-array fast path; looked up once per class, not per call
        cls._has_array_backward = cls.backward_arrays is not Function.backward_arrays

    def forward(self, *xs):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, *gys):
        if self._has_array_backward:
            raise RuntimeError(
                f"{type(self).__name__} has only a raw-array backward (backward_arrays); create_graph=True "
                f"(second derivatives) needs a backward written with Tensor operations"
            )
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def backward_arrays(self, *gys):
        """Optional fast path: arrays in, arrays out; used when no graph is being built."""
        raise NotImplementedError(f"{type(self).__name__}.backward_arrays")

    # ----------------------------------------------------------------------------------------
    def __call__(self, *inputs):
        tensors = inputs
        if not all(type(x) is Tensor for x in inputs):  # numbers or arrays among the inputs
            ref = next((x for x in inputs if isinstance(x, Tensor)), None)
            tensors = tuple(x if isinstance(x, Tensor) else as_tensor(x, like=ref) for x in inputs)
        xs = [t.data for t in tensors]
        if all(type(x) is np.ndarray for x in xs):  # the common case: everything on the host
            self.xp = np
        else:
            if len(tensors) > 1:
                _check_same_device(self, tensors)
            self.xp = backend.get_array_module(xs[0]) if xs else np
        ys = self.forward(*xs)
        single = not isinstance(ys, tuple)
        if single:
            ys = (ys,)
        # NumPy reductions return scalars (np.float32); a tensor always holds an array
        ys = tuple(y if backend.is_array(y) else self.xp.asarray(y) for y in ys)
        record = _mode.enabled and any(t._requires_grad for t in tensors)
        outputs = tuple(Tensor._from_op(y, record) for y in ys)
        if record:
            self.generation = generation = max(t.generation for t in tensors)
            self.inputs = tensors
            self.outputs = tuple(weakref.ref(o) for o in outputs)
            self._out_meta = tuple((y.shape, y.dtype) for y in ys)
            for o in outputs:
                o.grad_fn = self
                o.generation = generation + 1
        return outputs[0] if single else outputs

    def output(self, i: int = 0):
        """The i-th output Tensor (alive while backward can reach this function)."""
        out = self.outputs[i]()
        if out is None:  # pragma: no cover - only when a caller keeps the function but not the output
            raise RuntimeError(f"{type(self).__name__}: output {i} was garbage-collected")
        return out

    def _release(self):
        """Drop saved inputs and any state the forward kept, freeing their memory."""
        keep = ("generation", "outputs", "_out_meta")
        for name in [k for k in vars(self) if k not in keep]:
            del self.__dict__[name]
        self.inputs = None

    def __repr__(self):
        return f"<{type(self).__name__}>"


def _check_same_device(fn, tensors):
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        shapes = ", ".join(f"{t.device}{tuple(t.shape)}" for t in tensors)
        raise RuntimeError(
            f"{type(fn).__name__}: inputs are on different devices ({shapes}); "
            f"move them with .to(device) first"
        )


# --------------------------------------------------------------------------------------------
# The backward pass
# --------------------------------------------------------------------------------------------
def _run_backward(roots, root_grads, retain_graph, create_graph, capture=None, stop=None):
    """Back-propagate from ``roots`` and return the gradient table {id(tensor): Tensor}.

    Functions are visited newest first: a max-heap on the generation number (a function's
    generation exceeds those of all functions its inputs came from), with an insertion counter
    to break ties deterministically. Iterative, so a 10,000-step recurrent graph is fine.

    capture: ids of non-leaf tensors whose gradients must be returned (for ``grad``);
    their gradient is recorded when their function is reached.
    stop: ids of tensors the pass does not go beyond (their own functions are not visited),
    for partial derivatives with respect to intermediate tensors (``derivative_of``).
    """
    grads: dict[int, Tensor] = {}
    alive: dict[int, Tensor] = {}  # keeps tensors alive so that their ids stay unique
    captured: dict[int, Tensor] = {}
    heap: list = []
    counter = itertools.count()
    queued: set[int] = set()

    def push(fn):
        if id(fn) not in queued:
            queued.add(id(fn))
            heapq.heappush(heap, (-fn.generation, next(counter), fn))

    def accumulate(tensor, g):
        key = id(tensor)
        alive[key] = tensor
        if key not in grads:
            grads[key] = g
        elif create_graph:
            grads[key] = grads[key] + g  # recorded: the sum is part of the backward's graph
        else:
            grads[key] = Tensor._from_op(grads[key].data + g.data, False)

    for root, g in zip(roots, root_grads):
        accumulate(root, g)
        if root.grad_fn is not None:
            push(root.grad_fn)

    # the backward functions run with graph recording on exactly when a graph of the backward
    # pass is wanted (create_graph), so their Tensor operations record nothing otherwise
    with set_grad_enabled(create_graph):
        while heap:
            fn = heapq.heappop(heap)[2]
            if fn.inputs is None:
                raise RuntimeError(
                    f"backward through a graph that has already been freed: {type(fn).__name__} ran its "
                    f"backward before and released its saved values. Pass retain_graph=True to the first "
                    f"backward() if you need to back-propagate through the same graph twice."
                )
            gys = []
            for ref in fn.outputs:
                out = ref()
                g = grads.pop(id(out), None) if out is not None else None
                if g is not None:
                    alive.pop(id(out), None)
                    if out._retains_grad:
                        out._accumulate_grad(g, create_graph)
                    if capture is not None and id(out) in capture:
                        captured[id(out)] = g
                gys.append(g)
            if any(g is None for g in gys):  # an output nothing depended on: its gradient is zero
                xp = backend.get_array_module(fn.inputs[0].data)
                gys = [g if g is not None else Tensor(xp.zeros(shape, dtype=dtype))
                       for g, (shape, dtype) in zip(gys, fn._out_meta)]
            arrays = fn._has_array_backward and not create_graph
            gxs = fn.backward_arrays(*[g.data for g in gys]) if arrays else fn.backward(*gys)
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            if len(gxs) != len(fn.inputs):
                raise RuntimeError(
                    f"{_method(fn, arrays)} returned {len(gxs)} gradients for {len(fn.inputs)} inputs")
            for i, (x, gx) in enumerate(zip(fn.inputs, gxs)):
                if gx is None or not x._requires_grad:
                    continue
                if arrays:
                    if type(gx) is not np.ndarray:
                        gx = _array_gradient(fn, i, gx)
                    gx = Tensor._from_op(gx, False)  # the documented contract: arrays become constants
                elif not isinstance(gx, Tensor):
                    raise TypeError(
                        f"{_method(fn, arrays)} returned a {type(gx).__name__} as the gradient of input {i}; "
                        f"backward must return Tensors built with engine operations (put raw-array code in "
                        f"backward_arrays)"
                    )
                if gx.data.shape != x.data.shape or gx.data.dtype != x.data.dtype or type(gx.data) is not type(x.data):
                    gx = _fit_gradient(_method(fn, arrays), x, gx)
                accumulate(x, gx)
                if x.grad_fn is not None and (stop is None or id(x) not in stop):
                    push(x.grad_fn)
            if not retain_graph:
                fn._release()

    # what is left in `grads` belongs to leaves (no function to pop it) and to roots' leaves
    return grads, alive, captured


def _array_gradient(fn, i, gx):
    """Check a fast path's gradient that is not a plain NumPy array: a NumPy scalar (what NumPy
    arithmetic on 0-d arrays gives) becomes a 0-d array; device arrays pass; anything else is refused."""
    if isinstance(gx, np.generic):
        return np.asarray(gx)
    if not backend.is_array(gx):
        raise TypeError(
            f"{_method(fn, True)} returned a {type(gx).__name__} as the gradient of input {i}; "
            f"the raw-array fast path must return arrays (or None)"
        )
    return gx


def _method(fn, arrays: bool) -> str:
    """The name of the backward method that ran, for error messages."""
    return f"{type(fn).__name__}.{'backward_arrays' if arrays else 'backward'}"


def _fit_gradient(method, x, gx):
    """Sum a gradient back to its input's shape (undoing broadcasting) and check it.

    Broadcasting repeats an input along new leading axes and along axes of size 1; the
    derivative of a repetition is a sum, so the gradient is summed over those axes. Doing it
    here, once, means no op's backward has to.
    """
    if gx.shape != x.shape:
        try:
            gx = gx.sum_to(x.shape)
        except ValueError:
            raise RuntimeError(
                f"{method} produced a gradient of shape {gx.shape} for an input of "
                f"shape {x.shape}"
            ) from None
    if gx.dtype != x.dtype:
        raise RuntimeError(
            f"{method} produced a {gx.dtype} gradient for a {x.dtype} input of shape "
            f"{x.shape}"
        )
    if type(gx.data) is not type(x.data):
        raise RuntimeError(
            f"{method} produced a gradient on {gx.device} for an input on {x.device}"
        )
    return gx


def _root_gradients(fn_name, outputs, grad_outputs):
    grads = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if g is None:
            if out.data.size != 1:
                raise RuntimeError(
                    f"{fn_name}: gradient can be implicitly created only for a scalar output, but output "
                    f"{i} has shape {out.shape}; pass gradient= (a tensor of that shape)"
                )
            g = Tensor(out._xp.ones(out.shape, dtype=out.dtype))
        else:
            if not isinstance(g, Tensor):
                g = as_tensor(g, like=out)
            if g.shape != out.shape:
                raise RuntimeError(
                    f"{fn_name}: gradient has shape {g.shape} but the output {i} has shape {out.shape}"
                )
            if g.device != out.device:
                raise RuntimeError(f"{fn_name}: gradient is on {g.device} but output {i} is on {out.device}")
        grads.append(g)
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulate d(tensors)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    tensors: a Tensor or a sequence of Tensors; grad_tensors: the matching upstream
    gradients (may be omitted for scalars). Like ``torch.autograd.backward``.
    """
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = list(tensors)
    if grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    elif isinstance(grad_tensors, Tensor) or backend.is_array(grad_tensors):
        grad_tensors = [grad_tensors]
    for t in tensors:
        if not t.requires_grad:
            raise RuntimeError(
                f"backward: tensor of shape {t.shape} does not require grad and has no grad_fn "
                f"(was it computed under no_grad(), or from tensors without requires_grad=True?)"
            )
    if retain_graph is None:
        retain_graph = create_graph
    roots = _root_gradients("backward", tensors, grad_tensors)
    grads, alive, _ = _run_backward(tensors, roots, retain_graph, create_graph)
    owners: set[int] = set()
    for key, g in grads.items():
        t = alive[key]
        if t.grad_fn is None or t._retains_grad:
            # Add's backward hands the same array to both inputs, reshape a view of it, and
            # sum a read-only broadcast view: a leaf's .grad gets memory of its own, so that
            # updating it in place (as users and optimisers may) changes nothing else.
            owner = backend.memory_owner(g.data)
            if owner in owners or not backend.is_writable(g.data):
                g = g * 1.0 if create_graph else Tensor(g.data.copy())
                owner = backend.memory_owner(g.data)
            owners.add(owner)
            t._accumulate_grad(g, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Return d(outputs)/d(inputs) without touching ``.grad`` (like ``torch.autograd.grad``).

    With ``create_graph=True`` the returned gradients are themselves differentiable, which
    is how second derivatives and Hessian-vector products are computed.
    """
    if isinstance(outputs, Tensor):
        outputs = [outputs]
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    outputs = list(outputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    for t in outputs:
        if not t.requires_grad:
            raise RuntimeError(f"grad: an output of shape {t.shape} does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    roots = _root_gradients("grad", outputs, grad_outputs)
    capture = {id(t) for t in inputs}
    grads, alive, captured = _run_backward(outputs, roots, retain_graph, create_graph, capture=capture)
    result = []
    for i, t in enumerate(inputs):
        g = captured.get(id(t), grads.get(id(t)))
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} (shape {t.shape}) was not used to compute the outputs; "
                f"pass allow_unused=True to get None for it"
            )
        if g is not None and not create_graph:
            g = g.detach()
        result.append(g)
    return result[0] if single else tuple(result)


def derivative_of(fn, inputs, grad_outputs):
    """The gradients of ``inputs`` given those of ``fn(*inputs)``: a vector-Jacobian product of a
    computation written with engine operations, returned as Tensors (None where an input does
    not require grad).

    It re-runs ``fn`` on ``inputs`` with recording on and back-propagates ``grad_outputs``
    through that fresh graph, stopping at the inputs (partial derivatives: nothing flows on
    into the graph that produced the inputs). While a graph is being recorded (a backward with
    ``create_graph=True``) the result is itself differentiable. This gives an op with a fused,
    hand-written array backward its differentiable ``backward``: the derivative of its composed
    reference (the fused LSTM differentiates its step-by-step equations, for example).
    """
    record = _mode.enabled
    with set_grad_enabled(True):
        outputs = fn(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    if len(outputs) != len(grad_outputs):
        raise RuntimeError(f"derivative_of: {len(outputs)} outputs but {len(grad_outputs)} gradients")
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if g is not None and o.requires_grad]
    if not pairs:
        return tuple(None for _ in inputs)
    ids = {id(t) for t in inputs if isinstance(t, Tensor) and t.requires_grad}
    # under create_graph the recomputed graph is kept: the backward's own graph reaches into it
    # (a tanh's derivative is written with its output, for example)
    grads, _, captured = _run_backward([o for o, _ in pairs], [g for _, g in pairs], retain_graph=record,
                                       create_graph=record, capture=ids, stop=ids)
    result, seen = [], set()
    for t in inputs:
        g = captured.get(id(t), grads.get(id(t))) if isinstance(t, Tensor) and t.requires_grad else None
        if g is not None and id(t) in seen:
            g = None  # a tensor passed twice (one bias as b_ih and b_hh): its total gradient went to the first
        seen.add(id(t))
        result.append(g if g is None or record else g.detach())
    return tuple(result)


# The engine's one import cycle: Function creates Tensors and a Tensor's operations are Functions.
# engine/tensor.py imports this module at its end, and this module imports Tensor here, at its
# end, so that either can be imported first (each finds what it needs already defined).
from engine.tensor import Tensor, as_tensor  # noqa: E402
