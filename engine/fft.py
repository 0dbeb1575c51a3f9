"""Differentiable centred orthonormal 2-D Fourier transforms on complex data stored as (real, imag).

MRI scanners measure k-space, the Fourier transform of the image. Reconstruction networks move
between image and k-space inside the network (a data-consistency layer replaces the predicted
k-space by the measured one where it was sampled), so the transforms must be operations with a
gradient.

Complex layout
--------------
The engine's tensors are real, so a complex array z of shape (..., H, W) is stored as a real
tensor x of shape (..., H, W, 2) with x[..., 0] = Re z and x[..., 1] = Im z (the layout of the
fastMRI reference code and of ``torch.view_as_real``). The spatial axes are the two axes before
the trailing one.

The centred orthonormal transform (fastMRI's convention)
--------------------------------------------------------
    fft2c(x)  = fftshift(fft2(ifftshift(x), norm="ortho"))      over the axes (H, W)
    ifft2c(k) = fftshift(ifft2(ifftshift(k), norm="ortho"))

The shifts put the zero frequency (DC) in the middle of the array, where MRI people draw it;
norm="ortho" scales by 1 / sqrt(H W) both ways, so the transform F is unitary: F^H F = I and
||F x|| = ||x|| (Parseval).

The derivative
--------------
Write F for the complex linear map of fft2c and L for a real loss. With g = dL/dRe(y) + i dL/dIm(y)
(the gradient of L stored in the same (real, imag) layout), a change dx of the input changes L by

    dL = Re <g, dy> = Re <g, F dx> = Re <F^H g, dx>

so the gradient with respect to x is F^H g: the backward of a linear map is its adjoint. F is
unitary, so F^H = F^-1, and the adjoint of fftshift . FFT . ifftshift is (ifftshift)^T . FFT^H .
(fftshift)^T = fftshift . IFFT . ifftshift (a shift's transpose is the opposite shift), which is
exactly ifft2c (also for odd sizes). Hence

    backward of fft2c  = ifft2c,        backward of ifft2c = fft2c.

Both backward passes call the other Function on Tensors, so they are differentiable again
(second derivatives: the backward of a linear map is linear in gy and does not depend on x, so
they are zero with respect to x, and the double backward is again the transform).

Complex helpers ``complex_mul``, ``complex_conj`` and ``complex_abs`` work on the same layout and
are composed from engine operations (their gradients come from the ops they are built from);
``complex_abs`` is its own op so that its gradient at |z| = 0 is 0, as in PyTorch.
"""

from __future__ import annotations

from engine.autograd import Function
from engine.ops.shape import stack
from engine.tensor import Tensor, as_tensor

__all__ = ["fft2c", "ifft2c", "complex_mul", "complex_conj", "complex_abs", "to_complex_layout"]

_SPATIAL = (-3, -2)  # (H, W) in (..., H, W, 2)


def _check_complex(x, op: str) -> None:
    if x.ndim < 3 or x.shape[-1] != 2:
        raise ValueError(
            f"{op}: expected complex data stored as (..., H, W, 2) with a trailing (real, imag) axis, "
            f"got shape {tuple(x.shape)}"
        )
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {x.dtype}")


class _CentredFFT2(Function):
    """Shared forward of FFT2c / IFFT2c on raw arrays (..., H, W, 2) -> (..., H, W, 2)."""

    inverse = False

    def forward(self, x):
        xp = self.xp
        z = x[..., 0] + 1j * x[..., 1]  # complex64 for float32 input, complex128 for float64
        axes = (-2, -1)
        transform = xp.fft.ifft2 if self.inverse else xp.fft.fft2
        k = xp.fft.fftshift(transform(xp.fft.ifftshift(z, axes=axes), axes=axes, norm="ortho"), axes=axes)
        return xp.stack([k.real, k.imag], axis=-1).astype(x.dtype, copy=False)


