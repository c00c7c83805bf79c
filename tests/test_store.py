"""Store: atomic, idempotent appends; manifests; pushdown scans; crash safety under SIGKILL."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from tests.store_writer import ROWS_PER_BATCH, batch
from workbench.errors import NotFoundError, ParameterError, SchemaError
from workbench.frames import empty_findings
from workbench.store import Store

REPO = Path(__file__).resolve().parent.parent


def test_append_writes_manifest_with_provenance(tmp_path):
    store = Store(tmp_path)
    result = store.append("a", batch(0), source="test:a", parameters={"days": 1}, seed=7)
    assert (result.offered, result.added, result.rows) == (ROWS_PER_BATCH,) * 3
    m = store.manifest("a")
    assert (m.source, m.seed, m.parameters, m.rows) == ("test:a", 7, {"days": 1}, ROWS_PER_BATCH)
    assert m.start.startswith("2026-01-01T00:00")
    assert m.end.startswith("2026-01-01T00:59")
    assert m.package_version
    assert len(m.checksum) == 64
    assert {p.provider for p in m.parts} == {"kafka", "rabbitmq", "sqs"}
    assert all("provider=" in p.path and "date=2026-01-01" in p.path for p in m.parts)
    assert store.verify("a") == []


def test_append_is_idempotent(tmp_path):
    store = Store(tmp_path)
    store.append("a", batch(0), source="s")
    again = store.append("a", pl.concat([batch(0), batch(1)]), source="s")
    assert (again.added, again.already_stored, again.rows) == (
        ROWS_PER_BATCH,
        ROWS_PER_BATCH,
        2 * ROWS_PER_BATCH,
    )
    frame = store.scan("a").collect()
    assert frame.height == 2 * ROWS_PER_BATCH
    assert frame.select("ts", "entity", "metric", "provider").is_unique().all()
    assert again.conflicting == 0


def test_append_counts_rows_stored_before_with_another_value(tmp_path):
    store = Store(tmp_path)
    store.append("a", batch(0), source="s")
    changed = batch(0).with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(pl.col("value") + 1).otherwise("value")
    )
    again = store.append("a", changed, source="s")
    assert (again.added, again.already_stored, again.conflicting) == (0, ROWS_PER_BATCH, 3)
    assert store.manifest("a").history[-1]["conflicting"] == 3
    assert (
        store.scan("a")
        .collect()
        .sort("ts", "entity", "metric")
        .equals(batch(0).sort("ts", "entity", "metric").select(store.scan("a").collect_schema().names()))
    )


def test_scan_filters_and_prunes_files(tmp_path):
    store = Store(tmp_path)
    store.append("a", pl.concat([batch(0), batch(30)]), source="s")  # two dates
    t1 = dt.datetime(2026, 1, 2, 6, tzinfo=dt.UTC)
    lazy = store.scan("a", start=t1, provider="sqs", entity=["e1", "e2"], metric="oldest_message_age_s")
    out = lazy.collect()
    assert out.height == 2 * 60
    assert set(out["entity"]) == {"e1", "e2"}
    assert (out["ts"] >= t1).all()
    plan = lazy.explain()
    # only the files of the sqs partition on the later date are scanned
    assert plan.count("parquet") >= 1
    assert "date=2026-01-01" not in plan
    assert store.scan("a", start="2027-01-01T00:00:00+00:00").collect().height == 0


def test_bad_inputs_raise_clear_errors(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(ParameterError, match="dataset"):
        store.append("../escape", batch(0), source="s")
    with pytest.raises(NotFoundError, match="no dataset named 'nope'"):
        store.manifest("nope")
    with pytest.raises(SchemaError, match="value"):
        store.append("a", batch(0).with_columns(value=pl.lit(float("nan"))), source="s")
    store.append("a", batch(0), source="s")
    with pytest.raises(ParameterError, match="start"):
        store.scan("a", start=dt.datetime(2026, 1, 1))  # naive
    assert store.manifest("a").rows == ROWS_PER_BATCH


def test_findings_round_trip(tmp_path):
    store = Store(tmp_path)
    store.append("a", batch(0), source="s")
    assert store.read_findings("a").height == 0
    store.write_findings("a", empty_findings())
    assert store.read_findings("a").columns == empty_findings().columns
    assert store.datasets()["dataset"].to_list() == ["a"]


def test_sigkill_at_random_points_never_loses_committed_rows(tmp_path):
    """A writer killed with SIGKILL 50 times: the store stays readable, complete and verified."""
    rng = random.Random(20261126)
    store_dir = tmp_path / "store"
    committed: set[int] = set()
    next_batch = 0
    kills = 0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(50):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.store_writer", str(store_dir), str(next_batch)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        kills += 1
        for line in out.splitlines():
            if line.startswith("committed "):
                committed.add(int(line.split()[1]))
        store = Store(store_dir)
        if "crash" not in store.names():
            continue
        assert store.verify("crash") == [], "checksums match the manifest after every kill"
        frame = store.scan("crash").collect()
        per_batch = frame.group_by("source").len()
        counts = dict(per_batch.iter_rows())
        # every batch reported as committed is there, complete; no batch is half there
        for n in committed:
            assert counts.get(f"test:batch:{n}") == ROWS_PER_BATCH
        assert all(c == ROWS_PER_BATCH for c in counts.values())
        assert frame.select("ts", "provider", "entity", "metric").is_unique().all()
        assert store.manifest("crash").rows == frame.height
        stored = {int(s.rsplit(":", 1)[1]) for s in counts}
        next_batch = max(stored | committed | {-1}) + 1
    assert kills == 50
    assert len(committed) >= 5, "the writer got some batches committed between kills"


def test_incidents_are_stored_once_when_appended_twice(tmp_path):
    start = dt.datetime(2026, 1, 1, 0, 10, tzinfo=dt.UTC)
    incidents = pl.DataFrame(
        {
            "start": [start],
            "end": [start + dt.timedelta(minutes=20)],
            "kind": ["slow_consumer"],
            "severity": ["warning"],
            "provider": ["kafka"],
            "cluster": ["crash"],
            "entities": [["e1"]],
            "metrics": [["consumer_lag_messages"]],
            "description": ["test"],
        }
    )
    store = Store(tmp_path)
    store.append("a", batch(0), source="s", incidents=incidents)
    store.append("a", batch(0), source="s", incidents=incidents)
    assert store.read_incidents("a").height == 1
    assert store.verify("a") == []
