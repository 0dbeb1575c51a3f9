"""engine.fft: centred orthonormal 2-D FFTs on (real, imag) data and the complex helpers.

Checked against NumPy's complex FFT (forward), numerically in float64 (gradcheck, gradgradcheck,
on every device), against PyTorch's torch.fft (forward and backward), and for the properties the
reconstruction code relies on: unitarity (Parseval), inverse, DC at the centre, adjointness.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.fft import complex_abs, complex_conj, complex_mul, fft2c, ifft2c


def _complex(a):
    return a[..., 0] + 1j * a[..., 1]


def _ref_fft2c(z):
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(z, axes=axes), axes=axes, norm="ortho"), axes=axes)


def _ref_ifft2c(z):
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(z, axes=axes), axes=axes, norm="ortho"), axes=axes)


def _tensor(a, device, requires_grad=False):
    return engine.tensor(a, device=device, requires_grad=requires_grad)


# odd sizes matter: there fftshift and ifftshift differ, and a transform that mixes them up is wrong
SHAPES = [(4, 6, 2), (2, 5, 7, 2), (3, 1, 4, 5, 2)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("which", ["fft2c", "ifft2c"])
def test_forward_matches_numpy_complex_fft(shape, which, device):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape)
    fn, ref = (fft2c, _ref_fft2c) if which == "fft2c" else (ifft2c, _ref_ifft2c)
    y = fn(_tensor(a, device))
    assert y.device == device and y.shape == shape
    np.testing.assert_allclose(_complex(y.numpy()), ref(_complex(a)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES[:2])
@pytest.mark.parametrize("fn", [fft2c, ifft2c])
def test_gradcheck_and_gradgradcheck(shape, fn, device):
    rng = np.random.default_rng(1)
    x = _tensor(rng.standard_normal(shape), device, requires_grad=True)
    assert engine.gradcheck(fn, [x]).passed
    assert engine.gradgradcheck(fn, [x]).passed


def test_backward_is_the_inverse_transform():
    """The gradient of <u, fft2c(x)> with respect to x is ifft2c(u) (the adjoint of a unitary map)."""
    rng = np.random.default_rng(2)
    x = engine.tensor(rng.standard_normal((5, 7, 2)), requires_grad=True)
    u = rng.standard_normal((5, 7, 2))
    (fft2c(x) * engine.tensor(u)).sum().backward()
    np.testing.assert_allclose(_complex(x.grad.numpy()), _ref_ifft2c(_complex(u)), atol=1e-12)


def test_unitary_inverse_and_centred_dc():
    rng = np.random.default_rng(3)
    x = engine.tensor(rng.standard_normal((2, 9, 8, 2)))
    k = fft2c(x)
    np.testing.assert_allclose((k * k).sum().item(), (x * x).sum().item(), rtol=1e-12)  # Parseval
    np.testing.assert_allclose(ifft2c(k).numpy(), x.numpy(), atol=1e-12)
    ones = engine.tensor(np.stack([np.ones((9, 8)), np.zeros((9, 8))], axis=-1))
    mag = complex_abs(fft2c(ones)).numpy()
    assert mag[9 // 2, 8 // 2] == pytest.approx(np.sqrt(72)) and np.sum(mag > 1e-9) == 1  # DC in the middle


def test_float32_in_float32_out(device):
    x = _tensor(np.random.default_rng(4).standard_normal((3, 8, 8, 2)).astype(np.float32), device, True)
    y = fft2c(x)
    assert y.dtype == np.float32
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.device == device


@pytest.mark.parametrize("bad", [(8, 8), (8, 8, 3), (8, 2)])
def test_bad_layout_raises(bad):
    with pytest.raises(ValueError, match="fft2c: expected complex data stored as"):
        fft2c(engine.zeros(*bad))
    with pytest.raises(TypeError, match="ifft2c: expected a floating-point"):
        ifft2c(engine.zeros(4, 4, 2, dtype=engine.int64))


def test_complex_helpers_match_numpy(device):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((3, 4, 2)), rng.standard_normal((4, 2))  # b broadcasts
    ta, tb = _tensor(a, device), _tensor(b, device)
    np.testing.assert_allclose(_complex(complex_mul(ta, tb).numpy()), _complex(a) * _complex(b), atol=1e-12)
    np.testing.assert_allclose(_complex(complex_conj(ta).numpy()), np.conj(_complex(a)), atol=1e-12)
    np.testing.assert_allclose(complex_abs(ta).numpy(), np.abs(_complex(a)), atol=1e-12)


def test_complex_helpers_gradcheck(device):
    rng = np.random.default_rng(6)
    a = _tensor(rng.standard_normal((3, 4, 2)), device, True)
    b = _tensor(rng.standard_normal((3, 4, 2)), device, True)
    assert engine.gradcheck(complex_mul, [a, b]).passed
    assert engine.gradgradcheck(complex_mul, [a, b]).passed
    assert engine.gradcheck(complex_conj, [a]).passed
    assert engine.gradcheck(complex_abs, [a]).passed
    assert engine.gradgradcheck(complex_abs, [a]).passed


def test_complex_abs_gradient_is_zero_at_zero():
    x = engine.tensor(np.array([[0.0, 0.0], [3.0, 4.0]]), requires_grad=True)
    complex_abs(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.0], [0.6, 0.8]])


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(2, 6, 5, 2), (7, 4, 2)])
def test_matches_torch_fft_forward_and_backward(torch, shape):
    rng = np.random.default_rng(7)
    a, u = rng.standard_normal(shape), rng.standard_normal(shape)

    def torch_fft2c(t, inverse):
        z = torch.view_as_complex(t)
        dims = (-2, -1)
        f = torch.fft.ifft2 if inverse else torch.fft.fft2
        return torch.view_as_real(torch.fft.fftshift(f(torch.fft.ifftshift(z, dim=dims), dim=dims, norm="ortho"),
                                                     dim=dims))

    for inverse, fn in ((False, fft2c), (True, ifft2c)):
        tx = torch.tensor(a, requires_grad=True)
        ty = torch_fft2c(tx, inverse)
        (ty * torch.tensor(u)).sum().backward()
        x = engine.tensor(a, requires_grad=True)
        y = fn(x)
        (y * engine.tensor(u)).sum().backward()
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), atol=1e-12)

    # the magnitude and the product against torch's complex tensors
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(u, requires_grad=True)
    t_out = torch.view_as_complex(ta).abs().sum() + torch.view_as_real(
        torch.view_as_complex(ta) * torch.view_as_complex(tb)).pow(2).sum()
    t_out.backward()
    ea, eb = engine.tensor(a, requires_grad=True), engine.tensor(u, requires_grad=True)
    e_out = complex_abs(ea).sum() + (complex_mul(ea, eb) ** 2).sum()
    e_out.backward()
    np.testing.assert_allclose(e_out.item(), t_out.item(), rtol=1e-12)
    np.testing.assert_allclose(ea.grad.numpy(), ta.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(eb.grad.numpy(), tb.grad.numpy(), atol=1e-10)