class FFT2c(_CentredFFT2):
    """y = fftshift(FFT2(ifftshift(x)), norm ortho) over (H, W).   dL/dx = ifft2c(dL/dy) (the adjoint, F^H = F^-1).

    x, y: (..., H, W, 2) real tensors holding (real, imag).
    """

    inverse = False

    def backward(self, gy):
        return IFFT2c()(gy)


class IFFT2c(_CentredFFT2):
    """y = fftshift(IFFT2(ifftshift(x)), norm ortho) over (H, W).   dL/dx = fft2c(dL/dy).

    x, y: (..., H, W, 2) real tensors holding (real, imag).
    """

    inverse = True

    def backward(self, gy):
        return FFT2c()(gy)


def fft2c(x) -> Tensor:
    """Centred orthonormal 2-D FFT: image (..., H, W, 2) -> k-space (..., H, W, 2), DC at (H // 2, W // 2)."""
    x = as_tensor(x)
    _check_complex(x, "fft2c")
    return FFT2c()(x)


def ifft2c(k) -> Tensor:
    """Centred orthonormal inverse 2-D FFT: k-space (..., H, W, 2) -> image (..., H, W, 2)."""
    k = as_tensor(k)
    _check_complex(k, "ifft2c")
    return IFFT2c()(k)


def complex_mul(a, b) -> Tensor:
    """(a_r + i a_i)(b_r + i b_i) = (a_r b_r - a_i b_i) + i (a_r b_i + a_i b_r); shapes (..., 2) broadcast."""
    a, b = as_tensor(a), as_tensor(b, like=a)
    for name, t in (("a", a), ("b", b)):
        if t.ndim < 1 or t.shape[-1] != 2:
            raise ValueError(f"complex_mul: {name} must end in a (real, imag) axis of size 2, got {tuple(t.shape)}")
    ar, ai, br, bi = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    return stack([ar * br - ai * bi, ar * bi + ai * br], dim=-1)


def complex_conj(x) -> Tensor:
    """Complex conjugate (real, -imag) of (..., 2) data."""
    x = as_tensor(x)
    if x.ndim < 1 or x.shape[-1] != 2:
        raise ValueError(f"complex_conj: expected a trailing (real, imag) axis of size 2, got {tuple(x.shape)}")
    return stack([x[..., 0], -x[..., 1]], dim=-1)


class ComplexAbs(Function):
    """y = |z| = sqrt(x_r^2 + x_i^2):  (..., 2) -> (...).

    dy/dx_r = x_r / y, dy/dx_i = x_i / y, so dL/dx = (dL/dy / y) [x_r, x_i]; taken as 0 where y = 0
    (PyTorch's choice for abs of a complex zero), so a zero-filled hole gives no NaN.
    """

    def forward(self, x):
        return self.xp.sqrt(x[..., 0] * x[..., 0] + x[..., 1] * x[..., 1])

    def backward(self, gy):
        (x,) = self.inputs
        y = self.output()
        zero = y.data == 0
        safe = Tensor(self.xp.where(zero, 1.0, 0.0).astype(y.dtype)) + y  # y where y > 0, 1 where y = 0
        scale = Tensor(self.xp.where(zero, 0.0, 1.0).astype(y.dtype)) * gy / safe
        return scale.unsqueeze(-1) * x


def complex_abs(x) -> Tensor:
    """Magnitude |z| of complex data (..., 2) -> (...)."""
    x = as_tensor(x)
    if x.ndim < 1 or x.shape[-1] != 2:
        raise ValueError(f"complex_abs: expected a trailing (real, imag) axis of size 2, got {tuple(x.shape)}")
    return ComplexAbs()(x)


def to_complex_layout(array):
    """A NumPy/CuPy complex array (...,) -> a real array (..., 2) of (real, imag), same precision."""
    from engine import backend

    xp = backend.get_array_module(array)
    real = xp.float32 if array.dtype == xp.complex64 else xp.float64
    return xp.stack([array.real, array.imag], axis=-1).astype(real)
