"""``make demo``: the neural memory learning at test time, with no outer training at all.

A memory reads a stream of key -> value pairs (random unit keys, random values), each pair shown once
per pass in a fresh order. After every pass it is asked to recall the value of every key. Recall is
measured as the relative error ``||M(k) - v||^2 / ||v||^2`` and as the share of keys whose retrieved
vector is nearer to the right value than to any other value. Only the inner loop runs: theta, eta and
alpha are fixed numbers here, and the memory's weights change purely by reading.

Run ``python -m titans_seq.demo --help`` for the settings.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from titans_seq.memory import MemoryMLP, neural_memory_scan, read_memory


@dataclass
class RecallPoint:
    """Recall of all pairs after a number of passes over them."""

    passes: int
    tokens_read: int
    relative_error: float
    accuracy: float


def recall_curve(
    pairs: int = 64,
    dim: int = 32,
    passes: int = 16,
    depth: int = 2,
    chunk_size: int = 16,
    lr: float = 0.02,
    momentum: float = 0.5,
    forget: float = 0.0,
    seed: int = 0,
) -> list[RecallPoint]:
    """Train a memory by reading only, and measure its recall after each pass (pass 0: before reading)."""
    g = torch.Generator().manual_seed(seed)
    memory = MemoryMLP(dim, depth=depth)
    keys = F.normalize(torch.randn(pairs, dim, generator=g), dim=-1)
    values = torch.randn(pairs, dim, generator=g)
    params = {name: p.unsqueeze(0) for name, p in memory.init_params(generator=g).items()}
    surprise = None

    def measure(passes_done: int) -> RecallPoint:
        recalled = read_memory(memory, params, keys.unsqueeze(0))[0]
        error = (recalled - values).square().sum() / values.square().sum()
        nearest = torch.cdist(recalled, values).argmin(dim=1)
        accuracy = (nearest == torch.arange(pairs)).float().mean()
        return RecallPoint(passes_done, passes_done * pairs, error.item(), accuracy.item())

    curve = [measure(0)]
    gate = lambda value: torch.full((1, pairs), value)  # noqa: E731
    for p in range(1, passes + 1):
        order = torch.randperm(pairs, generator=g)
        k, v = keys[order].unsqueeze(0), values[order].unsqueeze(0)
        _, params, surprise = neural_memory_scan(
            memory, params, k, v, k, gate(lr), gate(momentum), gate(forget), chunk_size, surprise
        )
        curve.append(measure(p))
    return curve


def main(argv: list[str] | None = None) -> None:
    """Print recall before and while reading, for a linear and a two-layer memory."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--passes", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"Titans neural memory learning at test time: {args.pairs} random key->value pairs, dim {args.dim},")
    print("read in chunks of 16 (theta 0.02, eta 0.5, alpha 0); recall measured every other pass.")
    print("More pairs than dimensions: a linear memory cannot hold them all, a deeper one can (paper, sec. 3.1).\n")
    for depth, label in [(1, "linear memory (depth 1)"), (2, "MLP memory (depth 2)")]:
        start = time.perf_counter()
        curve = recall_curve(args.pairs, args.dim, args.passes, depth=depth, seed=args.seed)
        seconds = time.perf_counter() - start
        print(f"{label}  [{seconds:.2f} s]")
        print(f"  {'passes':>6} {'tokens':>7} {'rel. error':>10} {'recall acc.':>11}")
        for point in curve[::2]:
            print(f"  {point.passes:>6} {point.tokens_read:>7} {point.relative_error:>10.3f} {point.accuracy:>11.1%}")
        print()


if __name__ == "__main__":
    main()
