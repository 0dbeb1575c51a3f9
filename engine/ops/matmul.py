"""Matrix multiplication, including batched and vector cases (NumPy/PyTorch matmul rules)."""

from __future__ import annotations

from engine.autograd import Function


class MatMul(Function):
    """y = a @ b.

    For matrices, dL/da = dL/dy @ b^T and dL/db = a^T @ dL/dy. Vectors are treated as a
    (1, k) row on the left or a (k, 1) column on the right, as matmul does; leading batch
    dimensions broadcast, and the engine sums the gradients back over them.
    a: (..., n, k) or (k,);  b: (..., k, m) or (k,).
    """

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}")
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if ka != kb:
            raise ValueError(
                f"matmul: shapes {a.shape} and {b.shape} are not aligned: {ka} (last dim of a) != {kb} "
                f"({'second-to-last' if b.ndim > 1 else 'only'} dim of b)"
            )
        return self.xp.matmul(a, b)

    def backward(self, gy):
        a, b = self.inputs
        a2 = a.unsqueeze(0) if a.ndim == 1 else a  # (k,) -> (1, k)
        b2 = b.unsqueeze(-1) if b.ndim == 1 else b  # (k,) -> (k, 1)
        g = gy
        if a.ndim == 1:
            g = g.unsqueeze(-2)
        if b.ndim == 1:
            g = g.unsqueeze(-1)
        ga = matmul(g, b2.mT)
        gb = matmul(a2.mT, g)
        if a.ndim == 1:
            ga = ga.squeeze(-2)
        if b.ndim == 1:
            gb = gb.squeeze(-1)
        return ga, gb

    def backward_arrays(self, gy):
        """The same products on arrays, skipping the gradient of an input that needs none (the data)."""
        xp = self.xp
        a, b = self.inputs
        a2 = a.data[None] if a.ndim == 1 else a.data
        b2 = b.data[:, None] if b.ndim == 1 else b.data
        g = gy[..., None] if b.ndim == 1 else gy  # the column axis of a (k,) right operand
        if a.ndim == 1:
            g = g[..., None, :]  # the row axis of a (k,) left operand
        ga = xp.matmul(g, b2.swapaxes(-1, -2)) if a.requires_grad else None
        gb = xp.matmul(a2.swapaxes(-1, -2), g) if b.requires_grad else None
        if a.ndim == 1 and ga is not None:
            ga = ga[..., 0, :]
        if b.ndim == 1 and gb is not None:
            gb = gb[..., 0]
        return ga, gb


def matmul(a, b):
    """Matrix product with NumPy's rules for vectors and batches (``a @ b``)."""
    return MatMul()(a, b)
