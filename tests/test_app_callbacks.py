"""The app's callbacks as plain functions, on a small stored fleet."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dash import dcc, html
from prometheus_client import CollectorRegistry

from tests.app_fixtures import DATASET, XSS_QUEUE, build_store
from workbench.app import create_app
from workbench.app.cache import FrameCache
from workbench.app.context import AppContext
from workbench.app.factory import render_page
from workbench.app.pages import PAGES, entity, fidelity, lab, overview, reports
from workbench.app.urls import entity_href, parse_query
from workbench.frames import CANONICAL_SCHEMA, INCIDENT_SCHEMA
from workbench.store import Store

ORDERS_1 = entity_href(DATASET, "kafka", "k1", "partition", "orders/1").split("?", 1)[1]


class TickRun:
    """A minimal live run for the lab controller: one canonical row per tick (test double of our own protocol)."""

    tick_seconds = 60.0

    def __init__(self, scenario: str, seed: int) -> None:
        self.scenario, self.seed, self.i = scenario, seed, 0
        self.t0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
        self._incidents: list[dict[str, Any]] = []

    def step(self) -> pl.DataFrame:
        self.i += 1
        return pl.DataFrame(
            {
                "ts": [self.t0 + dt.timedelta(minutes=self.i)],
                "provider": ["sqs"],
                "cluster": ["a"],
                "level": ["queue"],
                "entity": ["jobs"],
                "metric": ["queue_depth_messages"],
                "value": [float(self.i)],
                "source": [f"sim:{self.scenario}:{self.seed}"],
            },
            schema=CANONICAL_SCHEMA,
        )

    def inject(self, kind: str, target: str, duration_s: float, severity: str) -> dict[str, Any]:
        start = self.t0 + dt.timedelta(minutes=self.i)
        row = {
            "start": start,
            "end": start + dt.timedelta(seconds=duration_s),
            "kind": kind,
            "severity": severity,
            "provider": "sqs",
            "cluster": "a",
            "entities": [target],
            "metrics": ["queue_depth_messages"],
            "description": f"injected {kind}",
        }
        self._incidents.append(row)
        return {"kind": kind, "target": target, "start": start.isoformat()}

    def incidents(self) -> pl.DataFrame:
        return pl.DataFrame(self._incidents, schema=INCIDENT_SCHEMA)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return build_store(tmp_path_factory.mktemp("store"))


@pytest.fixture
def ctx(store: Store, tmp_path: Path) -> AppContext:
    app = create_app(
        store,
        registry=CollectorRegistry(),
        cache=FrameCache(),
        live_factory=TickRun,
        reports_dir=tmp_path / "reports",
        credentials=None,
    )
    return app.workbench  # type: ignore[attr-defined,no-any-return]


def _text(component: Any) -> str:
    """All text inside a Dash component tree."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_text(c) for c in component)
    return _text(getattr(component, "children", None))


def _find(component: Any, component_id: str) -> Any:
    if isinstance(component, list | tuple):
        for c in component:
            found = _find(c, component_id)
            if found is not None:
                return found
        return None
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    return _find(children, component_id) if children is not None else None


def test_every_page_renders_for_an_empty_query(ctx: AppContext) -> None:
    pages = {p.PATH: p for p in PAGES}
    for path in pages:
        assert render_page(ctx, pages, path, "") is not None
    assert "no page at /nope" in _text(render_page(ctx, pages, "/nope", ""))


def test_overview_shows_stats_findings_and_honest_placeholders(ctx: AppContext) -> None:
    view = overview.build_overview(ctx, DATASET, None)
    assert "10" in _text(view["stats"])  # ten entities
    assert "orders/1" in _text(view["findings"])
    link = _find(view["findings"], None)
    del link
    # stored health_score rows make the heatmap; a row label maps back to its entity for click-through
    heat = view["heatmap"].figure.data[0]
    assert heat.z.shape[0] == 10
    assert float(min(min(r) for r in heat.z)) == 20.0
    label = next(lb for lb in heat.y if lb.endswith("orders/1"))
    assert (
        overview.drill_target({"points": [{"y": label}]}, view["rowkeys"], DATASET) == "/entity?" + ORDERS_1
    )
    # topology comes from the rollup room; when missing it says so instead of inventing a graph
    assert isinstance(view["topology"], dcc.Graph) or "not available" in _text(view["topology"])
    assert view["search"] == f"?dataset={DATASET}"


