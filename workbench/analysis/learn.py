"""Fleet-scale learning: every entity in parallel, then root causes and narratives.

:func:`learn` splits a canonical frame by entity (provider, cluster, level, entity) and
runs :func:`learn_entity` on each through joblib, so ``n_jobs`` local processes do the
work, or, with ``backend="dask"`` inside a ``distributed.Client`` context, a Dask
cluster does (joblib's dask backend; no scheduler of our own). Per entity it finds:

* **anomalies** with the anomaly detector (``workbench.analysis.anomaly.detect_anomalies``
  by default, or any callable ``frame -> findings``);
* **seasonality**: the daily/weekly cycle of each metric (info findings);
* **forecasts** for backlog metrics (lag, depth, age): when an elevated backlog is
  expected to recover, and when it will pass a given threshold.

The anomalies of all entities are then grouped into episodes, causes are ranked
(:func:`~workbench.analysis.rootcause.rank_causes`) and each episode gets a
``root_cause`` finding whose explanation is its narrative. The result is one findings
frame (:data:`workbench.frames.FINDING_SCHEMA`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl
from joblib import Parallel, delayed, parallel_config

from workbench.analysis.forecast import default_forecaster, forecast_series, time_until_threshold
from workbench.analysis.narrative import format_count, format_duration_s, narrate_episode
from workbench.analysis.rootcause import assign_episodes, rank_causes
from workbench.analysis.seasonality import detect_period, infer_sampling_interval
from workbench.errors import ParameterError
from workbench.frames import FINDING_SCHEMA, empty_findings

logger = logging.getLogger(__name__)

__all__ = ["BACKLOG_METRICS", "LearnConfig", "learn", "learn_dataset", "learn_entity", "top_findings"]

Detector = Callable[[pl.DataFrame], pl.DataFrame]
Progress = Callable[[int, int], None]
ENTITY_KEYS = ("provider", "cluster", "level", "entity")
#: Metrics whose recovery (and threshold crossing) is forecast.
BACKLOG_METRICS = (
    "consumer_lag_messages",
    "consumer_lag_seconds",
    "queue_depth_messages",
    "oldest_message_age_s",
    "dlq_depth_messages",
)
_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class LearnConfig:
    """What :func:`learn_entity` computes besides anomalies.

    Attributes
    ----------
    seasonality : bool
        Emit a ``seasonality`` info finding for each metric with a daily/weekly cycle.
    forecast_metrics : tuple of str
        Metrics to forecast when elevated or when a threshold is set.
    thresholds : mapping of str to float
        Metric -> level; a ``forecast_breach`` finding says when the metric will pass it.
    horizon : timedelta
        Forecast horizon.
    history : timedelta
        How much recent history a forecast is fitted on.
    coverage : float
        Coverage of the forecast band used for "earliest" times.
    """

    seasonality: bool = True
    forecast_metrics: tuple[str, ...] = BACKLOG_METRICS
    thresholds: Mapping[str, float] = field(default_factory=dict)
    horizon: timedelta = timedelta(hours=6)
    history: timedelta = timedelta(days=3)
    coverage: float = 0.9


def _default_detector() -> Detector:
    try:
        from workbench.analysis.anomaly import detect_anomalies
    except ImportError as err:  # the anomaly room is optional at import time
        raise ParameterError(
            "detector",
            allowed="a callable frame -> findings (workbench.analysis.anomaly not available)",
            received=None,
        ) from err
    return detect_anomalies  # type: ignore[no-any-return]


def _require_dask_client() -> None:
    """joblib's dask backend runs on the current ``distributed.Client``; say so clearly if there is none."""
    try:
        from distributed import get_client

        get_client()
    except (ImportError, ValueError) as err:
        raise ParameterError(
            "backend",
            allowed="'dask' inside a distributed.Client context (workbench learn --backend dask opens one)",
            received="dask without a Dask client",
        ) from err


def _finding(row: Mapping[str, Any], **values: Any) -> dict[str, Any]:
    return {
        "provider": row["provider"],
        "cluster": row["cluster"],
        "level": row["level"],
        "entity": row["entity"],
        **values,
    }


