"""Long context (issue 3): recall beyond the attention window, and cost against length.

``recall``: multi-query associative recall. A sequence holds ``pairs`` key -> value pairs, then
``distance`` filler tokens, then the keys again in a new order; the model must answer each with its
value. Distances are multiples of the attention window, so the pairs lie far outside it. Small causal
models of about equal parameter count are trained from scratch on this CPU: sliding-window attention
alone (``window``) and the Titans variants LMM, MAC, MAG, MAL. Accuracy is measured on fresh
sequences at 8x, 16x, 32x and 64x the window (trained on distances 4x to 16x).

``scale``: inference tokens/s and peak memory of a default-size causal encoder of each variant for
lengths 1k to 64k, and one causal MAC encoder streamed over 1,000,000 tokens in pieces, its peak
memory recorded as it goes.

    python benchmarks/long_context.py recall [--steps 1500] [--variants window,lmm,mac,mag,mal] [--seed 0]
    python benchmarks/long_context.py scale [--max-length 65536] [--stream-tokens 1000000] [--variants lmm,mac,mag,mal]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    changed_flags,
    command_line,
    median_seconds,
    names_among,
    peak_bytes_of,
    peak_in_child,
    peak_memory,
    positive_int,
    reset_peak_memory,
    resolve_device,
    save,
    timed,
)

from titans_seq.layers import Attention, TitansConfig, TitansEncoder
from titans_seq.layers.blocks import FeedForward

KEYS, VALUES, FILLERS = 32, 32, 16
VOCAB = KEYS + VALUES + FILLERS
MODELS = ("window", "lmm", "mac", "mag", "mal")


def recall_batch(batch: int, pairs: int, distance: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Tokens ``(batch, 2*pairs + distance + pairs)`` and targets (-100 except at the query keys)."""
    keys = torch.rand(batch, KEYS, generator=generator).argsort(dim=1)[:, :pairs]
    values = KEYS + torch.randint(VALUES, (batch, pairs), generator=generator)
    filler = KEYS + VALUES + torch.randint(FILLERS, (batch, distance), generator=generator)
    order = torch.rand(batch, pairs, generator=generator).argsort(dim=1)
    tokens = torch.cat([torch.stack([keys, values], dim=2).flatten(1), filler, keys.gather(1, order)], dim=1)
    targets = torch.full_like(tokens, -100)
    targets[:, -pairs:] = values.gather(1, order)
    return tokens, targets


class WindowAttention(nn.Module):
    """The baseline: blocks of sliding-window attention and feed-forward, no memory."""

    def __init__(self, config: TitansConfig):
        super().__init__()
        self.layers = nn.ModuleList()
        for _ in range(config.depth):
            attention = Attention(config.dim, config.heads, config.window, True, config.persistent_tokens)
            ff = FeedForward(config.dim, config.ff_mult, 0.0)
            self.layers.append(nn.ModuleList([nn.RMSNorm(config.dim), attention, nn.RMSNorm(config.dim), ff]))
        self.norm = nn.RMSNorm(config.dim)

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        for norm, attention, ff_norm, ff in self.layers:
            x = x + attention.sliding(norm(x))[0]
            x = x + ff(ff_norm(x))
        return self.norm(x), None


class RecallModel(nn.Module):
    """Token embedding, a causal encoder, a linear read-out over the vocabulary."""

    def __init__(self, name: str, config: TitansConfig):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, config.dim)
        self.encoder = WindowAttention(config) if name == "window" else TitansEncoder(config)
        self.head = nn.Linear(config.dim, VOCAB)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.head(self.encoder(self.embed(tokens))[0])


MEMORY_DEPTH = 2  # set from --memory-depth


def model_config(name: str, dim: int, ff_mult: float, window: int, depth: int) -> TitansConfig:
    return TitansConfig(variant="lmm" if name == "window" else name, dim=dim, depth=depth, heads=4, window=window,
                        memory_chunk=window, persistent_tokens=4, ff_mult=ff_mult, memory_depth=MEMORY_DEPTH)


def matched_model(name: str, target: int, window: int, depth: int) -> RecallModel:
    """The width and feed-forward factor whose parameter count is nearest ``target``."""
    best = None
    for dim in range(32, 161, 8):
        for ff_mult in (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0):
            count = sum(p.numel() for p in RecallModel(name, model_config(name, dim, ff_mult, window, depth))
                        .parameters())
            if best is None or abs(count - target) < abs(best[0] - target):
                best = (count, dim, ff_mult)
    return RecallModel(name, model_config(name, best[1], best[2], window, depth))


def evaluate(model: RecallModel, pairs: int, distance: int, sequences: int, device: torch.device, seed: int) -> float:
    g = torch.Generator().manual_seed(seed)
    correct = total = 0
    model.eval()
    with torch.no_grad():
        for start in range(0, sequences, 64):
            tokens, targets = recall_batch(min(64, sequences - start), pairs, distance, g)
            logits = model(tokens.to(device))[:, -pairs:]
            correct += (logits.argmax(-1).cpu() == targets[:, -pairs:]).sum().item()
            total += targets[:, -pairs:].numel()
    model.train()
    return correct / total


