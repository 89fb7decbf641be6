"""Speed and peak memory of ``NeuralMemory`` against the ``titans-pytorch`` package (issue 2).

Configuration (both implementations): batch 8, length 1024, dim 128, 4 heads of 32, chunk 64, MLP
memory of depth 2 and expansion 4, memory weights refreshed every chunk (the peer's
``batch_size=chunk_size``, our semantics). The peer wraps its memory MLP in LayerNorm + residual by
default; the headline rows turn that off on the peer (plain MLP on both sides), the ``residual+norm``
rows turn it on on both sides.

Training is forward + backward of ``mean(y^2)``; inference is a forward pass under ``no_grad``.
Implementations are timed in the same process, alternating, after warm-up runs; medians are reported.
The sweeps also count the tensor operations of one step (``ops`` rows; views excluded), which on a
GPU are kernel launches and, at this size, what the time follows. Peak memory is the memory one step
adds above what was in use before it, after a warm-up step:
``torch.cuda.max_memory_allocated`` on a GPU; on the CPU, in a fresh process per case, the kernel's
resident high-water mark (``VmHWM``, reset through ``/proc/self/clear_refs``), with glibc told to
allocate every large block by mmap so that freed tensors leave the resident set at once.

``--compile MODE`` also times both implementations under ``torch.compile(mode=MODE)`` at the headline
configuration (after two warm-up steps, the first of which compiles): the question a user who compiles
their model asks. The eager rows are what issue 2's target is stated in.

    python benchmarks/memory_speed.py [--device auto|cpu|cuda] [--repeats 5] [--quick] [--compile default]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    command_line,
    median_seconds,
    peak_bytes_of,
    peak_in_child,
    positive_int,
    resolve_device,
    save,
    timed,
)

from titans_seq.memory import NeuralMemory

DIM, HEADS, HEAD_DIM, DEPTH, EXPANSION = 128, 4, 32, 2, 4.0
BATCH, LENGTH, CHUNK = 8, 1024, 64


def build(impl: str, chunk: int, residual_norm: bool, device: torch.device) -> torch.nn.Module:
    """One of the two implementations at the benchmark's configuration."""
    torch.manual_seed(0)
    if impl == "titans_seq":
        module = NeuralMemory(DIM, heads=HEADS, head_dim=HEAD_DIM, chunk_size=chunk, memory_depth=DEPTH,
                              memory_expansion=EXPANSION, memory_residual=residual_norm, memory_norm=residual_norm)
    else:
        from titans_pytorch import NeuralMemory as PeerMemory

        module = PeerMemory(dim=DIM, chunk_size=chunk, batch_size=chunk, dim_head=HEAD_DIM, heads=HEADS,
                            default_model_kwargs=dict(depth=DEPTH, expansion_factor=EXPANSION),
                            mem_model_norm_add_residual=residual_norm)
    return module.to(device)


def step(module: torch.nn.Module, x: torch.Tensor, mode: str) -> None:
    if mode == "inference":
        with torch.no_grad():
            module(x)
    else:
        module.zero_grad(set_to_none=True)
        module(x)[0].square().mean().backward()


def compare(impls, mode, length, chunk, residual_norm, repeats, device, warmup=1, compile_mode=None) -> dict:
    """Median tokens/s of each implementation, runs alternating between them, and which goes first alternating
    between rounds so that neither always runs after the other (compiled with ``compile_mode``)."""
    modules = {impl: build(impl, chunk, residual_norm, device) for impl in impls}
    if compile_mode is not None:  # each module's first call compiles it
        modules = {impl: torch.compile(module, mode=compile_mode) for impl, module in modules.items()}
    x = torch.randn(BATCH, length, DIM, device=device, generator=torch.Generator(device).manual_seed(1))
    times = {impl: [] for impl in impls}
    for i in range(warmup + repeats):
        for impl, module in list(modules.items())[::-1 if i % 2 else 1]:
            seconds = timed(lambda module=module: step(module, x, mode), device)
            if i >= warmup:
                times[impl].append(seconds)
    return {impl: {"tokens_per_s": BATCH * length / median_seconds(t), "median_s": median_seconds(t),
                   "runs_s": t} for impl, t in times.items()}


