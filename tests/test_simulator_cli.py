"""The simulator's CLI commands: scenarios, simulate (store, export, serve), export/import."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import polars as pl
import requests
from typer.testing import CliRunner

from workbench.cli import app
from workbench.sources.simulator.commands import serve_scenario
from workbench.store import Store

runner = CliRunner()


def test_scenarios_lists_the_library() -> None:
    result = runner.invoke(app, ["scenarios"])
    assert result.exit_code == 0, result.output
    for name in ("default", "broker-failure", "visibility-timeout-short"):
        assert name in result.output


def test_simulate_writes_a_dataset_and_history(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    result = runner.invoke(
        app,
        [
            "simulate",
            "memory-alarm",
            "--days",
            "2",
            "--seed",
            "3",
            "--store-dir",
            str(store_dir),
            "--export",
            str(tmp_path / "om"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "sim-memory-alarm-3" in result.output
    store = Store(store_dir)
    assert store.manifest("sim-memory-alarm-3").seed == 3
    incidents = store.read_incidents("sim-memory-alarm-3")
    assert incidents["kind"].to_list() == ["memory_alarm"]
    again = runner.invoke(
        app, ["simulate", "memory-alarm", "--days", "2", "--seed", "3", "--store-dir", str(store_dir)]
    )
    assert again.exit_code == 0, again.output
    assert store.read_incidents("sim-memory-alarm-3").height == 1  # same run twice: nothing doubled
    assert (
        store.manifest("sim-memory-alarm-3").rows
        == store.scan("sim-memory-alarm-3").select(pl.len()).collect().item()
    )
    assert (
        len(list((tmp_path / "om").glob("history-*.om"))) == 25
    )  # 2-hour files; the last sample opens the 25th


def test_scenario_export_and_import(isolated_settings: Path) -> None:
    target = isolated_settings / "peak.yaml"
    assert runner.invoke(app, ["scenario-export", "seasonal-peak-day", str(target)]).exit_code == 0
    target.write_text(
        target.read_text(encoding="utf-8").replace("name: seasonal-peak-day", "name: my-peak"),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["scenario-import", str(target)])
    assert result.exit_code == 0, result.output
    assert "my-peak" in runner.invoke(app, ["scenarios"]).output


def test_serve_scenario_serves_metrics_until_stopped() -> None:
    announced: list[str] = []
    worker = threading.Thread(
        target=serve_scenario,
        kwargs={
            "scenario": "steady-week",
            "address": "127.0.0.1:0",
            "days": 0.05,
            "horizon": "30m",
            "speed": 60.0,
            "announce": announced.append,
            "stop_after": 6.0,
        },
    )
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while not any("/metrics" in line for line in announced) and time.monotonic() < deadline:
            time.sleep(0.1)
        url = re.search(r"http://\S+/metrics", " ".join(announced))
        assert url is not None, announced
        text = requests.get(url.group(0), timeout=10).text
        assert "kafka_consumergroup_lag{" in text
        assert "workbench_sim_tick" in text
    finally:
        worker.join(timeout=30)
    assert not worker.is_alive()
