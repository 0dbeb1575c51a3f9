"""Specification of the backward pass: ordering, accumulation, graph freeing, higher order."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.autograd import Function


def test_chain_rule_on_a_small_graph():
    x = engine.tensor(3.0, requires_grad=True)
    y = x * x * 2.0 + engine.exp(x)  # dy/dx = 4x + e^x
    y.backward()
    assert x.grad.item() == pytest.approx(12.0 + np.exp(3.0), rel=1e-6)


def test_fan_out_gradients_add_up():
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    a = x * 3.0
    y = (a * a + a).sum()  # a used twice: dy/dx = 3 (2a + 1)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * (2 * np.array([3.0, 6.0]) + 1))


def test_diamond_graph_visits_each_function_once():
    calls = []

    class Count(Function):
        def forward(self, x):
            return x * 1.0

        def backward(self, gy):
            calls.append(1)
            return gy

    x = engine.tensor([1.0], requires_grad=True)
    h = Count()(x)
    y = (h * 2.0 + h * 3.0).sum()
    y.backward()
    assert len(calls) == 1
    assert x.grad.item() == 5.0


def test_ten_thousand_step_recurrence_does_not_recurse():
    h = engine.tensor([0.5], requires_grad=True)
    w = engine.tensor([0.9], requires_grad=True)
    state = h
    for _ in range(10_000):
        state = engine.tanh(state * w + 0.1)
    state.sum().backward()
    assert h.grad is not None and np.isfinite(h.grad.numpy()).all()
    assert w.grad is not None


def test_gradients_accumulate_across_backward_calls():
    x = engine.tensor([1.0, -2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * 2 * np.array([1.0, -2.0]))


def test_retain_graph_backward_twice_gives_the_same_increment():
    x = engine.tensor([1.5], requires_grad=True)
    y = (engine.sin(x) * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_backward_through_a_freed_graph_raises():
    x = engine.tensor([1.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="already been freed"):
        y.backward()


def test_graph_is_freed_after_backward():
    x = engine.tensor([1.0], requires_grad=True)
    y = x * 2.0
    z = y.sum()
    z.backward()
    assert y.grad_fn.inputs is None  # the saved input references were dropped


def test_backward_on_non_scalar_needs_a_gradient():
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar output.*shape \(2,\)"):
        (x * 2.0).backward()
    (x * 2.0).backward(engine.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])


def test_backward_gradient_shape_is_checked():
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\)"):
        (x * 2.0).backward(engine.tensor([1.0, 1.0, 1.0]))


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="only floating-point.*int64"):
        engine.tensor([1, 2], requires_grad=True)


def test_mixing_devices_is_an_error():
    a = engine.ones(2, device="cpu")
    b = engine.ones(2, device="strict")
    with pytest.raises(RuntimeError, match="Add: inputs are on different devices"):
        a + b


def test_incompatible_shapes_name_the_op():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned"):
        engine.ones(2, 3) @ engine.ones(4, 5)
    with pytest.raises(ValueError, match="operands could not be broadcast"):
        engine.ones(2, 3) + engine.ones(4)
    with pytest.raises(ValueError, match=r"reshape: cannot view a tensor of shape \(2, 3\)"):
        engine.ones(2, 3).reshape(4, 2)


def test_no_grad_and_enable_grad():
    x = engine.tensor([1.0], requires_grad=True)
    with engine.no_grad():
        y = x * 2.0
        with engine.enable_grad():
            z = x * 2.0
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    assert engine.is_grad_enabled()


def test_only_leaves_keep_grad_unless_retained():
    x = engine.tensor([2.0], requires_grad=True)
    h = x * 3.0
    k = x * 4.0
    k.retain_grad()
    (h * k).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(k.grad.numpy(), [6.0])
    np.testing.assert_allclose(x.grad.numpy(), [48.0])


def test_broadcasting_is_undone_centrally():
    b = engine.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x = engine.ones(4, 3)
    (x * b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [4.0, 4.0, 4.0])


def test_second_derivative_and_hessian_vector_product():
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    f = (x**3).sum() + (x[0] * x[1])
    (g,) = [engine.grad(f, x, create_graph=True)]
    # g = 3x^2 + (x1, x0); Hessian = diag(6x) + [[0,1],[1,0]]
    v = engine.tensor([1.0, -1.0])
    (hv,) = [engine.grad((g * v).sum(), x)]
    np.testing.assert_allclose(hv.numpy(), [6 * 1 - 1, 1 - 6 * 2])


def test_backward_create_graph_makes_grad_differentiable():
    x = engine.tensor([0.7], requires_grad=True)
    y = engine.tanh(x).sum()
    y.backward(create_graph=True)
    gx = x.grad
    assert gx.requires_grad
    (g2,) = [engine.grad(gx.sum(), x)]
    t = np.tanh(0.7)
    np.testing.assert_allclose(g2.numpy(), [-2 * t * (1 - t * t)], rtol=1e-6)


# --- the op protocol: backward (Tensors) and the optional backward_arrays fast path ----------
class _CountingSquare(Function):
    """y = x^2 with both paths, counting which one the engine calls."""

    calls: list = []

    def forward(self, x):
        return x * x

    def backward(self, gy):
        _CountingSquare.calls.append("backward")
        (x,) = self.inputs
        return 2.0 * x * gy

    def backward_arrays(self, gy):
        _CountingSquare.calls.append("backward_arrays")
        return 2.0 * self.inputs[0].data * gy


def test_the_engine_calls_the_array_fast_path_without_create_graph_and_backward_with_it():
    _CountingSquare.calls = []
    x = engine.tensor([3.0], dtype=engine.float64, requires_grad=True)
    y = _CountingSquare()(x).sum()
    assert engine.grad(y, x, retain_graph=True).item() == 6.0
    assert _CountingSquare.calls == ["backward_arrays"]
    (g,) = [engine.grad(y, x, create_graph=True)]
    assert _CountingSquare.calls == ["backward_arrays", "backward"]
    assert g.requires_grad and engine.grad(g.sum(), x).item() == 2.0  # d2(x^2)/dx2


def test_an_op_with_only_an_array_backward_refuses_create_graph_naming_itself():
    class RawSquare(Function):
        def forward(self, x):
            return x * x

        def backward_arrays(self, gy):
            return 2 * self.inputs[0].data * gy

    x = engine.tensor([3.0], requires_grad=True)
    y = RawSquare()(x).sum()
    y.backward(retain_graph=True)
    assert x.grad.item() == 6.0
    with pytest.raises(RuntimeError, match="RawSquare has only a raw-array backward .*create_graph"):
        engine.grad(y, x, create_graph=True)


def test_backward_returning_an_array_is_a_type_error_naming_the_function():
    class ArrayFromBackward(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy.data * 2  # a raw array: the contract says Tensor

    x = engine.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"ArrayFromBackward\.backward returned a ndarray .*input 0.*backward_arrays"):
        ArrayFromBackward()(x).sum().backward()


def test_backward_arrays_returning_a_tensor_is_a_type_error_naming_the_function():
    class TensorFromArrays(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy * 2

        def backward_arrays(self, gy):
            return engine.Tensor(gy * 2)

    x = engine.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"TensorFromArrays\.backward_arrays returned a Tensor .*input 0"):
        TensorFromArrays()(x).sum().backward()


def test_the_old_first_order_only_flag_is_refused_at_class_definition():
    with pytest.raises(TypeError, match="first_order_only.*backward_arrays"):
        class Old(Function):  # noqa: F841
            first_order_only = True


def test_derivative_of_gives_partial_derivatives_that_can_be_differentiated_again():
    from engine.autograd import derivative_of

    x = engine.tensor([0.5, -1.0], dtype=engine.float64, requires_grad=True)
    a = x * 3.0  # an intermediate: derivative_of must stop here, not flow on to x
    with engine.no_grad():  # as in a backward without create_graph
        (ga,) = derivative_of(lambda t: engine.sin(t), (a,), (engine.ones_like(a),))
    np.testing.assert_allclose(ga.numpy(), np.cos(a.detach().numpy()))
    with engine.enable_grad():
        (ga,) = derivative_of(lambda t: engine.sin(t), (a,), (engine.ones_like(a),))
    (gx,) = [engine.grad(ga.sum(), x)]  # d/dx cos(3x) = -3 sin(3x)
    np.testing.assert_allclose(gx.numpy(), -3 * np.sin(3 * x.detach().numpy()))


def test_a_tensor_passed_twice_to_a_function_differentiated_by_derivative_of_is_counted_once():
    """f(u, v) = u * v called as f(x, x): the backward gets dL/dx = 2x once, not at both positions."""
    from engine.autograd import derivative_of

    class Product(Function):
        def forward(self, u, v):
            return u * v

        def backward(self, gy):
            return derivative_of(lambda u, v: u * v, self.inputs, (gy,))

    x = engine.tensor([0.5, -1.0], dtype=engine.float64, requires_grad=True)
    g = engine.grad(Product()(x, x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 2 * x.detach().numpy())


def test_a_wrong_gradient_shape_is_reported_with_the_function_name():
    class BadShape(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy.sum(dim=0, keepdim=True).reshape(-1)[:1].expand(5)

    x = engine.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"BadShape.backward produced a gradient of shape \(5,\)"):
        BadShape()(x).sum().backward()


def test_a_wrong_gradient_dtype_is_reported():
    class BadDtype(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy.double()

    x = engine.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="BadDtype.backward produced a float64 gradient for a float32 input"):
        BadDtype()(x).sum().backward()


def test_grad_does_not_touch_dot_grad_and_reports_unused_inputs():
    x = engine.tensor([1.0], requires_grad=True)
    unused = engine.tensor([1.0], requires_grad=True)
    y = (x * 5.0).sum()
    g = engine.grad(y, x, retain_graph=True)
    assert x.grad is None and g.item() == 5.0
    with pytest.raises(RuntimeError, match="input 1 .* was not used"):
        engine.grad(y, [x, unused], retain_graph=True)
    assert engine.grad(y, [x, unused], allow_unused=True)[1] is None


def test_multi_output_function_with_an_unused_output():
    x = engine.tensor([[1.0, 2.0, 3.0, 4.0]], requires_grad=True)
    a, b = engine.split(x, 2, dim=1)
    (b * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0, 3, 3]])


def test_same_seed_same_random_numbers():
    engine.manual_seed(7)
    a = engine.randn(5).numpy()
    engine.manual_seed(7)
    b = engine.randn(5).numpy()
    np.testing.assert_array_equal(a, b)
    engine.manual_seed(7)
    c = engine.randn(5, device="strict")
    np.testing.assert_array_equal(a, engine.backend.asnumpy(c.data))


def test_leaves_never_share_gradient_memory():
    a = engine.tensor([1.0, 2.0], requires_grad=True)
    b = engine.tensor([[3.0, 4.0]], requires_grad=True)
    (a + b.reshape(2)).sum().backward()  # Add hands one array to both; reshape makes a view of it
    a.grad.data[...] = 0.0
    np.testing.assert_array_equal(b.grad.numpy(), [[1.0, 1.0]])


def test_every_function_in_the_engine_has_a_differentiable_backward():
    """No op is first-order only: each Function subclass shipped with the engine (and its layers,
    losses and task ops) writes ``backward`` with Tensors; backward_arrays is only ever an extra."""
    import importlib
    import pkgutil

    import engine.nn.functional

    for info in pkgutil.iter_modules(engine.nn.functional.__path__, "engine.nn.functional."):
        importlib.import_module(info.name)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    concrete = [c for c in subclasses(Function) if not c.__subclasses__()]  # leaves, not shared bases
    missing = sorted(c.__qualname__ for c in concrete
                     if c.__module__.startswith("engine.") and c.backward is Function.backward)
    assert not missing, f"Functions without a differentiable backward: {missing}"


def test_the_protocol_example_of_the_autograd_docstring_works_as_written():
    import re

    import engine.autograd

    code = re.search(r"sin\(x\)::\n\n(.*?)\n    y = XSinX", engine.autograd.__doc__, re.S).group(1)
    namespace = {"Function": Function, "engine": engine}
    exec(__import__("textwrap").dedent(code), namespace)  # the class exactly as documented
    x = engine.tensor([0.3, -1.2, 2.0], dtype=engine.float64)
    engine.gradcheck(lambda t: namespace["XSinX"]()(t), [x])
    engine.gradgradcheck(lambda t: namespace["XSinX"]()(t), [x])
