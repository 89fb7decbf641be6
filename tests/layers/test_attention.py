"""Attention: block-local sliding window equals dense attention, streams, and never builds N x N."""

import pytest
import torch
import torch.nn.functional as F

from titans_seq.layers import Attention, RotaryEmbedding


def dense_reference(attention, x, window, causal):
    """The same attention with a full N x N mask: the definition the block-local form must match."""
    batch, length, _ = x.shape
    positions = torch.arange(length)
    q, k, v = attention._project(x, positions)
    pk, pv = attention._persistent_kv(x.dtype)
    i, j = positions[:, None], positions[None, :]
    seen = ((j <= i) & (i - j < window)) if causal else ((i - j).abs() < window)
    k = torch.cat([pk.expand(batch, -1, -1, -1), k], dim=2)
    v = torch.cat([pv.expand(batch, -1, -1, -1), v], dim=2)
    mask = torch.cat([torch.ones(length, pk.shape[1], dtype=torch.bool), seen], dim=1)
    return attention._merge(F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("persistent", [0, 3])
@pytest.mark.parametrize("window", [1, 4, 7, 64])
def test_sliding_window_equals_dense_attention(causal, persistent, window):
    torch.manual_seed(0)
    attention = Attention(32, 4, window, causal, persistent)
    x = torch.randn(2, 23, 32)
    out, _ = attention.sliding(x)
    torch.testing.assert_close(out, dense_reference(attention, x, window, causal), rtol=1e-5, atol=1e-6)


def test_causal_sliding_attention_streams():
    torch.manual_seed(0)
    attention = Attention(32, 4, 6, True, 2)
    x = torch.randn(2, 40, 32)
    whole, _ = attention.sliding(x)
    pieces, state = [], None
    for start, stop in [(0, 1), (1, 1), (1, 9), (9, 30), (30, 40)]:
        out, state = attention.sliding(x[:, start:stop], state)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, rtol=1e-5, atol=1e-6)
    assert state.keys.shape[2] == 5 and state.position == 40


@pytest.mark.parametrize("causal", [True, False])
def test_attention_cost_is_local(causal, monkeypatch):
    """However long the input, each query block attends to at most persistent + 3 * window keys."""
    seen = []
    original = F.scaled_dot_product_attention

    def spy(q, k, v, **kwargs):
        seen.append((q.shape[-2], k.shape[-2], tuple(kwargs["attn_mask"].shape)))
        return original(q, k, v, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    attention = Attention(16, 2, 8, causal, 2)
    attention.sliding(torch.randn(1, 4096, 16))
    queries, keys, mask = seen[-1]
    assert queries == 8 and keys <= 2 + 3 * 8 and mask[-2:] == (8, keys)


@pytest.mark.parametrize("causal", [True, False])
def test_input_within_one_window_is_attended_without_padding(causal, monkeypatch):
    """An input no longer than the window: one pass over its own tokens and the persistent ones."""
    seen = []
    original = F.scaled_dot_product_attention

    def spy(q, k, v, **kwargs):
        seen.append((q.shape[-2], k.shape[-2]))
        return original(q, k, v, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    attention = Attention(16, 2, 16, causal, 4)
    x = torch.randn(3, 12, 16)
    out, _ = attention.sliding(x)
    assert seen == [(12, 4 + 12)]
    torch.testing.assert_close(out, dense_reference(attention, x, 16, causal), rtol=1e-5, atol=1e-6)


def test_segment_attention_is_causal_in_both_inputs():
    torch.manual_seed(0)
    attention = Attention(32, 4, 8, True, 2)
    x, context = torch.randn(2, 8, 32), torch.randn(2, 8, 32)
    out, _ = attention.segment(x, context)
    for changed in ("x", "context"):
        x2, c2 = x.clone(), context.clone()
        (x2 if changed == "x" else c2)[:, 5] += 1.0
        out2, _ = attention.segment(x2, c2)
        assert torch.equal(out2[:, :5], out[:, :5]) and not torch.allclose(out2[:, 5:], out[:, 5:])


def test_persistent_tokens_are_seen_and_trained():
    torch.manual_seed(0)
    attention = Attention(32, 4, 4, True, 3)
    x = torch.randn(2, 12, 32)
    out, _ = attention.sliding(x)
    out.square().sum().backward()
    assert attention.persistent.grad.abs().sum() > 0
    with torch.no_grad():
        attention.persistent.add_(1.0)
    assert not torch.allclose(attention.sliding(x)[0], out)


def test_rotary_scores_depend_on_relative_position_only():
    rotary = RotaryEmbedding(8)
    q, k = torch.randn(8), torch.randn(8)
    score = lambda i, j: (rotary(q[None], torch.tensor([i])) @ rotary(k[None], torch.tensor([j])).T).item()  # noqa: E731
    assert score(3, 1) == pytest.approx(score(103, 101), rel=1e-4)
    # Far along a stream too: in float32 the angles at 10^8 were off by radians.
    assert score(100_000_003, 100_000_001) == pytest.approx(score(3, 1), rel=1e-4)
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding(7)


@pytest.mark.parametrize(("arguments", "message"), [
    (dict(dim=12, heads=5, window=4), "divisible by heads"),
    (dict(dim=8, heads=2, window=0), "window"),
    (dict(dim=8, heads=2, window=4, persistent_tokens=-1), "persistent_tokens"),
    (dict(dim=8, heads=2, window=4, dropout=2.0), "dropout"),
    (dict(dim=8, heads=2, window=4, causal="no"), "causal"),
])
def test_bad_arguments_raise_clear_errors(arguments, message):
    with pytest.raises(ValueError, match=message):
        Attention(**arguments)


def test_both_forms_check_their_inputs_by_name():
    """Used alone, they failed in torch: 'not enough values to unpack', a matmul of mismatched shapes or dtypes,
    an invalid view of present, 'bitwise_and_cpu not implemented for Float'."""
    attention = Attention(8, 2, 4, True, 2)
    x = torch.randn(1, 5, 8)
    for form in (attention.sliding, lambda t, present=None: attention.segment(t, t, present)):
        for bad in (torch.randn(5, 8), torch.randn(1, 5, 7)):
            with pytest.raises(ValueError, match=r"x must be a tensor of shape \(batch, length, 8\)"):
                form(bad)
        with pytest.raises(ValueError, match=r"x is torch\.float64 but the attention's weights"):
            form(x.double())
        for present in (torch.ones(1, 4, dtype=torch.bool), torch.ones(1, 5)):
            with pytest.raises(ValueError, match=r"present must be a bool tensor of shape \(1, 5\)"):
                form(x, present=present)
    with pytest.raises(ValueError, match=r"context must hold one token per position of x \(1, 5\), got \(1, 4\)"):
        attention.segment(x, torch.randn(1, 4, 8))
    with pytest.raises(ValueError, match=r"context must be a tensor of shape \(batch, length, 8\)"):
        attention.segment(x, torch.randn(1, 5, 6))
