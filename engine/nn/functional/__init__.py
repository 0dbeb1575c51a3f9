"""Function forms of layers, activations and losses (``torch.nn.functional`` names).

    import engine.nn.functional as F
    loss = F.cross_entropy(model(x), y)
"""

from engine.nn.functional.loss import (  # noqa: F401
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from engine.ops.activation import (  # noqa: F401
    elu,
    gelu,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    softplus,
    tanh,
)
from engine.ops.shape import pad  # noqa: F401
