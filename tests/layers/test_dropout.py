"""Dropout with a uniform-draw mask on the CPU: the distribution of nn.Dropout, and attention unchanged."""

import pytest
import torch

from titans_seq.layers import Attention
from titans_seq.layers import attention as attention_module
from titans_seq.layers.dropout import Dropout, dropout


def test_keeps_each_element_with_probability_1_minus_p_and_rescales():
    x = torch.ones(1000, 1000, requires_grad=True)
    torch.manual_seed(0)
    y = dropout(x, 0.3, training=True)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.003  # 1e6 draws: the standard error is 0.0005
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.7))
    y.sum().backward()
    torch.testing.assert_close(x.grad, y.detach())  # the gradient passes through the same mask
    torch.manual_seed(0)
    assert torch.equal(dropout(x, 0.3, training=True), y)  # seeded: the same mask


def test_identity_when_not_training_or_p_zero_and_dtype_kept():
    x = torch.randn(4, 8)
    assert dropout(x, 0.3, training=False) is x and dropout(x, 0.0, training=True) is x
    module = Dropout(0.5).eval()
    assert module(x) is x
    assert dropout(x.bfloat16(), 0.5, training=True).dtype == torch.bfloat16
    assert torch.equal(dropout(x, 1.0, training=True), torch.zeros_like(x))
    for p in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="p must lie in"):
            dropout(x, p, training=True)


@pytest.mark.parametrize("causal", [True, False])
def test_attention_written_out_for_dropout_is_the_kernels_attention(causal, monkeypatch):
    torch.manual_seed(0)
    attention = Attention(dim=32, heads=2, window=8, causal=causal, persistent_tokens=2, dropout=0.3)
    x, context = torch.randn(2, 40, 32), torch.randn(2, 40, 32)
    expected = attention.eval().sliding(x)[0], attention.segment(x, context)[0]
    # With the dropout itself switched off, training takes the written-out path and must agree.
    monkeypatch.setattr(attention_module, "dropout", lambda weights, p, training: weights)
    got = attention.train().sliding(x)[0], attention.segment(x, context)[0]
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
