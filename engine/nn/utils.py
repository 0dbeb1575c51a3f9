"""``engine.nn.utils``: gradient clipping, as ``torch.nn.utils`` (implemented in engine/optim/clip.py)."""

from engine.optim.clip import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
