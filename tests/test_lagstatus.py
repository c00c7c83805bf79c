"""Burrow lag status (16 evaluator cases) and kafka-lag-exporter time lag."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from workbench.analysis.lagstatus import (
    STATUS_CODES,
    evaluate_partitions,
    group_status,
    lag_seconds,
    status_over_time,
)
from workbench.errors import ParameterError, SchemaError

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "burrow_cases.json").read_text())
CASES: list[dict[str, Any]] = FIXTURE["cases"]
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _frames(case: dict[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame]:
    commits = pl.DataFrame(
        {
            "case": case["case"],
            "commit_ts": [o["timestamp_ms"] for o in case["offsets"]],
            "offset": [float(o["offset"]) for o in case["offsets"]],
            "lag": [o["lag"] for o in case["offsets"]],
            "order": [o["order"] for o in case["offsets"]],
        },
        schema_overrides={"lag": pl.Float64},
    ).with_columns(pl.from_epoch("commit_ts", time_unit="ms").dt.replace_time_zone("UTC"))
    current = pl.DataFrame(
        {
            "case": [case["case"]],
            "current_lag": [float(case["current_lag"])],
            "now": [case["time_now_s"] * 1000],
            "broker_offsets": [[float(b) for b in case["broker_offsets"]]],
        }
    ).with_columns(pl.from_epoch("now", time_unit="ms").dt.replace_time_zone("UTC"))
    return commits, current


def test_fixture_has_sixteen_cases_and_cites_the_commit() -> None:
    assert [c["case"] for c in CASES] == list(range(16))
    assert len(FIXTURE["source"]["commit"]) == 40
    assert sum(c["provenance"] == "verbatim" for c in CASES) == 12


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"case{c['case']}")
def test_burrow_case(case: dict[str, Any]) -> None:
    commits, current = _frames(case)
    params = case.get("parameters", {})
    out = evaluate_partitions(commits, current, keys=["case"], **params)
    row = out.row(0, named=True)
    assert row["status"] == case["status"], case["description"]
    assert row["status_code"] == STATUS_CODES[case["status"]]
    flags = case["rule_flags"]
    assert row["lag_always_not_zero"] == flags["is_lag_always_not_zero"]
    assert row["rewind"] == flags["check_if_offsets_rewind"]
    assert row["stopped"] == flags["check_if_offsets_stopped"]
    assert row["stalled"] == flags["check_if_offsets_stalled"]
    assert row["lag_not_decreasing"] == flags["check_if_lag_not_decreasing"]
    assert row["recent_lag_zero"] == flags["check_if_recent_lag_zero"]


def test_case7_with_rewind_recovery_is_ok() -> None:
    case = CASES[7]
    commits, current = _frames(case)
    out = evaluate_partitions(commits, current, keys=["case"], rewind_recovery=True)
    assert out["status"].item() == case["status_with_rewind_recovery"]
    assert out["rewind_recovered"].item() is True


def test_all_cases_in_one_vectorised_call() -> None:
    pairs = [_frames(c) for c in CASES if not c.get("parameters")]
    commits = pl.concat([p[0] for p in pairs])
    current = pl.concat([p[1] for p in pairs])
    out = evaluate_partitions(commits, current, keys=["case"]).sort("case")
    expected = [c["status"] for c in CASES if not c.get("parameters")]
    assert out["status"].cast(pl.String).to_list() == expected


def test_intervals_and_minimum_complete() -> None:
    commits, current = _frames(CASES[5])  # STALL with 5 commits
    out = evaluate_partitions(commits, current, keys=["case"], intervals=10)
    assert out["complete"].item() == 0.5
    assert out["status"].item() == "STALL"
    gated = evaluate_partitions(commits, current, keys=["case"], intervals=10, minimum_complete=0.8)
    assert gated["status"].item() == "OK"
    newest3 = evaluate_partitions(commits, current, keys=["case"], intervals=3)
    assert newest3["start_offset"].item() == 1000.0
    assert newest3["commits"].item() == 3


def test_window_without_commits_is_ok() -> None:
    commits, current = _frames(CASES[3])
    other = current.with_columns(pl.lit(99, dtype=current["case"].dtype).alias("case"))
    out = evaluate_partitions(commits, pl.concat([current, other]), keys=["case"]).sort("case")
    assert out["status"].to_list() == ["STOP", "OK"]
    assert out["commits"].to_list() == [5, 0]


def test_group_status_maps_worse_than_err_to_err() -> None:
    parts = pl.DataFrame(
        {
            "group": ["a", "a", "b", "b", "c"],
            "status_code": [1, 6, 1, 2, 1],
            "complete": [1.0, 1.0, 0.5, 1.0, 1.0],
            "current_lag": [0.0, 30.0, 5.0, 7.0, 0.0],
        }
    )
    out = group_status(parts, group_keys=["group"])
    assert out["status"].cast(pl.String).to_list() == ["ERR", "WARN", "OK"]
    assert out["worst_partition"].cast(pl.String).to_list() == ["REWIND", "WARN", "OK"]
    assert out["total_lag"].to_list() == [30.0, 12.0, 0.0]
    assert out["max_lag"].to_list() == [30.0, 7.0, 0.0]
    assert out["complete"].to_list() == [1.0, 0.5, 1.0]
    assert out["partition_count"].to_list() == [2, 2, 1]


def test_errors() -> None:
    commits, current = _frames(CASES[0])
    with pytest.raises(SchemaError, match="'lag'"):
        evaluate_partitions(commits.drop("lag"), current, keys=["case"])
    with pytest.raises(ParameterError, match="allowed_lag"):
        evaluate_partitions(commits, current, keys=["case"], allowed_lag=-1)


def _history(minutes: int, produce: float, consume: list[float]) -> tuple[pl.DataFrame, pl.DataFrame]:
    ts = [T0 + timedelta(minutes=m) for m in range(minutes)]
    end = pl.DataFrame({"topic": "t", "partition": 0, "ts": ts, "offset": np.arange(minutes) * produce})
    com = pl.DataFrame({"group": "g", "topic": "t", "partition": 0, "ts": ts, "offset": consume})
    return end, com


def test_status_over_time_detects_stop_and_recovery() -> None:
    n = 60
    consume = [min(100.0 * m, 2000.0) if m < 40 else 100.0 * m for m in range(n)]
    end, com = _history(n, 100.0, consume)
    keys = ["group", "topic", "partition"]
    parts, groups = status_over_time(
        com, end, keys=keys, partition_keys=["topic", "partition"], group_keys=["group"], every="5m"
    )
    by_time = dict(zip(groups["eval_ts"].to_list(), groups["status"].cast(pl.String).to_list(), strict=True))
    assert by_time[T0 + timedelta(minutes=15)] == "OK"  # keeping up
    assert by_time[T0 + timedelta(minutes=35)] == "ERR"  # stopped at minute 20
    assert parts.filter(pl.col("eval_ts") == T0 + timedelta(minutes=35))["status"].item() == "STOP"
    assert by_time[T0 + timedelta(minutes=55)] == "OK"  # caught up again
    samples, _ = status_over_time(
        com,
        end,
        keys=keys,
        partition_keys=["topic", "partition"],
        group_keys=["group"],
        every="5m",
        commit_mode="samples",
    )
    assert samples.filter(pl.col("eval_ts") == T0 + timedelta(minutes=35))["status"].item() == "STALL"


def test_lag_seconds_interpolates_linearly() -> None:
    end, _ = _history(10, 600.0, [0.0] * 10)  # 10 msg/s
    com = pl.DataFrame(
        {
            "group": "g",
            "topic": "t",
            "partition": 0,
            "ts": [T0 + timedelta(minutes=9)] * 3,
            "offset": [5400.0, 3000.0, 1500.0],
        }
    )
    out = lag_seconds(end, com, keys=["group", "topic", "partition"], partition_keys=["topic", "partition"])
    assert out.sort("offset")["lag_seconds"].to_list() == pytest.approx([390.0, 240.0, 0.0])


def test_lag_seconds_extrapolates_nan_and_flat_runs() -> None:
    ts = [T0 + timedelta(seconds=30 * i) for i in range(8)]
    # the flat stretch of 300s is compressed to its first and last point
    offsets = [0.0, 300.0, 300.0, 300.0, 300.0, 600.0, 1200.0, 1800.0]
    end = pl.DataFrame({"p": 0, "ts": ts, "offset": offsets})
    keys, pk = ["g", "p"], ["p"]
    look = pl.DataFrame(
        {"g": "x", "p": 0, "ts": [ts[7], ts[7], ts[0], ts[7]], "offset": [300.0, 1800.0, 0.0, 450.0]}
    )
    out = lag_seconds(end, look, keys=keys, partition_keys=pk)
    lag = {(t, o): v for t, o, v in out.select("ts", "offset", "lag_seconds").iter_rows()}
    assert lag[(ts[0], 0.0)] == 0.0  # at the newest point
    assert lag[(ts[7], 1800.0)] == 0.0
    # 300 lies in the flat run; the newest bracketing pair is (300 @ 120 s, 600 @ 150 s)
    assert lag[(ts[7], 300.0)] == pytest.approx(210.0 - 120.0)
    assert lag[(ts[7], 450.0)] == pytest.approx(210.0 - 135.0)
    # with 3 points (600 @ 150, 1200 @ 180, 1800 @ 210) 450 is older than the table:
    # extrapolate along oldest-newest, 20 msg/s, so 450 was at 142.5 s
    small = lag_seconds(
        end, look.filter(pl.col("offset") == 450.0), keys=keys, partition_keys=pk, table_size=3
    )
    assert small["lag_seconds"].item() == pytest.approx(210.0 - 142.5)
    # fewer than two points: NaN (null); the -1 sentinel is not looked up at all
    single = pl.DataFrame({"p": 0, "ts": [ts[0]], "offset": [300.0]})
    few = pl.DataFrame({"g": "x", "p": 0, "ts": [ts[0], ts[0]], "offset": [100.0, -1.0]})
    out = lag_seconds(single, few, keys=keys, partition_keys=pk)
    assert out["lag_seconds"].to_list() == [None]


def test_lag_status_timeline_uses_stored_statuses_or_derives_them() -> None:
    from workbench.analysis.lagstatus import lag_status_timeline

    stored = pl.DataFrame(
        {
            "ts": [T0, T0 + timedelta(minutes=5)],
            "provider": "kafka",
            "cluster": "k",
            "level": "consumer_group",
            "entity": "g/t",
            "metric": "consumer_status",
            "value": [1.0, 5.0],
            "source": "prometheus:burrow",
        }
    )
    out = lag_status_timeline(stored)
    assert out["status"].to_list() == ["OK", "STALL"]
    end, com = _history(60, 100.0, [min(100.0 * m, 2000.0) for m in range(60)])
    canonical = pl.concat(
        [
            end.select(
                "ts",
                pl.concat_str("topic", pl.col("partition").cast(pl.String), separator="/").alias("entity"),
                pl.lit("log_end_offset").alias("metric"),
                pl.col("offset").cast(pl.Float64).alias("value"),
            ),
            com.select(
                "ts",
                pl.concat_str("group", "topic", pl.col("partition").cast(pl.String), separator="/").alias(
                    "entity"
                ),
                pl.lit("committed_offset").alias("metric"),
                pl.col("offset").cast(pl.Float64).alias("value"),
            ),
        ]
    ).with_columns(
        provider=pl.lit("kafka"), cluster=pl.lit("k"), level=pl.lit("partition"), source=pl.lit("x")
    )
    derived = lag_status_timeline(canonical)
    group = derived.filter(pl.col("level") == "consumer_group")
    assert group["entity"].unique().to_list() == ["g/t"]
    assert group["status"].to_list()[-1] == "ERR"
    assert derived.filter(pl.col("level") == "partition")["status"].to_list()[-1] == "STOP"
