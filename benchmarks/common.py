"""What every benchmark records next to its numbers: date, machine, versions, the exact command."""

from __future__ import annotations

import datetime as dt
import json
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import torch

from titans_seq._io import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_name() -> str:
    """The processor's model name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> dict:
    """CPU (name, threads) and, for a CUDA device, the GPU's name and memory."""
    info = {"cpu": cpu_name(), "torch_threads": torch.get_num_threads(), "platform": platform.platform()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    cuda=torch.version.cuda)
    return info


def versions(*packages: str) -> dict:
    """Python and the installed versions of the named distributions (None when absent)."""
    found = {"python": platform.python_version()}
    for name in ("torch", "titans-seq", *packages):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when available, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(runs: list[float]) -> float:
    return statistics.median(runs)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall-clock seconds of one call, the device synchronised on both sides."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def save(name: str, device: torch.device, payload: dict, packages: tuple[str, ...] = ()) -> Path:
    """Write ``payload`` with the run's context to ``benchmarks/results/<name>-<date>-<device>.json``."""
    now = dt.datetime.now(dt.timezone.utc)
    record = {
        "benchmark": name,
        "date": now.isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(device),
        "versions": versions(*packages),
        **payload,
    }
    tag = "gpu" if device.type == "cuda" else "cpu"
    return atomic_write_text(RESULTS / f"{name}-{now:%Y%m%d-%H%M%S}-{tag}.json", json.dumps(record, indent=2) + "\n")
