"""Argument checks shared by the layers, each failing with a ``ValueError`` that names the argument.

``bool`` is an ``int`` to Python; none of these accept it as a number. A numpy scalar (from a grid built with
``np.arange``, say) counts as the Python number it holds, which the checks return.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def native(value):
    """A numpy scalar as the Python number it holds; anything else as it is."""
    return value.item() if isinstance(value, np.generic) else value


def is_int(value: object) -> bool:
    """An int (or numpy integer), not a bool."""
    value = native(value)
    return isinstance(value, int) and not isinstance(value, bool)


def is_positive_number(value: object) -> bool:
    """An int or float (or numpy number; not a bool), above 0 and finite."""
    value = native(value)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf


def positive_int(name: str, value: object) -> int:
    """``value`` as an int if it is an integer >= 1."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def nonnegative_int(name: str, value: object) -> int:
    """``value`` as an int if it is an integer >= 0."""
    if not is_int(value) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def rate(name: str, value: object) -> float:
    """``value`` as a float if it is a number in ``[0, 1)`` (a dropout rate)."""
    number = native(value)
    if not isinstance(number, (int, float)) or isinstance(number, bool) or not 0 <= number < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return float(number)


def head_width(dim: int, heads: int) -> int:
    """``dim // heads`` if ``heads`` divides ``dim``."""
    if dim % heads:
        raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
    return dim // heads


def positive_number(name: str, value: object) -> float:
    """``value`` as a float if it is a positive finite number."""
    if not is_positive_number(value):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def nonnegative_number(name: str, value: object) -> float:
    """``value`` as a float if it is a finite number >= 0."""
    number = native(value)
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 <= number < math.inf:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(number)


def flag(name: str, value: object) -> bool:
    """``value`` as a bool if it is one (or a numpy bool; a string such as ``"false"`` would otherwise read as
    true)."""
    answer = native(value)
    if not isinstance(answer, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return answer


def hidden_width(name: str, expansion: object, width_name: str, width: int) -> int:
    """The hidden width ``round(width * expansion)`` of a memory MLP, if ``expansion`` is a positive finite number
    that gives at least 1."""
    hidden = round(width * positive_number(name, expansion))
    if hidden < 1:
        raise ValueError(f"{name} ({expansion!r}) times {width_name} ({width}) must give a hidden width of at least 1")
    return hidden


_AUTOCAST = (torch.float32, torch.float16, torch.bfloat16)  # what autocast casts; float64 it leaves as it is


def weights_dtype(name: str, x: torch.Tensor, weights: torch.dtype, owner: str) -> None:
    """``x`` (called ``name``) has the dtype of ``owner``'s weights, or runs under autocast, which casts both where
    neither is float64."""
    castable = x.dtype in _AUTOCAST and weights in _AUTOCAST
    if x.dtype != weights and not (castable and torch.is_autocast_enabled(x.device.type)):
        raise ValueError(f"{name} is {x.dtype} but the {owner}'s weights are {weights}: convert one to the other's "
                         f"dtype{', or run under torch.autocast' if castable else ' (autocast leaves float64 as is)'}")


def sequence_input(name: str, x: object, dim: int, weights: torch.dtype, owner: str) -> None:
    """``x`` (called ``name``) is a floating-point ``(batch, length, dim)`` tensor that ``owner``'s weights of
    dtype ``weights`` can read (see :func:`weights_dtype`)."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != dim:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a tensor of shape (batch, length, {dim}), got {got}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    weights_dtype(name, x, weights, owner)


def present_mask(present: object, x: torch.Tensor) -> None:
    """``present`` is ``None`` or a bool tensor ``(batch, length)`` of ``x``'s."""
    if present is not None and (not isinstance(present, torch.Tensor) or present.dtype != torch.bool
                                or present.shape != x.shape[:2]):
        got = (present.dtype, tuple(present.shape)) if isinstance(present, torch.Tensor) else type(present).__name__
        raise ValueError(f"present must be a bool tensor of shape {tuple(x.shape[:2])}, got {got}")
