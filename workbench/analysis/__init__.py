"""Analyses over canonical frames: windows, rollups, lag status, health and more.

Each module is one idea; this package re-exports the names most callers need.
Other analyses (seasonality, anomalies, forecasts, root cause) add their
names here with a one-line edit.
"""

from __future__ import annotations

from workbench.analysis.lagstatus import evaluate_partitions, group_status, lag_seconds, status_over_time

__all__ = [
    "evaluate_partitions",
    "group_status",
    "lag_seconds",
    "status_over_time",
]
