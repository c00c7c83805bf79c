"""Analyses over canonical frames: windows, rollups, lag status, health and more.

Each module is one idea; this package re-exports the names most callers need.
Other analyses (seasonality, anomalies, forecasts, root cause) add their
names here with a one-line edit.
"""

from __future__ import annotations

from workbench.analysis.health import health_report, health_scores
from workbench.analysis.incremental import IncrementalAggregator, batch_aggregate
from workbench.analysis.lagstatus import (
    consumer_status_frame,
    evaluate_partitions,
    group_status,
    lag_seconds,
    status_over_time,
)
from workbench.analysis.rollup import rollup, rollup_topology
from workbench.analysis.windows import sliding_window, window_aggregate

__all__ = [
    "IncrementalAggregator",
    "batch_aggregate",
    "consumer_status_frame",
    "evaluate_partitions",
    "group_status",
    "health_report",
    "health_scores",
    "lag_seconds",
    "rollup",
    "rollup_topology",
    "sliding_window",
    "status_over_time",
    "window_aggregate",
]
