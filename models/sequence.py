"""Classifiers for 1D signals (ECG beats, any time series): a 1D CNN, recurrent networks, CNN+LSTM.

Every model takes a batch of signals ``(N, C, T)`` - channels first, as ``Conv1d`` and the UCR
archive's univariate series (C = 1) - and returns logits ``(N, num_classes)``. The length T is free:
each model ends in a pooling over time, so one trained network reads series of any length.

* ``CNN1d`` - the fully convolutional network (FCN) of Wang, Yan & Oates, "Time series
  classification from scratch with deep neural networks: a strong baseline" (IJCNN 2017): three
  convolution blocks (kernel 8, 5, 3; batch norm; ReLU) then global average pooling. Fawaz et al.'s
  review ("Deep learning for time series classification", 2019) found it among the strongest on UCR.
* ``RecurrentClassifier`` - an LSTM (Hochreiter & Schmidhuber 1997) or GRU (Cho et al. 2014),
  optionally bidirectional (Schuster & Paliwal 1997), reading the series one sample at a time.
* ``CNNLSTM`` - convolutions extract local wave shapes and shorten the sequence by 4, an LSTM reads
  the resulting feature sequence: the usual pairing for ECG (e.g. Oh et al. 2018).

Recurrent models summarise their output sequence by its mean over time (``pool="mean"``) or by the
last step's output (``pool="last"``, for bidirectional models the forward direction's last step and
the backward direction's first). The mean gives every time step a direct gradient path, so it trains
more reliably on long series; ``"last"`` is the textbook many-to-one RNN.
"""

from __future__ import annotations

import engine
from engine import nn

POOLS = ("mean", "last")


def _check_signal(name: str, x, in_channels: int) -> None:
    if x.ndim != 3 or x.shape[1] != in_channels:
        raise ValueError(f"{name}: expected signals (N, {in_channels}, T), got shape {tuple(x.shape)}"
                         + (" (images? sequence models read 1D signals)" if x.ndim > 3 else ""))


def _pool_time(output, pool: str, bidirectional: bool, hidden: int):
    """output (N, T, D*H) -> (N, D*H)."""
    if pool == "mean":
        return output.mean(1)
    last = output[:, -1, :]
    if not bidirectional:
        return last
    # the backward direction has read the whole series when it reaches t = 0
    return engine.cat([last[:, :hidden], output[:, 0, hidden:]], 1)


class CNN1d(nn.Module):
    """FCN for time series: (N, C, T) -> (N, num_classes).

    Conv1d(C, w, 8) - BN - ReLU - Conv1d(w, 2w, 5) - BN - ReLU - Conv1d(2w, w, 3) - BN - ReLU -
    mean over time - Linear(w, num_classes). Wang et al. use w = 128; our default w = 64 is four
    times cheaper and, on the small ECG sets here, as accurate (padding keeps T unchanged).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: int = 64):
        super().__init__()
        self.in_channels = in_channels
        w = width
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, w, 8, padding="same"), nn.BatchNorm1d(w), nn.ReLU(),
            nn.Conv1d(w, 2 * w, 5, padding="same"), nn.BatchNorm1d(2 * w), nn.ReLU(),
            nn.Conv1d(2 * w, w, 3, padding="same"), nn.BatchNorm1d(w), nn.ReLU(),
        )
        self.classifier = nn.Linear(w, num_classes)

    def forward(self, x):
        _check_signal("CNN1d", x, self.in_channels)
        return self.classifier(self.features(x).mean(2))


class RecurrentClassifier(nn.Module):
    """LSTM or GRU many-to-one classifier: (N, C, T) -> (N, num_classes).

    The series is read as T steps of C features; the (N, T, D*H) outputs (D = 2 when bidirectional)
    are pooled over time (``pool``) and a linear layer gives the logits.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, cell: str = "lstm", hidden_size: int = 64,
                 num_layers: int = 1, bidirectional: bool = False, pool: str = "mean"):
        super().__init__()
        cells = {"lstm": nn.LSTM, "gru": nn.GRU}
        if cell not in cells:
            raise ValueError(f"RecurrentClassifier: cell must be one of {', '.join(cells)}, got {cell!r}")
        if pool not in POOLS:
            raise ValueError(f"RecurrentClassifier: pool must be one of {', '.join(POOLS)}, got {pool!r}")
        self.in_channels, self.hidden_size, self.pool, self.bidirectional = in_channels, hidden_size, pool, \
            bidirectional
        self.rnn = cells[cell](in_channels, hidden_size, num_layers=num_layers, batch_first=True,
                               bidirectional=bidirectional)
        self.classifier = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, x):
        _check_signal("RecurrentClassifier", x, self.in_channels)
        output, _ = self.rnn(x.transpose(1, 2))
        return self.classifier(_pool_time(output, self.pool, self.bidirectional, self.hidden_size))


class CNNLSTM(nn.Module):
    """Convolutional front end, then an LSTM: (N, C, T) -> (N, num_classes).

    Two blocks Conv1d(k=5) - BN - ReLU - MaxPool1d(2) turn the series into a T/4-step sequence of
    ``width`` features; an LSTM (optionally bidirectional) reads it; mean (or last) over time; Linear.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: int = 32, hidden_size: int = 64,
                 bidirectional: bool = False, pool: str = "mean"):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"CNNLSTM: pool must be one of {', '.join(POOLS)}, got {pool!r}")
        self.in_channels, self.hidden_size, self.pool, self.bidirectional = in_channels, hidden_size, pool, \
            bidirectional
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(width, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(), nn.MaxPool1d(2),
        )
        self.rnn = nn.LSTM(width, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.classifier = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, x):
        _check_signal("CNNLSTM", x, self.in_channels)
        if x.shape[2] < 4:
            raise ValueError(f"CNNLSTM: series must have at least 4 samples (two 2x poolings), got {x.shape[2]}")
        output, _ = self.rnn(self.features(x).transpose(1, 2))
        return self.classifier(_pool_time(output, self.pool, self.bidirectional, self.hidden_size))


# name -> (class, keyword arguments): the models ``medgrad run sequence --model`` knows
SEQUENCE_MODELS = {
    "cnn": (CNN1d, {}),
    "lstm": (RecurrentClassifier, {"cell": "lstm"}),
    "gru": (RecurrentClassifier, {"cell": "gru"}),
    "bilstm": (RecurrentClassifier, {"cell": "lstm", "bidirectional": True}),
    "bigru": (RecurrentClassifier, {"cell": "gru", "bidirectional": True}),
    "cnn-lstm": (CNNLSTM, {}),
}


def build_sequence_model(name: str, in_channels: int, num_classes: int, **kwargs):
    """A registered sequence classifier; ValueError naming the choices for an unknown name."""
    if name not in SEQUENCE_MODELS:
        raise ValueError(f"unknown sequence model {name!r}; available: {', '.join(SEQUENCE_MODELS)}")
    cls, preset = SEQUENCE_MODELS[name]
    return cls(in_channels, num_classes, **{**preset, **kwargs})
