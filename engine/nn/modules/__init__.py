"""Layers as Modules (torch.nn names); ``engine.nn`` re-exports them."""

from engine.nn.modules.activation import (  # noqa: F401
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from engine.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d  # noqa: F401
from engine.nn.modules.container import ModuleDict, ModuleList, Sequential  # noqa: F401
from engine.nn.modules.conv import (  # noqa: F401
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from engine.nn.modules.conv_rnn import ConvGRUCell, ConvLSTM, ConvLSTMCell  # noqa: F401
from engine.nn.modules.dropout import Dropout, Dropout1d, Dropout2d, Dropout3d  # noqa: F401
from engine.nn.modules.embedding import Embedding  # noqa: F401
from engine.nn.modules.flatten import Flatten, Unflatten  # noqa: F401
from engine.nn.modules.fold import Fold, Unfold  # noqa: F401
from engine.nn.modules.instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d  # noqa: F401
from engine.nn.modules.linear import Identity, Linear  # noqa: F401
from engine.nn.modules.normalization import GroupNorm, LayerNorm  # noqa: F401
from engine.nn.modules.pixelshuffle import PixelShuffle, PixelUnshuffle  # noqa: F401
from engine.nn.modules.pooling import (  # noqa: F401
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    MaxUnpool1d,
    MaxUnpool2d,
    MaxUnpool3d,
)
from engine.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: F401
from engine.nn.modules.segmentation_loss import DiceCELoss, DiceLoss, FocalLoss, TverskyLoss  # noqa: F401
from engine.nn.modules.spatial import SpatialTransformer, VecInt  # noqa: F401
from engine.nn.modules.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d  # noqa: F401

__all__ = sorted(name for name, value in dict(globals()).items() if isinstance(value, type))
