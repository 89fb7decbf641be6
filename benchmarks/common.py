"""What every benchmark records next to its numbers: date, machine, versions, the exact command."""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

import torch

from titans_seq._io import atomic_write_text, check_file_path

# Where results go: benchmarks/results/, or $TITANS_SEQ_RESULTS (the tests write there, not into the repo).
RESULTS = Path(os.environ.get("TITANS_SEQ_RESULTS") or Path(__file__).resolve().parent / "results")


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
    for name in ("torch", "lightning", "torchmetrics", "numpy", "pandas", "scikit-learn", "titans-seq", *packages):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def commit() -> str | None:
    """The git commit measured: ``$TITANS_SEQ_COMMIT`` (set where the tree travels without .git), else git's,
    with ``+dirty`` when tracked files other than results and Markdown notes (``benchmarks/results/``, ``*.md``)
    differ from it or Python files git does not know (nor ignores) lie beside them (then the code that ran is not
    the commit's)."""
    if os.environ.get("TITANS_SEQ_COMMIT"):
        return os.environ["TITANS_SEQ_COMMIT"]
    here = Path(__file__).parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                      ":(top,exclude)benchmarks/results", ":(top,exclude,glob)**/*.md") if head else ""
        changed = changed or (git("ls-files", "--others", "--exclude-standard", "--", ":(top,glob)**/*.py")
                              if head else "")
    except OSError:
        return None
    return (head + ("+dirty" if changed else "")) or None


