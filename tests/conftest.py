"""Shared fixtures: where the shared data and its small samples are."""

import os
from pathlib import Path

import pytest

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
