"""TitansEncoder and its blocks: causality, streaming, bidirectionality, persistent tokens, config."""

import numpy as np
import pytest
import torch

from titans_seq._tensors import reversed_within
from titans_seq.layers import VARIANTS, TitansConfig, TitansEncoder


def encoder(variant, **overrides):
    torch.manual_seed(0)
    values = dict(variant=variant, dim=32, depth=2, heads=2, window=8, memory_chunk=4, persistent_tokens=2)
    return TitansEncoder(TitansConfig(**{**values, **overrides}))


@pytest.mark.parametrize("variant", VARIANTS)
def test_causal_encoder_never_sees_the_future(variant):
    model = encoder(variant)
    x = torch.randn(2, 45, 32)
    out, _ = model(x)
    for t in (1, 8, 20, 44):
        changed = x.clone()
        changed[:, t:] = torch.randn(2, 45 - t, 32)
        again, _ = model(changed)
        assert torch.equal(again[:, :t], out[:, :t]), t
        assert not torch.allclose(again[:, t:], out[:, t:])


@pytest.mark.parametrize("variant", VARIANTS)
def test_pieces_give_the_same_output_as_one_pass(variant):
    model = encoder(variant)
    x = torch.randn(2, 53, 32)
    whole, _ = model(x)
    pieces, state = [], None
    for start, stop in [(0, 3), (3, 3), (3, 17), (17, 18), (18, 40), (40, 53)]:
        out, state = model(x[:, start:stop], state)
        pieces.append(out)
        state = state.detach()
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, rtol=1e-5, atol=1e-5)


def test_mac_fed_one_token_at_a_time_reads_each_token_once():
    """MAC continues its unfinished segment from the state; before, each call read that segment again from its
    start, so a segment of S tokens fed one at a time cost S^2 / 2 token reads."""
    model = encoder("mac")  # segments of 8 tokens
    x = torch.randn(2, 21, 32)
    whole, _ = model(x)
    read = []
    for block in model.blocks:
        block.directions[0].memory.register_forward_hook(lambda module, args, out: read.append(args[0].shape[1]))
    pieces, state = [], None
    for t in range(x.shape[1]):
        out, state = model(x[:, t:t + 1], state)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, rtol=1e-5, atol=1e-5)
    assert sum(read) == x.shape[1] * len(model.blocks)


@pytest.mark.parametrize("variant", VARIANTS)
def test_bidirectional_encoder_sees_both_sides(variant):
    model = encoder(variant, causal=False)
    x = torch.randn(2, 40, 32)
    out, state = model(x)
    assert state is None
    for t in (5, 30):
        changed = x.clone()
        changed[:, t] += 1.0
        again, _ = model(changed)
        assert not torch.allclose(again[:, :t], out[:, :t])  # earlier positions see a later change
        assert not torch.allclose(again[:, t + 1:], out[:, t + 1:])
    # Beyond every attention window the backwards memory still carries a late change to the start.
    changed = x.clone()
    changed[:, -1] += 1.0
    assert not torch.allclose(model(changed)[0][:, 0], out[:, 0])
    with pytest.raises(ValueError, match="takes no state"):
        model(x, encoder(variant)(x)[1])


