"""A tqdm-style progress bar for training, written to stderr.

On a terminal the current epoch's line is redrawn in place (carriage return) at most every
``min_interval`` seconds::

    epoch 3/10 [=========>          ] 24/50  loss 0.4321  812 samples/s  00:02<00:02

and replaced, when the epoch ends, by a summary with the epoch's history row::

    epoch 3/10 [====================] 50/50  4.1s  812 samples/s  lr 0.001  train_loss 0.4102  val_loss 0.4477

When the stream is not a terminal (a log file, a notebook's captured stderr) only the summaries
are written, so logs do not fill with partial lines.
"""

from __future__ import annotations

import sys
import time

from engine.train.callbacks import Callback

__all__ = ["ProgressBar"]


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class ProgressBar(Callback):
    """Progress of epochs and batches with the running loss and the throughput.

    stream: where to write (default: sys.stderr, looked up when writing).
    dynamic: redraw the line per batch; None means "if the stream is a terminal".
    min_interval: seconds between redraws. width: characters of the bar.
    """

    def __init__(self, stream=None, dynamic: bool | None = None, min_interval: float = 0.1, width: int = 20):
        self._stream, self.dynamic, self.min_interval, self.width = stream, dynamic, float(min_interval), int(width)
        self._line_open = False
        self._last_len = 0  # length of the line on screen, to blank it when redrawing

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    def _is_dynamic(self) -> bool:
        if self.dynamic is not None:
            return self.dynamic
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def _bar(self, done: int, total: int | None) -> str:
        if not total:
            return f"{done} batches"
        filled = int(self.width * min(done, total) / total)
        arrow = ">" if 0 < filled < self.width else ""
        return "[" + ("=" * filled + arrow).ljust(self.width)[: self.width] + f"] {done}/{total}"

    def _write(self, text: str, end: str) -> None:
        self.stream.write(text + end)
        self.stream.flush()

    # --- hooks -----------------------------------------------------------------------------------
    def on_epoch_begin(self, trainer, epoch):
        self.epoch, self.epochs = epoch, trainer.epochs
        self.total = trainer.num_batches
        self.start = time.perf_counter()
        self.last_draw = -float("inf")
        self.samples, self.loss_sum, self.batches = 0, 0.0, 0

    def _head(self) -> str:
        return f"epoch {self.epoch}/{self.epochs}"

    def on_batch_end(self, trainer, batch, logs):
        self.batches = batch
        self.samples += logs["batch_size"]
        self.loss_sum += logs["loss"] * logs["batch_size"]
        now = time.perf_counter()
        if not self._is_dynamic() or (now - self.last_draw < self.min_interval and batch != self.total):
            return
        self.last_draw = now
        elapsed = now - self.start
        rate = self.samples / elapsed if elapsed > 0 else 0.0
        eta = f"<{_clock(elapsed / batch * (self.total - batch))}" if self.total else ""
        line = (
            f"{self._head()} {self._bar(batch, self.total)}  loss {self.loss_sum / self.samples:.4f}  "
            f"{rate:.0f} samples/s  {_clock(elapsed)}{eta}"
        )
        self._write("\r" + line.ljust(self._last_len), end="")
        self._last_len = len(line)
        self._line_open = True

    def on_epoch_end(self, trainer, epoch, logs):
        elapsed = time.perf_counter() - self.start
        rate = self.samples / elapsed if elapsed > 0 else 0.0
        values = "  ".join(f"{k} {_number(v)}" for k, v in logs.items() if k not in ("epoch", "time"))
        line = f"{self._head()} {self._bar(self.batches, self.total)}  {elapsed:.1f}s  {rate:.0f} samples/s  {values}"
        prefix = "\r" if self._line_open else ""
        self._write(prefix + line.ljust(self._last_len), end="\n")
        self._line_open, self._last_len = False, 0

    def on_train_end(self, trainer):
        if self._line_open:  # an epoch was interrupted (error): end its line
            self._write("", end="\n")
            self._line_open = False
        if getattr(trainer, "stop_reason", None):
            self._write(trainer.stop_reason, end="\n")
