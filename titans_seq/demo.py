"""``make demo``: a Titans forecaster trained and evaluated on ETTh1 (horizon 96) in a few minutes.

It trains the default :class:`~titans_seq.tasks.Forecaster` (a small bidirectional MAG encoder over
patches) with the standard lookback-96 protocol, evaluates every test window once and prints the
test MSE and MAE next to published numbers. ``--memory`` shows instead the neural memory learning
at test time with no outer training at all: a memory reads key -> value pairs (random unit keys,
random values) once per pass, in a fresh order, and is then asked to recall every value; recall is
measured as the relative error ``||M(k) - v||^2 / ||v||^2`` and as the share of keys whose retrieved
vector is nearer to the right value than to any other.

Run ``python -m titans_seq.demo --help`` for the settings.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from titans_seq.memory import MemoryMLP, neural_memory_scan, read_memory

# ETTh1, lookback 96, horizon 96 (MSE, MAE): Liu et al., iTransformer, ICLR 2024, Table 10 (iTransformer,
# PatchTST, DLinear, TimesNet); Wang et al., TimeMixer, ICLR 2024 (full results at input 96).
PUBLISHED_ETTH1_96 = {"iTransformer": (0.386, 0.405), "PatchTST": (0.414, 0.419), "DLinear": (0.386, 0.400),
                      "TimesNet": (0.384, 0.402), "TimeMixer": (0.375, 0.400)}


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


def forecast_etth1(epochs: int = 2, path: str | None = None, seed: int = 2021) -> dict:
    """Train the default forecaster on ETTh1 (lookback 96, horizon 96) and test it on every test window."""
    import lightning as L

    from titans_seq.data import ETTDataModule
    from titans_seq.tasks import Forecaster, best_checkpoint_trainer

    L.seed_everything(seed, verbose=False)
    data = ETTDataModule("ETTh1", path=path, lookback=96, horizon=96, batch_size=32)
    data.setup()
    model = Forecaster(channels=data.n_inputs, lookback=96, horizon=96)
    start = time.perf_counter()
    with best_checkpoint_trainer("val_mse", epochs, progress=True) as (trainer, best):
        trainer.fit(model, datamodule=data)
        result = trainer.test(model, datamodule=data, ckpt_path=best.best_model_path, verbose=False)[0]
    return {"mse": result["test_mse"], "mae": result["test_mae"], "windows": data.windows["test"],
            "seconds": time.perf_counter() - start, "epochs": epochs}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main(argv: list[str] | None = None) -> None:
    """The forecasting demo, or with ``--memory`` the test-time learning demo."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memory", action="store_true", help="show the memory learning at test time instead")
    parser.add_argument("--epochs", type=_positive_int, default=2, help="forecasting: training epochs")
    parser.add_argument("--data", help="forecasting: path of ETTh1.csv (default: found as datasets/README.md says)")
    parser.add_argument("--pairs", type=_positive_int, default=64, help="memory: key -> value pairs")
    parser.add_argument("--dim", type=_positive_int, default=32, help="memory: key and value size")
    parser.add_argument("--passes", type=_positive_int, default=16, help="memory: passes over the pairs")
    parser.add_argument("--seed", type=int, help="default: 2021 for forecasting (the benchmark's seed), 0 for --memory")
    args = parser.parse_args(argv)
    if not args.memory:
        print(f"Titans forecaster on ETTh1, lookback 96, horizon 96: {args.epochs} epochs on this machine ...")
        result = forecast_etth1(args.epochs, args.data, 2021 if args.seed is None else args.seed)
        print(f"\nTest windows evaluated: {result['windows']} (all of them); {result['seconds']:.0f} s in all.\n")
        print(f"{'model':<24} {'MSE':>6} {'MAE':>6}")
        print(f"{'titans_seq (MAG), here':<24} {result['mse']:>6.3f} {result['mae']:>6.3f}")
        for name, (mse, mae) in PUBLISHED_ETTH1_96.items():
            print(f"{name + ' (published)':<24} {mse:>6.3f} {mae:>6.3f}")
        return
    print(f"Titans neural memory learning at test time: {args.pairs} random key->value pairs, dim {args.dim},")
    print("read in chunks of 16 (theta 0.02, eta 0.5, alpha 0); recall measured every other pass.")
    print("More pairs than dimensions: a linear memory cannot hold them all, a deeper one can (paper, sec. 3.1).\n")
    for depth, label in [(1, "linear memory (depth 1)"), (2, "MLP memory (depth 2)")]:
        start = time.perf_counter()
        curve = recall_curve(args.pairs, args.dim, args.passes, depth=depth, seed=args.seed or 0)
        seconds = time.perf_counter() - start
        print(f"{label}  [{seconds:.2f} s]")
        print(f"  {'passes':>6} {'tokens':>7} {'rel. error':>10} {'recall acc.':>11}")
        for point in curve[::2] if len(curve) % 2 else [*curve[::2], curve[-1]]:  # every other pass, and the last
            print(f"  {point.passes:>6} {point.tokens_read:>7} {point.relative_error:>10.3f} {point.accuracy:>11.1%}")
        print()


if __name__ == "__main__":
    main()
