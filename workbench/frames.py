"""The canonical long frame: schema, validation, quarantine, wide/long views.

Every room passes metrics as one long, tidy Polars frame (see ``DESIGN.md``)::

    ts        Datetime("ms", "UTC")   sample time
    provider  Enum(kafka, rabbitmq, sqs)
    cluster   String
    level     Enum(cluster, broker, node, topic, partition, queue, consumer_group)
    entity    String                  stable id within cluster and level
    metric    String                  a canonical catalogue name
    value     Float64                 in the catalogue unit
    source    String                  sim:<scenario>:<seed>, prometheus:<name>, file:<name>

Entity ids: ``orders`` (topic), ``orders/3`` (partition), ``billing/orders`` (consumer
group on a topic), ``billing/orders/3`` (a group's committed offset or lag on one
partition), ``orders`` or ``<vhost>/orders`` (RabbitMQ queue; vhost ``/`` is left out),
``broker-2`` / ``rabbit@node-1`` (broker / node), the cluster name at cluster level.

:func:`quarantine` splits any frame into rows kept (cast to the schema) and rows
quarantined (kept verbatim as text, with a ``reason``); rows in = kept + quarantined.
:func:`validate` returns the cast frame or raises :class:`~workbench.errors.SchemaError`.

Examples
--------
>>> import polars as pl
>>> from workbench.frames import quarantine
>>> raw = pl.DataFrame({
...     "ts": ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"],
...     "provider": ["kafka", "kafka"], "cluster": ["c1", "c1"], "level": ["topic", "topic"],
...     "entity": ["orders", "orders"], "metric": ["messages_in_per_s", "messages_in_per_s"],
...     "value": [12.5, float("nan")], "source": ["file:x", "file:x"]})
>>> split = quarantine(raw)
>>> (split.kept.height, split.quarantined.height, split.quarantined["reason"][0])
(1, 1, 'value is NaN')
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from workbench.catalog import metrics
from workbench.errors import ParameterError, SchemaError

__all__ = [
    "CANONICAL_COLUMNS",
    "CANONICAL_SCHEMA",
    "FINDING_SCHEMA",
    "INCIDENT_SCHEMA",
    "KEY_COLUMNS",
    "LEVELS",
    "PROVIDERS",
    "QUARANTINE_SCHEMA",
    "SERIES_KEYS",
    "SEVERITIES",
    "Split",
    "empty_canonical",
    "empty_findings",
    "empty_incidents",
    "quarantine",
    "read_frame_file",
    "to_long",
    "to_wide",
    "validate",
]

PROVIDERS: tuple[str, ...] = ("kafka", "rabbitmq", "sqs")
LEVELS: tuple[str, ...] = (
    "cluster",
    "broker",
    "node",
    "topic",
    "partition",
    "queue",
    "consumer_group",
)
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")

TS_DTYPE = pl.Datetime("ms", "UTC")
CANONICAL_SCHEMA: dict[str, pl.DataType] = {
    "ts": TS_DTYPE,
    "provider": pl.Enum(PROVIDERS),
    "cluster": pl.String(),
    "level": pl.Enum(LEVELS),
    "entity": pl.String(),
    "metric": pl.String(),
    "value": pl.Float64(),
    "source": pl.String(),
}
CANONICAL_COLUMNS: tuple[str, ...] = tuple(CANONICAL_SCHEMA)
#: Columns that identify one series (``source`` is provenance, not identity).
SERIES_KEYS: tuple[str, ...] = ("provider", "cluster", "level", "entity", "metric")
KEY_COLUMNS: tuple[str, ...] = ("ts", *SERIES_KEYS, "source")

#: Quarantined rows keep every original value as text, so nothing is lost in a cast.
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    **{c: pl.String() for c in CANONICAL_COLUMNS},
    "reason": pl.String(),
}

INCIDENT_SCHEMA: dict[str, pl.DataType] = {
    "start": TS_DTYPE,
    "end": TS_DTYPE,
    "kind": pl.String(),
    "severity": pl.Enum(SEVERITIES),
    "provider": pl.Enum(PROVIDERS),
    "cluster": pl.String(),
    "entities": pl.List(pl.String()),
    "metrics": pl.List(pl.String()),
    "description": pl.String(),
}

FINDING_SCHEMA: dict[str, pl.DataType] = {
    "start": TS_DTYPE,
    "end": TS_DTYPE,
    "provider": pl.Enum(PROVIDERS),
    "cluster": pl.String(),
    "level": pl.Enum(LEVELS),
    "entity": pl.String(),
    "metric": pl.String(),
    "kind": pl.String(),
    "score": pl.Float64(),
    "severity": pl.Enum(SEVERITIES),
    "explanation": pl.String(),
}

#: Timestamps before this are treated as broken clocks or unit mistakes (e.g. seconds read as ms).
DEFAULT_TS_MIN = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
#: How far into the future a sample may lie before it counts as a broken clock.
DEFAULT_FUTURE_TOLERANCE = dt.timedelta(days=1)

# Metrics whose values may legitimately be negative (none of the queue metrics may).
_SIGNED_METRICS = frozenset({"external_value"})


@dataclass(frozen=True)
class Split:
    """Result of :func:`quarantine`.

    Attributes
    ----------
    kept : pl.DataFrame
        Valid rows, cast to :data:`CANONICAL_SCHEMA`, in input order.
    quarantined : pl.DataFrame
        Rejected rows as text (:data:`QUARANTINE_SCHEMA`) with the first rule each broke.
    rows_in : int
        Rows received; always ``kept.height + quarantined.height``.
    """

    kept: pl.DataFrame
    quarantined: pl.DataFrame
    rows_in: int

    def summary(self) -> pl.DataFrame:
        """Count quarantined rows per reason, most frequent first."""
        return (
            self.quarantined.group_by("reason")
            .agg(pl.len().alias("rows"))
            .sort(["rows", "reason"], descending=[True, False])
        )


def empty_canonical() -> pl.DataFrame:
    """Return an empty canonical frame."""
    return pl.DataFrame(schema=CANONICAL_SCHEMA)


def empty_incidents() -> pl.DataFrame:
    """Return an empty incidents frame."""
    return pl.DataFrame(schema=INCIDENT_SCHEMA)


def empty_findings() -> pl.DataFrame:
    """Return an empty findings frame."""
    return pl.DataFrame(schema=FINDING_SCHEMA)


def _check_columns(df: pl.DataFrame) -> None:
    missing = [c for c in CANONICAL_COLUMNS if c not in df.columns]
    if missing:
        raise SchemaError(
            missing[0],
            f"required column missing (missing: {missing}; a canonical frame has {list(CANONICAL_COLUMNS)})",
        )
    extra = [c for c in df.columns if c not in CANONICAL_SCHEMA]
    if extra:
        raise SchemaError(
            extra[0],
            f"unexpected column (extra: {extra}); map it into entity/metric or drop it before loading",
        )


def _ts_expr(dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr | None]:
    """Return (ts cast to UTC ms, expr flagging naive timestamps or None)."""
    col = pl.col("ts")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            # A naive timestamp could be in any zone: refuse to guess.
            return col.cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"), pl.lit(True)
        return col.dt.convert_time_zone("UTC").cast(TS_DTYPE), None
    if dtype == pl.String:
        aware = pl.coalesce(
            col.str.to_datetime(format=f, strict=False, time_unit="ms", time_zone="UTC")
            for f in ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
        )
        naive = pl.coalesce(
            col.str.to_datetime(format=f, strict=False, time_unit="ms", time_zone="UTC")
            for f in ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f")
        )
        # Text without an offset could be in any zone: parse it, but flag it as naive.
        return pl.coalesce(aware, naive), aware.is_null() & naive.is_not_null()
    if dtype.is_integer():
        # Integers are epoch milliseconds (the unit of the schema).
        return col.cast(pl.Int64).cast(TS_DTYPE), None
    if dtype.is_float():
        return col.cast(pl.Int64, strict=False).cast(TS_DTYPE), None
    if dtype == pl.Null:
        return pl.lit(None, dtype=TS_DTYPE), None
    raise SchemaError(
        "ts", f"dtype {dtype} cannot be a timestamp (use Datetime with a time zone, ISO text, or epoch ms)"
    )


def quarantine(
    df: pl.DataFrame,
    *,
    now: dt.datetime | None = None,
    ts_min: dt.datetime = DEFAULT_TS_MIN,
    future_tolerance: dt.timedelta = DEFAULT_FUTURE_TOLERANCE,
    known_metrics: frozenset[str] | None = None,
) -> Split:
    """Split a frame into valid canonical rows and quarantined rows with a reason.

    Rules, in the order a row is tested (the first broken rule is its reason): a key
    column is null or not castable; the provider or level is not an allowed value;
    the metric is not in the catalogue, or not defined at that level; the value is
    null, NaN, infinite, or negative; the timestamp is naive (no time zone) or out of
    range; the row repeats an earlier ``(series, ts)``.

    Parameters
    ----------
    df : pl.DataFrame
        A frame with exactly the canonical columns, in any castable dtypes.
    now : datetime, optional
        Reference for "in the future" (default: the current UTC time).
    ts_min : datetime
        Earliest plausible timestamp.
    future_tolerance : timedelta
        How far past ``now`` a timestamp may be.
    known_metrics : frozenset of str, optional
        Allowed metric names (default: the canonical catalogue).

    Returns
    -------
    Split
        ``kept`` + ``quarantined``; their heights sum to ``df.height``.

    Raises
    ------
    SchemaError
        If a column is missing or extra, or a column's dtype cannot be cast at all.
    """
    if not isinstance(df, pl.DataFrame):
        raise ParameterError("df", allowed="a polars DataFrame", received=type(df).__name__)
    _check_columns(df)
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None or ts_min.tzinfo is None:
        raise ParameterError("now/ts_min", allowed="time-zone aware datetimes", received=(now, ts_min))
    catalogue = metrics()
    allowed = known_metrics if known_metrics is not None else frozenset(catalogue)
    ts_cast, naive_flag = _ts_expr(df.schema["ts"])

    text = {c: pl.col(c).cast(pl.String) for c in CANONICAL_COLUMNS if c != "ts"}
    value_num = pl.col("value").cast(pl.Float64, strict=False)
    level_map = pl.DataFrame(
        {
            "metric": [m for m in catalogue for _ in catalogue[m].levels],
            "level": [lv for m in catalogue for lv in catalogue[m].levels],
            "_level_ok": [True for m in catalogue for _ in catalogue[m].levels],
        }
    )
    signed = pl.col("metric").cast(pl.String).is_in(list(_SIGNED_METRICS))

    work = df.with_row_index("_row").with_columns(
        _ts=ts_cast,
        _naive=naive_flag if naive_flag is not None else pl.lit(False),
        _value=value_num,
        _provider=text["provider"],
        _level=text["level"],
        _metric=text["metric"],
    )
    work = work.join(
        level_map.rename({"metric": "_metric", "level": "_level"}),
        on=["_metric", "_level"],
        how="left",
        maintain_order="left",
    )
    upper = now + future_tolerance
    reason: Any = pl.when(pl.col("ts").is_null()).then(pl.lit("ts is null"))
    reason = reason.when(pl.col("_ts").is_null()).then(pl.lit("ts is not a timestamp"))
    for c in ("provider", "cluster", "level", "entity", "metric", "source"):
        reason = reason.when(pl.col(c).is_null() | (text[c] == "")).then(pl.lit(f"{c} is null or empty"))
    reason = (
        reason.when(~pl.col("_provider").is_in(list(PROVIDERS)))
        .then(pl.format("provider {} not one of {}", pl.col("_provider"), pl.lit(", ".join(PROVIDERS))))
        .when(~pl.col("_level").is_in(list(LEVELS)))
        .then(pl.format("level {} not one of {}", pl.col("_level"), pl.lit(", ".join(LEVELS))))
        .when(~pl.col("_metric").is_in(sorted(allowed)))
        .then(pl.format("unknown metric {}", pl.col("_metric")))
        .when(pl.col("_level_ok").is_null() & pl.col("_metric").is_in(list(catalogue)))
        .then(pl.format("metric {} is not defined at level {}", pl.col("_metric"), pl.col("_level")))
        .when(pl.col("value").is_null())
        .then(pl.lit("value is null"))
        .when(pl.col("_value").is_null())
        .then(pl.lit("value is not a number"))
        .when(pl.col("_value").is_nan())
        .then(pl.lit("value is NaN"))
        .when(pl.col("_value").is_infinite())
        .then(pl.lit("value is infinite"))
        .when((pl.col("_value") < 0) & ~signed)
        .then(pl.lit("value is negative"))
        .when(pl.col("_naive"))
        .then(pl.lit("ts is naive (no time zone)"))
        .when(pl.col("_ts") < pl.lit(ts_min).cast(TS_DTYPE))
        .then(pl.lit(f"ts before {ts_min:%Y-%m-%d}"))
        .when(pl.col("_ts") > pl.lit(upper).cast(TS_DTYPE))
        .then(pl.lit("ts in the future"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    work = work.with_columns(_reason=reason)
    # Duplicates are judged among rows that pass every other rule: the first one wins.
    dup_keys = ["_ts", "_provider", "cluster", "_level", "entity", "_metric"]
    is_dup = (
        pl.when(pl.col("_reason").is_null())
        .then(~pl.struct(dup_keys).is_first_distinct().over(pl.col("_reason").is_null()))
        .otherwise(pl.lit(False))
    )
    work = work.with_columns(
        _reason=pl.when(is_dup).then(pl.lit("duplicate (series, ts)")).otherwise(pl.col("_reason"))
    )
    good = work.filter(pl.col("_reason").is_null())
    kept = good.select(
        pl.col("_ts").alias("ts"),
        pl.col("_provider").cast(CANONICAL_SCHEMA["provider"]).alias("provider"),
        pl.col("cluster").cast(pl.String),
        pl.col("_level").cast(CANONICAL_SCHEMA["level"]).alias("level"),
        pl.col("entity").cast(pl.String),
        pl.col("_metric").alias("metric"),
        pl.col("_value").alias("value"),
        pl.col("source").cast(pl.String),
    )
    bad = work.filter(pl.col("_reason").is_not_null())
    ts_dtype = df.schema["ts"]
    if isinstance(ts_dtype, pl.Datetime):
        fmt = "%Y-%m-%dT%H:%M:%S%.3f" + ("%z" if ts_dtype.time_zone else "")
        ts_text = pl.col("ts").dt.to_string(fmt)
    else:
        ts_text = pl.col("ts").cast(pl.String)
    quarantined = bad.select(
        pl.col("_row").cast(pl.Int64).alias("row"),
        ts_text.alias("ts"),
        *[text[c].alias(c) for c in CANONICAL_COLUMNS if c != "ts"],
        pl.col("_reason").alias("reason"),
    )
    return Split(kept=kept, quarantined=quarantined, rows_in=df.height)


def validate(df: pl.DataFrame, **kwargs: Any) -> pl.DataFrame:
    """Return ``df`` cast to the canonical schema, or raise on the first broken rule.

    Parameters
    ----------
    df : pl.DataFrame
        A candidate canonical frame.
    **kwargs
        Passed to :func:`quarantine` (``now``, ``ts_min``, ...).

    Raises
    ------
    SchemaError
        Naming the column, the rule and up to three offending rows.

    Examples
    --------
    >>> import polars as pl
    >>> from workbench.frames import validate
    >>> bad = pl.DataFrame({"ts": [0], "provider": ["kafka"], "cluster": ["c"], "level": ["topic"],
    ...     "entity": ["t"], "metric": ["no_such_metric"], "value": [1.0], "source": ["x"]})
    >>> validate(bad)
    Traceback (most recent call last):
    ...
    workbench.errors.SchemaError: column 'metric': unknown metric no_such_metric ...
    """
    split = quarantine(df, **kwargs)
    if split.quarantined.height == 0:
        return split.kept
    first_reason = split.quarantined["reason"][0]
    column = _column_of_reason(first_reason)
    rows = split.quarantined.filter(pl.col("reason") == first_reason).head(3).to_dicts()
    total = split.quarantined.height
    raise SchemaError(column, f"{first_reason} ({total} of {split.rows_in} rows break a rule)", rows)


def _column_of_reason(reason: str) -> str:
    for prefix, column in (
        ("ts", "ts"),
        ("value", "value"),
        ("unknown metric", "metric"),
        ("metric", "level"),
        ("duplicate", "ts"),
    ):
        if reason.startswith(prefix):
            return column
    return reason.split(" ", 1)[0]


def to_wide(df: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Pivot a long canonical frame to one column per metric, one row per entity and time.

    Examples
    --------
    >>> import polars as pl, datetime as dt
    >>> from workbench.frames import to_wide, CANONICAL_SCHEMA
    >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> long = pl.DataFrame({"ts": [t, t], "provider": ["kafka"] * 2, "cluster": ["c"] * 2,
    ...     "level": ["topic"] * 2, "entity": ["o"] * 2,
    ...     "metric": ["messages_in_per_s", "messages_out_per_s"], "value": [5.0, 4.0],
    ...     "source": ["x"] * 2}, schema=CANONICAL_SCHEMA)
    >>> to_wide(long).columns
    ['ts', 'provider', 'cluster', 'level', 'entity', 'messages_in_per_s', 'messages_out_per_s']
    """
    frame = df.collect() if isinstance(df, pl.LazyFrame) else df
    index = ["ts", "provider", "cluster", "level", "entity"]
    wide = frame.pivot(on="metric", index=index, values="value", aggregate_function="last")
    metric_cols = sorted(c for c in wide.columns if c not in index)
    return wide.select(*index, *metric_cols).sort([*index[1:], "ts"])


