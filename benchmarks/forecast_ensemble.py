"""Seed ensembles on the forecasting benchmark: train one model per seed, average their forecasts.

Each member is one ``forecast.py`` run (the same settings, ``settings_for``; only the seed differs). The
ensemble's forecast of a window is the mean of the members' point forecasts; its MSE and MAE are on the
scaled data over every test window, as in ``forecast.py``, and on validation too. The published tables are
of single models, so an ensemble's numbers belong beside them, not in them (see benchmarks/RESULTS.md).
The last line printed is one JSON object: the ensemble's, or with several horizons their average.

    python benchmarks/forecast_ensemble.py --dataset ETTh1 [--horizons 96,192,336,720] [--seeds 2021,2022,2023]
                                           [--model titans|dlinear] [--epochs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import command_line, given, integers, positive_int, resolve_device, save
from forecast import DATASETS, HORIZONS, average_over_horizons, run

from titans_seq.tasks import Forecaster


@torch.no_grad()
def point_forecasts(forecaster: Forecaster, loader) -> tuple[Tensor, Tensor]:
    """The point forecasts and the targets of every window in ``loader`` (scaled units, float64, CPU)."""
    forecaster.eval()
    forecasts, targets = [], []
    for index, batch in enumerate(loader):
        batch = [t.to(forecaster.device) for t in batch]
        forecasts.append(forecaster.point(forecaster.predict_step(batch, index)).double().cpu())
        targets.append(batch[1].double().cpu())
    return torch.cat(forecasts), torch.cat(targets)


def errors(forecast: Tensor, target: Tensor) -> dict:
    """MSE and MAE over every window, step and channel."""
    return {"mse": (forecast - target).pow(2).mean().item(), "mae": (forecast - target).abs().mean().item()}


def ensemble(dataset: str, horizon: int, model: str, seeds: list[int], device: torch.device, progress: bool,
             overrides: dict) -> tuple[dict, list[dict]]:
    """Train one member per seed and score the mean of their forecasts; returns the ensemble's record
    and the members' (``forecast.py``'s records)."""
    members, sums, targets = [], {}, {}
    for seed in seeds:
        record, forecaster, data = run(dataset, horizon, model, seed, device, progress, overrides)
        for split, loader in (("val", data.val_dataloader()), ("test", data.test_dataloader())):
            forecast, targets[split] = point_forecasts(forecaster, loader)
            sums[split] = forecast if split not in sums else sums[split] + forecast
            if split == "test" and abs(errors(forecast, targets[split])["mse"] / record["mse"] - 1) > 1e-4:
                raise RuntimeError(f"seed {seed}'s test forecasts do not give its tested MSE {record['mse']}: "
                                   "the model is not the restored best checkpoint")
        members.append(record)
        print(json.dumps(record), flush=True)
    test, val = (errors(sums[split] / len(seeds), targets[split]) for split in ("test", "val"))
    member_mse = [m["mse"] for m in members]
    return {
        "dataset": dataset, "horizon": horizon, "model": model, "variant": members[0]["variant"],
        "ensemble_seeds": seeds, **test, "val_mse": val["mse"], "windows": members[0]["windows"],
        "seconds": round(sum(m["seconds"] for m in members), 1), "members_mse_mean": statistics.mean(member_mse),
        "members_mse_std": statistics.stdev(member_mse), "members_mae_mean": statistics.mean(m["mae"] for m in members),
    }, members


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=DATASETS, default="ETTh1")
    parser.add_argument("--horizons", type=integers, default=list(HORIZONS))
    parser.add_argument("--seeds", type=integers, default=[2021, 2022, 2023], help="one member per seed (>= 2)")
    parser.add_argument("--model", choices=("titans", "dlinear"), default="titans")
    parser.add_argument("--epochs", type=positive_int, help="override each member's epoch budget")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--progress", action="store_true", help="show Lightning's progress bars")
    args = parser.parse_args()
    if len(args.seeds) < 2:  # a repeated one is refused by the flag's type
        parser.error(f"--seeds needs at least two different seeds, got {args.seeds}")
    if min(args.horizons) < 1:
        parser.error(f"--horizons must be positive, got {args.horizons}")
    device = resolve_device(args.device)
    torch.set_float32_matmul_precision("high")
    overrides = given(epochs=args.epochs)
    rows, members, path = [], [], None
    name = f"forecast-ensemble-{args.model}-{args.dataset}-" + "-".join(map(str, args.horizons))
    for horizon in args.horizons:
        row, new_members = ensemble(args.dataset, horizon, args.model, args.seeds, device, args.progress, overrides)
        rows.append(row)
        members += new_members
        path = save(name, device, {"results": rows, "members": members,  # rewritten after each horizon
                                   "complete": len(rows) == len(args.horizons)}, path=path)
    print(f"wrote {path}", file=sys.stderr)
    print(f"\n{'horizon':>8} {'members MSE (mean ± sd)':>24} {'ensemble MSE':>13} {'ensemble MAE':>13}")
    for row in rows:
        print(f"{row['horizon']:>8} {row['members_mse_mean']:>15.4f} ± {row['members_mse_std']:.4f} "
              f"{row['mse']:>13.4f} {row['mae']:>13.4f}")
    if len(rows) == 1:
        print(json.dumps(rows[0]))
        return
    print(json.dumps({**average_over_horizons(rows, "members_mse_mean"), "ensemble_seeds": args.seeds}))


if __name__ == "__main__":
    command_line(main)
