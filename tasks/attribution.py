"""Attribution maps: which pixels made a classifier decide, and whether the answer can be trusted.

Attribution maps for a batch x (N, C, *S) and the class each image is explained for, ``target`` (N,):

* ``saliency``              |d s / d x|, s the target class's logit (Simonyan et al. 2014);
* ``gradient_x_input``      x * d s / d x (Shrikumar et al. 2016);
* ``smoothgrad``            the gradient averaged over noisy copies x + N(0, sigma^2), sigma = 15% of the
                            image's range (Smilkov et al. 2017);
* ``integrated_gradients``  (x - x0) * mean over a in (0, 1] of d s / d x at x0 + a (x - x0), a black
                            baseline x0 (Sundararajan et al. 2017). Completeness: the map sums to
                            s(x) - s(x0); the relative error of that sum is returned as a check;
* ``grad_cam``              ReLU(sum_k alpha_k A_k), A the activations of a convolutional layer and
                            alpha_k the spatial mean of d s / d A_k, upsampled to the input (Selvaraju et
                            al. 2017); read through the engine's module hooks;
* ``occlusion``             the drop of the target probability when a patch is replaced by the image mean,
                            every patch position in one batch (Zeiler & Fergus 2014);
* ``lime``                  a weighted ridge surrogate of the target probability on superpixels switched
                            on and off (Ribeiro et al. 2016), superpixels by our own SLIC
                            (models/classical_segmentation.py; 2D only).

Every map is (N, *S): gradient maps take the maximum of |.| over channels. Gradients of all images and
all copies (noise samples, path steps, occluded copies) are computed in batched passes, never one pixel
or one image at a time.

Checks of the maps themselves:

* ``cascading_randomization`` (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018): the
  model's layers are re-initialised from the top down, one more at a time, and the Spearman rank
  correlation between the original and the new maps is recorded. A method whose maps barely change when
  the weights become random explains the image, not the model: it *fails* when the correlation after
  randomising every layer is still above ``SANITY_THRESHOLD``.
* ``deletion_insertion`` (Petsiuk et al. 2018): pixels are removed (set to the image mean) in the order
  the map ranks them, or inserted into a mean image in that order; the area under the target-probability
  curve should be small for deletion and large for insertion if the map is faithful.
"""

from __future__ import annotations

import copy

import numpy as np

METHODS = ("saliency", "gradient_x_input", "smoothgrad", "integrated_gradients", "grad_cam", "occlusion", "lime")
SANITY_THRESHOLD = 0.5


# ------------------------------------------------------------------------------------------ scores
def _class_scores(out, target):
    """The target class's logit per image, (N,): for a one-logit binary model, +logit for class 1 and
    -logit for class 0 (the logit of the class explained)."""
    import engine

    if out.ndim == 1 or out.shape[1] == 1:
        sign = engine.tensor((2.0 * np.asarray(target) - 1).astype(out.dtype), device=out.device)
        return out.reshape(-1) * sign
    onehot = np.eye(out.shape[1], dtype=out.dtype)[np.asarray(target)]
    return (out * engine.tensor(onehot, device=out.device)).sum(1)


def probabilities(model, x: np.ndarray, target, batch: int = 256) -> np.ndarray:
    """Probability of the target class for each image of x (N, ...), in eval mode, without a graph."""
    import engine

    target = np.broadcast_to(np.asarray(target), (len(x),))
    out = []
    with engine.no_grad():
        for i in range(0, len(x), batch):
            logits = model(engine.tensor(np.ascontiguousarray(x[i:i + batch]))).numpy()
            t = target[i:i + batch]
            if logits.ndim == 1 or logits.shape[1] == 1:
                p1 = 1 / (1 + np.exp(-logits.reshape(-1)))
                out.append(np.where(t == 1, p1, 1 - p1))
            else:
                e = np.exp(logits - logits.max(1, keepdims=True))
                out.append((e / e.sum(1, keepdims=True))[np.arange(len(t)), t])
    return np.concatenate(out)


