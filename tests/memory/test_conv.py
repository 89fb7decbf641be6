"""The causal depthwise convolution: torch's conv1d numbers, and exact first and second derivatives."""

import pytest
import torch
import torch.nn.functional as F

from titans_seq.memory.conv import causal_depthwise_conv


@pytest.mark.parametrize("kernel", [1, 2, 4])
def test_matches_depthwise_conv1d(kernel):
    torch.manual_seed(0)
    x, weight, bias = torch.randn(3, 10 + kernel - 1, 5), torch.randn(5, kernel), torch.randn(5)
    expected = F.conv1d(x.transpose(1, 2), weight.unsqueeze(1), bias, groups=5).transpose(1, 2)
    torch.testing.assert_close(causal_depthwise_conv(x, weight, bias), expected)


def test_derivatives_are_exact():
    torch.manual_seed(0)
    inputs = (torch.randn(2, 9, 3, dtype=torch.float64, requires_grad=True),
              torch.randn(3, 4, dtype=torch.float64, requires_grad=True),
              torch.randn(3, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(causal_depthwise_conv, inputs)
    assert torch.autograd.gradgradcheck(causal_depthwise_conv, inputs)