class _CountOperations(TorchDispatchMode):
    """Counts the tensor operations that compute something (views and other aliases excluded)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not any(r.alias_info for r in func._schema.returns):
            self.count += 1
        return func(*args, **(kwargs or {}))


def warmed_up_step(impl: str, mode: str, length: int, chunk: int, residual_norm: bool, device: torch.device):
    """One step of ``impl`` as a callable, after a warm-up step: one-time allocations are not the step's."""
    module = build(impl, chunk, residual_norm, device)
    x = torch.randn(BATCH, length, DIM, device=device)
    step(module, x, mode)
    return lambda: step(module, x, mode)


def operations_per_step(impl: str, mode: str, length: int, chunk: int, device: torch.device) -> int:
    """Tensor operations one step runs, forward and (training) backward: each is a kernel launch on a
    GPU, where at this size the launches, not the arithmetic, set the pace."""
    run = warmed_up_step(impl, mode, length, chunk, False, device)
    with _CountOperations() as counter:
        run()
    return counter.count


def peak_memory_of(impl: str, mode: str, residual_norm: bool, device: torch.device) -> int:
    """Peak bytes one step allocates beyond what was live before it (after one warm-up step)."""
    return peak_bytes_of(warmed_up_step(impl, mode, LENGTH, CHUNK, residual_norm, device), device)[1]


def peak_mib(impl: str, mode: str, residual_norm: bool, device: torch.device) -> float:
    """:func:`peak_memory_of` in MiB; on the CPU measured in a fresh process (see the module docstring)."""
    if device.type == "cuda":
        return peak_memory_of(impl, mode, residual_norm, device) / 2**20
    return peak_in_child(__file__, ["--peak-of", f"{impl}:{mode}:{int(residual_norm)}", "--device", "cpu"]) / 2**20


