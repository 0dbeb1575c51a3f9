"""Function forms of layers, activations and losses (``torch.nn.functional`` names).

    import engine.nn.functional as F
    loss = F.cross_entropy(model(x), y)
"""

from engine.nn.functional.conv import (  # noqa: F401
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
)
from engine.nn.functional.detection_loss import heatmap_focal_loss, masked_l1_loss  # noqa: F401
from engine.nn.functional.dropout import dropout, dropout1d, dropout2d, dropout3d  # noqa: F401
from engine.nn.functional.embedding import embedding  # noqa: F401
from engine.nn.functional.fold import fold, unfold  # noqa: F401
from engine.nn.functional.linear import linear  # noqa: F401
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
from engine.nn.functional.normalization import batch_norm, group_norm, instance_norm, layer_norm  # noqa: F401
from engine.nn.functional.ordinal_loss import coral_loss, cumulative_link_loss  # noqa: F401
from engine.nn.functional.pixel_shuffle import pixel_shuffle, pixel_unshuffle  # noqa: F401
from engine.nn.functional.pooling import (  # noqa: F401
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    adaptive_max_pool3d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
)
from engine.nn.functional.recurrent import gru, gru_cell, lstm, lstm_cell, rnn, rnn_cell  # noqa: F401
from engine.nn.functional.sampling import (  # noqa: F401
    affine_grid,
    compose_flows,
    flow_to_grid,
    grid_sample,
    integrate_velocity,
    warp,
)
from engine.nn.functional.segmentation_loss import dice_ce_loss, dice_loss, focal_loss, tversky_loss  # noqa: F401
from engine.nn.functional.similarity import (  # noqa: F401
    bending_energy_loss,
    diffusion_loss,
    global_mutual_information_loss,
    local_ncc_loss,
    soft_dice_loss,
)
from engine.nn.functional.survival_loss import cox_ph_loss, cumsum, logcumsumexp  # noqa: F401
from engine.nn.functional.upsampling import interpolate, upsample, upsample_bilinear, upsample_nearest  # noqa: F401
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