def test_overview_level_filter_goes_to_the_url(ctx: AppContext) -> None:
    view = overview.build_overview(ctx, DATASET, ["partition", "bogus"])
    assert view["search"] == f"?dataset={DATASET}&levels=partition"
    assert "billing/orders" not in _text(view["findings"])


def test_drill_target_from_heatmap_row_and_topology_node() -> None:
    keys = {"row": ["kafka", "k1", "partition", "orders/1"]}
    assert overview.drill_target({"points": [{"y": "row"}]}, keys, DATASET) == "/entity?" + ORDERS_1
    node = {"points": [{"customdata": ["kafka", "k1", "partition", "orders/1"]}]}
    assert overview.drill_target(node, None, DATASET) == "/entity?" + ORDERS_1
    assert overview.drill_target(None, keys, DATASET) is None
    assert overview.drill_target({"points": [{"y": "unknown"}]}, keys, DATASET) is None


def test_entity_view_restores_metrics_and_range_from_the_url(ctx: AppContext) -> None:
    search = "?" + ORDERS_1 + "&metrics=consumer_lag_messages&start=2026-01-06T00:00&end=2026-01-06T06:00"
    page = entity.layout(ctx, parse_query(search))
    assert _find(page, "en-metrics").value == ["consumer_lag_messages"]
    assert _find(page, "en-start").value == "2026-01-06T00:00"
    assert "kafka-partition-time-lag" in _text(_find(page, "en-template"))
    body = entity.build_entity_view(ctx, search)
    panels = body[0].figure
    assert next(a.text for a in panels.layout.annotations).startswith("consumer_lag_messages")
    xs = panels.data[0].x
    assert str(min(xs)).startswith("2026-01-06T00:00")
    assert str(max(xs)).startswith("2026-01-06T06:00")
    assert len(panels.layout.shapes) == 1  # the critical finding is shaded
    assert "spike" in _text(body)
    assert "parent: topic orders" in _text(body)
    assert "broker 1" not in _text(body)


def test_entity_breadcrumbs_lead_up_the_topology(ctx: AppContext) -> None:
    page = entity.layout(ctx, parse_query("?" + ORDERS_1))
    crumbs = _find(page, "en-breadcrumbs").items
    assert [c["label"] for c in crumbs] == ["Fleet", "cluster k1", "topic orders", "partition orders/1"]


def test_entity_view_with_a_broken_link_says_why(ctx: AppContext) -> None:
    assert "lacks cluster, level, entity" in _text(
        entity.build_entity_view(ctx, f"?dataset={DATASET}&provider=kafka")
    )
    assert "no entity 'nope'" in _text(
        entity.build_entity_view(ctx, f"?dataset={DATASET}&provider=kafka&cluster=k1&level=topic&entity=nope")
    )
    assert "start" in _text(entity.build_entity_view(ctx, "?" + ORDERS_1 + "&start=yesterday"))


def test_entity_analysis_is_a_figure_or_an_honest_placeholder(ctx: AppContext) -> None:
    parts = entity.build_entity_analysis(ctx, "?" + ORDERS_1)
    assert parts
    for part in parts:
        assert isinstance(part, dcc.Graph) or "not available" in _text(part)


def test_sync_search_and_add_note_round_trip(ctx: AppContext) -> None:
    search = entity.sync_search(["consumer_lag_messages"], "2026-01-06T00:00", "", "?" + ORDERS_1)
    assert parse_query(search)["metrics"] == "consumer_lag_messages"
    message, stored = entity.add_note(ctx, search, "2026-01-06T01:00", "2026-01-06T02:00", "rebalance")
    assert stored, message
    body = entity.build_entity_view(ctx, search)
    assert "rebalance" in _text(body)
    assert len(body[0].figure.layout.shapes) == 2  # finding + note
    message, stored = entity.add_note(ctx, search, "", "", "x")
    assert not stored
    assert "start" in message
    message, stored = entity.add_note(ctx, search, "2026-01-06T01:00", None, "")
    assert not stored
    assert "text" in message


