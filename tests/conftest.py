"""Shared fixtures: where the shared data and its small samples are; which windows a run reads."""

import collections
import os
from pathlib import Path

import pytest

from titans_seq.data.timeseries import WindowDataset

SHARED = Path(os.environ.get("TITANS_SEQ_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
HAS_SHARED_DATA = (SHARED / "ett").is_dir()


def pytest_report_header(config) -> str:
    """Say up front where the data tests read from, and that they skip when it is missing."""
    if HAS_SHARED_DATA:
        return f"titans_seq data: {SHARED}"
    return f"titans_seq data: none at {SHARED}; the tests that read real data will skip (set TITANS_SEQ_DATA)"


@pytest.fixture
def samples() -> Path:
    folder = SHARED / "samples"
    if not folder.is_dir():
        pytest.skip(f"no sample data at {folder} (set TITANS_SEQ_DATA)")
    return folder


@pytest.fixture
def shared_data(monkeypatch) -> Path:
    if not HAS_SHARED_DATA:
        pytest.skip(f"no shared data at {SHARED} (set TITANS_SEQ_DATA)")
    monkeypatch.setenv("TITANS_SEQ_DATA", str(SHARED))
    return SHARED


@pytest.fixture
def windows_read(monkeypatch) -> dict[int, list[int]]:
    """The windows each series' split hands out from here on (their indices, repeats kept), by the split's first
    row: what a run reads."""
    read = collections.defaultdict(list)
    original = WindowDataset.__getitem__
    monkeypatch.setattr(WindowDataset, "__getitem__", lambda self, i: read[self.start].append(i) or original(self, i))
    return read
