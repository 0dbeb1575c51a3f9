"""The differentiable operations, one small Function class each (forward and backward side by side):

    arithmetic   + - * / ** and negation          math        exp, log, sqrt, abs, where, comparisons...
    matmul       @                                 reduction   sum, mean, max, var, std, logsumexp, argmax...
    shape        reshape, permute, cat, pad...     indexing    x[key], gather
    activation   relu, sigmoid, softmax...         misc        dtype casts, device moves

Tensor's operators and methods (engine/tensor.py) call the functions defined here.
"""

from __future__ import annotations

from engine.ops import activation, arithmetic, indexing, math, matmul, misc, reduction, shape  # noqa: F401