def input_gradients(model, x: np.ndarray, target, batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(d s / d x (N, C, *S), s (N,)) for the target class's logit s, in batches."""
    import engine

    target = np.broadcast_to(np.asarray(target), (len(x),))
    grads, scores = [], []
    for i in range(0, len(x), batch):
        xt = engine.tensor(np.ascontiguousarray(x[i:i + batch]), requires_grad=True)
        s = _class_scores(model(xt), target[i:i + batch])
        s.sum().backward()  # images are independent: the sum's gradient is each image's own
        grads.append(xt.grad.numpy())
        scores.append(s.detach().numpy())
    return np.concatenate(grads), np.concatenate(scores)


def _channel_max(g: np.ndarray) -> np.ndarray:
    return np.abs(g).max(1)


# ------------------------------------------------------------------------------------------ methods
def saliency(model, x, target) -> np.ndarray:
    return _channel_max(input_gradients(model, x, target)[0])


def gradient_x_input(model, x, target) -> np.ndarray:
    return _channel_max(x * input_gradients(model, x, target)[0])


def smoothgrad(model, x, target, n_samples: int = 16, noise: float = 0.15, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    span = (x.max(axis=tuple(range(1, x.ndim))) - x.min(axis=tuple(range(1, x.ndim))))
    sigma = (noise * span).reshape((-1,) + (1,) * (x.ndim - 1))
    noisy = x[:, None] + sigma[:, None] * rng.standard_normal((len(x), n_samples) + x.shape[1:])
    target = np.repeat(np.broadcast_to(np.asarray(target), (len(x),)), n_samples)
    g = input_gradients(model, noisy.reshape((-1,) + x.shape[1:]).astype(x.dtype), target)[0]
    return _channel_max(g.reshape((len(x), n_samples) + x.shape[1:]).mean(1))


def integrated_gradients(model, x, target, steps: int = 32, baseline=None) -> tuple[np.ndarray, np.ndarray]:
    """(map (N, *S), completeness error (N,)): |sum(IG) - (s(x) - s(x0))| / |s(x) - s(x0)|.

    The path integral is the midpoint rule over ``steps`` points (a = (k - 0.5) / steps)."""
    x0 = np.zeros_like(x) if baseline is None else np.broadcast_to(baseline, x.shape).astype(x.dtype)
    alphas = ((np.arange(steps) + 0.5) / steps).astype(x.dtype)
    path = x0[:, None] + alphas.reshape((1, steps) + (1,) * (x.ndim - 1)) * (x - x0)[:, None]
    target = np.broadcast_to(np.asarray(target), (len(x),))
    g, _ = input_gradients(model, path.reshape((-1,) + x.shape[1:]), np.repeat(target, steps))
    ig = (x - x0) * g.reshape((len(x), steps) + x.shape[1:]).mean(1)
    _, s_x = input_gradients(model, x, target)
    _, s_0 = input_gradients(model, x0, target)
    total = ig.reshape(len(x), -1).sum(1)
    error = np.abs(total - (s_x - s_0)) / np.maximum(np.abs(s_x - s_0), 1e-12)
    return _channel_max(ig), error


def last_conv_layer(model) -> str:
    """The dotted name of the model's last convolution (Grad-CAM's usual layer)."""
    from engine import nn

    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    if not names:
        raise ValueError(f"grad_cam: {type(model).__name__} has no convolutional layer")
    return names[-1]


def grad_cam(model, x, target, layer: str | None = None) -> np.ndarray:
    """Grad-CAM at ``layer`` (a dotted module name; default: the last convolution), upsampled to x."""
    from scipy import ndimage

    import engine

    layer = layer or last_conv_layer(model)
    modules = dict(model.named_modules())
    if layer not in modules:
        raise ValueError(f"grad_cam: no layer {layer!r}; convolutional layers: "
                         f"{', '.join(n for n, m in modules.items() if 'Conv' in type(m).__name__)}")
    saved = {}
    hooks = [modules[layer].register_forward_hook(lambda m, a, out: saved.__setitem__("A", out)),
             modules[layer].register_full_backward_hook(lambda m, gi, go: saved.__setitem__("dA", go[0]))]
    try:
        xt = engine.tensor(np.ascontiguousarray(x))
        _class_scores(model(xt), np.broadcast_to(np.asarray(target), (len(x),))).sum().backward()
    finally:
        for h in hooks:
            h.remove()
    a, da = saved["A"].detach().numpy(), saved["dA"].numpy()
    spatial = tuple(range(2, a.ndim))
    weights = da.mean(axis=spatial, keepdims=True)
    cam = np.maximum((weights * a).sum(1), 0.0)
    zoom = [1.0] + [s / c for s, c in zip(x.shape[2:], cam.shape[1:])]
    return ndimage.zoom(cam, zoom, order=1)


def occlusion(model, x, target, patch: int | None = None, stride: int | None = None) -> np.ndarray:
    """Mean drop of the target probability over the patches covering each pixel (2D or 3D)."""
    spatial = x.shape[2:]
    patch = patch or max(2, min(spatial) // 7)
    stride = stride or max(1, patch // 2)
    starts = [range(0, max(s - patch, 0) + 1, stride) for s in spatial]
    grids = np.meshgrid(*[np.asarray(list(r)) for r in starts], indexing="ij")
    corners = np.stack([g.ravel() for g in grids], 1)  # (P, d)
    masks = np.zeros((len(corners),) + spatial, dtype=bool)
    index = np.indices((patch,) * len(spatial)).reshape(len(spatial), -1)
    rows = np.repeat(np.arange(len(corners)), index.shape[1])
    coords = [(corners[:, a, None] + index[a][None, :]).ravel() for a in range(len(spatial))]
    masks[(rows, *coords)] = True
    target = np.broadcast_to(np.asarray(target), (len(x),))
    base = probabilities(model, x, target)
    maps = np.zeros((len(x),) + spatial)
    coverage = masks.sum(0)
    for i in range(len(x)):  # one image at a time; its P occluded copies form one batch
        fill = x[i].mean()
        copies = np.where(masks[:, None], fill, x[i][None]).astype(x.dtype)
        drop = base[i] - probabilities(model, copies, target[i])
        maps[i] = np.tensordot(drop, masks, axes=1) / np.maximum(coverage, 1)
    return maps


def explain(method: str, model, x, target, layer: str | None = None, seed: int = 0) -> np.ndarray:
    """The map of ``method`` (one of METHODS, or a callable fn(model, x, target) -> (N, *S)) for x
    (N, C, *S): (N, *S). The model is put in eval mode."""
    model.eval()
    if callable(method):
        return np.asarray(method(model, x, target))
    if method == "saliency":
        return saliency(model, x, target)
    if method == "gradient_x_input":
        return gradient_x_input(model, x, target)
    if method == "smoothgrad":
        return smoothgrad(model, x, target, seed=seed)
    if method == "integrated_gradients":
        return integrated_gradients(model, x, target)[0]
    if method == "grad_cam":
        return grad_cam(model, x, target, layer)
    if method == "occlusion":
        return occlusion(model, x, target)
    if method == "lime":
        return lime(model, x, target, seed=seed)
    raise ValueError(f"unknown method {method!r}; available: {', '.join(METHODS)}")


# ------------------------------------------------------------------------------------------ checks
def spearman_per_image(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of |a_i| and |b_i| for each image i (ties ranked by order)."""
    ra = np.argsort(np.argsort(np.abs(a).reshape(len(a), -1), axis=1), axis=1).astype(np.float64)
    rb = np.argsort(np.argsort(np.abs(b).reshape(len(b), -1), axis=1), axis=1).astype(np.float64)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    return (ra * rb).sum(1) / np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))


def parametrised_layers(model) -> list[str]:
    """Names of the modules that own parameters directly, input to output."""
    return [n for n, m in model.named_modules() if n and any(p is not None for p in m._parameters.values())]


def cascading_randomization(method, model, x, target, layer=None, seed: int = 0) -> dict:
    """Re-initialise layers from the output down, one more each step; Spearman correlation of the maps.

    Returns {"layers": [...], "correlation": [...]} (after randomising the top k layers, k = 1..L),
    "final" (all layers random) and "passes" (final < SANITY_THRESHOLD)."""
    import engine

    original = explain(method, model, x, target, layer, seed)
    layers = parametrised_layers(model)
    randomized = copy.deepcopy(model)
    modules = dict(randomized.named_modules())
    engine.manual_seed(seed + 12345)
    correlations = []
    for name in reversed(layers):
        module = modules[name]
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        else:
            for p in module._parameters.values():
                if p is not None:
                    p.data[...] = engine.randn(*p.shape).numpy().astype(p.data.dtype) * 0.1
        correlations.append(float(np.nanmean(spearman_per_image(original, explain(method, randomized, x, target,
                                                                                   layer, seed)))))
    final = correlations[-1] if correlations else float("nan")
    return {"layers": list(reversed(layers)), "correlation": correlations, "final": final,
            "passes": bool(final < SANITY_THRESHOLD)}


def deletion_insertion(model, x, target, maps, steps: int = 20) -> dict:
    """Mean over images of the areas under the deletion and insertion curves of the target probability."""
    n = len(x)
    flat = x.reshape(n, x.shape[1], -1)
    order = np.argsort(-maps.reshape(n, -1), axis=1)  # most important first
    npix = order.shape[1]
    counts = np.round(np.linspace(0, npix, steps + 1)).astype(int)
    target = np.broadcast_to(np.asarray(target), (n,))
    curves = {"deletion": [], "insertion": []}
    for i in range(n):
        rank = np.empty(npix, dtype=int)
        rank[order[i]] = np.arange(npix)
        chosen = rank[None, :] < counts[:, None]  # (steps+1, npix): pixels removed / inserted so far
        fill = flat[i].mean()
        deleted = np.where(chosen[:, None, :], fill, flat[i][None])
        inserted = np.where(chosen[:, None, :], flat[i][None], fill)
        for name, stack in (("deletion", deleted), ("insertion", inserted)):
            p = probabilities(model, stack.reshape((steps + 1,) + x.shape[1:]).astype(x.dtype), target[i])
            curves[name].append(float(np.trapezoid(p, dx=1.0 / steps)))
    return {f"{k}_auc": float(np.mean(v)) for k, v in curves.items()}


# ------------------------------------------------------------------------------------------ LIME
def lime(model, x, target, n_segments: int = 25, samples: int = 300, kernel_width: float = 0.25,
         alpha: float = 1.0, seed: int = 0) -> np.ndarray:
    """LIME (Ribeiro et al., KDD 2016) for 2D images: superpixels switched off (set to the image mean) at
    random, the target probability of every perturbed copy (one batch per image), and a ridge regression
    of the probability on the on/off pattern weighted by exp(-d^2 / width^2), d the cosine distance to the
    unperturbed image. Each pixel gets its superpixel's coefficient: (N, H, W)."""
    from models.classical_segmentation import slic

    if x.ndim != 4:
        raise ValueError(f"lime: 2D images (N, C, H, W) only, got shape {x.shape}")
    rng = np.random.default_rng(seed)
    target = np.broadcast_to(np.asarray(target), (len(x),))
    maps = np.zeros((len(x),) + x.shape[2:])
    for i in range(len(x)):  # one image at a time; its perturbed copies form one batch
        segments = slic(x[i], n_segments)
        m = segments.max() + 1
        z = rng.random((samples, m)) < 0.5
        z[0] = True  # the unperturbed image is one of the samples
        on = z[:, segments]  # (samples, H, W)
        copies = np.where(on[:, None], x[i][None], x[i].mean()).astype(x.dtype)
        p = probabilities(model, copies, target[i])
        cos = z.sum(1) / np.sqrt(np.maximum(z.sum(1), 1) * m)  # cosine similarity with all-on
        weight = np.exp(-((1 - cos) ** 2) / kernel_width ** 2)
        design = np.concatenate([np.ones((samples, 1)), z.astype(np.float64)], 1)
        wd = design * weight[:, None]
        penalty = alpha * np.eye(m + 1)
        penalty[0, 0] = 0.0  # the intercept is not shrunk
        coef = np.linalg.solve(design.T @ wd + penalty, wd.T @ p)
        maps[i] = coef[1:][segments]
    return maps
