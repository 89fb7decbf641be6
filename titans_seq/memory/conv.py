"""Causal depthwise convolution over time, written as shifted products (fast on the CPU)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _shifted_sum(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``bias[c] + sum_j weight[c, j] * x[:, t + j, c]`` for ``t < T``, from ``x`` ``(B, T + K - 1, C)``.

    ``K`` fused multiply-adds over time-shifted views: on the CPU about twice as fast as the depthwise
    ``conv1d``, which also needs the channels-first copies of its input and output.
    """
    kernel = weight.shape[1]
    length = x.shape[1] - kernel + 1
    # One contiguous row per tap: a strided (C,) factor made each product about 3x slower on the CPU.
    taps = weight.t().contiguous()
    out = x[:, :length] * taps[0] if bias is None else torch.addcmul(bias, x[:, :length], taps[0])
    for j in range(1, kernel):
        out = torch.addcmul(out, x[:, j: j + length], taps[j])
    return out


class _CausalDepthwiseConv(torch.autograd.Function):
    # A hand-written backward: autograd's, through the shifted views, would fill a full-size zero
    # tensor per shift. The backward is written in differentiable operations, so higher derivatives
    # still work.

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        return _shifted_sum(x, weight, bias)

    @staticmethod
    def setup_context(ctx, inputs: tuple[Tensor, Tensor, Tensor], output: Tensor) -> None:
        x, weight, _ = inputs
        ctx.save_for_backward(x, weight)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x, weight = ctx.saved_tensors
        kernel, length = weight.shape[1], grad.shape[1]
        grad_x = _shifted_sum(F.pad(grad, (0, 0, kernel - 1, kernel - 1)), weight.flip(1), None)
        grad_weight = torch.stack([(grad * x[:, j: j + length]).sum((0, 1)) for j in range(kernel)], dim=1)
        return grad_x, grad_weight, grad.sum((0, 1))


def causal_depthwise_conv(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``y[:, t, c] = bias[c] + sum_j weight[c, j] * x[:, t + j, c]`` for ``x`` of shape ``(B, T + K - 1, C)``.

    ``x`` already holds the ``K - 1`` earlier steps in front, so ``y`` has length ``T`` and step ``t``
    sees inputs up to its own time only.
    """
    return _CausalDepthwiseConv.apply(x, weight, bias)