def test_script_payload_in_a_queue_name_stays_text(ctx: AppContext) -> None:
    href = entity_href(DATASET, "rabbitmq", "r1", "queue", XSS_QUEUE)
    search = "?" + href.split("?", 1)[1]
    page = entity.layout(ctx, parse_query(search))
    assert _find(page, "en-title").children == XSS_QUEUE  # React renders it as text
    body = entity.build_entity_view(ctx, search)
    fig_json = body[0].figure.to_json()
    assert "<script>" not in fig_json


def test_fidelity_page_side_by_side_then_verdicts_on_demand(ctx: AppContext) -> None:
    view = fidelity.build_fidelity(ctx, DATASET, DATASET, "queue_depth_messages")
    text = _text(view["body"])
    assert "Series side by side: queue_depth_messages" in text and "Press Compare" in text
    assert view["search"] == f"?real={DATASET}&sim={DATASET}&metric=queue_depth_messages"
    compared = fidelity.build_fidelity(ctx, DATASET, DATASET, "queue_depth_messages", compare=True)
    text = _text(compared["body"])
    assert "Verdicts" in text and "ks_complement" in text and "pass" in text
    assert any(
        isinstance(c, dcc.Graph) and c.id.get("type") == "fi-fig"
        for c in compared["body"]
        if isinstance(getattr(c, "id", None), dict)
    )
    assert "choose a real" in _text(fidelity.build_fidelity(ctx, None, DATASET, None)["body"])


def test_reports_page_lists_notes(ctx: AppContext) -> None:
    reports_view, notes_view = reports.build_reports(ctx)
    assert reports_view is not None
    assert isinstance(notes_view, html.P | object)


def test_lab_lists_and_exports_the_simulator_scenarios(ctx: AppContext) -> None:
    names = ctx.lab.scenarios()
    assert "default" in names
    assert "name: default" in ctx.lab.export_scenario("default")


def test_lab_start_inject_pause_stop_records_a_dataset(ctx: AppContext) -> None:
    assert "Started" in lab.lab_action(ctx, "lab-start", "steady", 3, 100_000, None, None)
    deadline = time.time() + 5
    while ctx.lab.status()["ticks"] < 5 and time.time() < deadline:
        time.sleep(0.01)
    assert "Injected" in lab.lab_action(ctx, "lab-inject", None, None, None, "slow_consumer", "jobs")
    assert lab.lab_action(ctx, "lab-pause", None, None, None, None, None) == "Paused."
    paused_at = ctx.lab.status()["ticks"]
    time.sleep(0.3)
    assert ctx.lab.status()["ticks"] == paused_at
    status_text, live, graph_style, empty_style, options = lab.lab_refresh(ctx, None)
    assert "state: paused" in status_text
    assert options == ["queue_depth_messages"]
    assert len(live.data[0].x) == ctx.lab.status()["ticks"]
    assert "display" not in graph_style
    assert empty_style == {"display": "none"}
    message = lab.lab_action(ctx, "lab-stop", None, None, None, None, None)
    name = ctx.lab.status()["recorded_dataset"]
    assert name
    assert name in message
    stored = ctx.store.scan(name).collect()
    assert stored.height == ctx.lab.status()["ticks"]
    assert ctx.store.read_incidents(name).get_column("kind").to_list() == ["slow_consumer"]
    assert "Could not do that" in lab.lab_action(ctx, "lab-pause", None, None, None, None, None)


