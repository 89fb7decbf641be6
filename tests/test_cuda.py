"""The same numbers on a GPU: the memory kernels and the encoder on CUDA (skipped without one)."""

import pytest
import torch

from titans_seq.layers import VARIANTS, TitansConfig, TitansEncoder
from titans_seq.memory import MemoryMLP, NeuralMemory, neural_memory_scan
from titans_seq.memory import scan as scan_module

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def scan_inputs(memory, dtype, device, batch=3, length=50, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    params = {n: torch.stack([p] * batch).to(dtype) for n, p in memory.init_params(generator=g).items()}
    unit = lambda: torch.nn.functional.normalize(torch.randn(batch, length, dim, generator=g), dim=-1)  # noqa: E731
    values = dict(params=params, keys=unit(), values=torch.randn(batch, length, dim, generator=g), queries=unit(),
                  lr=0.05 * torch.rand(batch, length, generator=g), momentum=torch.rand(batch, length, generator=g),
                  forget=0.1 * torch.rand(batch, length, generator=g))
    move = lambda t: t.to(device=device, dtype=dtype)  # noqa: E731
    return {k: ({n: move(p) for n, p in v.items()} if isinstance(v, dict) else move(v)) for k, v in values.items()}


@pytest.mark.parametrize("memory", [MemoryMLP(8, 1), MemoryMLP(8, 2), MemoryMLP(8, 3, 2.0, residual=True, norm=True)],
                         ids=["linear", "mlp2", "mlp3-res-norm"])
def test_gpu_fast_path_equals_generic_path_and_cpu(memory):
    expected = neural_memory_scan(memory, **scan_inputs(memory, torch.float64, "cpu"), chunk_size=8)
    for fn in (memory, lambda p, x: memory(p, x)):
        got = neural_memory_scan(fn, **scan_inputs(memory, torch.float64, "cuda"), chunk_size=8)
        for a, e in zip([got[0], *got[1].values(), *got[2].values()],
                        [expected[0], *expected[1].values(), *expected[2].values()], strict=True):
            assert (a.cpu() - e).abs().max() <= 1e-10 * e.abs().max()
    got32 = neural_memory_scan(memory, **scan_inputs(memory, torch.float32, "cuda"), chunk_size=8)
    assert (got32[0].double().cpu() - expected[0]).abs().max() <= 1e-4 * expected[0].abs().max()


def test_gpu_gradients_match_cpu():
    memory = MemoryMLP(8, 2)
    grads = []
    for device in ("cpu", "cuda"):
        inputs = scan_inputs(memory, torch.float64, device)
        leaves = [inputs["keys"], inputs["lr"], *inputs["params"].values()]
        for t in leaves:
            t.requires_grad_()
        retrieved, w, _ = neural_memory_scan(memory, **inputs, chunk_size=8)
        grads.append(torch.autograd.grad(retrieved.sin().sum() + sum(p.sum() for p in w.values()), leaves))
    for a, b in zip(*grads, strict=True):
        assert (a.cpu() - b.cpu()).abs().max() <= 1e-10 * b.abs().max()


@pytest.mark.parametrize("break_even", [0.0, float("inf")], ids=["states", "factored"])
def test_gpu_both_chunk_loops_match_cpu(break_even, monkeypatch):
    """From zero momentum the scan on CUDA gives the CPU's outputs, end states and gradients with
    either chunk loop (the factored one is the forecaster's, the one with states the long inputs')."""
    memory = MemoryMLP(8, 2)
    results = []
    for device in ("cpu", "cuda"):
        monkeypatch.setattr(scan_module, "_FACTORED_BREAK_EVEN", break_even if device == "cuda" else 0.0)
        inputs = scan_inputs(memory, torch.float64, device, length=13)
        leaves = [inputs["keys"], inputs["values"], inputs["lr"], inputs["forget"], *inputs["params"].values()]
        for t in leaves:
            t.requires_grad_()
        retrieved, w, s = neural_memory_scan(memory, **inputs, chunk_size=4)
        loss = retrieved.sin().sum() + sum(p.sin().sum() for p in [*w.values(), *s.values()])
        results.append([retrieved, *w.values(), *s.values(), *torch.autograd.grad(loss, leaves)])
    for on_cpu, on_gpu in zip(*results, strict=True):
        assert (on_gpu.detach().cpu() - on_cpu.detach()).abs().max() <= 1e-10 * on_cpu.abs().max()


def test_gpu_bf16_autocast_keeps_the_update_in_float32():
    memory = NeuralMemory(64).cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y, state = memory(torch.randn(2, 300, 64, device="cuda"))
    assert torch.isfinite(y.float()).all() and all(p.dtype == torch.float32 for p in state.params.values())


def test_gpu_memory_is_stable_over_16k_tokens():
    torch.manual_seed(0)
    memory = NeuralMemory(64).cuda()
    for x in (torch.randn(1, 16384, 64), torch.ones(1, 16384, 64), 1e4 * torch.randn(1, 16384, 64)):
        with torch.no_grad():
            y, _ = memory(x.cuda())
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_gpu_encoder_streams_like_one_pass(variant):
    torch.manual_seed(0)
    config = TitansConfig(variant=variant, dim=32, depth=2, heads=2, window=8, memory_chunk=4, persistent_tokens=2)
    encoder = TitansEncoder(config).cuda()
    x = torch.randn(2, 77, 32, device="cuda")
    whole, _ = encoder(x)
    pieces, state = [], None
    for piece in x.split([5, 30, 1, 41], dim=1):
        out, state = encoder(piece, state)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, rtol=1e-4, atol=1e-4)


def test_a_seeded_quantile_forecaster_trains_on_a_gpu():
    """A random_state makes the Trainer deterministic, which refuses any CUDA kernel without a deterministic
    implementation on the forecaster's training path (the quantile head's ordering among them)."""
    import numpy as np
    import pandas as pd

    from titans_seq.estimators import TitansForecaster

    t = np.arange(400)
    frame = pd.DataFrame({"a": np.sin(t / 5), "b": np.cos(t / 7)}, index=pd.date_range("2024-01-01", periods=400,
                                                                                         freq="h"))
    settings = dict(lookback=32, horizon=8, dim=16, depth=1, heads=2, patch_len=8, stride=8, max_epochs=1,
                    quantiles=[0.1, 0.5, 0.9], random_state=0, device="cuda", cycle=24)
    first = TitansForecaster(**settings).fit(frame).predict_quantiles()
    assert first.equals(TitansForecaster(**settings).fit(frame).predict_quantiles())

