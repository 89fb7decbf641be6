"""NeuralMemory: streaming, causality, stability, determinism, the ablation switches and bad input."""

import numpy as np
import pytest
import torch

from titans_seq.memory import MemoryState, NeuralMemory


def small(**kwargs):
    torch.manual_seed(0)
    return NeuralMemory(32, heads=2, chunk_size=8, **kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"per_chunk_gates": True}, {"memory_depth": 1, "conv_kernel": 1},
                                    {"memory_residual": True, "memory_norm": True}, {"normalize_values": False}])
def test_pieces_of_any_length_give_the_same_output_and_state(kwargs):
    memory = small(**kwargs)
    x = torch.randn(2, 61, 32)
    whole, state = memory(x)
    pieces, streamed = [], None
    for start, stop in [(0, 3), (3, 3), (3, 11), (11, 12), (12, 40), (40, 61)]:
        y, streamed = memory(x[:, start:stop], streamed)
        pieces.append(y)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, rtol=1e-5, atol=1e-5)
    assert streamed.position == state.position == 61
    for name in state.params:
        torch.testing.assert_close(streamed.params[name], state.params[name], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(streamed.surprise[name], state.surprise[name], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(streamed.pending_keys, state.pending_keys)


def test_output_is_causal():
    memory = small()
    x = torch.randn(2, 40, 32)
    y, _ = memory(x)
    for t in (1, 8, 13, 39):
        changed = x.clone()
        changed[:, t:] = torch.randn(2, 40 - t, 32) * 3
        y2, _ = memory(changed)
        assert torch.equal(y2[:, :t], y[:, :t])
        assert not torch.allclose(y2[:, t:], y[:, t:])


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("kind", ["random", "constant", "large"])
def test_no_nan_or_inf_over_16k_tokens(kind, depth):
    torch.manual_seed(0)
    memory = NeuralMemory(64, memory_depth=depth)
    x = {"random": torch.randn(1, 16384, 64),
         "constant": torch.ones(1, 16384, 64),
         "large": 1e4 * torch.randn(1, 16384, 64)}[kind]
    with torch.no_grad():
        y, state = memory(x)
    assert torch.isfinite(y).all()
    assert all(torch.isfinite(p).all() for p in [*state.params.values(), *state.surprise.values()])


def test_gradients_are_finite_over_a_long_sequence():
    torch.manual_seed(0)
    memory = NeuralMemory(32)
    y, _ = memory(torch.randn(1, 4096, 32))
    y.square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in memory.parameters() if p.grad is not None)
    gate_rows = slice(3 * memory.inner, 3 * memory.inner + 3 * memory.heads)
    assert memory.to_inputs.weight.grad[gate_rows].abs().sum() > 0  # gates learn through the inner update


def test_a_nan_input_gives_nan_outputs_after_it_as_any_layer():
    """Before, a NaN anywhere in x raised 'momentum must lie in [0, 1]', naming a gate the user never passed (and
    every call waited on the device to read the gates)."""
    x = torch.randn(2, 20, 32)
    x[0, 11] = float("nan")
    y, _ = small()(x)
    # the NaN token, the next chunk (memory written with it) on: NaN; before it, and the other sequence: finite
    assert torch.isfinite(y[1]).all() and torch.isfinite(y[0, :11]).all()
    assert y[0, 11].isnan().all() and y[0, 16:].isnan().all()


def test_torch_func_grad_goes_through_the_memory_as_autograd_does():
    memory = small().double()
    x = torch.randn(2, 13, 32, dtype=torch.float64)
    wanted = x.clone().requires_grad_()
    memory(wanted)[0].sum().backward()
    torch.testing.assert_close(torch.func.grad(lambda x: memory(x)[0].sum())(x), wanted.grad)


def test_same_seed_same_model_and_output():
    x = torch.randn(2, 20, 32)
    a, b = small(), small()
    torch.testing.assert_close(a(x)[0], b(x)[0], rtol=0, atol=0)


def test_detached_state_for_truncated_backpropagation():
    memory = small()
    state = None
    for piece in torch.randn(2, 30, 32).split(10, dim=1):
        y, state = memory(piece, state)
        y.sum().backward()  # would fail on the second piece if the state still held the first graph
        state = state.detach()
        assert all(not p.requires_grad for p in state.params.values())
    assert isinstance(state, MemoryState)


def test_ablation_switches_fix_the_gates():
    logits = torch.randn(4, 16, 3)
    lr, momentum, forget = small(momentum=False, forgetting=False)._gates(logits)
    assert not momentum.any() and not forget.any()
    assert ((lr > 0) & (lr < 1 / 16)).all()  # max_lr defaults to 1 / (2 * chunk_size)
    lr, momentum, forget = small(per_chunk_gates=True)._gates(logits)
    for gate in (lr, momentum, forget):
        chunks = gate.reshape(4, 2, 8)
        assert torch.equal(chunks, chunks[..., :1].expand_as(chunks))


def test_ema_momentum_scales_the_learning_rate_by_one_minus_eta():
    logits = torch.randn(4, 16, 3)
    literal, eta, _ = small(ema_momentum=False)._gates(logits)
    torch.testing.assert_close(literal, torch.sigmoid(logits[..., 0]) / 16)
    ema, eta_again, _ = small()._gates(logits)
    torch.testing.assert_close(ema, literal * (1 - eta))
    torch.testing.assert_close(eta_again, eta)


def test_bf16_autocast_keeps_the_memory_in_float32():
    memory = small()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, state = memory(torch.randn(2, 20, 32))
    assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()
    assert all(p.dtype == torch.float32 for p in state.params.values())
    # The gates too: in bf16 a momentum of 0.999 rounds to 1, and theta * (1 - eta) to 0 (the token never writes).
    logits = torch.full((4, 16, 3), 7.0).bfloat16()
    lr, eta, _ = memory._gates(logits)
    assert lr.dtype == eta.dtype == torch.float32 and lr.min() > 0 and eta.max() < 1


def test_compiles_as_one_graph_with_the_same_values_and_gradients():
    memory = small()
    x = torch.randn(2, 21, 32, requires_grad=True)
    state = memory(torch.randn(2, 11, 32))[1].detach()  # a pending part-chunk and a momentum, as when streaming
    # fullgraph: torch.compile raises at a graph break; aot_eager traces like inductor, without compiling kernels.
    compiled = torch.compile(memory, fullgraph=True, backend="aot_eager")
    results = []
    for model in (memory, compiled):
        y, _ = model(x)
        streamed, after = model(x, state)
        results.append((y, streamed, after.params["weight0"], after.surprise["weight1"],
                        *torch.autograd.grad(y.square().sum(), [x, *memory.parameters()])))
    for eager, traced in zip(*results, strict=True):
        torch.testing.assert_close(traced, eager)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(dim=0), "dim"),
        (dict(dim=30, heads=4), "divisible"),
        (dict(dim=32, chunk_size=0), "chunk_size"),
        (dict(dim=32, memory_depth=0), "depth"),
        (dict(dim=32, max_lr=-1.0), "max_lr"),
        (dict(dim=32, heads=2.5), "heads"),
        (dict(dim=32, max_lr=float("nan")), "max_lr"),
        (dict(dim=32, max_lr=float("inf")), "max_lr"),
        (dict(dim=32, memory_expansion=float("nan")), "memory_expansion"),
        (dict(dim=32, memory_expansion=0.01), "memory_expansion"),
        (dict(dim=32, memory_expansion=True), "memory_expansion"),
        (dict(dim=32, momentum="false"), "momentum"),
        (dict(dim=32, per_chunk_gates=1), "per_chunk_gates"),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NeuralMemory(**kwargs)


