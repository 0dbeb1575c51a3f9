"""Optimisers, learning-rate schedules and gradient clipping (``torch.optim`` names).

    opt = engine.optim.Adam(model.parameters(), lr=1e-3)
    sched = engine.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loss.backward(); engine.optim.clip_grad_norm_(model.parameters(), 1.0); opt.step(); opt.zero_grad()

Every update rule works on the parameters' raw arrays in place, without recording a graph, and
creates its state with the parameter's own array module (NumPy, CuPy or the strict backend).
"""

from engine.optim import lr_scheduler
from engine.optim.adagrad import Adagrad
from engine.optim.adam import Adam, AdamW
from engine.optim.clip import clip_grad_norm_, clip_grad_value_
from engine.optim.optimizer import Optimizer
from engine.optim.rmsprop import RMSprop
from engine.optim.sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "lr_scheduler",
    "clip_grad_norm_",
    "clip_grad_value_",
]
