"""Causal depthwise convolution over time, with a backward pass that is fast on the CPU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class _CausalDepthwiseConv(torch.autograd.Function):
    # torch's own depthwise conv1d backward is ~3x slower than its forward on the CPU; here both
    # gradients are a forward convolution and a few fused products. The backward is written in
    # differentiable operations, so higher derivatives still work.

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return F.conv1d(x.transpose(1, 2), weight.unsqueeze(1), bias, groups=x.shape[-1]).transpose(1, 2)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x, weight = ctx.saved_tensors
        kernel, length = weight.shape[1], grad.shape[1]
        padded = F.pad(grad.transpose(1, 2), (kernel - 1, kernel - 1))
        grad_x = F.conv1d(padded, weight.flip(1).unsqueeze(1), groups=x.shape[-1]).transpose(1, 2)
        grad_weight = torch.stack([(grad * x[:, j: j + length]).sum((0, 1)) for j in range(kernel)], dim=1)
        return grad_x, grad_weight, grad.sum((0, 1))


def causal_depthwise_conv(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``y[:, t, c] = bias[c] + sum_j weight[c, j] * x[:, t + j, c]`` for ``x`` of shape ``(B, T + K - 1, C)``.

    ``x`` already holds the ``K - 1`` earlier steps in front, so ``y`` has length ``T`` and step ``t``
    sees inputs up to its own time only.
    """
    return _CausalDepthwiseConv.apply(x, weight, bias)