def fmt_rate(r: float) -> str:
    return f"{r / 1e3:8.1f}k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=positive_int, help="timed runs per cell, median (default 5; 2 with "
                        "--quick); the length and chunk sweeps take half as many, at least 2")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sweep points (a smoke run)")
    parser.add_argument("--no-peer", action="store_true", help="measure titans_seq alone")
    parser.add_argument("--compile", metavar="MODE", choices=["default", "reduce-overhead", "max-autotune"],
                        help="also time the headline configuration under torch.compile(mode=MODE)")
    parser.add_argument("--peak-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (args.no_peer or args.peak_of) and importlib.util.find_spec("titans_pytorch") is None:
        parser.error("the peer, titans-pytorch, is not installed: pip install -e '.[bench]' (make bench does), or "
                     "measure titans_seq alone with --no-peer")
    device = resolve_device(args.device)
    if args.peak_of:  # the child process of peak_in_child
        impl, mode, residual_norm = args.peak_of.split(":")
        print(peak_memory_of(impl, mode, bool(int(residual_norm)), device))
        return

    impls = ["titans_seq"] if args.no_peer else ["titans_seq", "titans_pytorch"]
    repeats = args.repeats or (2 if args.quick else 5)
    lengths = [256, 1024, 4096] if args.quick else [256, 1024, 4096, 16384]
    chunks = [16, 64, 256] if args.quick else [16, 32, 64, 128, 256]
    print(f"device {device}, {torch.get_num_threads()} threads; batch {BATCH}, dim {DIM}, {HEADS}x{HEAD_DIM} heads, "
          f"MLP memory depth {DEPTH} x{EXPANSION:g}")

    def headline_table(compile_mode: str | None) -> list[dict]:
        """Both memories, training and inference, at the issue's configuration; peak memory when eager."""
        rows = []
        title = "peak memory" if compile_mode is None else f"torch.compile(mode={compile_mode!r})"
        print(f"\n== length {LENGTH}, chunk {CHUNK}: tokens/s (median of {repeats}), {title} ==")
        print(f"{'memory':<14} {'mode':<10} " + " ".join(f"{i:>15}" for i in impls)
              + ("   speed-up" if len(impls) > 1 else ""))
        for residual_norm in (False, True):
            for mode in ("training", "inference"):
                rates = compare(impls, mode, LENGTH, CHUNK, residual_norm, repeats, device,
                                warmup=1 if compile_mode is None else 2, compile_mode=compile_mode)
                if compile_mode is None:
                    rates = {i: {**r, "peak_memory_mib": peak_mib(i, mode, residual_norm, device)}
                             for i, r in rates.items()}
                row = {"memory": "residual+norm" if residual_norm else "plain MLP", "mode": mode, **rates}
                cells = " ".join(fmt_rate(rates[i]["tokens_per_s"]) + (f" {rates[i]['peak_memory_mib']:5.0f}M"
                                                                        if compile_mode is None else " " * 7)
                                 for i in impls)
                if len(impls) > 1:
                    row["speedup"] = rates["titans_seq"]["tokens_per_s"] / rates["titans_pytorch"]["tokens_per_s"]
                    cells += f"   {row['speedup']:6.2f}x"
                rows.append(row)
                print(f"{row['memory']:<14} {mode:<10} {cells}")
        return rows

    headline = headline_table(None)

    sweep_repeats = max(2, repeats // 2)  # the sweeps' many points take fewer runs each

    def sweep(label, points, make_args):
        rows = []
        print(f"\n== {label}: training and inference tokens/s (median of {sweep_repeats}) ==")
        print(f"{label:>8} " + " ".join(f"{i + ' ' + m[:5]:>22}" for m in ("training", "inference") for i in impls))
        for p in points:
            row = {label: p}
            length, chunk = make_args(p)
            for mode in ("training", "inference"):
                rates = compare(impls, mode, length, chunk, False, sweep_repeats, device)
                row[mode] = {i: rates[i]["tokens_per_s"] for i in impls}
                row[f"{mode}_operations"] = {i: operations_per_step(i, mode, length, chunk, device) for i in impls}
            rows.append(row)
            print(f"{p:>8} " + " ".join(f"{fmt_rate(row[m][i]):>22}" for m in ("training", "inference") for i in impls))
            print(f"{'ops':>8} " + " ".join(f"{row[m + '_operations'][i]:>22}" for m in ("training", "inference")
                                            for i in impls))
        return rows

    by_length = sweep("length", lengths, lambda n: (n, CHUNK))
    by_chunk = sweep("chunk", chunks, lambda c: (LENGTH, c))
    compiled = headline_table(args.compile) if args.compile else []
    path = save("memory_speed", device, {
        "config": {"batch": BATCH, "length": LENGTH, "dim": DIM, "heads": HEADS, "head_dim": HEAD_DIM,
                   "chunk": CHUNK, "memory_depth": DEPTH, "memory_expansion": EXPANSION, "repeats": repeats,
                   "sweep_repeats": sweep_repeats},
        "headline": headline, "by_length": by_length, "by_chunk": by_chunk,
        **({"compiled": {"mode": args.compile, "rows": compiled}} if args.compile else {}),
    }, packages=("titans-pytorch",))
    print(f"\nwrote {path}")
    def speedups(rows: list[dict], prefix: str = "") -> dict:
        return {prefix + f"{r['mode']}_speedup" + ("_residual_norm" if r["memory"] != "plain MLP" else ""):
                (round(r["speedup"], 2) if "speedup" in r else None) for r in rows}  # None (null): no peer

    print(json.dumps({"benchmark": "memory_speed", "device": str(device), **speedups(headline),
                      **speedups(compiled, "compiled_")}))


if __name__ == "__main__":
    command_line(main)