@pytest.mark.parametrize("window", [8, 64])  # the banded attention and the dense one
@pytest.mark.parametrize("variant", VARIANTS)
def test_bidirectional_outputs_do_not_depend_on_the_padding_after_a_sequence(variant, window):
    model = encoder(variant, causal=False, window=window).eval()
    x = torch.randn(2, 40, 32)
    present = torch.arange(40) < torch.tensor([[40], [23]])
    out, _ = model(x, present=present)
    alone, _ = model(x[1:, :23])
    for total in (30, 50):  # the same 23 positions, then other padding
        padded = torch.cat([x[1:, :23], torch.randn(1, total - 23, 32)], dim=1)
        again, _ = model(padded, present=torch.arange(total)[None] < 23)
        torch.testing.assert_close(again[:, :23], alone, rtol=1e-5, atol=1e-5)
        assert not torch.allclose(model(padded)[0][:, :23], alone, atol=1e-3)  # unmarked, the padding is read
    torch.testing.assert_close(out[1:, :23], alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[:1], model(x[:1])[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_padded_positions_get_finite_gradients_without_persistent_tokens(variant):
    model = encoder(variant, causal=False, persistent_tokens=0)
    x = torch.randn(2, 37, 32, requires_grad=True)
    out, _ = model(x, present=torch.arange(37) < torch.tensor([[37], [9]]))
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(p.grad).all() for p in model.parameters()
                                                if p.grad is not None)


def test_reversed_within_keeps_the_padding_at_the_end():
    x = torch.arange(10.0).view(2, 5, 1)
    present = torch.tensor([[True] * 5, [True, True, True, False, False]])
    assert reversed_within(x, present, 1)[..., 0].tolist() == [[4, 3, 2, 1, 0], [7, 6, 5, 8, 9]]
    assert torch.equal(reversed_within(reversed_within(x, present, 1), present, 1), x)
    assert torch.equal(reversed_within(x, None, 1), x.flip(1))
    assert reversed_within(x[..., 0], present, -1).tolist() == [[4, 3, 2, 1, 0], [7, 6, 5, 8, 9]]
    with pytest.raises(ValueError, match="present must have shape"):
        reversed_within(x, present[:, :4], 1)


@pytest.mark.parametrize("variant", ["mac", "mag", "mal"])
def test_persistent_tokens_change_the_output_and_get_gradients(variant):
    model = encoder(variant)
    x = torch.randn(2, 20, 32)
    out, _ = model(x)
    out.square().mean().backward()
    persistent = [p for name, p in model.named_parameters() if name.endswith("persistent")]
    assert persistent and all(p.grad.abs().sum() > 0 for p in persistent)
    with torch.no_grad():
        for p in persistent:
            p.add_(0.5)
    assert not torch.allclose(model(x)[0], out)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_model_in_half_precision_runs_in_it(variant):
    """A whole model cast to bf16 (Lightning's ``precision="bf16-true"``); the memory still updates in float32."""
    for causal in (True, False):
        model = encoder(variant, causal=causal).to(torch.bfloat16)
        out, _ = model(torch.randn(2, 19, 32, dtype=torch.bfloat16))
        assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_state_of_another_batch_or_variant_is_refused(variant):
    model = encoder(variant)
    _, state = model(torch.randn(2, 19, 32))
    with pytest.raises(ValueError, match=r"state.*batch size 2"):
        model(torch.randn(3, 5, 32), state)
    other = "mac" if variant != "mac" else "mag"  # (MAG and MAL share a state form, and may take each other's)
    _, foreign = encoder(other)(torch.randn(2, 19, 32))
    with pytest.raises(ValueError, match="state must be"):
        model(torch.randn(2, 5, 32), foreign)


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes_dtypes_and_gradients(variant):
    model = encoder(variant).double()
    x = torch.randn(3, 19, 32, dtype=torch.float64, requires_grad=True)
    out, state = model(x)
    assert out.shape == (3, 19, 32) and out.dtype == torch.float64 and len(state.blocks) == 2
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low, _ = encoder(variant)(torch.randn(3, 19, 32))
    assert low.shape == (3, 19, 32) and torch.isfinite(low.float()).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_bidirectional_encoder_compiles_as_one_graph(variant):
    """Also with padding: the checks that read ``present``'s values run in eager mode only."""
    model = encoder(variant, depth=1, causal=False, segment_len=8).eval()
    x = torch.randn(2, 12, 32)
    present = torch.arange(12) < torch.tensor([[12], [7]])
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")  # raises at a graph break
    torch.testing.assert_close(compiled(x)[0], model(x)[0])
    torch.testing.assert_close(compiled(x, present=present)[0], model(x, present=present)[0])


def test_config_round_trips_through_yaml():
    config = TitansConfig(variant="mac", dim=64, depth=3, window=32, causal=False, segment_len=64, memory_chunk=16,
                          memory_max_lr=0.01, dropout=0.1)
    text = config.to_yaml()
    assert "variant: mac" in text
    assert TitansConfig.from_yaml(text) == config
    assert TitansConfig.from_dict(config.to_dict()) == config


def test_numpy_scalars_are_taken_as_the_numbers_they_hold():
    """From a grid built with numpy: refused ('dim must be a positive integer, got np.int64(64)'), and a numpy float
    was kept, which YAML could not write."""
    given = TitansConfig(dim=np.int64(64), heads=np.int32(4), causal=np.bool_(False), memory_expansion=np.float32(2),
                         dropout=np.float64(0.1))
    assert given == TitansConfig(dim=64, heads=4, causal=False, memory_expansion=2.0, dropout=0.1)
    assert all(type(value) in (int, float, bool, str) for value in given.to_dict().values() if value is not None)
    assert TitansConfig.from_yaml(given.to_yaml()) == given
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        TitansConfig(dim=np.float64(64))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (dict(window=0), "window"),
        (dict(dim=30, heads=4), "divisible"),
        (dict(dim=24, heads=8), "even"),
        (dict(variant="transformer"), "variant"),
        (dict(variant="mac", window=10, memory_chunk=4), "multiple of memory_chunk"),
        (dict(dropout=1.0), "dropout"),
        (dict(persistent_tokens=-1), "persistent_tokens"),
        (dict(depth=1.5), "depth"),
        (dict(memory_max_lr=True), "memory_max_lr"),
        (dict(memory_max_lr=float("nan")), "memory_max_lr"),
        (dict(memory_expansion=float("inf")), "memory_expansion"),
        (dict(dim=8, heads=2, memory_expansion=0.1), "memory_expansion"),
        (dict(dim=128, ff_mult=0.001), "ff_mult"),
    ],
)
def test_bad_configs_raise_clear_errors(values, message):
    with pytest.raises(ValueError, match=message):
        TitansConfig(**values)


