"""Change detection between two discoveries, and a polling watch.

Examples
--------
>>> from workbench.sources.kubernetes.inventory import empty_inventory
>>> diff_inventories(empty_inventory(), empty_inventory()).height
0
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from workbench.errors import ParameterError
from workbench.sources.kubernetes.discovery import Discovery, discover

__all__ = ["CHANGE_SCHEMA", "COMPARED_COLUMNS", "WatchEvent", "diff_inventories", "watch"]

logger = logging.getLogger(__name__)

KEY = ["context", "namespace", "kind", "name"]
#: Columns whose difference makes a row ``changed``.
COMPARED_COLUMNS = ["provider", "distribution", "cluster", "role", "labels", "pods", "ports", "phase"]

CHANGE_SCHEMA: dict[str, pl.DataType] = {
    "change": pl.Enum(["added", "removed", "changed"]),
    "context": pl.String(),
    "namespace": pl.String(),
    "kind": pl.String(),
    "name": pl.String(),
    "provider": pl.String(),
    "cluster": pl.String(),
    "fields": pl.List(pl.String),
}


def diff_inventories(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Rows added, removed or changed between two inventories.

    Parameters
    ----------
    before, after : DataFrame
        Inventories (``Discovery.inventory``).

    Returns
    -------
    DataFrame
        ``change`` (added/removed/changed), the key columns (context, namespace, kind, name),
        provider, cluster, and ``fields``: the names of the compared columns that differ.
    """
    cols = KEY + COMPARED_COLUMNS
    joined = before.select(cols).join(after.select(cols), on=KEY, how="full", coalesce=True, suffix="_after")
    in_before = pl.col("provider").is_not_null()
    in_after = pl.col("provider_after").is_not_null()
    differing = [
        pl.when(pl.col(c).ne_missing(pl.col(f"{c}_after"))).then(pl.lit(c)) for c in COMPARED_COLUMNS
    ]
    out = (
        joined.with_columns(
            change=pl.when(in_before & ~in_after)
            .then(pl.lit("removed"))
            .when(~in_before & in_after)
            .then(pl.lit("added"))
            .otherwise(pl.lit("changed")),
            fields=pl.concat_list(differing).list.drop_nulls(),
        )
        .filter((pl.col("change") != "changed") | (pl.col("fields").list.len() > 0))
        .with_columns(
            provider=pl.coalesce(
                pl.col("provider").cast(pl.String), pl.col("provider_after").cast(pl.String)
            ),
            cluster=pl.coalesce("cluster", "cluster_after"),
            fields=pl.when(pl.col("change") == "changed")
            .then("fields")
            .otherwise(pl.lit([], dtype=pl.List(pl.String))),
        )
        .select(list(CHANGE_SCHEMA))
    )
    return out.cast(CHANGE_SCHEMA).sort("change", *KEY)  # type: ignore[arg-type]


@dataclass
class WatchEvent:
    """One poll of :func:`watch`: the discovery and what changed since the previous poll."""

    poll: int
    discovery: Discovery
    changes: pl.DataFrame


def watch(
    kubeconfig: str | Path | None = None,
    *,
    interval: float = 30.0,
    max_polls: int | None = None,
    sleep: Callable[[float], Any] = time.sleep,
    **discover_kwargs: Any,
) -> Iterator[WatchEvent]:
    """Poll discovery and yield what changed each time (first poll: everything is ``added``).

    Polling rather than the API's watch streams: one loop covers custom resources whose
    CRDs may be installed later, and every context uniformly.

    Parameters
    ----------
    kubeconfig : str or Path, optional
        As for :func:`~workbench.sources.kubernetes.discover`.
    interval : float
        Seconds between the start of one poll and the next.
    max_polls : int, optional
        Stop after this many polls (default: forever).
    sleep : callable
        Waits between polls (tests pass a function that changes the cluster).
    **discover_kwargs
        Passed to :func:`~workbench.sources.kubernetes.discover`.

    Yields
    ------
    WatchEvent
    """
    if interval < 0:
        raise ParameterError("interval", allowed="a number of seconds >= 0", received=interval)
    if max_polls is not None and max_polls < 1:
        raise ParameterError("max_polls", allowed="an integer >= 1 or None", received=max_polls)
    previous: pl.DataFrame | None = None
    poll = 0
    while max_polls is None or poll < max_polls:
        started = time.monotonic()
        result = discover(kubeconfig, **discover_kwargs)
        baseline = previous if previous is not None else result.inventory.clear()
        changes = diff_inventories(baseline, result.inventory)
        logger.info("kubernetes watch poll %d: %d changes", poll, changes.height)
        yield WatchEvent(poll=poll, discovery=result, changes=changes)
        previous = result.inventory
        poll += 1
        if max_polls is None or poll < max_polls:
            sleep(max(0.0, interval - (time.monotonic() - started)))
