"""Registration objectives: image similarity (local NCC, mutual information, Dice of warped labels) and
smoothness regularisers of displacement fields (diffusion, bending energy).

Unsupervised registration (VoxelMorph, Balakrishnan et al. 2019) minimises

    L(phi) = - Sim(fixed, moving o phi) + lambda * Reg(u),      phi(x) = x + u(x),

so that the warped moving image looks like the fixed one while u stays smooth. Every function here is
composed from differentiable engine operations (first and second derivatives come from the chain rule).
Shapes: images (N, C, *spatial), displacement fields (N, d, *spatial), spatial 2-D or 3-D.
Conventions follow MONAI's losses (LocalNormalizedCrossCorrelationLoss, GlobalMutualInformationLoss,
BendingEnergyLoss, DiffusionLoss) and VoxelMorph's (NCC, Grad); differences are stated per function.
"""

from __future__ import annotations

from engine.ops.shape import cat, pad
from engine.tensor import Tensor

__all__ = [
    "local_ncc_loss",
    "global_mutual_information_loss",
    "diffusion_loss",
    "bending_energy_loss",
    "soft_dice_loss",
    "box_sum",
]


def _check_images(pred, target, op):
    if not isinstance(pred, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{op}: pred and target must be Tensors, got {type(pred).__name__} and {type(target).__name__}")
    if pred.shape != target.shape or pred.ndim not in (4, 5):
        raise ValueError(
            f"{op}: pred and target must have the same shape (N, C, H, W) or (N, C, D, H, W), got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )


def box_sum(x: Tensor, window: int) -> Tensor:
    """Sum of x over a centred cube of side ``window`` (odd) around every voxel, zeros outside.

    x: (N, C, *spatial) -> same shape. Separable: one pass per spatial axis, each the sum of
    ``window`` shifted slices of the zero-padded array (a loop over offsets, not over voxels).
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"box_sum: window must be a positive odd integer, got {window}")
    half = window // 2
    nd = x.ndim - 2
    for axis in range(2, 2 + nd):
        widths = [0, 0] * nd
        widths[2 * (x.ndim - 1 - axis)] = widths[2 * (x.ndim - 1 - axis) + 1] = half  # torch order: last axis first
        padded = pad(x, tuple(widths))
        n = x.shape[axis]
        total = None
        for k in range(window):
            key = (slice(None),) * axis + (slice(k, k + n),)
            total = padded[key] if total is None else total + padded[key]
        x = total
    return x


def local_ncc_loss(pred, target, window: int = 9, eps: float = 1e-5):
    """Minus the mean squared local normalised cross-correlation (VoxelMorph's NCC).

    In every window W (side ``window``, zero padding at the borders) around voxel x:

        cc(x) = (sum_W (I - mean_I)(J - mean_J))^2 / (sum_W (I - mean_I)^2 * sum_W (J - mean_J)^2 + eps)

    and the loss is -mean_x cc(x), in [-1, 0]: insensitive to local affine intensity changes
    (bias fields, contrast), so it suits same-modality MRI. Computed from the five window sums of
    I, J, I^2, J^2, IJ. pred, target: (N, C, *spatial). Like VoxelMorph (and unlike MONAI's version,
    which returns -mean of cc computed with a variance floor), eps is added to the product of variances.
    """
    _check_images(pred, target, "local_ncc_loss")
    nd = pred.ndim - 2
    c = pred.shape[1]
    size = float(window**nd)
    sums = box_sum(cat([pred, target, pred * pred, target * target, pred * target], dim=1), window)
    s_i, s_j, s_ii, s_jj, s_ij = (sums[:, k * c:(k + 1) * c] for k in range(5))
    mean_i, mean_j = s_i / size, s_j / size
    cross = s_ij - mean_j * s_i - mean_i * s_j + mean_i * mean_j * size
    var_i = s_ii - 2.0 * mean_i * s_i + mean_i * mean_i * size
    var_j = s_jj - 2.0 * mean_j * s_j + mean_j * mean_j * size
    cc = cross * cross / (var_i * var_j + eps)
    return -cc.mean()


def global_mutual_information_loss(pred, target, bins: int = 32, sigma_ratio: float = 0.5, eps: float = 1e-7):
    """Minus the mutual information of the intensities of pred and target, with Parzen-window
    (Gaussian) histograms so that it is differentiable (Mattes et al. 2003; MONAI's
    GlobalMutualInformationLoss with its Gaussian kernel).

    Intensities are expected in [0, 1] (values outside are clamped). With bin centres c_b (``bins``
    equally spaced in [0, 1]) and sigma = sigma_ratio * (c_1 - c_0), each voxel spreads a unit mass
    over the bins, w_b(v) = exp(-(v - c_b)^2 / (2 sigma^2)) / sum_b' exp(...). Per image:

        p(a, b) = mean_x w_a(I(x)) w_b(J(x)),   p(a) = mean_x w_a(I(x)),   p(b) = mean_x w_b(J(x)),
        MI = sum_ab p(a, b) log(p(a, b) / (p(a) p(b)))

    MI is large when one image's intensity predicts the other's, whatever the mapping: a T1 and a
    proton-density image of the same head align although their contrasts differ. Returns -mean over
    the batch of MI (nats). pred, target: (N, 1, *spatial) (channels are pooled with the voxels).
    """
    _check_images(pred, target, "global_mutual_information_loss")
    if bins < 2:
        raise ValueError(f"global_mutual_information_loss: bins must be >= 2, got {bins}")
    n = pred.shape[0]
    xp = pred._xp
    centres = Tensor(xp.linspace(0.0, 1.0, bins, dtype=pred.dtype))
    sigma = sigma_ratio / (bins - 1)
    weight = []
    for image in (pred, target):
        v = image.reshape(n, -1, 1).clip(0.0, 1.0)  # (N, P, 1)
        w = (-(v - centres) ** 2 * (1.0 / (2.0 * sigma * sigma))).exp()  # (N, P, B)
        weight.append(w / w.sum(axis=2, keepdims=True))
    w_a, w_b = weight
    voxels = float(w_a.shape[1])
    p_ab = (w_a.mT @ w_b) / voxels  # (N, B, B)
    p_a = w_a.mean(axis=1).unsqueeze(2)  # (N, B, 1)
    p_b = w_b.mean(axis=1).unsqueeze(1)  # (N, 1, B)
    mi = (p_ab * ((p_ab + eps) / (p_a * p_b + eps) + eps).log()).sum(axis=(1, 2))
    return -mi.mean()


def _check_flow(flow, op):
    if not isinstance(flow, Tensor) or flow.ndim not in (4, 5) or flow.shape[1] != flow.ndim - 2:
        shape = tuple(flow.shape) if isinstance(flow, Tensor) else type(flow).__name__
        raise ValueError(f"{op}: flow must be a Tensor (N, 2, H, W) or (N, 3, D, H, W), got {shape}")


def _diff(u: Tensor, axis: int) -> Tensor:
    """Forward difference u[i + 1] - u[i] along ``axis`` (one element shorter)."""
    head = (slice(None),) * axis
    return u[head + (slice(1, None),)] - u[head + (slice(None, -1),)]


def diffusion_loss(flow):
    """Diffusion regulariser (VoxelMorph's Grad('l2'); MONAI's DiffusionLoss): the mean over the d axes of
    the mean squared forward difference of the displacement along that axis,

        R(u) = (1/d) sum_a mean (u(x + e_a) - u(x))^2,

    zero for translations and growing with every local stretch, shear or rotation.
    flow: (N, d, *spatial) in voxels.
    """
    _check_flow(flow, "diffusion_loss")
    nd = flow.ndim - 2
    return sum((_diff(flow, 2 + a) ** 2).mean() for a in range(nd)) * (1.0 / nd)


def bending_energy_loss(flow):
    """Bending energy (thin-plate; Rueckert et al. 1999; MONAI's BendingEnergyLoss), the mean over voxels
    and components of

        sum_a (d^2 u / dx_a^2)^2 + 2 sum_{a<b} (d^2 u / dx_a dx_b)^2,

    second derivatives by second differences (u[i+1] - 2 u[i] + u[i-1] and the four-point mixed
    difference) on the interior. Zero for every affine displacement: it penalises curvature only.
    MONAI uses central first differences applied twice (a wider stencil); same limit, other values.
    flow: (N, d, *spatial) with every spatial size >= 3.
    """
    _check_flow(flow, "bending_energy_loss")
    nd = flow.ndim - 2
    if min(flow.shape[2:]) < 3:
        raise ValueError(f"bending_energy_loss: every spatial size must be >= 3, got flow {tuple(flow.shape)}")

    def interior(t, skip):
        key = [slice(None), slice(None)] + [slice(None) if a in skip else slice(1, -1) for a in range(nd)]
        return t[tuple(key)]

    energy = 0.0
    for a in range(nd):
        second = _diff(_diff(flow, 2 + a), 2 + a)  # u[i+1] - 2u[i] + u[i-1], interior along a
        energy = energy + (interior(second, {a}) ** 2).mean()
        for b in range(a + 1, nd):
            head_a = (slice(None),) * (2 + a)
            central_a = flow[head_a + (slice(2, None),)] - flow[head_a + (slice(None, -2),)]
            head_b = (slice(None),) * (2 + b)
            mixed = (central_a[head_b + (slice(2, None),)] - central_a[head_b + (slice(None, -2),)]) * 0.25
            energy = energy + 2.0 * (interior(mixed, {a, b}) ** 2).mean()
    return energy


def soft_dice_loss(pred, target, eps: float = 1e-6):
    """1 - mean over classes and the batch of the soft Dice 2 sum(p t) / (sum p + sum t) (weak supervision
    of registration by warped one-hot label maps; VoxelMorph's semi-supervised variant).

    pred, target: (N, K, *spatial) soft/one-hot maps, values in [0, 1]. A class absent from both gets
    Dice 1 (eps in numerator and denominator), so empty structures do not reward anything.
    """
    _check_images(pred, target, "soft_dice_loss")
    axes = tuple(range(2, pred.ndim))
    overlap = (pred * target).sum(axis=axes)
    total = pred.sum(axis=axes) + target.sum(axis=axes)
    return 1.0 - ((2.0 * overlap + eps) / (total + eps)).mean()