def to_long(wide: pl.DataFrame, *, source: str) -> pl.DataFrame:
    """Unpivot a wide frame (see :func:`to_wide`) back to the canonical long frame."""
    index = ["ts", "provider", "cluster", "level", "entity"]
    missing = [c for c in index if c not in wide.columns]
    if missing:
        raise SchemaError(missing[0], f"wide frame needs index columns {index}")
    long = wide.unpivot(index=index, variable_name="metric", value_name="value").drop_nulls("value")
    return long.with_columns(pl.lit(source).alias("source")).select(
        [pl.col(c).cast(t) for c, t in CANONICAL_SCHEMA.items()]
    )


def read_frame_file(path: str | Path) -> pl.DataFrame:
    """Read a canonical frame from Parquet or CSV, without casting (quarantine casts).

    Raises
    ------
    SourceError
        If the file is missing or unreadable, or its suffix is not ``.parquet``/``.csv``.
    """
    from workbench.errors import SourceError

    path = Path(path)
    if not path.exists():
        raise SourceError(f"file not found: {path}")
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        if path.suffix in {".csv", ".txt"}:
            # Read as text: quarantine() casts and names every row that does not fit.
            return pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as err:
        raise SourceError(f"cannot read {path}: {err}") from err
    raise SourceError(f"{path}: unsupported file type {path.suffix!r}; expected .parquet or .csv")
