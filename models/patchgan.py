"""PatchGAN discriminator and the pix2pix training step (Isola et al., "Image-to-image translation with
conditional adversarial networks", CVPR 2017).

Conditional GAN. A generator G maps a source image x (MRI) to a target y (CT). A discriminator D
sees a pair (x, y) and says whether y is the real target of x or G's output. They are trained in
turns, each with its own optimiser:

    D step:  minimise  1/2 [ BCE(D(x, y), 1) + BCE(D(x, G(x)), 0) ]     (G(x) held fixed: detached)
    G step:  minimise  BCE(D(x, G(x)), 1) + lambda || G(x) - y ||_1      (D held fixed)

The L1 term makes G's output right on average (low frequencies); the adversarial term penalises
what L1 tolerates, outputs that are too smooth to be real (high frequencies). lambda = 100 in
the paper (images in [-1, 1]). The G step uses the "non-saturating" loss BCE(D(G(x)), 1) instead
of -BCE(D(G(x)), 0), whose gradient vanishes when D wins (Goodfellow et al. 2014).

PatchGAN. D is fully convolutional and gives one logit per overlapping patch (70 x 70 pixels for
n_layers = 3), so it judges local texture, and its loss is the mean over patches:

    conv 4x4/2 (c -> w) - LReLU(0.2),  [conv 4x4/2 (-> 2w, 4w, ... at most 8w) - BN - LReLU] x (n_layers - 1),
    conv 4x4/1 - BN - LReLU,  conv 4x4/1 (-> 1)

Two networks, two optimisers, one step. During the G step, D's parameters are frozen
(``requires_grad`` off), so backward computes no gradients for them and G's optimiser cannot
touch them; the D step detaches G(x), so no gradient reaches G. ``pix2pix_step`` does both and the
tests check that each step leaves the other network's parameters unchanged.
``discriminator_step`` and ``generator_step`` are the two halves.
"""

from __future__ import annotations

import contextlib

import engine
import engine.nn.functional as F
from engine import nn

__all__ = ["PatchGAN", "discriminator_step", "generator_step", "pix2pix_step", "frozen"]


class PatchGAN(nn.Module):
    """PatchGAN(in_channels=2, width=64, n_layers=3): (N, c, H, W) -> patch logits (N, 1, h, w).

    For a conditional discriminator, in_channels = source channels + target channels and the input
    is their concatenation. Output size for H = 64, n_layers = 3: 6 x 6 (receptive field 70).
    """

    def __init__(self, in_channels: int = 2, width: int = 64, n_layers: int = 3, norm: bool = True):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("width", width), ("n_layers", n_layers)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"PatchGAN: {name} must be a positive integer, got {v!r}")

        def block(c_in, c_out, stride, with_norm):
            conv = nn.Conv2d(c_in, c_out, 4, stride=stride, padding=1, bias=not (with_norm and norm))
            return [conv] + ([nn.BatchNorm2d(c_out)] if with_norm and norm else []) + [nn.LeakyReLU(0.2)]

        widths = [width * min(2**i, 8) for i in range(n_layers + 1)]
        layers = block(in_channels, widths[0], 2, False)
        for i in range(1, n_layers):
            layers += block(widths[i - 1], widths[i], 2, True)
        layers += block(widths[n_layers - 1], widths[n_layers], 1, True)
        layers.append(nn.Conv2d(widths[n_layers], 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)
        self.n_layers = n_layers

    def forward(self, x):
        min_size = 2 ** (self.n_layers + 1) + 2
        if x.ndim != 4 or min(x.shape[2:]) < min_size:
            raise ValueError(f"PatchGAN: expected (N, C, H, W) with H, W >= {min_size} for n_layers="
                             f"{self.n_layers}, got {tuple(x.shape)}")
        return self.net(x)


@contextlib.contextmanager
def frozen(module):
    """Switch off ``requires_grad`` of a module's parameters for a block, restoring it afterwards."""
    params = list(module.parameters())
    before = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad = False
    try:
        yield module
    finally:
        for p, b in zip(params, before):
            p.requires_grad = b


def _bce_to(logits, value: float):
    """Mean binary cross-entropy of every patch logit against the constant label ``value``."""
    target = engine.full(logits.shape, value, dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, target)


def discriminator_step(generator, discriminator, opt_d, x, y, fake=None) -> float:
    """The D update: minimise 1/2 [BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)] with G(x) detached.

    fake: G(x) if already computed (its graph is not used here). Returns the loss as a float.
    """
    if fake is None:
        with engine.no_grad():
            fake = generator(x)
    d_real = discriminator(engine.cat([x, y], dim=1))
    d_fake = discriminator(engine.cat([x, fake.detach()], dim=1))  # no gradient reaches G
    loss_d = 0.5 * (_bce_to(d_real, 1.0) + _bce_to(d_fake, 0.0))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    return float(loss_d.item())


def generator_step(generator, discriminator, opt_g, x, y, l1_weight: float = 100.0, fake=None,
                   adversarial: bool = True) -> dict:
    """The G update: minimise BCE(D(x, G(x)), 1) + l1_weight ||G(x) - y||_1 with D frozen.

    D's parameters are frozen for the forward AND the backward pass (the engine reads
    requires_grad when it back-propagates), so they get no gradient. Returns {"g_adv", "g_l1", "g"}.
    """
    fake = generator(x) if fake is None else fake
    with frozen(discriminator):
        l1 = F.l1_loss(fake, y)
        loss_g = l1_weight * l1
        g_adv = None
        if adversarial:
            g_adv = _bce_to(discriminator(engine.cat([x, fake], dim=1)), 1.0)
            loss_g = loss_g + g_adv
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return {"g_adv": float(g_adv.item()) if g_adv is not None else 0.0, "g_l1": float(l1.item()),
            "g": float(loss_g.item())}


def pix2pix_step(generator, discriminator, opt_g, opt_d, x, y, l1_weight: float = 100.0,
                 adversarial: bool = True) -> dict:
    """One conditional-GAN training step: a D update, then a G update (see the module docstring).

    x: source (N, c_x, H, W), y: target (N, c_y, H, W) Tensors. G runs once; its output feeds
    D's step detached and G's step attached. With adversarial=False only G's L1 step runs (the
    L1-only model trained by the same code). Returns {"d", "g_adv", "g_l1", "g"} as floats.
    """
    fake = generator(x)
    d = discriminator_step(generator, discriminator, opt_d, x, y, fake=fake) if adversarial else 0.0
    return {"d": d, **generator_step(generator, discriminator, opt_g, x, y, l1_weight, fake=fake,
                                     adversarial=adversarial)}