def train_recall(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    torch.manual_seed(args.seed)
    target = sum(p.numel() for p in RecallModel("mag", model_config("mag", args.dim, 4.0, args.window, args.depth))
                 .parameters())
    model = matched_model(name, target, args.window, args.depth).to(device)
    params = sum(p.numel() for p in model.parameters())
    config = model.encoder.config if name != "window" else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, args.steps // 20)
    # Linear warm-up, then a cosine decay to 10% of the peak learning rate.
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) * (
        0.55 + 0.45 * math.cos(math.pi * min(s, args.steps) / args.steps)))
    g = torch.Generator().manual_seed(args.seed)
    start, losses, skipped = time.perf_counter(), [], 0
    for step in range(args.steps):
        distance = args.window * int(torch.randint(4, 17, (1,), generator=g))
        tokens, targets = recall_batch(args.batch, args.pairs, distance, g)
        logits = model(tokens.to(device))
        loss = F.cross_entropy(logits.flatten(0, 1), targets.to(device).flatten(), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if math.isfinite(loss.item()) and math.isfinite(grad_norm.item()):
            optimizer.step()
            losses.append(loss.item())
        else:
            skipped += 1  # a diverged inner update: drop the batch rather than the model
        schedule.step()
        if (step + 1) % max(1, args.steps // 10) == 0:
            print(f"  {name} step {step + 1}/{args.steps} loss {sum(losses[-50:]) / max(1, len(losses[-50:])):.3f} "
                  f"skipped {skipped} [{time.perf_counter() - start:.0f} s]", flush=True)
    seconds = time.perf_counter() - start
    accuracy = {f"{m}x": evaluate(model, args.pairs, m * args.window, args.eval_sequences, device, seed=1000 + m)
                for m in (8, 16, 32, 64)}
    return {"model": name, "parameters": params, "train_seconds": round(seconds, 1),
            "final_loss": losses[-1] if losses else None, "skipped_steps": skipped, "memory_depth": args.memory_depth,
            "dim": (config.dim if config else model.embed.embedding_dim),
            "ff_mult": (config.ff_mult if config else None), "accuracy": accuracy}


def run_recall(args: argparse.Namespace, device: torch.device) -> None:
    rows = []
    print(f"recall: {args.pairs} pairs, window {args.window}, chance {1 / VALUES:.1%}; trained on distances "
          f"4x-16x the window, {args.steps} steps of batch {args.batch}")
    for name in args.variants:
        rows.append(train_recall(name, args, device))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'model':<8} {'params':>8} " + " ".join(f"{m:>6}" for m in ("8x", "16x", "32x", "64x")) + "  train s")
    for r in rows:
        print(f"{r['model']:<8} {r['parameters']:>8} " + " ".join(f"{r['accuracy'][m]:>6.1%}" for m in r["accuracy"])
              + f"  {r['train_seconds']:>7.0f}")
    path = save("long_context_recall", device, {"task": {"pairs": args.pairs, "window": args.window, "keys": KEYS,
                                                        "values": VALUES, "fillers": FILLERS, "steps": args.steps,
                                                        "batch": args.batch, "lr": args.lr, "seed": args.seed},
                                               "results": rows})
    print(f"wrote {path}")
    print(json.dumps({"benchmark": "long_context_recall",
                      **{r["model"]: r["accuracy"]["16x"] for r in rows}}))


def _encoder_pass(config: TitansConfig, length: int, device: torch.device, seed: int):
    """An inference pass of a batch-1 encoder over ``length`` tokens, as a function to call."""
    torch.manual_seed(seed)
    encoder = TitansEncoder(config).to(device).eval()
    x = torch.randn(1, length, config.dim, device=device)

    def run() -> None:
        with torch.no_grad():
            encoder(x)

    return run


def _forward_peak(config: TitansConfig, length: int, device: torch.device, seed: int) -> int:
    """Peak bytes an inference pass adds, after a warm-up pass at a short length."""
    _encoder_pass(config, min(length, 1024), device, seed)()
    return peak_bytes_of(_encoder_pass(config, length, device, seed), device)[1]


def _stream(args: argparse.Namespace, device: torch.device) -> tuple[list[dict], int, float]:
    """A causal MAC encoder fed ``args.stream_tokens`` random tokens in pieces, its state carried: its peak memory
    above the start, now and then. Returns the trace, the tokens read and the seconds taken."""
    torch.manual_seed(args.seed)
    encoder = TitansEncoder(TitansConfig(variant="mac")).to(device).eval()
    piece, state, seen, trace = args.stream_piece, None, 0, []
    generator = torch.Generator(device).manual_seed(args.seed)
    base = reset_peak_memory(device)
    start = time.perf_counter()
    with torch.no_grad():
        while seen < args.stream_tokens:
            x = torch.randn(1, piece, 128, device=device, generator=generator)
            out, state = encoder(x, state)
            seen += piece
            if seen % max(1, args.stream_tokens // 8) < piece or seen >= args.stream_tokens:
                high = peak_memory(device)
                trace.append({"tokens": seen, "seconds": round(time.perf_counter() - start, 1),
                              "peak_mib_above_start": round((high - base) / 2**20, 1)})
                print(f"  streamed MAC: {seen:>9} tokens, {trace[-1]['seconds']:>7.1f} s, "
                      f"peak {trace[-1]['peak_mib_above_start']:.1f} MiB above the start", flush=True)
    assert torch.isfinite(out).all()
    return trace, seen, time.perf_counter() - start


def run_scale(args: argparse.Namespace, device: torch.device) -> None:
    # The stream first: on the CPU its peak is a resident-memory high-water mark, which memory the allocator kept
    # from the long passes of the table would hide (a stream after a 16k-token pass read 1.2 MiB, from a fresh
    # process 38 MiB).
    print(f"stream: a causal MAC encoder, {args.stream_tokens} tokens in pieces of {args.stream_piece}")
    trace, seen, stream_seconds = _stream(args, device)
    lengths = [1024 * 4**i for i in range(10) if 1024 * 4**i <= args.max_length]
    rows = []
    print(f"scale: batch 1, default TitansConfig (dim 128, depth 2, window 64, memory chunk 32), inference, "
          f"median of {args.repeats}")
    print(f"{'variant':<8} " + " ".join(f"{n:>18}" for n in lengths))
    for variant in [v for v in args.variants if v != "window"]:  # the Titans variants asked for
        config = TitansConfig(variant=variant)
        cells, row = [], {"variant": variant}
        for n in lengths:
            run = _encoder_pass(config, n, device, args.seed)
            run()  # warm-up
            seconds = median_seconds([timed(run, device) for _ in range(args.repeats)])
            peak = (_forward_peak(config, n, device, args.seed) if device.type == "cuda" else
                    peak_in_child(__file__, ["scale", "--peak-of", f"{variant}:{n}", "--device", "cpu",
                                             "--seed", str(args.seed)]))
            row[str(n)] = {"tokens_per_s": n / seconds, "peak_mib": peak / 2**20}
            cells.append(f"{n / seconds / 1e3:7.1f}k/s {peak / 2**20:6.0f}M")
        rows.append(row)
        print(f"{variant:<8} " + " ".join(f"{c:>18}" for c in cells), flush=True)

    stream = {"variant": "mac", "piece": args.stream_piece, "trace": trace}
    path = save("long_context_scale", device, {"by_length": rows, "repeats": args.repeats, "stream": stream})
    print(f"wrote {path}")
    print(json.dumps({"benchmark": "long_context_scale", "stream_tokens": seen,
                      "stream_tokens_per_s": round(seen / stream_seconds),
                      "stream_peak_mib": trace[-1]["peak_mib_above_start"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", choices=["recall", "scale"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--variants", type=names_among(MODELS), default=",".join(MODELS))
    parser.add_argument("--steps", type=positive_int, default=1500)
    parser.add_argument("--batch", type=positive_int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--pairs", type=positive_int, default=8)
    parser.add_argument("--window", type=positive_int, default=8)
    parser.add_argument("--dim", type=positive_int, default=64,
                        help="width of the MAG model that sets the parameter budget")
    parser.add_argument("--depth", type=positive_int, default=2)
    parser.add_argument("--memory-depth", type=positive_int, default=2, help="layers of every memory MLP (1 = linear)")
    parser.add_argument("--eval-sequences", type=positive_int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=positive_int, default=65536)
    parser.add_argument("--stream-tokens", type=positive_int, default=1_000_000)
    parser.add_argument("--stream-piece", type=positive_int, default=8192)
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="timed passes per cell of the length table (median)")
    parser.add_argument("--peak-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    only = {"recall": ("steps", "batch", "lr", "pairs", "window", "dim", "depth", "memory_depth", "eval_sequences"),
            "scale": ("max_length", "stream_tokens", "stream_piece", "repeats")}
    other = "scale" if args.part == "recall" else "recall"
    ignored = changed_flags(parser, args, only[other])
    if ignored and not args.peak_of:  # the other part's flags were taken and ignored
        parser.error(f"{args.part} takes no {', '.join(ignored)}: {'that is' if len(ignored) == 1 else 'those are'} "
                     f"{other}'s")
    if args.pairs > KEYS:
        parser.error(f"--pairs must be at most {KEYS}, the keys there are, got {args.pairs}")
    if args.part == "scale" and args.max_length < 1024:
        parser.error(f"--max-length must be at least 1024, the shortest length scale measures, got {args.max_length}")
    if args.part == "scale" and set(args.variants) <= {"window"}:
        parser.error("scale measures the Titans variants: give --variants among lmm, mac, mag, mal")
    device = resolve_device(args.device)
    global MEMORY_DEPTH
    MEMORY_DEPTH = args.memory_depth
    if args.peak_of:  # the child process of peak_in_child
        variant, length = args.peak_of.split(":")
        print(_forward_peak(TitansConfig(variant=variant), int(length), device, args.seed))
        return
    (run_recall if args.part == "recall" else run_scale)(args, device)


if __name__ == "__main__":
    command_line(main)
