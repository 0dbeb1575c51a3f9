"""Training: the Trainer loop, callbacks, history, progress bar, curves and checkpoints.

    from engine.train import Trainer, ModelCheckpoint, EarlyStopping, HistoryLogger, PlotHistory
    trainer = Trainer(model, loss_fn, optimizer, metrics={"acc": accuracy}, seed=0,
                      callbacks=[ModelCheckpoint(run_dir), EarlyStopping(patience=5), HistoryLogger(run_dir)])
    trainer.fit(train_loader, val_loader, epochs=20)

Modules: trainer.py (fit/evaluate/predict), callbacks.py (Callback, EarlyStopping, ModelCheckpoint,
LRSchedulerCallback, PlotHistory), history.py (History, HistoryLogger: CSV + JSON-lines),
progress.py (ProgressBar), plotting.py (plot_history), checkpoint.py (save/load .npz checkpoints,
PyTorch state-dict export/import), _atomic.py (crash-safe file writes).
"""

from engine.train.callbacks import Callback, EarlyStopping, LRSchedulerCallback, ModelCheckpoint, PlotHistory
from engine.train.checkpoint import (
    CheckpointError,
    export_torch_state_dict,
    import_torch_state_dict,
    load_checkpoint,
    read_checkpoint_metadata,
    save_checkpoint,
)
from engine.train.history import History, HistoryLogger
from engine.train.plotting import plot_history
from engine.train.progress import ProgressBar
from engine.train.trainer import NonFiniteLossError, Trainer

__all__ = [
    "Trainer",
    "NonFiniteLossError",
    "Callback",
    "EarlyStopping",
    "ModelCheckpoint",
    "LRSchedulerCallback",
    "PlotHistory",
    "History",
    "HistoryLogger",
    "ProgressBar",
    "plot_history",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "read_checkpoint_metadata",
    "export_torch_state_dict",
    "import_torch_state_dict",
]
