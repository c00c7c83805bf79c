"""From a canonical frame to the findings frame: run detectors per series and per entity.

:func:`detect_anomalies` is what notebooks, reports, the Dash app and the CLI call.
Every series ``(provider, cluster, level, entity, metric)`` is scored record by
record (the first ``warmup`` rows only teach the detector), the alarm rule turns
scores into alert events, and each event becomes one row of
:data:`workbench.frames.FINDING_SCHEMA`. With ``multivariate=True`` every
entity's metrics are also scored jointly by :class:`ResidualIsolationForest`.
Series are processed in parallel through joblib (choose the dask backend with
``joblib.parallel_config(backend="dask")`` to run on a cluster).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone

from workbench.analysis.anomaly.alarms import AlarmRule, alarm_events
from workbench.analysis.anomaly.calibration import score_to_log_pvalue
from workbench.analysis.anomaly.detectors import StreamingEnsembleDetector
from workbench.analysis.anomaly.multivariate import ResidualIsolationForest
from workbench.errors import ParameterError
from workbench.frames import FINDING_SCHEMA, SERIES_KEYS, empty_findings, to_wide, validate

__all__ = ["detect_anomalies", "score_series"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Shapes searched by the default detector (one day of 1-minute samples; keeps fleets fast).
DEFAULT_HISTORY = 1440

#: Alert events with a peak score at or above this are "critical" (combined p <= 1e-3).
CRITICAL_SCORE = 0.75


def warmup_rows(n_rows: int, fraction: float = 0.15, cap: int = 750, minimum: int = 20) -> int:
    """Rows used to warm a detector up: ``fraction`` of the series, at most ``cap``.

    Examples
    --------
    >>> warmup_rows(1000), warmup_rows(100_000), warmup_rows(50)
    (150, 750, 20)
    """
    return int(min(max(math.floor(fraction * n_rows), minimum), cap, n_rows))


def score_series(
    values: FloatArray, detector: BaseEstimator | None = None, warmup: int | None = None
) -> FloatArray:
    """Anomaly score of every row of one series or one entity (rows in time order).

    The first ``warmup`` rows fit the detector and score 0; the rest are scored
    record by record against everything before them. Columns that only grew
    during the warm-up (offsets, cumulative totals) are scored on their
    row-to-row increments.

    Parameters
    ----------
    values : numpy.ndarray of shape (n,) or (n, d)
        The series (or an entity's metrics as columns).
    detector : estimator, optional
        A detector with ``fit`` and ``anomaly_score``; cloned before use.
        Defaults to ``StreamingEnsembleDetector(history=1440)``.
    warmup : int, optional
        Warm-up rows, by default :func:`warmup_rows`.

    Returns
    -------
    numpy.ndarray of shape (n,)

    Examples
    --------
    >>> x = np.r_[np.sin(np.arange(400) / 5), 6.0, np.sin(np.arange(400, 450) / 5)]
    >>> int(np.argmax(score_series(x)))
    400
    """
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[:, None] if arr.ndim == 1 else arr
    n = arr.shape[0]
    warm = warmup_rows(n) if warmup is None else warmup
    if warm < 1 or warm > n:
        raise ParameterError("warmup", allowed=f"an integer in [1, {n}]", received=warm)
    # Cumulative series (offsets, totals) always reach new highs: score their increments instead.
    head = np.diff(arr[:warm], axis=0)
    cumulative = (
        (head >= 0).all(axis=0) & (head > 0).any(axis=0) if warm > 2 else np.zeros(arr.shape[1], bool)
    )
    if cumulative.any():
        arr = arr.copy()
        arr[:, cumulative] = np.vstack((np.zeros((1, arr.shape[1])), np.diff(arr, axis=0)))[:, cumulative]
    model = clone(detector) if detector is not None else StreamingEnsembleDetector(history=DEFAULT_HISTORY)
    model.fit(arr[:warm])
    if warm == n:
        return np.zeros(n)
    return np.concatenate((np.zeros(warm), model.anomaly_score(arr[warm:])))


def _series_findings(
    keys: dict[str, Any],
    ts: pl.Series,
    values: FloatArray,
    detector: BaseEstimator | None,
    rule: AlarmRule,
    kind: str,
) -> list[dict[str, Any]]:
    scores = score_series(values, detector)
    events = alarm_events(scores, rule)
    univariate = values.ndim == 1 or values.shape[1] == 1
    flat = values if values.ndim == 1 else values[:, 0]
    out = []
    for first, last, peak, peak_score, hits in events.iter_rows():
        p_value = math.exp(score_to_log_pvalue(min(peak_score, 1 - 1e-12)))
        if univariate:
            past = flat[max(0, first - 288) : first]
            typical = float(np.median(past)) if past.size else float("nan")
            explanation = (
                f"{keys['metric']} reached {flat[peak]:.4g} at {ts[peak]:%Y-%m-%d %H:%M} UTC "
                f"(median of the previous {past.size} samples {typical:.4g}); "
                f"anomaly score {peak_score:.2f}, p ~ {p_value:.1e}, {hits} anomalous samples"
            )
        else:
            explanation = (
                f"joint behaviour of {keys['metric']} unusual from {ts[first]:%Y-%m-%d %H:%M} UTC; "
                f"anomaly score {peak_score:.2f}, p ~ {p_value:.1e}, {hits} anomalous samples"
            )
        out.append(
            {
                **keys,
                "start": ts[first],
                "end": ts[last],
                "kind": kind,
                "score": peak_score,
                "severity": "critical" if peak_score >= CRITICAL_SCORE else "warning",
                "explanation": explanation,
            }
        )
    return out


def detect_anomalies(
    frame: pl.DataFrame,
    *,
    detector: BaseEstimator | None = None,
    rule: AlarmRule | None = None,
    multivariate: bool = False,
    multivariate_detector: BaseEstimator | None = None,
    min_rows: int = 30,
    n_jobs: int = 1,
) -> pl.DataFrame:
    """Findings (:data:`~workbench.frames.FINDING_SCHEMA`) of a canonical frame.

    Parameters
    ----------
    frame : polars.DataFrame
        Canonical frame (validated here).
    detector : estimator, optional
        Univariate detector, cloned per series; by default
        ``StreamingEnsembleDetector(history=1440)``.
    rule : AlarmRule, optional
        Alarm rule turning scores into events; ``AlarmRule()`` by default.
    multivariate : bool, default False
        Also score each entity's metrics jointly (kind ``"multivariate_anomaly"``,
        ``metric`` = the metrics joined by ``+``).
    multivariate_detector : estimator, optional
        Defaults to ``ResidualIsolationForest(seasonal=False, random_state=0)``.
    min_rows : int, default 30
        Series with fewer rows are skipped (logged).
    n_jobs : int, default 1
        joblib workers over series.

    Returns
    -------
    polars.DataFrame
        One row per alert event, sorted by start.

    Examples
    --------
    >>> import datetime as dt
    >>> t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> v = 10 + np.r_[np.sin(np.arange(400) / 5), 8.0, np.sin(np.arange(401, 460) / 5)]
    >>> frame = pl.DataFrame({"ts": [t0 + dt.timedelta(minutes=i) for i in range(v.size)],
    ...     "provider": "kafka", "cluster": "c1", "level": "topic", "entity": "orders",
    ...     "metric": "messages_in_per_s", "value": v, "source": "doc"})
    >>> found = detect_anomalies(frame)
    >>> found.select("entity", "metric", "severity").rows()
    [('orders', 'messages_in_per_s', 'critical')]
    """
    if min_rows < 2:
        raise ParameterError("min_rows", allowed="an integer >= 2", received=min_rows)
    rule = rule or AlarmRule()
    data = validate(frame).sort([*SERIES_KEYS, "ts"])
    tasks = []
    for keys, part in data.group_by(list(SERIES_KEYS), maintain_order=True):
        if part.height < min_rows:
            logger.info("skipping series %s: %d rows < min_rows=%d", keys, part.height, min_rows)
            continue
        key_map = dict(zip(SERIES_KEYS, keys, strict=True))
        tasks.append((key_map, part["ts"], part["value"].to_numpy(), detector, rule, "anomaly"))
    if multivariate:
        tasks.extend(_entity_tasks(data, multivariate_detector, rule, min_rows))
    results = Parallel(n_jobs=n_jobs)(delayed(_series_findings)(*task) for task in tasks)
    rows = [row for chunk in results for row in chunk]
    if not rows:
        return empty_findings()
    return pl.DataFrame(rows).select([pl.col(c).cast(t) for c, t in FINDING_SCHEMA.items()]).sort("start")


def _entity_tasks(
    data: pl.DataFrame, detector: BaseEstimator | None, rule: AlarmRule, min_rows: int
) -> list[tuple[Any, ...]]:
    wide = to_wide(data)
    index = ["ts", "provider", "cluster", "level", "entity"]
    tasks = []
    model = detector if detector is not None else ResidualIsolationForest(seasonal=False, random_state=0)
    for keys, part in wide.group_by(index[1:], maintain_order=True):
        metrics = [c for c in part.columns if c not in index and part[c].null_count() < part.height]
        complete = part.select("ts", *metrics).drop_nulls()
        if len(metrics) < 2 or complete.height < min_rows:
            continue
        key_map = dict(zip(index[1:], keys, strict=True)) | {"metric": "+".join(metrics)}
        tasks.append(
            (
                key_map,
                complete["ts"],
                complete.select(metrics).to_numpy(),
                model,
                rule,
                "multivariate_anomaly",
            )
        )
    return tasks