def _seasonality_findings(entity_frame: pl.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for (metric,), series in entity_frame.partition_by("metric", as_dict=True, maintain_order=True).items():
        series = series.sort("ts")
        if series.height < 4:
            continue
        interval = infer_sampling_interval(series["ts"])
        if interval <= 0:
            continue
        grid = (
            series.group_by("ts")
            .agg(pl.col("value").mean())
            .sort("ts")
            .upsample("ts", every=f"{max(1, round(interval * 1000))}ms")["value"]
            .to_numpy()
        )
        found = detect_period(grid, interval)
        if found.kind == "none":
            continue
        key = "weekly" if found.kind == "weekly" else "daily"
        strength = float(found.strength.get(key, float("nan")))
        rows.append(
            _finding(
                series.row(0, named=True),
                start=series["ts"][0],
                end=series["ts"][-1],
                metric=str(metric),
                kind="seasonality",
                score=float(np.clip(strength, 0.0, 1.0)),
                severity="info",
                explanation=f"{metric} follows a {found.kind} cycle (autocorrelation {strength:.2f} at one "
                f"{'week' if key == 'weekly' else 'day'}).",
            )
        )
    return rows


_DEAD_LETTER = re.compile(r"(^|[./_-])(dlq|dlx|dead[._-]?letters?)($|[./_-])", re.IGNORECASE)


def _is_dead_letter(metric: str, entity: str) -> bool:
    """True for DLQ depth or a queue/topic whose name marks it as dead letters."""
    return metric == "dlq_depth_messages" or bool(_DEAD_LETTER.search(entity))


def _forecast_findings(entity_frame: pl.DataFrame, config: LearnConfig) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    wanted = entity_frame.filter(pl.col("metric").is_in(list(config.forecast_metrics)))
    for (metric,), series in wanted.partition_by("metric", as_dict=True, maintain_order=True).items():
        series = series.sort("ts")
        last_ts = series["ts"][-1]
        recent = series.filter(pl.col("ts") > last_ts - config.history)
        if recent.height < 12:
            continue
        values = recent["value"]
        last = float(values[-1])
        typical = float(values.median())  # type: ignore[arg-type]
        elevated = last > float(values.quantile(0.95) or 0.0) and last > typical * 1.5 + 1.0  # type: ignore[operator]
        threshold = config.thresholds.get(str(metric))
        if not elevated and threshold is None:
            continue
        forecast = forecast_series(
            recent,
            metric=str(metric),
            horizon=config.horizon,
            estimator=default_forecaster(str(metric), coverage=config.coverage),
        )
        head = series.row(0, named=True)
        unit_text = str(metric).replace("_", " ")
        # A dead-letter queue only drains when someone redrives it: "not expected to recover"
        # is its normal state, not a finding (its growth is the anomaly detector's job).
        if elevated and not _is_dead_letter(str(metric), str(head["entity"])):
            hit = time_until_threshold(forecast, typical * 1.2, direction="below")
            wait = hit.seconds_until(last_ts)
            when = (
                f"expected to recover below {format_count(typical * 1.2)} by {hit.expected_at:%H:%M UTC} "
                f"(in {format_duration_s(wait)})"
                if hit.expected_at is not None and wait is not None
                else f"not expected to recover within {format_duration_s(config.horizon.total_seconds())}"
            )
            rows.append(
                _finding(
                    head,
                    start=last_ts,
                    end=hit.expected_at or hit.horizon_end,
                    metric=str(metric),
                    kind="forecast_recovery",
                    score=1.0 if hit.expected_at is None else 0.5,
                    severity="warning" if hit.expected_at is None else "info",
                    explanation=f"{unit_text} on {head['entity']} is {format_count(last)} "
                    f"(typical {format_count(typical)}); {when}.",
                )
            )
        if threshold is not None:
            hit = time_until_threshold(forecast, threshold, direction="above")
            if hit.already or hit.expected_at is not None or hit.earliest_at is not None:
                wait = hit.seconds_until(last_ts)
                if hit.already:
                    text = f"is already above {format_count(threshold)}"
                elif hit.expected_at is not None and wait is not None:
                    text = f"is expected to pass {format_count(threshold)} at {hit.expected_at:%H:%M UTC} (in {format_duration_s(wait)})"
                else:
                    text = f"may pass {format_count(threshold)} as early as {hit.earliest_at:%H:%M UTC} (upper band)"
                rows.append(
                    _finding(
                        head,
                        start=last_ts,
                        end=hit.expected_at or hit.earliest_at or last_ts,
                        metric=str(metric),
                        kind="forecast_breach",
                        score=1.0 if hit.already else (0.8 if hit.expected_at is not None else 0.4),
                        severity="critical" if hit.already else "warning",
                        explanation=f"{unit_text} on {head['entity']} {text}.",
                    )
                )
    return rows


def learn_entity(
    entity_frame: pl.DataFrame,
    detector: Detector | None,
    config: LearnConfig = LearnConfig(),
) -> pl.DataFrame:
    """Learn one entity: anomalies, seasonality and backlog forecasts as findings.

    Parameters
    ----------
    entity_frame : polars.DataFrame
        Canonical rows of one (provider, cluster, level, entity).
    detector : callable or None
        ``frame -> findings``; None skips anomaly detection.
    config : LearnConfig
        Seasonality and forecast options.

    Returns
    -------
    polars.DataFrame
        Findings (:data:`~workbench.frames.FINDING_SCHEMA`).
    """
    parts = [empty_findings()]
    if detector is not None:
        found = detector(entity_frame)
        if found.height:
            parts.append(found.select(list(FINDING_SCHEMA)).cast(FINDING_SCHEMA))  # type: ignore[arg-type]
    rows = _seasonality_findings(entity_frame) if config.seasonality else []
    rows += _forecast_findings(entity_frame, config)
    if rows:
        parts.append(pl.DataFrame(rows).select(list(FINDING_SCHEMA)).cast(FINDING_SCHEMA))  # type: ignore[arg-type]
    return pl.concat(parts, how="vertical")


def _learn_batch(
    frames: list[pl.DataFrame], detector: Detector | None, config: LearnConfig
) -> tuple[int, pl.DataFrame]:
    return len(frames), pl.concat([learn_entity(f, detector, config) for f in frames], how="vertical")


def _root_cause_findings(anomalies: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    if anomalies.height == 0:
        return empty_findings()
    causes = rank_causes(anomalies, frame)
    # A lone alarm explains itself; root causes are for episodes spanning several entities.
    size = causes.group_by("episode").agg(n=pl.struct("level", "entity").n_unique()).filter(pl.col("n") >= 2)
    causes = causes.join(size, on="episode", how="inner")
    top = causes.filter(pl.col("rank") == 1)
    if top.height == 0:
        return empty_findings()
    narratives = {
        int(ep): narrate_episode(part) for (ep,), part in causes.partition_by("episode", as_dict=True).items()
    }
    # rank_causes numbers episodes the same way (same anomalies, same gap), so severities join on it
    severity = (
        assign_episodes(anomalies.select("cluster", "start", "end", sev=pl.col("severity").cast(pl.String)))
        .group_by("episode")
        .agg(sev_rank=pl.col("sev").replace_strict(_SEVERITY_RANK, default=1, return_dtype=pl.Int64).max())
    )
    bounds = causes.group_by("episode").agg(ep_start=pl.col("start").min(), ep_end=pl.col("end").max())
    providers = frame.select("cluster", pl.col("provider")).unique("cluster")
    top = (
        top.join(bounds, on="episode")
        .join(providers, on="cluster", how="left")
        .join(severity, on="episode", how="left")
        .with_columns(
            severity=pl.col("sev_rank").fill_null(1).replace_strict({0: "info", 1: "warning", 2: "critical"}),
            narrative=pl.col("episode").replace_strict(narratives, return_dtype=pl.String),
            # an episode across many entities matters more than a pair of alarms
            importance=pl.col("score") * (pl.col("n").cast(pl.Float64) / 5.0).clip(upper_bound=1.0),
        )
    )
    return top.select(
        start=pl.col("ep_start"),
        end=pl.col("ep_end"),
        provider="provider",
        cluster="cluster",
        level="level",
        entity="entity",
        metric="metric",
        kind=pl.lit("root_cause"),
        score="importance",
        severity="severity",
        explanation=pl.concat_str(
            "narrative",
            pl.lit(" Evidence: "),
            "evidence",
            pl.lit(" ("),
            pl.col("n").cast(pl.String),
            pl.lit(" anomalous entities)."),
        ),
    ).cast(FINDING_SCHEMA)  # type: ignore[arg-type]


def learn(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    detector: Detector | str | None = "default",
    config: LearnConfig | None = None,
    n_jobs: int = -1,
    backend: str | None = None,
    batch_size: int = 16,
    progress: Progress | None = None,
    root_cause: bool = True,
) -> pl.DataFrame:
    """Learn every entity of a canonical frame in parallel and return the findings.

    Parameters
    ----------
    frame : polars.DataFrame or LazyFrame
        Canonical long frame (one or many clusters).
    detector : callable, None or "default"
        Anomaly detector ``frame -> findings`` applied per entity; "default" uses
        ``workbench.analysis.anomaly.detect_anomalies``; None skips anomaly detection.
    config : LearnConfig, optional
        Seasonality/forecast options.
    n_jobs : int
        joblib workers (-1 = all cores).
    backend : str, optional
        joblib backend: None (joblib's default, loky processes), "threading", or "dask"
        (run inside a ``distributed.Client`` context to use that cluster).
    batch_size : int
        Entities per task (fewer, larger tasks cut scheduling overhead).
    progress : callable, optional
        Called as ``progress(done_entities, total_entities)`` as batches finish.
    root_cause : bool
        Rank causes of concurrent anomalies and add one ``root_cause`` finding per episode.

    Returns
    -------
    polars.DataFrame
        Findings (:data:`~workbench.frames.FINDING_SCHEMA`), sorted by start, cluster, entity.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> ts = [datetime(2026, 1, 5, tzinfo=timezone.utc) + timedelta(hours=h) for h in range(24 * 4)]
    >>> import math
    >>> df = pl.DataFrame({"ts": ts, "provider": "kafka", "cluster": "k", "level": "topic", "entity": "orders",
    ...     "metric": "messages_in_per_s", "value": [100 + 50 * math.sin(2 * math.pi * i / 24) for i in range(96)],
    ...     "source": "file:x"}).cast({"provider": pl.Enum(["kafka", "rabbitmq", "sqs"]),
    ...     "level": pl.Enum(["cluster", "broker", "node", "topic", "partition", "queue", "consumer_group"]),
    ...     "ts": pl.Datetime("ms", "UTC")})
    >>> learn(df, detector=None, n_jobs=1)["kind"].to_list()
    ['seasonality']
    """
    if batch_size < 1:
        raise ParameterError("batch_size", allowed="an integer >= 1", received=batch_size)
    data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    missing = {"ts", *ENTITY_KEYS, "metric", "value"} - set(data.columns)
    if missing:
        raise ParameterError(
            "frame", allowed="a canonical frame (workbench.frames)", received=f"missing {sorted(missing)}"
        )
    if backend == "dask":
        _require_dask_client()
    chosen = _default_detector() if detector == "default" else detector
    if isinstance(chosen, str):
        raise ParameterError("detector", allowed="a callable, None or 'default'", received=chosen)
    cfg = config or LearnConfig()
    entities = data.partition_by(list(ENTITY_KEYS), maintain_order=False)
    total = len(entities)
    batches = [entities[i : i + batch_size] for i in range(0, total, batch_size)]
    logger.info(
        "learning %d entities in %d batches (backend=%s, n_jobs=%d)", total, len(batches), backend, n_jobs
    )
    parts = [empty_findings()]
    done = 0
    with parallel_config(backend=backend) if backend else nullcontext():
        runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        for count, result in runner(delayed(_learn_batch)(b, chosen, cfg) for b in batches):
            parts.append(result)
            done += count
            if progress is not None:
                progress(done, total)
    findings = pl.concat(parts, how="vertical")
    if root_cause and chosen is not None:
        anomalies = findings.filter(
            ~pl.col("kind").is_in(["seasonality", "forecast_recovery", "forecast_breach"])
        )
        findings = pl.concat([findings, _root_cause_findings(anomalies, data)], how="vertical")
    return findings.sort("start", "cluster", "entity", "kind", nulls_last=True)


_KIND_PRIORITY = {"root_cause": 0, "forecast_breach": 1, "forecast_recovery": 2, "seasonality": 9}


def top_findings(findings: pl.DataFrame, n: int = 10, *, include_info: bool = False) -> pl.DataFrame:
    """The findings to read first: root causes, then forecasts, then anomalies; severe and high-scoring first.

    Examples
    --------
    >>> top_findings(empty_findings()).height
    0
    """
    ranked = findings if include_info else findings.filter(pl.col("severity").cast(pl.String) != "info")
    return (
        ranked.with_columns(
            _k=pl.col("kind").replace_strict(_KIND_PRIORITY, default=3, return_dtype=pl.Int64),
            _s=pl.col("severity")
            .cast(pl.String)
            .replace_strict(_SEVERITY_RANK, default=0, return_dtype=pl.Int64),
        )
        .sort(["_k", "_s", "score", "start"], descending=[False, True, True, False], nulls_last=True)
        .head(n)
        .drop("_k", "_s")
    )


def learn_dataset(
    dataset: str,
    *,
    store: Any = None,
    cluster: str | None = None,
    start: str | None = None,
    end: str | None = None,
    detector: Detector | str | None = "default",
    config: LearnConfig | None = None,
    n_jobs: int = -1,
    backend: str | None = None,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """Learn a stored dataset and store its findings (``workbench learn DATASET``).

    Parameters
    ----------
    dataset : str
        Dataset name in the store.
    store : workbench.store.Store, optional
        Store to read and write (default: ``Store()`` from the settings).
    cluster : str, optional
        Only this cluster.
    start, end : str, optional
        ISO 8601 time range (with zone).
    detector, config, n_jobs, backend, progress
        As for :func:`learn`.

    Returns
    -------
    polars.DataFrame
        The findings, also written with ``store.write_findings(dataset, ...)``.

    Raises
    ------
    NotFoundError
        If the dataset does not exist.
    ParameterError
        If the selection holds no rows.
    """
    from workbench.store import Store

    chosen = store if store is not None else Store()
    frame = chosen.scan(dataset, cluster=cluster, start=start, end=end).collect()
    if frame.height == 0:
        raise ParameterError(
            "dataset",
            allowed="a dataset (and cluster/time selection) with rows",
            received=f"{dataset} (0 rows)",
        )
    logger.info("learning %s: %d rows", dataset, frame.height)
    findings = learn(
        frame, detector=detector, config=config, n_jobs=n_jobs, backend=backend, progress=progress
    )
    chosen.write_findings(dataset, findings)
    return findings
