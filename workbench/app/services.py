"""The package functions the app shows, reached through one thin layer.

The app never computes a statistic: every number it shows comes from a package
function (store queries, health, findings, narratives, seasonality, forecasts,
fidelity, reports). This module only *finds* those functions and calls them,
caching results in the injected :class:`~workbench.app.cache.FrameCache`.
When a room of the package has not built the function yet, the call raises
:class:`Unavailable` with the reason, and the page says "not available" instead
of inventing a number.

Examples
--------
>>> try:
...     resolve("workbench.no_such_module", "f")
... except Unavailable as err:
...     print(err)
not available: workbench.no_such_module.f is not built yet
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from workbench.app.cache import FrameCache
from workbench.errors import WorkbenchError
from workbench.store import Store

__all__ = [
    "EntityKey",
    "Services",
    "Unavailable",
    "resolve",
]

logger = logging.getLogger(__name__)


class Unavailable(WorkbenchError, LookupError):
    """A view needs a package function that does not exist (yet) or has no data."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"not available: {reason}")


def resolve(module: str, attr: str) -> Callable[..., Any]:
    """Import ``module`` and return its ``attr``, or raise :class:`Unavailable`."""
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        if err.name and not module.startswith(err.name) and err.name != module:
            logger.warning("importing %s failed: %s", module, err)
        raise Unavailable(f"{module}.{attr} is not built yet") from err
    except Exception as err:  # a room's module that fails on import must not take the page down
        logger.warning("importing %s failed: %s", module, err)
        raise Unavailable(f"{module} failed to import ({type(err).__name__}: {err})") from err
    fn = getattr(mod, attr, None)
    if fn is None:
        raise Unavailable(f"{module}.{attr} is not built yet")
    return fn  # type: ignore[no-any-return]


@dataclass(frozen=True)
class EntityKey:
    """Identifies one entity in a dataset."""

    provider: str
    cluster: str
    level: str
    entity: str

    def as_query(self) -> dict[str, str]:
        """The key as URL query parameters."""
        return {
            "provider": self.provider,
            "cluster": self.cluster,
            "level": self.level,
            "entity": self.entity,
        }


