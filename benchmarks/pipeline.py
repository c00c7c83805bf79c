"""Batch aggregation pipeline: Polars (the workbench) vs idiomatic pandas, same data, same run.

Pipeline: exporter-native counters -> per-series rates with reset handling -> 1-minute and
5-minute tumbling windows -> topology rollups (partition -> topic -> cluster, group partition ->
group x topic -> cluster; sum/max/min/mean/n, plus p50/p95/p99 on the 5-minute rollups) ->
hourly health scores of every entity and rollup.

Input (generated here with vectorised numpy, as kafka_exporter would report it): 400 Kafka
partitions in 2 clusters x 5 raw series each = 2,000 series, 1-minute samples for 7 days =
20,160,000 samples:

- ``kafka_topic_partition_current_offset``  (offset gauge -> ``messages_in_per_s``)
- ``kafka_consumergroup_current_offset``    (offset gauge -> ``messages_out_per_s``; -1 sentinels)
- ``kafka_server_brokertopicmetrics_bytesin_total`` (counter with restarts -> ``bytes_in_per_s``)
- ``consumer_lag_messages`` and ``under_replicated_partitions`` (gauges)

Series columns are Categorical (how the store's Parquet dictionary columns load). The
1-minute branch (windows, rollups) and the 5-minute branch (windows, rollups, health) are
independent and run in two threads, the same library calls as in sequence.

Figures (medians over repeated runs):

- ``samples_per_s``: input samples / wall time of the whole Polars pipeline;
- ``speedup_vs_pandas``: pandas wall time / Polars wall time on the same input (when pandas
  runs on a slice, both are timed on that slice: ``pandas_rows``);
- ``peak_memory_over_input``: (input Arrow size + peak RSS growth during the Polars pipeline)
  / input Arrow size. RSS is sampled every 2 ms by a thread (psutil); growth is measured from
  the RSS right before the pipeline with the input already in memory. This counts allocator
  caching (jemalloc keeps freed pages), so it is an upper bound on the live working set.

Run: ``python benchmarks/pipeline.py`` (full) or ``--quick`` (200 series x 1 day, < 1 min).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.analysis.health import COMPONENTS, health_scores  # noqa: E402
from workbench.analysis.rollup import rollup_topology  # noqa: E402
from workbench.analysis.windows import window_aggregate  # noqa: E402
from workbench.mapping.rates import counter_to_rate  # noqa: E402

RAW = {
    "kafka_topic_partition_current_offset": ("messages_in_per_s", "offset"),
    "kafka_consumergroup_current_offset": ("messages_out_per_s", "offset"),
    "kafka_server_brokertopicmetrics_bytesin_total": ("bytes_in_per_s", "counter"),
}
GAUGES = ("consumer_lag_messages", "under_replicated_partitions")
KEYS = ["provider", "cluster", "level", "entity", "metric"]


# ----------------------------------------------------------------------------- input
def make_input(n_partitions: int, minutes: int, seed: int = 0) -> pl.DataFrame:
    """Exporter-native raw series, series-major like a Prometheus range query answer."""
    rng = np.random.default_rng(seed)
    t = np.arange(minutes)
    ts = np.datetime64("2026-01-05T00:00", "ms").astype(np.int64) + t * 60_000
    base = rng.uniform(5, 50, n_partitions)
    daily = 1 + 0.5 * np.sin(2 * np.pi * t / 1440)
    produced = rng.poisson(np.outer(base * 60, daily)).astype(np.float64)
    log_end = produced.cumsum(axis=1)
    speed = rng.uniform(0.97, 1.03, (n_partitions, 1))
    committed = np.minimum(log_end, (produced * speed).cumsum(axis=1))
    lag = log_end - committed
    committed[rng.random(committed.shape) < 1e-4] = -1.0  # "nothing committed" sentinel
    bytes_in = (produced * rng.uniform(200, 2000, (n_partitions, 1))).cumsum(axis=1)
    rows, cols = rng.integers(0, n_partitions, 40), rng.integers(1, minutes, 40)
    for r, c in zip(rows, cols, strict=True):  # broker restarts: the counter starts again
        bytes_in[r, c:] -= bytes_in[r, c - 1]
    urp = (rng.random((n_partitions, minutes)) < 0.001).astype(np.float64)
    values = np.concatenate([log_end, committed, bytes_in, lag, urp])
    topics = [f"t{p // 8:02d}/{p % 8}" for p in range(n_partitions)]
    groups = [f"g{p // 80}/t{p // 8:02d}/{p % 8}" for p in range(n_partitions)]
    names = [*RAW, *GAUGES]
    entity = topics + groups + topics + groups + topics
    metric = [m for m in names for _ in range(n_partitions)]
    cluster = [("c1" if p < n_partitions // 2 else "c2") for _ in names for p in range(n_partitions)]
    n_series = len(entity)

    def categorical(labels: list[str]) -> pl.Series:
        uniq, codes = np.unique(np.array(labels), return_inverse=True)
        return pl.Series(uniq.tolist(), dtype=pl.Categorical).gather(
            np.repeat(codes, minutes).astype(np.uint32)
        )

    frame = pl.DataFrame({"ts": np.tile(ts, n_series)}).with_columns(
        pl.col("ts").cast(pl.Datetime("ms", "UTC"))
    )
    return frame.with_columns(
        provider=categorical(["kafka"] * n_series),
        cluster=categorical(cluster),
        level=categorical(["partition"] * n_series),
        entity=categorical(entity),
        metric=categorical(metric),
        value=pl.Series(values.ravel()),
    )


# ----------------------------------------------------------------------------- polars
def polars_pipeline(raw: pl.DataFrame) -> dict[str, pl.DataFrame]:
    parts = []
    for name, (rate_name, kind) in RAW.items():
        rated = counter_to_rate(raw.filter(pl.col("metric") == name), by=KEYS, kind=kind)  # type: ignore[arg-type]
        parts.append(rated.with_columns(pl.lit(rate_name).cast(pl.Categorical).alias("metric")))
    parts.append(raw.filter(pl.col("metric").is_in(list(GAUGES))))
    canonical = pl.concat(parts)
    keep = ["ts", "cluster", "level", "entity", "metric", "value"]

    def five_minute_branch() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        w5 = window_aggregate(canonical, every="5m", stats=["max", "min"])
        r5 = rollup_topology(w5)
        scored = pl.concat([w5.select(keep), r5.select(keep)], how="vertical_relaxed")
        return w5, r5, health_scores(scored, every="1h")

    # The 1-minute and 5-minute branches are independent: run them side by side (Polars and
    # NumPy release the GIL; much of each stage runs on one core), the same calls as in sequence.
    with ThreadPoolExecutor(max_workers=2) as pool:
        five = pool.submit(five_minute_branch)
        w1 = window_aggregate(canonical, every="1m", stats=["max"])
        r1 = rollup_topology(w1, percentiles=())
        w5, r5, health = five.result()
    return {"w1": w1, "w5": w5, "r1": r1, "r5": r5, "health": health}


# ----------------------------------------------------------------------------- pandas
def pandas_input(raw: pl.DataFrame) -> pd.DataFrame:
    return raw.to_pandas()


def _pd_rates(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    if kind == "offset":
        df = df[df["value"] >= 0]
    df = df.sort_values([*KEYS, "ts"])
    g = df.groupby(KEYS, observed=True, sort=False)
    dv = g["value"].diff()
    dt = g["ts"].diff().dt.total_seconds()
    inc = dv.where(dv >= 0, df["value"] if kind == "counter" else np.nan)
    out = df.assign(value=inc / dt)
    return out[out["value"].notna()]


def _pd_window(df: pd.DataFrame, freq: str, stats: list[str]) -> pd.DataFrame:
    keyed = df.assign(window=df["ts"].dt.floor(freq))
    g = keyed.sort_values("ts").groupby([*KEYS, "window"], observed=True)["value"]
    out = g.agg(["mean", "last", *stats]).reset_index()
    rate = out["metric"].astype(str).str.endswith("_per_s")
    out["value"] = np.where(rate, out["mean"], out["last"])
    return out.drop(columns=["mean", "last"]).rename(columns={"window": "ts"})


def _pd_rollup(df: pd.DataFrame, percentiles: bool) -> pd.DataFrame:
    entity = df["entity"].astype(str)
    slashes = entity.str.count("/")
    parent = entity.str.replace(r"/[^/]*$", "", regex=True)
    frames = []
    for level, mask in (("topic", slashes == 1), ("consumer_group", slashes >= 2), ("cluster", slashes >= 1)):
        part = df[mask].assign(parent=(df["cluster"].astype(str) if level == "cluster" else parent)[mask])
        g = part.groupby(["ts", "provider", "cluster", "parent", "metric"], observed=True)["value"]
        agg = g.agg(["sum", "max", "min", "mean", "count"])
        if percentiles:
            q = g.quantile([0.5, 0.95, 0.99]).unstack()
            q.columns = ["p50", "p95", "p99"]
            agg = agg.join(q)
        agg = agg.reset_index().assign(level=level)
        agg["value"] = np.where(
            agg["metric"].astype(str) == "under_replicated_partitions", agg["sum"], agg["sum"]
        )
        frames.append(agg.rename(columns={"parent": "entity"}))
    return pd.concat(frames, ignore_index=True)


def _pd_health(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(hour=frame["ts"].dt.floor("1h"), metric=frame["metric"].astype(str))
    keys = ["cluster", "level", "entity", "hour"]
    lag = (
        frame[frame["metric"] == "consumer_lag_messages"]
        .sort_values("ts")
        .groupby(keys, observed=True)["value"]
    )
    backlog = pd.DataFrame({"first": lag.first(), "last": lag.last()})
    urp = frame[frame["metric"] == "under_replicated_partitions"].groupby(keys, observed=True)["value"].max()
    out = backlog.join(urp.rename("urp"), how="outer").fillna(0.0)
    trend = ((out["last"] - out["first"]) / np.maximum(np.maximum(out["first"], out["last"]), 1000.0)).clip(
        0, 1
    )
    out["lag_trend_penalty"] = 15 * trend
    out["replication_penalty"] = np.where(out["urp"] > 0, 20 * 0.5, 0.0)
    out["score"] = (100 - out["lag_trend_penalty"] - out["replication_penalty"]).clip(0, 100)
    return out.reset_index().sort_values("score")


def pandas_pipeline(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    parts = []
    for name, (rate_name, kind) in RAW.items():
        rated = _pd_rates(df[df["metric"] == name], kind)
        parts.append(rated.assign(metric=rate_name))
    parts.append(df[df["metric"].isin(list(GAUGES))].assign(metric=lambda d: d["metric"].astype(str)))
    canonical = pd.concat(parts, ignore_index=True)
    w1 = _pd_window(canonical, "1min", ["max"])
    w5 = _pd_window(canonical, "5min", ["max", "min"])
    r1 = _pd_rollup(w1, percentiles=False)
    r5 = _pd_rollup(w5, percentiles=True)
    keep = ["ts", "cluster", "level", "entity", "metric", "value"]
    both = pd.concat([w5.assign(level="partition")[keep], r5[keep]], ignore_index=True)
    health = _pd_health(both)
    return {"w1": w1, "w5": w5, "r1": r1, "r5": r5, "health": health}


# ----------------------------------------------------------------------------- measuring
class PeakRss:
    """Sample this process's RSS every 2 ms in a thread; report the peak growth."""

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self.start = 0
        self.peak = 0

    def __enter__(self) -> PeakRss:
        gc.collect()
        self.start = self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.002)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def timed_cpu(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds of this process (all threads), result."""
    cpu, start = time.process_time(), time.perf_counter()
    result = fn()
    return time.perf_counter() - start, time.process_time() - cpu, result


def check_agreement(pl_out: dict[str, pl.DataFrame], pd_out: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Both pipelines must compute the same windows (sanity check, not timed)."""
    ours = (
        pl_out["w5"]
        .select(pl.col("entity").cast(pl.String), pl.col("metric").cast(pl.String), "ts", "value")
        .sort("entity", "metric", "ts")
    )
    theirs = pl.from_pandas(
        pd_out["w5"][["entity", "metric", "ts", "value"]].astype({"entity": str, "metric": str})
    )
    theirs = theirs.with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC"))).sort("entity", "metric", "ts")
    joined = ours.join(theirs, on=["entity", "metric", "ts"], how="inner", suffix="_pd")
    diff = (joined["value"] - joined["value_pd"]).abs()
    return {
        "rows_polars": float(ours.height),
        "rows_pandas": float(theirs.height),
        "max_abs_diff": float(diff.max() or 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 series x 1 day (< 1 min)")
    parser.add_argument("--repeats", type=int, default=None, help="Polars runs (median reported)")
    parser.add_argument("--pandas-repeats", type=int, default=1)
    parser.add_argument("--days", type=float, default=None, help="override the span (default 7, quick 1)")
    parser.add_argument(
        "--pandas-partitions",
        type=int,
        default=None,
        help="run pandas on the first N partitions' series (default: all)",
    )
    args = parser.parse_args()
    n_partitions, minutes = (40, 1440) if args.quick else (400, 7 * 1440)
    if args.days is not None:
        minutes = int(args.days * 1440)
    repeats = args.repeats or 3

    raw = make_input(n_partitions, minutes)
    rows = raw.height
    arrow_bytes = raw.to_arrow().nbytes
    print(f"input: {rows:,} samples, {n_partitions * 5:,} series, Arrow size {arrow_bytes / 2**20:.0f} MiB")

    pl_times, pl_cpu, pl_memory = [], [], []
    pl_out: dict[str, pl.DataFrame] = {}
    for i in range(repeats):
        pl_out = {}
        gc.collect()
        with PeakRss() as mem:
            seconds, cpu_seconds, pl_out = timed_cpu(lambda: polars_pipeline(raw))
        pl_times.append(seconds)
        pl_cpu.append(cpu_seconds)
        pl_memory.append((arrow_bytes + mem.growth) / arrow_bytes)
        print(
            f"polars run {i + 1}: {seconds:.2f} s wall, {cpu_seconds:.2f} s CPU, "
            f"{rows / seconds / 1e6:.2f} M samples/s, RSS growth {mem.growth / 2**20:.0f} MiB",
            flush=True,
        )

    pd_rows = rows
    pd_raw = raw
    if args.pandas_partitions is not None and args.pandas_partitions < n_partitions:
        keep = n_partitions and args.pandas_partitions
        per_series = minutes
        index = np.concatenate([np.arange(s * n_partitions, s * n_partitions + keep) for s in range(5)])
        pd_raw = raw.with_row_index("_r").filter((pl.col("_r") // per_series).is_in(index)).drop("_r")
        pd_rows = pd_raw.height
    pdf = pandas_input(pd_raw)
    pd_times, pd_cpu = [], []
    pd_out: dict[str, pd.DataFrame] = {}
    for i in range(args.pandas_repeats):
        seconds, cpu_seconds, pd_out = timed_cpu(lambda: pandas_pipeline(pdf))
        pd_times.append(seconds)
        pd_cpu.append(cpu_seconds)
        print(
            f"pandas run {i + 1}: {seconds:.2f} s wall, {cpu_seconds:.2f} s CPU on {pd_rows:,} samples",
            flush=True,
        )
    if pd_rows == rows:
        pl_same, pl_same_cpu = statistics.median(pl_times), statistics.median(pl_cpu)
    else:
        same = [timed_cpu(lambda: polars_pipeline(pd_raw))[:2] for _ in range(repeats)]
        pl_same = statistics.median(w for w, _ in same)
        pl_same_cpu = statistics.median(c for _, c in same)
        print(f"polars on the pandas slice: {pl_same:.2f} s wall, {pl_same_cpu:.2f} s CPU", flush=True)
    agreement = check_agreement(polars_pipeline(pd_raw), pd_out)

    pl_median = statistics.median(pl_times)
    figures = {
        "samples_per_s": rows / pl_median,
        "speedup_vs_pandas": statistics.median(pd_times) / pl_same,
        "peak_memory_over_input": statistics.median(pl_memory),
        "peak_memory_over_input_max": max(pl_memory),
        "polars_seconds_median": pl_median,
        "polars_cpu_seconds_median": statistics.median(pl_cpu),
        "samples_per_cpu_s": rows / statistics.median(pl_cpu),
        "speedup_vs_pandas_cpu_time": statistics.median(pd_cpu) / pl_same_cpu,
        "pandas_seconds_median": statistics.median(pd_times),
        "polars_seconds_same_input_as_pandas": pl_same,
        "input_samples": float(rows),
        "pandas_rows": float(pd_rows),
        "input_arrow_mib": arrow_bytes / 2**20,
        "health_rows": float(pl_out["health"].height),
        "rollup_rows_5m": float(pl_out["r5"].height),
        "w5_max_abs_diff_vs_pandas": agreement["max_abs_diff"],
        "load_average_1m": os.getloadavg()[0],
    }
    print()
    print(f"{'figure':36} {'value':>14}  target")
    targets = {"samples_per_s": ">= 16.7e6", "speedup_vs_pandas": ">= 10", "peak_memory_over_input": "<= 3"}
    for name, value in figures.items():
        print(f"{name:36} {value:14.4g}  {targets.get(name, '')}")
    result = {
        "figures": figures,
        "cpu_count": os.cpu_count(),
        "versions": {
            "python": platform.python_version(),
            "polars": pl.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
        },
        "notes": {
            "input": f"{n_partitions * 5} raw series x {minutes} minutes, synthetic kafka_exporter-style counters",
            "memory": "peak_memory_over_input = (input Arrow bytes + peak RSS growth during the Polars pipeline) / "
            "input Arrow bytes; RSS sampled every 2 ms with psutil",
            "pandas": "idiomatic pandas: groupby diff for rates, groupby+floor for windows, groupby agg/quantile "
            "for rollups, groupby first/last/max for health (two of the six health components)",
            "health_components": list(COMPONENTS),
            "repeats": {"polars": repeats, "pandas": args.pandas_repeats},
            "machine": "shared 2-core machine; other jobs were running (see load_average_1m), so wall "
            "times include waiting for a core; *_cpu_* figures count this process's CPU time",
        },
    }
    out = ROOT / "benchmarks" / "results" / ("pipeline-quick.json" if args.quick else "pipeline.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
