"""Incremental aggregation: one 1-minute tick for 10,000 series, vs recomputing in batch.

Each tick is a canonical long frame (string series columns, as a collector produces it) with
one sample for each of 10,000 series: a third Kafka offset gauges and a third counters (both
turned into per-second rates with reset handling against the previous tick), a third gauges.
``IncrementalAggregator.add`` ingests the tick and closes the previous 1-minute window (rates
against each series' carried last sample, then the window reduction), so the time of one
``add`` is the full per-tick cost in steady state.

Baseline, side by side: what a live view does without an incremental engine -- keep the last
hour of raw ticks and recompute the same result with ``batch_aggregate`` on every tick.

Figures (medians over the measured ticks, after warm-up):

- ``tick_ms_10k_series``: one ``add`` (ingest + close one window) for 10,000 series;
- ``tick_p95_ms``;
- ``baseline_recompute_1h_ms``: batch recomputation over the trailing hour per tick;
- ``speedup_vs_recompute``.

Run: ``python benchmarks/incremental.py`` (full: 60 measured ticks) or ``--quick``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.analysis.incremental import IncrementalAggregator, batch_aggregate  # noqa: E402

COUNTERS = {
    "log_end_offset_raw": ("messages_in_per_s", "offset"),
    "published_total": ("published_per_s", "counter"),
}
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def make_ticks(n_series: int, n_ticks: int, seed: int = 0) -> list[pl.DataFrame]:
    rng = np.random.default_rng(seed)
    kinds = np.array(["log_end_offset_raw", "published_total", "queue_depth_messages"])[
        np.arange(n_series) % 3
    ]
    entity = [f"t{i // 16:04d}/{i % 16}" for i in range(n_series)]
    values = rng.poisson(600, (n_ticks, n_series)).astype(float).cumsum(axis=0)
    base = pl.DataFrame(
        {"provider": "kafka", "cluster": "c1", "level": "partition", "entity": entity, "metric": kinds}
    )
    return [
        base.with_columns(
            pl.lit(T0 + timedelta(minutes=i)).cast(pl.Datetime("ms", "UTC")).alias("ts"),
            pl.Series("value", values[i]),
        ).select("ts", "provider", "cluster", "level", "entity", "metric", "value")
        for i in range(n_ticks)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 measured ticks")
    parser.add_argument("--series", type=int, default=10_000)
    args = parser.parse_args()
    warm, measured = (5, 20) if args.quick else (10, 60)
    history = 60
    ticks = make_ticks(args.series, warm + measured + history)

    agg = IncrementalAggregator("1m", counters=COUNTERS, max_results=100)
    for tick in ticks[: history + warm]:
        agg.add(tick)
    agg.drain()
    tick_ms = []
    for tick in ticks[history + warm :]:
        start = time.perf_counter()
        closed = agg.add(tick)
        tick_ms.append((time.perf_counter() - start) * 1000)
        assert closed == 1
    agg.drain()

    baseline_ms = []
    for i in range(history + warm, history + warm + min(measured, 10 if args.quick else 20)):
        start = time.perf_counter()
        window = pl.concat(ticks[i - history : i + 1])
        batch_aggregate(window, every="1m", counters=COUNTERS)
        baseline_ms.append((time.perf_counter() - start) * 1000)

    tick_median = statistics.median(tick_ms)
    figures = {
        "tick_ms_10k_series": tick_median,
        "tick_p95_ms": float(np.percentile(tick_ms, 95)),
        "tick_min_ms": min(tick_ms),
        "baseline_recompute_1h_ms": statistics.median(baseline_ms),
        "speedup_vs_recompute": statistics.median(baseline_ms) / tick_median,
        "series": float(args.series),
        "measured_ticks": float(len(tick_ms)),
        "load_average_1m": os.getloadavg()[0],
    }
    print(f"{'figure':28} {'value':>12}  target")
    for name, value in figures.items():
        print(f"{name:28} {value:12.4g}  {'<= 10' if name == 'tick_ms_10k_series' else ''}")
    result = {
        "figures": figures,
        "cpu_count": os.cpu_count(),
        "versions": {"python": platform.python_version(), "polars": pl.__version__, "numpy": np.__version__},
        "notes": {
            "tick": "IncrementalAggregator.add of one 1-minute tick (string keys cast to categorical, ingest, "
            "close the previous window: rates against carries + window reduction)",
            "baseline": "batch_aggregate over the trailing 60 ticks, recomputed per tick",
            "machine": "shared 2-core machine; other jobs were running (see load_average_1m)",
        },
    }
    out = ROOT / "benchmarks" / "results" / ("incremental-quick.json" if args.quick else "incremental.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