# The code a run measures is the code it started with: a commit made while it runs must not be recorded.
COMMIT_AT_START = commit()


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (a count of epochs, steps, tokens, repeats)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _once_each(items: list, text: str) -> list:
    """``items`` if none repeats (a repeated one would run twice and count twice in the averages)."""
    repeated = sorted({str(item) for item in items if items.count(item) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"{', '.join(repeated)} given more than once in {text!r}")
    return items


def integers(text: str) -> list[int]:
    """An argparse type: a comma-separated list of distinct integers."""
    try:
        values = [int(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}") from None
    return _once_each(values, text)


def names_among(known: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated list of distinct names, each one of ``known``."""
    def names(text: str) -> list[str]:
        unknown = sorted(set(text.split(",")) - set(known))
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; choose among {', '.join(known)}")
        return _once_each(text.split(","), text)

    return names


def command_line(main: Callable[[], None]) -> None:
    """Run a benchmark's ``main``: a results folder that cannot be written to found first, before the work, not
    after it (the folder is made with the first record, so that a run stopped by a bad setting makes none), and a
    bad setting or missing file (the library's ``ValueError``, ``FileNotFoundError``) ending the run with its
    message, not a traceback."""
    try:
        check_file_path(RESULTS / "record.json", "a record")
    except (ValueError, PermissionError) as error:
        sys.exit(f"error: the results folder {RESULTS} cannot be written to ({error}); set TITANS_SEQ_RESULTS "
                 f"elsewhere")
    try:
        main()
    except (ValueError, FileNotFoundError) as error:  # where it was raised, for one that is a bug, not a setting
        where = traceback.extract_tb(error.__traceback__)[-1]
        sys.exit(f"error: {error} ({Path(where.filename).name}:{where.lineno}; the records written so far are kept)")


def print_table(rows: list[dict], columns: dict[str, str]) -> None:
    """``rows`` as an aligned table on stderr (stdout ends with a benchmark's JSON line): one column per key of
    ``columns``, each value in that key's format (``".4f"``, ``""``); blank where a row lacks the key."""
    cells = [[format(row[key], spec) if row.get(key) is not None else "" for key, spec in columns.items()]
             for row in rows]
    widths = [max(len(key), *(len(line[i]) for line in cells)) for i, key in enumerate(columns)]
    for line in [list(columns), *cells]:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)), file=sys.stderr)


def given(**flags: object) -> dict:
    """The flags that were given on the command line (those not ``None``): a run's setting overrides."""
    return {name: value for name, value in flags.items() if value is not None}


def changed_flags(parser: argparse.ArgumentParser, args: argparse.Namespace, names) -> list[str]:
    """The flags among ``names`` (attributes of ``args``) given another value than their default, as ``--name``."""
    return [f"--{name.replace('_', '-')}" for name in names if getattr(args, name) != parser.get_default(name)]


def refuse_titans_only_flags(parser: argparse.ArgumentParser, args: argparse.Namespace, names: tuple[str, ...],
                             runs_titans: bool) -> None:
    """Stop with a usage error, before any work, when flags that set only the Titans model (``names``, as
    attributes of ``args``) were given to a run without it."""
    flags = changed_flags(parser, args, names)
    if flags and not runs_titans:
        parser.error(f"only the titans model takes {', '.join(flags)}")


def accelerator(device: torch.device) -> str:
    """Lightning's name for the kind of ``device``: ``"gpu"`` or ``"cpu"``."""
    return "gpu" if device.type == "cuda" else "cpu"


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when available, else the CPU; a device that is not here, or a GPU but the first (the trainers
    run on one; ``CUDA_VISIBLE_DEVICES`` picks which), is a ``ValueError``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device must be auto, cpu or cuda, got {name!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda, but torch sees no CUDA GPU here; use cpu or auto")
    if device.type == "cuda" and device.index not in (None, 0):
        raise ValueError(f"--device {name}: the benchmarks run on the first visible GPU; choose it with "
                         f"CUDA_VISIBLE_DEVICES={device.index} and --device cuda")
    return device


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


def save(name: str, device: torch.device, payload: dict, packages: tuple[str, ...] = (),
         path: Path | None = None) -> Path:
    """Write ``payload`` with the run's context to ``benchmarks/results/<name>-<date>-<device>.json``
    (or to ``path``, to rewrite a file as a long run goes on; a new name never replaces another run's
    file: a second record in the same second gets ``<date>-2``); returns the path."""
    now = dt.datetime.now(dt.timezone.utc)
    record = {
        "benchmark": name,
        "date": now.isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "commit": COMMIT_AT_START,
        "machine": machine(device),
        "versions": versions(*packages),
        **payload,
    }
    text = json.dumps(record, indent=2) + "\n"
    if path is not None:
        return atomic_write_text(path, text)
    stamp, tag = f"{now:%Y%m%d-%H%M%S}", accelerator(device)
    for copy in itertools.count(1):  # runs side by side may finish in the same second
        try:
            return atomic_write_text(RESULTS / f"{name}-{stamp}{'' if copy == 1 else f'-{copy}'}-{tag}.json", text,
                                     exclusive=True)
        except FileExistsError:
            continue


def peak_in_child(script: str, argv: list[str]) -> int:
    """Run ``script argv`` in a fresh process whose last output line is a peak in bytes, and return it.

    The child allocates every block above 64 KiB by mmap, so that freed tensors leave the resident set
    at once and its resident memory follows the live tensors (too slow a setting for timing runs).
    """
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, script, *argv], check=True, capture_output=True, text=True, env=env)
    return int(out.stdout.strip().splitlines()[-1])


def status_bytes(field: str) -> int:
    """A size field of /proc/self/status (VmRSS: resident now, VmHWM: resident peak) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_bytes() -> int:
    return status_bytes("VmRSS")


def reset_peak_memory(device: torch.device) -> int:
    """Start measuring a peak from now; returns the memory in use now (bytes)."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    Path("/proc/self/clear_refs").write_text("5")  # the kernel resets VmHWM to the current VmRSS
    return rss_bytes()


def peak_memory(device: torch.device) -> int:
    """Peak memory (bytes) since the last :func:`reset_peak_memory`."""
    if device.type == "cuda":
        synchronize(device)
        return torch.cuda.max_memory_allocated(device)
    return status_bytes("VmHWM")


def peak_bytes_of(fn: Callable[[], object], device: torch.device) -> tuple[float, int]:
    """Seconds of one call of ``fn`` and the peak memory it added above what was in use before it."""
    before = reset_peak_memory(device)
    seconds = timed(fn, device)
    return seconds, peak_memory(device) - before
