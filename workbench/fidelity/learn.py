"""Learn a simulation from real canonical frames: :class:`SimulationLearner`.

The learner is a scikit-learn estimator. ``fit`` takes a canonical frame (one model per
``provider, cluster, level, entity, metric`` series, learned in parallel with joblib) or
a 2-D array (one series per column, sampled every ``array_step_s`` seconds); ``sample``
generates synthetic series for the same entities as a canonical frame. Each series model
is a :class:`~workbench.fidelity.series_model.SeriesModel` (seasonal profile, level and
trend, copula-AR noise, burst and incident rates), stored in ``models_``.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> t = np.arange(2 * 288)
>>> X = (10 + 3 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 0.5, t.size)).reshape(-1, 1)
>>> learner = SimulationLearner(random_state=0).fit(X)
>>> frame = learner.sample(n_steps=288)
>>> frame.height, frame["entity"].unique().to_list()
(288, ['column_0'])
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Literal

import numpy as np
import polars as pl
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from workbench.errors import ParameterError, SchemaError
from workbench.fidelity.series_model import SeriesModel, fit_series_model, generate_series
from workbench.frames import CANONICAL_SCHEMA

__all__ = ["SERIES_KEYS", "SimulationLearner", "frame_series"]

logger = logging.getLogger(__name__)

#: Columns that identify one series in a canonical frame.
SERIES_KEYS = ("provider", "cluster", "level", "entity", "metric")
_REQUIRED = ("ts", *SERIES_KEYS, "value")


def frame_series(frame: pl.DataFrame | pl.LazyFrame) -> list[tuple[dict[str, str], np.ndarray, np.ndarray]]:
    """Split a canonical frame into ``(key, epoch seconds, values)`` per series.

    Raises
    ------
    SchemaError
        If a canonical column is missing or a value is not finite.

    Examples
    --------
    >>> import datetime as dt
    >>> f = pl.DataFrame({"ts": [dt.datetime(2024, 1, 1, tzinfo=dt.UTC)] * 2, "provider": "sqs",
    ...     "cluster": "c", "level": "queue", "entity": ["a", "b"], "metric": "m", "value": [1.0, 2.0]})
    >>> [(k["entity"], v.tolist()) for k, _, v in frame_series(f)]
    [('a', [1.0]), ('b', [2.0])]
    """
    df = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise SchemaError(missing[0], f"a canonical frame needs the columns {list(_REQUIRED)}")
    df = df.select(
        pl.col("ts").dt.epoch("ms").cast(pl.Float64).truediv(1000.0).alias("t"),
        *(pl.col(k).cast(pl.String) for k in SERIES_KEYS),
        pl.col("value").cast(pl.Float64),
    )
    bad = df.filter(~pl.col("value").is_finite())
    if bad.height:
        raise SchemaError(
            "value", "values must be finite (quarantine the frame first)", bad.head(3).to_dicts()
        )
    grouped = (
        df.group_by(SERIES_KEYS, maintain_order=True).agg(pl.col("t"), pl.col("value")).sort(SERIES_KEYS)
    )
    return [
        (
            {k: row[k] for k in SERIES_KEYS},
            np.asarray(row["t"], dtype=float),
            np.asarray(row["value"], dtype=float),
        )
        for row in grouped.iter_rows(named=True)
    ]


class SimulationLearner(BaseEstimator):  # type: ignore[misc]
    """Learn seasonal profiles, level/trend, noise, autocorrelation and bursts per series.

    Parameters
    ----------
    seasonality : {"auto", "none", "daily", "weekly"}
        Seasonal profile to learn (``auto``: weekly with two weeks of data, else daily).
    value_transform : {"auto", "identity", "log1p"}
        Space of the additive model (``auto``: ``log1p`` for skewed non-negative series).
        (Not called ``transform``: scikit-learn would take the estimator for a transformer.)
    trend : bool
        Learn (and extrapolate) a linear trend.
    ar_max_lag : int
        Largest AR order of the residual's normal scores (chosen by AIC).
    burst_threshold : float
        Robust z-score beyond which residuals are bursts or incidents.
    incident_min_steps : int
        Runs at least this long are incidents, shorter ones bursts.
    level_window_days : float or None
        Learn the level from the last days only (None: the whole series).
    array_step_s : float
        Sampling step assumed for array input (seconds).
    n_jobs : int or None
        joblib parallelism over series (None: one process; a Dask backend works too).
    random_state : int or None
        Seed for :meth:`sample` when none is given there.

    Attributes
    ----------
    models_ : dict of tuple to SeriesModel
        One learned model per series key ``(provider, cluster, level, entity, metric)``.
    series_ : polars.DataFrame
        The series keys with their step, first and last time and sample count.
    n_features_in_ : int
        Number of columns of array input (set only when fitted on an array).
    """

    def __init__(
        self,
        seasonality: Literal["auto", "none", "daily", "weekly"] = "auto",
        value_transform: Literal["auto", "identity", "log1p"] = "auto",
        trend: bool = True,
        ar_max_lag: int = 48,
        burst_threshold: float = 5.0,
        incident_min_steps: int = 6,
        level_window_days: float | None = None,
        array_step_s: float = 300.0,
        n_jobs: int | None = None,
        random_state: int | None = None,
    ) -> None:
        self.seasonality = seasonality
        self.value_transform = value_transform
        self.trend = trend
        self.ar_max_lag = ar_max_lag
        self.burst_threshold = burst_threshold
        self.incident_min_steps = incident_min_steps
        self.level_window_days = level_window_days
        self.array_step_s = array_step_s
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _check_params(self) -> None:
        if self.seasonality not in ("auto", "none", "daily", "weekly"):
            raise ParameterError(
                "seasonality", allowed="'auto', 'none', 'daily' or 'weekly'", received=self.seasonality
            )
        if self.value_transform not in ("auto", "identity", "log1p"):
            raise ParameterError(
                "value_transform", allowed="'auto', 'identity' or 'log1p'", received=self.value_transform
            )
        if not isinstance(self.ar_max_lag, int | np.integer) or self.ar_max_lag < 1:
            raise ParameterError("ar_max_lag", allowed="an integer >= 1", received=self.ar_max_lag)
        if not self.burst_threshold > 0:
            raise ParameterError(
                "burst_threshold", allowed="a positive number", received=self.burst_threshold
            )
        if not self.array_step_s > 0:
            raise ParameterError(
                "array_step_s", allowed="a positive number of seconds", received=self.array_step_s
            )

    def fit(self, X: Any, y: Any = None) -> SimulationLearner:
        """Learn one model per series of ``X`` (canonical frame or 2-D array); returns self."""
        self._check_params()
        if isinstance(X, pl.DataFrame | pl.LazyFrame):
            series = frame_series(X)
            if not series:
                raise SchemaError("value", "the frame has no rows to learn from")
        else:
            arr = validate_data(self, X, ensure_min_samples=4, dtype=np.float64)
            t = np.arange(arr.shape[0], dtype=float) * float(self.array_step_s)
            series = [
                (
                    {
                        "provider": "sqs",
                        "cluster": "array",
                        "level": "queue",
                        "entity": f"column_{j}",
                        "metric": "external_value",
                    },
                    t,
                    arr[:, j],
                )
                for j in range(arr.shape[1])
            ]
        options = {
            "seasonality": self.seasonality,
            "transform": self.value_transform,
            "trend": bool(self.trend),
            "ar_max_lag": int(self.ar_max_lag),
            "burst_threshold": float(self.burst_threshold),
            "incident_min_steps": int(self.incident_min_steps),
            "level_window_days": self.level_window_days,
        }
        fitted = Parallel(n_jobs=self.n_jobs)(
            delayed(fit_series_model)(ts, values, **options) for _, ts, values in series
        )
        self.models_: dict[tuple[str, ...], SeriesModel] = {
            tuple(key[k] for k in SERIES_KEYS): model
            for (key, _, _), model in zip(series, fitted, strict=True)
        }
        self.series_ = pl.DataFrame(
            [
                {
                    **key,
                    "step_s": m.step_s,
                    "first_s": float(ts.min()),
                    "last_s": float(ts.max()),
                    "n": int(ts.size),
                }
                for (key, ts, _), m in zip(series, fitted, strict=True)
            ]
        )
        logger.info("learned %d series", len(self.models_))
        return self

    def sample(
        self,
        start: dt.datetime | None = None,
        *,
        n_steps: int | None = None,
        end: dt.datetime | None = None,
        random_state: int | None = None,
        source: str | None = None,
    ) -> pl.DataFrame:
        """Generate synthetic series for every learned series, as a canonical frame.

        Parameters
        ----------
        start : datetime, optional
            First sample time (UTC); default one step after each series' last real sample.
        n_steps : int, optional
            Samples per series; default as many as were learned from.
        end : datetime, optional
            Alternative to ``n_steps``: last sample time (inclusive).
        random_state : int, optional
            Seed (default: the estimator's ``random_state``).
        source : str, optional
            Provenance column; default ``sim:learned:<seed>``.
        """
        check_is_fitted(self, "models_")
        seed = self.random_state if random_state is None else random_state
        rng = np.random.default_rng(seed)
        frames = []
        for row, (key, model) in zip(self.series_.iter_rows(named=True), self.models_.items(), strict=True):
            step = model.step_s
            first = start.timestamp() if start is not None else row["last_s"] + step
            if end is not None:
                count = int(np.floor((end.timestamp() - first) / step)) + 1
            else:
                count = int(n_steps if n_steps is not None else row["n"])
            if count < 1:
                raise ParameterError(
                    "n_steps", allowed="at least one sample (end after start)", received=count
                )
            ts = np.asarray(first + step * np.arange(count), dtype=np.float64)
            values = generate_series(model, ts, rng, trend=bool(self.trend))
            frames.append(
                pl.DataFrame(
                    {
                        "ts": (ts * 1000).astype(np.int64),
                        **{k: [v] * count for k, v in zip(SERIES_KEYS, key, strict=True)},
                        "value": values,
                    }
                )
            )
        out = pl.concat(frames).with_columns(
            pl.col("ts").cast(pl.Datetime("ms", "UTC")),
            pl.lit(source or f"sim:learned:{seed}").alias("source"),
        )
        return out.select("ts", *SERIES_KEYS, "value", "source").cast(CANONICAL_SCHEMA)  # type: ignore[arg-type]
