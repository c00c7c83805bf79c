"""Shared pytest configuration: real-service fixtures and an isolated store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.config import settings

pytest_plugins = ["tests.services"]


@pytest.fixture
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the store and reports at a temporary directory for one test."""
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WORKBENCH_REPORTS_DIR", str(tmp_path / "reports"))
    settings(refresh=True)
    yield tmp_path
    monkeypatch.undo()
    settings(refresh=True)
