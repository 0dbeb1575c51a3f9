"""Numerical gradient checking: is an op's backward the derivative of its forward?

For a function f and inputs x, pick a random upstream gradient u (one per output) and look at
the scalar L(x) = sum_k <u_k, f_k(x)>. Its gradient is what backward returns when given u, so
dL/dx computed by the engine (analytic) must equal central differences

    dL/dx_i  ~  (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)          (error O(eps^2))

computed in float64. A *random* u matters: if u were all ones (checking sum(f)), a softmax
whose backward returned zeros would pass, because sum(softmax(x)) = 1 has zero gradient.

Two modes:
  "full"         every element of every input (exact, cost 2 forward passes per element);
  "directional"  for large inputs: for random directions v, compare the numerical
                 (L(x + eps v) - L(x - eps v)) / (2 eps) with the analytic <dL/dx, v>.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from engine import autograd, backend
from engine.tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "gradcheck_module", "GradcheckError", "GradcheckReport"]


class GradcheckError(AssertionError):
    """Raised when analytic and numerical gradients disagree; carries the report."""

    def __init__(self, report: GradcheckReport):
        super().__init__(str(report))
        self.report = report


@dataclasses.dataclass
class GradcheckReport:
    passed: bool
    max_abs_error: float
    max_rel_error: float
    worst_input: int | None
    worst_index: tuple | None
    analytic: float | None
    numerical: float | None
    checked: int
    mode: str
    atol: float
    rtol: float

    def __str__(self):
        status = "passed" if self.passed else "FAILED"
        text = (
            f"gradcheck {status} ({self.mode}, {self.checked} values checked): max abs error "
            f"{self.max_abs_error:.3e}, max rel error {self.max_rel_error:.3e} (atol={self.atol}, rtol={self.rtol})"
        )
        if self.worst_input is not None:
            where = "direction" if self.mode == "directional" else f"element {self.worst_index}"
            text += (
                f"; worst at input {self.worst_input} {where}: analytic {self.analytic:.8g} "
                f"vs numerical {self.numerical:.8g}"
            )
        return text


def _as_float64_leaves(inputs):
    """Copy inputs to float64 leaves; floating inputs with requires_grad (or all floating inputs
    if none asks) are the ones checked."""
    tensors = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
    wanted = [t.requires_grad for t in tensors]
    if not any(wanted):
        wanted = [t.dtype.kind == "f" for t in tensors]
    leaves = []
    for t, w in zip(tensors, wanted):
        data = t.data.astype("float64") if t.dtype.kind == "f" else t.data
        leaves.append(Tensor(data, requires_grad=bool(w)))
    return leaves, [i for i, w in enumerate(wanted) if w]


def _outputs(fn, leaves):
    out = fn(*leaves)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _projected(fn, leaves, us):
    """L = sum_k <u_k, f_k(leaves)> as a Python float. The graph is recorded (and discarded)
    because fn may itself differentiate (gradgradcheck)."""
    outs = _outputs(fn, leaves)
    return sum(float((o.data * u).sum()) for o, u in zip(outs, us))


def gradcheck(
    fn,
    inputs,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    mode: str = "full",
    n_directions: int = 4,
    seed: int = 0,
    raise_exception: bool = True,
    create_graph: bool = False,
) -> GradcheckReport:
    """Compare ``fn``'s analytic gradients with central differences in float64.

    fn: callable taking tensors and returning a tensor or a tuple of tensors;
    inputs: tensors or arrays (copied to float64; their device is kept).
    create_graph: compute the analytic gradient through the ops' differentiable ``backward``
    (as a create_graph=True pass does) instead of their raw-array fast path.
    An element passes when |analytic - numerical| <= atol + rtol * |numerical|.
    Returns a GradcheckReport; raises GradcheckError with it on failure (unless
    ``raise_exception=False``).
    """
    if mode not in ("full", "directional"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'directional', got {mode!r}")
    leaves, checked = _as_float64_leaves(inputs)
    if not checked:
        raise ValueError("gradcheck: no floating-point input to check")
    rng = np.random.default_rng(seed)
    outs = _outputs(fn, leaves)
    if not outs:
        raise ValueError("gradcheck: fn returned no floating-point tensor")
    us = [backend.to_device(rng.standard_normal(o.shape), o.device) for o in outs]
    differentiable = [o for o in outs if o.requires_grad]
    analytic = {}
    if differentiable:
        grads = autograd.grad(
            differentiable,
            [leaves[i] for i in checked],
            grad_outputs=[Tensor(u) for o, u in zip(outs, us) if o.requires_grad],
            allow_unused=True,
            create_graph=create_graph,
        )
        for i, g in zip(checked, grads):
            analytic[i] = backend.asnumpy(g.data) if g is not None else np.zeros(leaves[i].shape)
    else:
        analytic = {i: np.zeros(leaves[i].shape) for i in checked}

    worst = dict(abs=0.0, rel=0.0, input=None, index=None, analytic=None, numerical=None, ratio=-1.0)
    count = 0
    passed = True

    def consider(i, index, a, n):
        nonlocal passed
        err = abs(a - n)
        tol = atol + rtol * abs(n)
        worst["abs"] = max(worst["abs"], err)
        worst["rel"] = max(worst["rel"], err / max(abs(n), 1e-12))
        if err / tol > worst["ratio"]:
            worst.update(ratio=err / tol, input=i, index=index, analytic=a, numerical=n)
        if not err <= tol:  # also catches nan
            passed = False

    for i in checked:
        data = leaves[i].data
        if mode == "full":
            for flat in range(data.size):
                index = np.unravel_index(flat, data.shape)
                original = float(data[index])
                data[index] = original + eps
                plus = _projected(fn, leaves, us)
                data[index] = original - eps
                minus = _projected(fn, leaves, us)
                data[index] = original
                consider(i, tuple(int(k) for k in index), float(analytic[i][index]), (plus - minus) / (2 * eps))
                count += 1
        else:
            for _ in range(n_directions):
                v_host = rng.standard_normal(data.shape)
                v = backend.to_device(v_host, leaves[i].device)
                original = data.copy()
                leaves[i].data = original + eps * v
                plus = _projected(fn, leaves, us)
                leaves[i].data = original - eps * v
                minus = _projected(fn, leaves, us)
                leaves[i].data = original
                data = original
                consider(i, None, float((analytic[i] * v_host).sum()), (plus - minus) / (2 * eps))
                count += 1

    report = GradcheckReport(
        passed=passed,
        max_abs_error=worst["abs"],
        max_rel_error=worst["rel"],
        worst_input=worst["input"],
        worst_index=worst["index"],
        analytic=worst["analytic"],
        numerical=worst["numerical"],
        checked=count,
        mode=mode,
        atol=atol,
        rtol=rtol,
    )
    if not passed and raise_exception:
        raise GradcheckError(report)
    return report


def gradgradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, mode: str = "full",
                  seed: int = 0, raise_exception: bool = True) -> GradcheckReport:
    """Check second derivatives: gradcheck of x -> d<u, fn(x)>/dx, whose backward is the
    backward of fn's backward (requires create_graph support in every op fn uses).

    First the first derivative itself, as create_graph computes it (the ops' differentiable
    ``backward``), is checked against central differences: a second derivative of a wrong
    first derivative would otherwise pass. The report returned is the first that fails, or
    the second-order one.
    """
    first = gradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol, mode=mode, seed=seed,
                      raise_exception=raise_exception, create_graph=True)
    if not first.passed:
        return first
    leaves, checked = _as_float64_leaves(inputs)
    rng = np.random.default_rng(seed + 1)
    outs = _outputs(fn, leaves)
    us = [Tensor(backend.to_device(rng.standard_normal(o.shape), o.device)) for o in outs]

    def first_derivative(*xs):
        xs = list(xs)
        outs = [o for o in _outputs(fn, xs) if o.requires_grad]
        grads = autograd.grad(outs, [xs[i] for i in checked], grad_outputs=us[: len(outs)],
                              create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivative, [leaf if i in checked else leaf.detach() for i, leaf in enumerate(leaves)],
                     eps=eps, atol=atol, rtol=rtol, mode=mode, seed=seed, raise_exception=raise_exception)


def gradcheck_module(module, *inputs, **kwargs) -> GradcheckReport:
    """gradcheck of a layer with respect to its inputs AND every parameter, in float64.

    The module is converted to float64 in place; each parameter is replaced by a checker's leaf
    for the duration of each call (engine.nn.utils.swap_parameters), so the layer itself is
    differentiated, not a copy. kwargs go to gradcheck (eps, atol, rtol, mode...).
    """
    from engine.nn.utils import swap_parameters

    module.double()
    names = [name for name, _ in module.named_parameters()]

    def run(*args):
        xs, params = args[: len(inputs)], args[len(inputs):]
        with swap_parameters(module, dict(zip(names, params))):
            return module(*xs)

    return gradcheck(run, [*inputs, *module.parameters()], **kwargs)
