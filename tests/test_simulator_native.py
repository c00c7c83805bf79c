"""Exporter-native output: exposition parses, values agree with canonical, OpenMetrics, /metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from workbench.sources.simulator import simulate
from workbench.sources.simulator.commands import simulate_scenario
from workbench.sources.simulator.live import LiveFleet, parse_address
from workbench.sources.simulator.native import exposition
from workbench.sources.simulator.openmetrics import write_openmetrics


@pytest.fixture(scope="module")
def default_run():
    return simulate("default", days=0.5, seed=5)


def _native_values(blocks, index):
    out = {}
    for b in blocks:
        keys = sorted(b.labels)
        for row in range(b.values.shape[0]):
            value = b.values[row, index]
            if not np.isnan(value):
                out[(b.name, tuple((k, b.labels[k][row]) for k in keys))] = float(value)
    return out


def test_exposition_parses_and_carries_every_value(default_run) -> None:
    index = 400
    text = exposition(default_run.native_blocks, index)
    parsed = {}
    types = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            parsed[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
            types[sample.name] = family.type
    expected = _native_values(default_run.native_blocks, index)
    assert parsed == expected
    assert types["kafka_server_brokertopicmetrics_messagesin_total"] == "counter"
    assert types["kafka_consumergroup_lag"] == "gauge"
    assert types["rabbitmq_queue_messages_published_total"] == "counter"
    assert {"kafka_exporter", "jmx_exporter", "kafka_lag_exporter", "rabbitmq_prometheus", "yace"} <= {
        b.exporter for b in default_run.native_blocks
    }


def test_native_series_agree_with_canonical(default_run) -> None:
    native = default_run.native()
    canon = default_run.frame
    lag = native.filter(pl.col("name") == "kafka_consumergroup_lag").select(
        "ts",
        pl.concat_str(
            [pl.col("labels").struct.field(f) for f in ("consumergroup", "topic", "partition")], separator="/"
        ).alias("entity"),
        pl.col("value").alias("native"),
    )
    lag_c = canon.filter(pl.col("level") == "partition", pl.col("metric") == "consumer_lag_messages").select(
        "ts", "entity", "value"
    )
    joined = lag.join(lag_c, on=["ts", "entity"])
    assert joined.height == lag.height == lag_c.height > 0
    assert (joined["native"] == joined["value"]).all()

    ready = native.filter(pl.col("name") == "rabbitmq_queue_messages_ready").select(
        "ts",
        pl.when(pl.col("labels").struct.field("vhost") == "/")
        .then(pl.col("labels").struct.field("queue"))
        .otherwise(
            pl.concat_str(
                [pl.col("labels").struct.field("vhost"), pl.col("labels").struct.field("queue")],
                separator="/",
            )
        )
        .alias("entity"),
        pl.col("value").alias("native"),
    )
    ready_c = canon.filter(
        pl.col("provider") == "rabbitmq",
        pl.col("level") == "queue",
        pl.col("metric") == "queue_depth_messages",
    )
    joined = ready.join(ready_c, on=["ts", "entity"])
    assert joined.height == ready_c.height > 0
    assert (joined["native"] == joined["value"]).all()

    sent = native.filter(pl.col("name") == "aws_sqs_number_of_messages_sent_sum").select(
        "ts",
        pl.col("labels").struct.field("dimension_QueueName").alias("entity"),
        (pl.col("value") / 60.0).alias("native"),
    )
    sent_c = canon.filter(
        pl.col("provider") == "sqs", pl.col("level") == "queue", pl.col("metric") == "messages_in_per_s"
    )
    joined = sent.join(sent_c, on=["ts", "entity"])
    assert joined.height == sent.height > 0  # idle queues (an empty DLQ) are gaps in CloudWatch
    np.testing.assert_allclose(joined["native"].to_numpy(), joined["value"].to_numpy())


def test_counters_restart_after_a_broker_restart() -> None:
    result = simulate("rolling-restart", days=2, seed=1)
    native = result.native()
    total = native.filter(
        pl.col("name") == "kafka_server_brokertopicmetrics_messagesin_total",
        pl.col("labels").struct.field("topic").is_null(),
        pl.col("labels").struct.field("kubernetes_pod_name") == "kafka-prod-1-kafka-0",
    ).sort("ts")
    values = total["value"].to_numpy()
    drops = np.flatnonzero(np.diff(values) < 0)
    assert drops.size == 1  # the JVM restarted once: the counter started again from zero
    gap = np.diff(total["ts"].cast(pl.Int64).to_numpy())
    assert gap.max() > 60_000  # no samples while the broker was down


def test_openmetrics_history_is_well_formed(default_run, tmp_path: Path) -> None:
    ts = default_run.calendar.ts_ms[:150]
    blocks = [
        type(b)(b.name, b.kind, b.help, b.labels, b.values[:, :150], b.exporter)
        for b in default_run.native_blocks
    ]
    paths = write_openmetrics(blocks, ts, tmp_path, window="2h")
    assert len(paths) == 2
    text = paths[0].read_text(encoding="utf-8")
    assert text.endswith("# EOF\n")
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types))  # every family once
    assert "# TYPE kafka_server_brokertopicmetrics_messagesin counter" in text
    assert "\nkafka_server_brokertopicmetrics_messagesin_total{" in text
    first_ts = int(ts[0] // 1000)
    assert f" {first_ts}\n" in text  # timestamps in seconds
    families = list(parse_openmetrics(text))
    samples = sum(len(f.samples) for f in families)
    in_first = int((ts // 7_200_000 == ts[0] // 7_200_000).sum())  # files follow 2-hour blocks
    expected = sum(int((~np.isnan(b.values[:, :in_first])).sum()) for b in blocks)
    assert samples == expected


def test_live_endpoint_serves_the_tick_it_reports() -> None:
    fleet = LiveFleet("default", seed=2, history="1h", horizon="1h", speed=60.0)
    host, port = fleet.serve("127.0.0.1", 0)
    try:
        for _ in range(3):
            text = requests.get(f"http://{host}:{port}/metrics", timeout=10).text
            parsed = {}
            tick = None
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == "workbench_sim_tick":
                        tick = int(sample.value)
                    elif not sample.name.startswith("workbench_sim"):
                        parsed[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
            assert tick is not None
            assert parsed == _native_values(fleet.result.native_blocks, tick)
    finally:
        fleet.shutdown()


def test_live_ticks_and_addresses() -> None:
    fleet = LiveFleet("steady-week", seed=1, history="30m", horizon="10m", speed=float("inf"))
    ticks = list(fleet.ticks())
    assert [t.index for t in ticks] == list(range(fleet.now_index, fleet.steps))
    assert all(t.frame["ts"].n_unique() == 1 for t in ticks)
    assert ticks[1].ts - ticks[0].ts == fleet.time_of(1) - fleet.time_of(0)
    assert parse_address("0.0.0.0:0") == ("0.0.0.0", 0)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address("localhost")


def test_simulate_command_stores_dataset_with_manifest(tmp_path: Path) -> None:
    from workbench.store import Store

    summary = simulate_scenario(
        "hot-partition", days=0.2, seed=4, store_dir=tmp_path / "store", export=tmp_path / "om"
    )
    store = Store(tmp_path / "store")
    manifest = store.manifest(summary.dataset)
    assert manifest.seed == 4
    assert manifest.source == "sim:hot-partition:4"
    assert store.scan(summary.dataset).select(pl.len()).collect().item() == summary.rows
    assert summary.exported
    assert all(p.exists() for p in summary.exported)


def test_live_run_injection_keeps_the_past_and_changes_the_future() -> None:
    from workbench.sources.simulator.live import LiveRun

    run = LiveRun("consumer-crash", seed=4, horizon="3h")
    served = pl.concat([run.step() for _ in range(40)])
    before = run.result.frame
    info = run.inject("consumer_crash", "kafka-prod-1:sessioniser", 1200, "critical")
    assert info["cluster"] == "kafka-prod-1"
    after = run.result.frame
    cut = served["ts"].max()
    assert after.filter(pl.col("ts") <= cut).equals(before.filter(pl.col("ts") <= cut))
    assert served.sort(["entity", "metric", "level", "ts"]).equals(
        after.filter(pl.col("ts") <= cut).sort(["entity", "metric", "level", "ts"]).select(served.columns)
    )
    later = pl.concat([run.step() for _ in range(30)])
    members = later.filter(pl.col("metric") == "consumers", pl.col("entity") == "sessioniser/clicks")["value"]
    assert (members.head(20) == 0).all()  # 1200 s = 20 ticks of crash
    assert (members.tail(5) == 4).all()
    truth = run.incidents()
    assert truth["kind"].to_list() == ["consumer_crash"]
    assert truth["end"].max() <= later["ts"].max()
    with pytest.raises(ValueError, match="target"):
        run.inject("hot_partition", "nope/9", 60, "warning")
    with pytest.raises(ValueError, match="kind"):
        run.inject("meteor_strike", "", 60, "warning")


def test_mapping_layer_recovers_canonical_values_from_native_history(default_run, tmp_path: Path) -> None:
    """The exporter-native history, parsed and mapped by workbench.mapping, gives back the gauges."""
    import datetime as dt

    from workbench.mapping.normalize import map_samples
    from workbench.sources.exposition import parse_exposition

    lo, n = 100, 30
    blocks = [
        type(b)(b.name, b.kind, b.help, b.labels, b.values[:, lo : lo + n], b.exporter)
        for b in default_run.native_blocks
    ]
    path = write_openmetrics(blocks, default_run.calendar.ts_ms[lo : lo + n], tmp_path, window="1d")[0]
    end = dt.datetime.fromtimestamp(default_run.calendar.ts_ms[lo + n - 1] / 1000, tz=dt.UTC)
    mapped = map_samples(
        parse_exposition(path.read_text(encoding="utf-8"), timestamp=end, source="file:sim")
    ).frame
    keys = ["ts", "provider", "cluster", "level", "entity", "metric"]  # cluster ids line up too
    checked = [
        ("kafka", "partition", "consumer_lag_messages"),
        ("kafka", "partition", "committed_offset"),
        ("kafka", "consumer_group", "consumer_lag_messages"),
        ("kafka", "consumer_group", "messages_out_per_s"),
        ("kafka", "topic", "messages_in_per_s"),  # JMX meters and exporter offsets: counted once
        ("rabbitmq", "queue", "queue_depth_messages"),
        ("rabbitmq", "queue", "messages_unacked"),
        ("sqs", "queue", "queue_depth_messages"),
        ("sqs", "queue", "messages_in_per_s"),
    ]
    for provider, level, metric in checked:
        sim = default_run.frame.filter(
            pl.col("provider") == provider, pl.col("level") == level, pl.col("metric") == metric
        )
        got = mapped.filter(
            pl.col("provider") == provider, pl.col("level") == level, pl.col("metric") == metric
        )
        joined = got.select(*keys, "value").join(sim.select(*keys, pl.col("value").alias("sim")), on=keys)
        assert joined.height > 0, (provider, level, metric)
        np.testing.assert_allclose(
            joined["value"].to_numpy(),
            joined["sim"].to_numpy(),
            rtol=1e-9,
            err_msg=f"{provider} {level} {metric}",
        )


def test_idle_sqs_queues_are_gaps_in_cloudwatch() -> None:
    from workbench.sources.simulator import ScenarioSpec

    spec = ScenarioSpec.model_validate(
        {
            "name": "idle",
            "sqs": [
                {
                    "queues": [
                        {"name": "busy", "load": {"base_rate": 1}},
                        {"name": "idle", "consumers": 0, "load": {"base_rate": 0, "noise": 0}},
                    ]
                }
            ],
        }
    )
    result = simulate(spec, days=0.5, seed=1)
    sent = next(b for b in result.native_blocks if b.name == "aws_sqs_number_of_messages_sent_sum")
    assert sent.labels["dimension_QueueName"] == ["busy", "idle"]
    assert not np.isnan(sent.values[0]).any()
    assert np.isnan(sent.values[1]).all()
    # the canonical frame keeps the idle queue's zeros: it is the simulator's ground truth
    canon = result.frame.filter(pl.col("entity") == "idle", pl.col("metric") == "messages_in_per_s")
    assert canon.height == result.calendar.steps


def test_serving_past_the_horizon_starts_a_new_segment() -> None:
    now = [1_800_000_000.0]
    fleet = LiveFleet("memory-alarm", seed=1, history="10m", horizon="10m", speed=60.0, clock=lambda: now[0])
    first = fleet.result.calendar.ts_ms.copy()
    assert fleet._serving_index() == fleet.now_index
    now[0] += 15.0  # 15 simulated minutes later: past the 10-minute horizon
    index = fleet._serving_index()
    assert fleet.segment == 1
    assert fleet.result.calendar.ts_ms[0] == first[-1] + 60_000  # the time grid continues
    assert fleet.time_of(index) == fleet.time_of(0) + (fleet.time_of(1) - fleet.time_of(0)) * index
    text = "".join(
        f"{s.name} {s.value}\n"
        for f in fleet.collect()
        for s in f.samples
        if s.name.startswith("workbench_sim_segment")
    )
    assert text == "workbench_sim_segment 1.0\n"


def test_consumer_channels_churn_on_reconnect_and_rates_still_add_up() -> None:
    result = simulate("consumer-crash", days=3, seed=1)
    acked = next(b for b in result.native_blocks if b.name == "rabbitmq_channel_messages_acked_total")
    assert acked.labels["queue"] == ["sms", "sms"]  # one channel before the crash, a new one after
    assert acked.labels["channel"][0] != acked.labels["channel"][1]
    live = np.isfinite(acked.values)
    assert not (live[0] & live[1]).any()  # the old series ends before the new one starts
    # per-series increases (PromQL rate() semantics: a new series has no first increase),
    # summed over channels, give the canonical acked rate
    increases = np.where(live[:, 1:] & live[:, :-1], np.diff(acked.values, axis=1), 0.0).sum(axis=0)
    canon = result.models[1].acked[0, 1:]
    both = live[:, 1:].any(axis=0) & live[:, :-1].any(axis=0) & (live[:, 1:] == live[:, :-1]).all(axis=0)
    np.testing.assert_array_equal(increases[both], canon[both])