class Services:
    """Data access for one app: a store plus a cache.

    Parameters
    ----------
    store : Store
        Where datasets live.
    cache : FrameCache
        Server-side cache shared by the app's callbacks.
    """

    def __init__(self, store: Store, cache: FrameCache) -> None:
        self.store = store
        self.cache = cache

    # ------------------------------------------------------------------ datasets
    def datasets(self) -> pl.DataFrame:
        """What the store holds (one row per dataset)."""
        return self.store.datasets()

    def _stamp(self, dataset: str) -> str:
        return str(self.store.manifest(dataset).updated)

    def _cached(self, name: str, dataset: str, params: tuple[Any, ...], fn: Callable[[], Any]) -> Any:
        return self.cache.get_or_compute((name, dataset, self._stamp(dataset), params), fn)

    def entity_index(self, dataset: str) -> pl.DataFrame:
        """Entities of a dataset with the metrics each has (a store query, cached).

        Returns
        -------
        pl.DataFrame
            ``provider, cluster, level, entity`` (strings) and ``metrics`` (list of str).
        """

        def compute() -> pl.DataFrame:
            return (
                self.store.scan(dataset)
                .select(
                    *(pl.col(c).cast(pl.String) for c in ("provider", "cluster", "level", "entity", "metric"))
                )
                .unique()
                .group_by("provider", "cluster", "level", "entity")
                .agg(pl.col("metric").sort().alias("metrics"))
                .sort("provider", "cluster", "level", "entity")
                .collect()
            )

        return self._cached("entity_index", dataset, (), compute)  # type: ignore[no-any-return]

    def time_range(self, dataset: str) -> tuple[dt.datetime, dt.datetime]:
        """First and last sample time of a dataset, from its manifest."""
        m = self.store.manifest(dataset)
        return dt.datetime.fromisoformat(str(m.start)), dt.datetime.fromisoformat(str(m.end))

    def entity_series(
        self,
        dataset: str,
        key: EntityKey,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        metrics: list[str] | None = None,
    ) -> pl.DataFrame:
        """Canonical rows of one entity (``ts, metric, value``), time-sorted."""

        def compute() -> pl.DataFrame:
            # Plain equality predicates (no cast) let Parquet row-group statistics prune.
            predicates = [
                pl.col("cluster") == key.cluster,
                pl.col("level") == key.level,
                pl.col("entity") == key.entity,
            ]
            if metrics:
                predicates.append(pl.col("metric").is_in(metrics))
            return (
                self.store.scan(dataset, start=start, end=end, provider=key.provider, _end_inclusive=True)
                .filter(*predicates)
                .select("ts", pl.col("metric").cast(pl.String), "value")
                .sort("metric", "ts")
                .collect()
            )

        params = (key, start, end, tuple(metrics or ()))
        return self._cached("entity_series", dataset, params, compute)  # type: ignore[no-any-return]

    # -------------------------------------------------------------- analyses
    def findings(self, dataset: str) -> pl.DataFrame:
        """Findings stored for the dataset by learning (may be empty)."""
        return self._cached("findings", dataset, (), lambda: self.store.read_findings(dataset))  # type: ignore[no-any-return]

    def incidents(self, dataset: str) -> pl.DataFrame:
        """Simulator ground truth stored with the dataset (may be empty)."""
        return self._cached("incidents", dataset, (), lambda: self.store.read_incidents(dataset))  # type: ignore[no-any-return]

    def fleet_health(self, dataset: str, every: str = "1h") -> pl.DataFrame:
        """Health score per entity and time window (``ts, cluster, level, entity, score``).

        Health scores stored in the dataset as the catalogue metric ``health_score``
        are read as they are; otherwise the health room scores each ``every`` window
        (:func:`workbench.analysis.health.health_scores`).
        """
        stored = "health_score" in self.store_metrics(dataset)
        fn = None if stored else resolve("workbench.analysis.health", "health_scores")

        def compute() -> pl.DataFrame:
            if fn is None:
                lazy = (
                    self.store.scan(dataset)
                    .filter(pl.col("metric") == "health_score")
                    .select("ts", "cluster", "level", "entity", pl.col("value").alias("score"))
                )
            else:
                lazy = fn(self.store.scan(dataset), every=every).lazy()
            return lazy.select(
                "ts",
                *(pl.col(c).cast(pl.String) for c in ("cluster", "level", "entity")),
                pl.col("score").cast(pl.Float64),
            ).collect()

        return self._cached("fleet_health", dataset, (every,), compute)  # type: ignore[no-any-return]

    def store_metrics(self, dataset: str) -> set[str]:
        """Metric names present in a dataset."""
        return set(self.entity_index(dataset).get_column("metrics").explode().drop_nulls().to_list())

    def cached(self, name: str, dataset: str, params: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """Cache any derived view of a dataset (e.g. a heatmap matrix) until the dataset changes."""
        return self._cached(name, dataset, params, compute)

    def topology_edges(self, dataset: str) -> pl.DataFrame:
        """Parent → child edges of the dataset's entities."""
        fn = resolve("workbench.analysis.rollup", "topology_edges")
        edges: pl.DataFrame = self._cached("topology", dataset, (), lambda: fn(self.entity_index(dataset)))
        return edges

    def narratives(self, dataset: str) -> pl.DataFrame:
        """One plain-English narrative per episode of findings (root-cause + narrative rooms).

        Returns
        -------
        pl.DataFrame
            ``episode, cluster, start, narrative``.
        """
        rank = resolve("workbench.analysis.rootcause", "rank_causes")
        narrate = resolve("workbench.analysis.narrative", "narrate_episodes")

        def compute() -> pl.DataFrame:
            findings = self.findings(dataset)
            if findings.is_empty():
                return pl.DataFrame(
                    schema={
                        "episode": pl.Int64,
                        "cluster": pl.String,
                        "start": pl.Datetime("ms", "UTC"),
                        "narrative": pl.String,
                    }
                )
            return narrate(rank(findings))  # type: ignore[no-any-return]

        return self._cached("narratives", dataset, (), compute)  # type: ignore[no-any-return]

    def lag_status(self, dataset: str, key: EntityKey, every: str = "5m") -> pl.DataFrame:
        """Burrow status over time of the consumer partitions and groups of an entity.

        From the lag-status room (:func:`workbench.analysis.lagstatus.consumer_status_frame`,
        evaluated every ``every`` over the cluster's offsets); rows for the entity itself,
        the group partitions under it (``group/topic/p``) and, for a topic partition
        ``topic/p``, every group reading it.

        Returns
        -------
        pl.DataFrame
            ``ts, entity, status`` (status names: OK, WARN, ERR, STOP, STALL, REWIND, NOTFOUND).
        """
        fn = resolve("workbench.analysis.lagstatus", "consumer_status_frame")
        codes = resolve("workbench.analysis.lagstatus", "STATUS_CODES")

        def cluster_status() -> pl.DataFrame:
            offsets = self.store.scan(dataset, provider=key.provider).filter(
                pl.col("cluster") == key.cluster,
                pl.col("level") == "partition",
                pl.col("metric").is_in(["committed_offset", "log_end_offset"]),
            )
            return fn(offsets, every=every)  # type: ignore[no-any-return]

        status = self._cached("lag_status", dataset, (key.provider, key.cluster, every), cluster_status)
        if status.is_empty():
            raise Unavailable("no committed_offset / log_end_offset history for this cluster")
        me = key.entity
        entity = pl.col("entity").cast(pl.String)
        mine = status.filter(
            (entity == me) | entity.str.starts_with(me + "/") | entity.str.ends_with("/" + me)
        )
        if mine.is_empty():
            raise Unavailable(f"no consumer offsets involve {me!r}")
        names = {int(v): k for k, v in dict(codes).items()}  # type: ignore[call-overload]
        out: pl.DataFrame = mine.select(
            "ts",
            entity.alias("entity"),
            pl.col("value")
            .cast(pl.Int64)
            .replace_strict(names, default="NOTFOUND", return_dtype=pl.String)
            .alias("status"),
        ).sort("entity", "ts")
        return out

    def decomposition(
        self, dataset: str, key: EntityKey, metric: str, start: dt.datetime | None, end: dt.datetime | None
    ) -> tuple[pl.Series, dict[str, np.ndarray]]:
        """Trend / seasonal / residual parts of one metric (seasonality room)."""
        decompose = resolve("workbench.analysis.seasonality", "decompose")
        detect = resolve("workbench.analysis.seasonality", "detect_period")
        interval = resolve("workbench.analysis.seasonality", "infer_sampling_interval")

        def compute() -> tuple[pl.Series, dict[str, np.ndarray]]:
            series = self.entity_series(dataset, key, start=start, end=end, metrics=[metric])
            if series.height < 8:
                raise Unavailable(f"too few samples of {metric} to decompose ({series.height})")
            ts = series.get_column("ts")
            values = series.get_column("value").to_numpy()
            found = detect(values, interval(ts))
            return ts, decompose(values, found.periods)

        return self._cached("decomposition", dataset, (key, metric, start, end), compute)  # type: ignore[no-any-return]

    def forecast(
        self,
        dataset: str,
        key: EntityKey,
        metric: str,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> pl.DataFrame:
        """Forecast of one metric with its interval (forecast room).

        Returns
        -------
        pl.DataFrame
            ``ts, value, forecast, lower, upper, part`` (``part`` = history / forecast).
        """
        fn = resolve("workbench.analysis.forecast", "forecast_series")

        def compute() -> pl.DataFrame:
            series = self.entity_series(dataset, key, start=start, end=end, metrics=[metric])
            try:
                return fn(series, metric=metric)  # type: ignore[no-any-return]
            except WorkbenchError as err:
                raise Unavailable(str(err)) from err

        return self._cached("forecast", dataset, (key, metric, start, end), compute)  # type: ignore[no-any-return]

    def fidelity(self, real: str, sim: str, metric: str, *, standardize: bool = False) -> Any:
        """Fidelity of a simulated dataset against a real one for one metric (fidelity room).

        Returns
        -------
        workbench.fidelity.FidelityResult
            ``summary()``, ``verdicts()`` and per-pair ``details`` for the figures.
        """
        fn = resolve("workbench.fidelity", "compare_frames")

        def compute() -> Any:
            pick = pl.col("metric") == metric
            try:
                return fn(
                    self.store.scan(real).filter(pick),
                    self.store.scan(sim).filter(pick),
                    standardize=standardize,
                )
            except WorkbenchError as err:
                raise Unavailable(str(err)) from err

        key = ("fidelity", real, self._stamp(real), sim, self._stamp(sim), metric, standardize)
        return self.cache.get_or_compute(key, compute)