def test_cache_is_per_app_and_thread_safe() -> None:
    cache = FrameCache(max_items=4)
    calls: list[int] = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.05)
        return 42

    threads = [threading.Thread(target=cache.get_or_compute, args=(("k",), slow)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert cache.stats()["hits"] == 7
    for i in range(10):
        cache.get_or_compute((i,), lambda: 0)
    assert cache.stats()["size"] == 4


def test_lab_drives_the_real_simulator_and_injection_goes_through_its_mechanics(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    app = create_app(store, registry=CollectorRegistry(), reports_dir=tmp_path, credentials=None)
    lab_ = app.workbench.lab  # type: ignore[attr-defined]
    lab_.start("default", seed=1, speed=100_000)
    deadline = time.time() + 20
    while lab_.status()["ticks"] < 20 and time.time() < deadline:
        time.sleep(0.02)
    lab_.pause()
    injected = lab_.inject("consumer_crash", "kafka-prod-1:billing", duration_s=3600, severity="critical")
    assert injected["injected"][0]["cluster"] == "kafka-prod-1"
    at = lab_.status()["ticks"]
    lab_.resume()
    while lab_.status()["ticks"] < at + 30 and time.time() < deadline + 20:
        time.sleep(0.02)
    status = lab_.stop(record=True)
    frame = store.scan(
        status["recorded_dataset"],
        metric="consumer_lag_messages",
        level="consumer_group",
        cluster="kafka-prod-1",
    ).collect()
    lag = (
        frame.filter(pl.col("entity").str.starts_with("billing/"))
        .group_by("ts")
        .agg(pl.col("value").sum())
        .sort("ts")
    )
    before, after = lag.get_column("value")[at - 1], lag.get_column("value")[-1]
    assert after > before  # the crashed group stops consuming: its lag grows
    kinds = store.read_incidents(status["recorded_dataset"]).get_column("kind").to_list()
    assert "consumer_crash" in kinds
    with pytest.raises(Exception, match="CLUSTER:ENTITY"):
        lab_.start("default", seed=1, speed=100_000)
        try:
            lab_.inject("consumer_crash", "billing")
        finally:
            lab_.stop(record=False)


def test_overview_of_a_simulated_fleet_uses_the_health_and_topology_rooms(tmp_path: Path) -> None:
    from workbench.sources.simulator import simulate

    store = Store(tmp_path / "store")
    result = simulate("default", days=0.5, seed=2)
    store.append("sim", result.frame, source=result.source, incidents=result.incidents)
    app = create_app(store, registry=CollectorRegistry(), reports_dir=tmp_path, credentials=None)
    view = overview.build_overview(app.workbench, "sim", None)  # type: ignore[attr-defined]
    heat = view["heatmap"].figure.data[0]
    assert heat.z.shape[0] == len(view["rowkeys"]) > 50
    topo = view["topology"].figure
    assert len(topo.data[1].x) > 50 and any(v >= 0 for v in topo.data[1].marker.color)
    # every topology node carries the key a click needs
    assert all(len(c) == 4 and c[0] in ("kafka", "rabbitmq", "sqs") for c in topo.data[1].customdata)
    # the drill-down's analyses come from the lag-status, seasonality and forecast rooms
    search = (
        "?" + entity_href("sim", "kafka", "kafka-prod-1", "consumer_group", "billing/orders").split("?", 1)[1]
    )
    ids = [getattr(part, "id", None) for part in entity.build_entity_analysis(app.workbench, search)]  # type: ignore[attr-defined]
    assert ids == ["en-lagstatus", "en-decomposition", "en-forecast"]


def test_reports_page_lists_report_runs(ctx: AppContext) -> None:
    run = ctx.reports_dir / "fleet" / "20260105T000000Z"
    run.mkdir(parents=True)
    (run / "report.html").write_text("<p>ok</p>")
    (run / "run.json").write_text(
        '{"name": "fleet", "run_id": "20260105T000000Z", "status": "ok", "started": "2026-01-05T00:00:00+00:00",'
        ' "seconds": 3.5, "source": "sim", "parameters": {}, "findings": 2, "error": null,'
        ' "html": "fleet/20260105T000000Z/report.html", "notebook": "x", "findings_json": "y"}'
    )
    reports_view, _ = reports.build_reports(ctx)
    assert "20260105T000000Z" in _text(reports_view)
    link = _find(reports_view, None)
    del link