def test_bad_yaml_and_inputs():
    with pytest.raises(ValueError, match=r"unknown TitansConfig field.*windw"):
        TitansConfig.from_yaml("variant: mag\nwindw: 3\n")
    with pytest.raises(TypeError, match="TitansConfig"):
        TitansEncoder({"variant": "mag"})
    with pytest.raises(ValueError, match=r"shape \(batch, length, 32\)"):
        encoder("mag")(torch.randn(2, 5, 16))
    with pytest.raises(ValueError, match=r"x is torch\.float64 but the encoder.s weights are torch\.float32"):
        encoder("mac")(torch.randn(2, 5, 32, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"present must be a bool tensor of shape \(2, 5\)"):
        encoder("mag", causal=False)(torch.randn(2, 5, 32), present=torch.ones(2, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="positions first and its padding after them"):
        encoder("mag", causal=False)(torch.randn(1, 5, 32), present=torch.tensor([[False, True, True, True, True]]))
    causal = encoder("mag").blocks[0].attention
    _, state = causal.sliding(torch.randn(1, 4, 32))
    with pytest.raises(ValueError, match="with a state"):
        causal.sliding(torch.randn(1, 4, 32), state, torch.ones(1, 4, dtype=torch.bool))


def test_a_state_of_another_window_or_width_is_refused():
    """Before, a MAC state from a longer segment cut the next input wrongly and then looped forever."""
    x = torch.randn(2, 6, 32)
    for variant in VARIANTS:  # the message used to name MAC's queries, or MAG's AttentionState
        _, state = encoder(variant)(x)
        with pytest.raises(ValueError, match="state is for batch size 2, but x has 3"):
            encoder(variant)(torch.randn(3, 6, 32), state)
    _, mac_state = encoder("mac", window=8, memory_chunk=2)(x)
    with pytest.raises(ValueError, match="segment longer than this MAC's segment_len"):
        encoder("mac", window=4, memory_chunk=2)(torch.randn(2, 10, 32), mac_state)
    _, mag_state = encoder("mag", window=8)(x)
    with pytest.raises(ValueError, match="other heads, head width or window"):
        encoder("mag", window=4)(x, mag_state)
    with pytest.raises(ValueError, match="other heads, head width or window"):
        encoder("mag", heads=4)(x, mag_state)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("causal", [True, False])
def test_blocks_used_alone_check_their_inputs_by_name(variant, causal):
    """The blocks are exported: a wrong width, a 2-D input or float64 failed deep in torch (an RMSNorm or matmul
    shape error), a bad present mask in a view, and a bidirectional block dropped a state without a word."""
    block = encoder(variant, causal=causal).blocks[0]
    x = torch.randn(2, 5, 32)
    for bad in (torch.randn(2, 5, 31), torch.randn(5, 32)):
        with pytest.raises(ValueError, match=r"x must be a tensor of shape \(batch, length, 32\)"):
            block(bad)
    with pytest.raises(ValueError, match=r"x is torch\.float64 but the .*'s weights are torch\.float32"):
        block(x.double())
    with pytest.raises(ValueError, match=r"present must be a bool tensor of shape \(2, 5\)"):
        block(x, present=torch.ones(2, 4, dtype=torch.bool))
    _, state = encoder(variant).blocks[0](x)
    if not causal:
        with pytest.raises(ValueError, match="sees its whole input at once and takes no state"):
            block(x, state)


@pytest.mark.parametrize("variant", VARIANTS)
def test_float64_under_autocast_is_refused_by_name(variant):
    """Autocast leaves float64 as it is: the dtype check let it through to a matmul of double and bfloat16."""
    with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(ValueError, match="autocast leaves float64"):
        encoder(variant)(torch.randn(1, 5, 32, dtype=torch.float64))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert encoder(variant)(torch.randn(1, 5, 32, dtype=torch.float16))[0].shape == (1, 5, 32)


def test_the_bidirectional_memory_used_alone_checks_its_inputs():
    """It dropped a state without a word, and a float present mask failed in gather()."""
    memory = encoder("lmm", causal=False).blocks[0].memory
    x = torch.randn(2, 6, 32)
    _, state = encoder("lmm").blocks[0].memory(x)
    with pytest.raises(ValueError, match="sees its whole input at once and takes no state"):
        memory(x, state)
    with pytest.raises(ValueError, match=r"present must be a bool tensor of shape \(2, 6\)"):
        memory(x, present=torch.ones(2, 6))
