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
from engine.nn.functional.dropout import dropout, dropout1d, dropout2d, dropout3d  # noqa: F401
from engine.nn.functional.embedding import embedding  # noqa: F401
from engine.nn.functional.linear import linear  # noqa: F401
from engine.nn.functional.normalization import batch_norm, group_norm, instance_norm, layer_norm  # noqa: F401
from engine.nn.functional.recurrent import gru, gru_cell, lstm, lstm_cell, rnn, rnn_cell  # noqa: F401
