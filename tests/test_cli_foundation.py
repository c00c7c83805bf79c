"""The CLI shell: help everywhere, datasets, check, one-line errors with non-zero exits."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest
from typer.testing import CliRunner

from tests.store_writer import batch
from workbench.cli import app
from workbench.store import Store

runner = CliRunner()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from workbench.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_every_command_has_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    import typer.main

    group = typer.main.get_command(app)
    for name in group.commands:  # type: ignore[attr-defined]
        sub = runner.invoke(app, [name, "--help"])
        assert sub.exit_code == 0, name
        assert "Usage" in sub.output


def test_datasets_lists_the_store(isolated_settings):
    store = Store()
    store.append("one", batch(0), source="test:one", seed=3)
    result = runner.invoke(app, ["datasets"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert "one" in result.output
    assert "test:one" in result.output


def test_check_prints_quarantine_summary(tmp_path):
    frame = batch(0).with_columns(pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%SZ"))
    frame = frame.with_columns(
        value=pl.when(pl.int_range(pl.len()) < 5).then(pl.lit(-1.0)).otherwise(pl.col("value"))
    )
    path = tmp_path / "f.csv"
    frame.write_csv(path)
    out = tmp_path / "q.csv"
    result = runner.invoke(app, ["check", str(path), "--quarantine-out", str(out)])
    assert result.exit_code == 0, result.output
    assert "5 quarantined" in result.output
    assert "value is negative" in result.output
    assert pl.read_csv(out).height == 5
    assert runner.invoke(app, ["check", str(path), "--strict"]).exit_code == 1
    # The console script too (main() runs click outside standalone mode).
    assert run_cli("check", str(path), "--strict").returncode == 1


@pytest.mark.parametrize("kind", ["missing file", "missing column"])
def test_errors_are_one_line_and_non_zero(kind, tmp_path):
    path = tmp_path / "bad.csv"
    if kind == "missing column":
        pl.DataFrame({"ts": ["2026-01-01T00:00:00Z"], "value": [1.0]}).write_csv(path)
    result = run_cli("check", str(path if kind == "missing column" else "/no/such/file.parquet"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.strip().splitlines() if line]) <= 2
    assert ("file not found" if kind == "missing file" else "column 'provider'") in result.stderr


def test_learn_rejects_an_unknown_backend_and_a_stray_scheduler():
    bad = run_cli("learn", "any", "--backend", "bogus")
    assert bad.returncode == 1
    assert "parameter 'backend'" in bad.stderr
    stray = run_cli("learn", "any", "--scheduler", "tcp://127.0.0.1:8786")
    assert stray.returncode == 1
    assert "parameter 'scheduler'" in stray.stderr
