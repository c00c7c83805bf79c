"""A real Prometheus scrapes ``--serve`` (and backfills the OpenMetrics history): values equal the simulator's."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import requests

from workbench.sources.simulator.live import LiveFleet

pytestmark = pytest.mark.services

_TARGET_LABELS = {"__name__", "job", "instance"}


def _query(url: str, query: str, at: float | None = None) -> list[dict]:
    params = {"query": query}
    if at is not None:
        params["time"] = repr(at)
    answer = requests.get(f"{url}/api/v1/query", params=params, timeout=30).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_prometheus_scrapes_serve_and_values_equal_the_simulator(prometheus_factory) -> None:
    fleet = LiveFleet("default", seed=3, history="30m", horizon="2h", speed=60.0)
    host, port = fleet.serve("127.0.0.1", 0)
    try:
        prom = prometheus_factory(
            [
                {
                    "job_name": "sim",
                    "scrape_interval": "1s",
                    "static_configs": [{"targets": [f"{host}:{port}"]}],
                }
            ]
        )
        prom.wait_for_series('workbench_sim_tick{job="sim"}', timeout=60)
        time.sleep(4)  # a few scrapes
        raw = _query(prom.url, 'workbench_sim_tick{job="sim"}[10s]')
        samples = raw[0]["values"]
        assert len(samples) >= 3
        checked_series = 0
        for at, tick_text in samples[-3:]:
            tick = int(float(tick_text))
            result = _query(prom.url, '{job="sim"}', at=float(at))
            scraped = [
                r
                for r in result
                if not r["metric"]["__name__"].startswith(("workbench_sim", "up", "scrape_"))
            ]
            expected = sum(int((~np.isnan(b.values[:, tick])).sum()) for b in fleet.result.native_blocks)
            assert len(scraped) == expected
            for r in scraped:
                labels = {k: v for k, v in r["metric"].items() if k not in _TARGET_LABELS}
                value = float(r["value"][1])
                assert r["value"][0] == pytest.approx(float(at))
                assert value == fleet.value_at(r["metric"]["__name__"], labels, tick), (r["metric"], tick)
            checked_series += len(scraped)
        assert checked_series > 1000
    finally:
        fleet.shutdown()


def test_promtool_backfills_the_openmetrics_history(prometheus_factory, tmp_path: Path) -> None:
    fleet = LiveFleet("broker-failure", seed=1, history="3h", horizon="10m", speed=1.0)
    paths = fleet.write_history(tmp_path / "om")
    prom = prometheus_factory([], backfill=paths)
    index = fleet.now_index - 30
    at = float(fleet.result.calendar.ts_ms[index]) / 1000.0
    result = _query(prom.url, "kafka_consumergroup_lag", at=at)
    assert result
    for r in result:
        labels = {k: v for k, v in r["metric"].items() if k != "__name__"}
        assert float(r["value"][1]) == fleet.value_at("kafka_consumergroup_lag", labels, index)
    counters = _query(prom.url, "kafka_server_brokertopicmetrics_messagesin_total", at=at)
    assert len(counters) == sum(
        int(np.isfinite(b.values[:, index]).sum())
        for b in fleet.result.native_blocks
        if b.name == "kafka_server_brokertopicmetrics_messagesin_total"
    )