def test_numpy_integers_are_taken_as_integers():
    torch.manual_seed(0)
    given = NeuralMemory(np.int64(32), heads=np.int32(2), chunk_size=np.int64(4), memory_depth=np.int64(2))
    torch.manual_seed(0)
    plain = NeuralMemory(32, heads=2, chunk_size=4, memory_depth=2)
    x = torch.randn(2, 10, 32)
    torch.testing.assert_close(given(x)[0], plain(x)[0], rtol=0, atol=0)
    assert type(given.chunk_size) is int


def test_bad_forward_arguments():
    memory = small()
    with pytest.raises(ValueError, match=r"x must be a tensor of shape \(batch, length, 32\)"):
        memory(torch.randn(2, 10, 31))
    with pytest.raises(ValueError, match="floating-point"):
        memory(torch.ones(2, 10, 32, dtype=torch.long))
    # It used to read a float64 input in float32 without a word.
    with pytest.raises(ValueError, match=r"x is torch\.float64 but the memory.s weights are torch\.float32"):
        memory(torch.randn(2, 10, 32, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"queries is torch\.float64"):
        memory.read(torch.randn(2, 3, 32, dtype=torch.float64))
    _, state = memory(torch.randn(2, 10, 32))
    with pytest.raises(ValueError, match="batch size 2"):
        memory(torch.randn(3, 10, 32), state)
    with pytest.raises(ValueError, match="other heads"):
        NeuralMemory(32, heads=4, chunk_size=8)(torch.randn(2, 10, 32), state)
    with pytest.raises(ValueError, match=r"queries must be a tensor of shape \(batch, length, 32\)"):
        memory.read(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="batch size 2, but queries has 3"):
        memory.read(torch.randn(3, 3, 32), state)
    _, other = NeuralMemory(32, heads=2, chunk_size=8, memory_expansion=2.0)(torch.randn(2, 10, 32))
    with pytest.raises(ValueError, match="memory weights are not this memory's"):
        memory(torch.randn(2, 10, 32), other)
    _, shorter = NeuralMemory(32, heads=2, chunk_size=3)(torch.randn(2, 5, 32))  # 2 pending after 5 tokens
    with pytest.raises(ValueError, match="another chunk_size"):
        memory(torch.randn(2, 10, 32), shorter)
    # A state from before the memory's dtype changed was reported as a fault of its internal keys.
    wider = small().double()
    with pytest.raises(ValueError, match=r"state's memory weights are torch\.float32 but this memory's are "
                                         r"torch\.float64"):
        wider(torch.randn(2, 10, 32, dtype=torch.float64), state)
    with pytest.raises(ValueError, match=r"x must be a tensor of shape \(batch, length, 32\)"):
        memory.inspect(torch.randn(10, 32))
    with pytest.raises(ValueError, match="batch must be an integer >= 0"):
        memory.initial_state(-1)


def test_a_detached_state_keeps_its_containers():
    from typing import NamedTuple

    from titans_seq.memory.module import detach_state

    class Pair(NamedTuple):
        a: torch.Tensor
        b: list

    x = torch.ones(2, requires_grad=True)
    detached = detach_state(Pair(x * 2, [x * 3, (x * 4,)]))
    assert isinstance(detached, Pair) and isinstance(detached.b[1], tuple)
    assert not detached.a.requires_grad and not detached.b[1][0].requires_grad


def test_empty_inputs_give_empty_outputs():
    memory = small()
    assert memory.read(torch.randn(2, 0, 32)).shape == (2, 0, 32)
    assert memory.inspect(torch.randn(2, 0, 32))["lr"].shape == (4, 0)
    assert memory(torch.randn(0, 5, 32))[0].shape == (0, 5, 32)
    wide = small().double()
    assert wide(torch.randn(2, 0, 32, dtype=torch.float64))[0].dtype == torch.float64


def test_inspect_shows_the_gates_and_keys_the_update_uses():
    memory = small()
    x = torch.randn(2, 20, 32)
    inside = memory.inspect(x)
    assert inside["keys"].shape == (4, 20, 16) and inside["lr"].shape == (4, 20)
    torch.testing.assert_close(inside["keys"].norm(dim=-1), torch.ones(4, 20))
    assert ((inside["lr"] > 0) & (inside["lr"] < memory.max_lr)).all()
    assert ((inside["momentum"] > 0) & (inside["momentum"] < 1)).all()
