"""File sources: exposition/OpenMetrics, CSV, Parquet and NAB-format CSV → canonical frames.

:func:`read_metrics_file` looks at a file and picks the reader:

* ``.prom`` / ``.om`` / ``.openmetrics`` / ``.txt`` (or text starting with ``# HELP`` /
  ``# TYPE``): Prometheus exposition or OpenMetrics, parsed by
  :mod:`workbench.sources.exposition`, then mapped by the exporter tables;
* ``.csv`` / ``.parquet`` with the canonical columns: checked and quarantined as they are;
* ``.csv`` / ``.parquet`` with ``ts`` (or ``timestamp``), ``name``, ``value`` and label
  columns: exporter-native long samples, mapped by the exporter tables;
* ``.csv`` with exactly ``timestamp,value`` (the Numenta Anomaly Benchmark format):
  one series, stored as ``external_value`` (NAB timestamps carry no zone; they are UTC).

Every reader returns a :class:`~workbench.mapping.normalize.MappingResult`, so kept,
quarantined, ignored and unknown rows are reported the same way for every file type.

Examples
--------
>>> from workbench.config import settings
>>> from workbench.sources.files import read_metrics_file
>>> path = settings().real_data_dir / "nab/data/realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv"
>>> r = read_metrics_file(path)
>>> (r.frame["metric"][0], r.frame["entity"][0], r.frame.height == r.counts["samples_in"])
('external_value', 'realAWSCloudwatch/ec2_cpu_utilization_24ae8d', True)
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import polars as pl

from workbench.errors import ParameterError, SchemaError, SourceError
from workbench.frames import CANONICAL_COLUMNS, LEVELS, PROVIDERS, quarantine
from workbench.mapping.normalize import MappingResult, map_samples
from workbench.mapping.samples import NAME, TS_DTYPE, SampleSet, empty_rejected
from workbench.sources.exposition import read_exposition

__all__ = ["ingest_file", "read_canonical_file", "read_metrics_file", "read_nab_csv", "read_samples_file"]

logger = logging.getLogger(__name__)

_EXPOSITION_SUFFIXES = {".prom", ".om", ".openmetrics", ".txt", ".metrics"}
_STATUS = {"name": pl.String(), "series": pl.UInt32(), "samples": pl.UInt32(), "reason": pl.String()}


def _empty_status() -> pl.DataFrame:
    return pl.DataFrame(schema=_STATUS)


def _result_from_split(
    frame: pl.DataFrame, source: str, rejected: pl.DataFrame | None = None
) -> MappingResult:
    split = quarantine(frame)
    rejected = rejected if rejected is not None else empty_rejected()
    return MappingResult(
        frame=split.kept,
        quarantined=split.quarantined.with_columns(pl.col("row").cast(pl.Int64)),
        unknown=_empty_status(),
        ignored=_empty_status(),
        rejected=rejected,
        exporters=[],
        counts={
            "samples_in": split.rows_in,
            "samples_mapped": split.rows_in,
            "samples_ignored": 0,
            "samples_unknown": 0,
            "rate_warmup": 0,
            "rows_out": split.kept.height,
            "rows_quarantined": split.quarantined.height,
            "lines_rejected": rejected.height,
        },
    )


def _read_table(path: Path) -> pl.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        # Text only: casting is done by the quarantine, which names every row that does not fit.
        return pl.read_csv(path, infer_schema=False, truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as err:
        raise SourceError(f"cannot read {path}: {err}") from err


def read_canonical_file(path: Path | str, *, source: str | None = None) -> MappingResult:
    """Read a canonical frame (CSV or Parquet) and quarantine what breaks the schema.

    ``source`` overrides the file's ``source`` column when given.
    """
    file = Path(path)
    frame = _read_table(file)
    missing = [c for c in CANONICAL_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(missing[0], f"{file}: canonical file lacks columns {missing}")
    frame = frame.select(CANONICAL_COLUMNS)
    if source is not None:
        frame = frame.with_columns(pl.lit(source).alias("source"))
    return _result_from_split(frame, source or f"file:{file.name}")


def read_nab_csv(
    path: Path | str,
    *,
    provider: str = "sqs",
    cluster: str = "nab",
    level: str = "queue",
    entity: str | None = None,
    source: str | None = None,
) -> MappingResult:
    """Read a NAB-format CSV (``timestamp,value``) as one ``external_value`` series.

    Parameters
    ----------
    path : Path or str
        The CSV file.
    provider, cluster, level : str
        Where the series sits in the canonical model (NAB data is not a queue metric;
        the value keeps its own unit as ``external_value``).
    entity : str, optional
        Entity id; default ``<parent folder>/<file stem>`` (e.g. ``realTraffic/speed_t4013``).
    source : str, optional
        Provenance; default ``file:nab/<entity>``.
    """
    if provider not in PROVIDERS:
        raise ParameterError("provider", allowed=f"one of {PROVIDERS}", received=provider)
    if level not in LEVELS:
        raise ParameterError("level", allowed=f"one of {LEVELS}", received=level)
    file = Path(path)
    frame = _read_table(file)
    if set(frame.columns) != {"timestamp", "value"}:
        raise SchemaError(
            frame.columns[0] if frame.columns else "timestamp",
            f"{file}: a NAB file has exactly the columns timestamp,value; found {frame.columns}",
        )
    name = entity or f"{file.parent.name}/{file.stem}"
    src = source or f"file:nab/{name}"
    # NAB writes "2014-02-14 14:30:00" without a zone; the corpus is in UTC.
    ts = pl.coalesce(
        pl.col("timestamp").str.to_datetime(f, strict=False, time_unit="ms", time_zone="UTC")
        for f in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S")
    )
    canonical = frame.select(
        pl.when(ts.is_null())
        .then(pl.col("timestamp"))
        .otherwise(ts.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
        .alias("ts"),
        pl.lit(provider).alias("provider"),
        pl.lit(cluster).alias("cluster"),
        pl.lit(level).alias("level"),
        pl.lit(name).alias("entity"),
        pl.lit("external_value").alias("metric"),
        pl.col("value"),
        pl.lit(src).alias("source"),
    )
    return _result_from_split(canonical, src)


def read_samples_file(path: Path | str, *, source: str | None = None) -> SampleSet:
    """Read exporter-native long samples (``ts``/``timestamp``, ``name``, ``value``, labels...).

    Timestamps may be ISO text with a zone, or epoch milliseconds. Rows whose time or
    value does not parse are rejected with a reason, not dropped.
    """
    file = Path(path)
    frame = _read_table(file)
    ts_col = "ts" if "ts" in frame.columns else "timestamp" if "timestamp" in frame.columns else None
    if ts_col is None or "name" not in frame.columns or "value" not in frame.columns:
        raise SchemaError(
            "name",
            f"{file}: exporter samples need columns ts (or timestamp), name, value; found {frame.columns}",
        )
    labels = [c for c in frame.columns if c not in (ts_col, "name", "value")]
    text = frame.with_columns(pl.all().cast(pl.String)).with_row_index("_row")
    parsed_ts = pl.coalesce(
        pl.col(ts_col).str.to_datetime(f, strict=False, time_unit="ms", time_zone="UTC")
        for f in ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
    )
    epoch = pl.col(ts_col).cast(pl.Int64, strict=False).cast(TS_DTYPE)
    text = text.with_columns(
        pl.coalesce(parsed_ts, epoch).alias("_ts"),
        pl.col("value").cast(pl.Float64, strict=False).alias("_value"),
    )
    bad = text.filter(pl.col("_ts").is_null() | pl.col("name").is_null() | (pl.col("name") == ""))
    rejected = bad.select(
        pl.format("row {}", pl.col("_row") + 2).alias("location"),  # +1 header, +1 one-based
        pl.concat_str([pl.col(c).fill_null("") for c in frame.columns], separator=",").alias("text"),
        pl.when(pl.col("name").is_null() | (pl.col("name") == ""))
        .then(pl.lit("name is empty"))
        .otherwise(pl.format("{} is not a timestamp with a zone or epoch ms", pl.col(ts_col)))
        .alias("reason"),
    )
    good = text.filter(pl.col("_ts").is_not_null() & pl.col("name").is_not_null() & (pl.col("name") != ""))
    keys = ["name", *labels]
    ids = (
        good.select(keys)
        .unique(maintain_order=True)
        .with_row_index("series_id")
        .with_columns(pl.col("series_id").cast(pl.UInt32))
    )
    points = good.join(ids, on=keys, how="left", nulls_equal=True).select(
        "series_id", pl.col("_ts").alias("ts"), pl.col("_value").alias("value")
    )
    series = ids.select("series_id", pl.col("name").alias(NAME), *labels)
    return SampleSet(series=series, points=points, source=source or f"file:{file.name}", rejected=rejected)


def _looks_like_exposition(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(512).lstrip()
    except OSError as err:
        raise SourceError(f"cannot read {path}: {err}") from err
    return head.startswith((b"# HELP", b"# TYPE", b"# UNIT"))


def read_metrics_file(
    path: Path | str,
    *,
    provider: str | None = None,
    cluster: str | None = None,
    timestamp: dt.datetime | None = None,
    period_s: float | None = None,
    source: str | None = None,
    **nab_options: Any,
) -> MappingResult:
    """Read any supported metrics file and map it to canonical rows (see the module doc).

    Parameters
    ----------
    path : Path or str
        The file.
    provider : str, optional
        Exporter tables of this provider only (exposition / exporter samples), or the
        provider of a NAB series.
    cluster : str, optional
        Cluster name when the data names none.
    timestamp : datetime, optional
        Scrape time of exposition samples without one (default: file modification time).
    period_s : float, optional
        Period of YACE per-period values.
    source : str, optional
        Provenance (default ``file:<name>``).
    **nab_options
        ``level``, ``entity`` for NAB files.

    Raises
    ------
    SourceError
        If the file is missing, unreadable, or of no supported kind.
    """
    file = Path(path)
    if not file.is_file():
        raise SourceError(f"file not found: {file}")
    suffix = file.suffix.lower()
    if suffix in _EXPOSITION_SUFFIXES or (
        suffix not in {".csv", ".parquet"} and _looks_like_exposition(file)
    ):
        samples = read_exposition(file, timestamp=timestamp, source=source)
        return map_samples(samples, provider=provider, cluster=cluster, period_s=period_s)
    if suffix not in {".csv", ".parquet"}:
        raise SourceError(
            f"{file}: unsupported file type {suffix!r}; expected exposition (.prom/.om/.txt), .csv or .parquet"
        )
    columns = _read_table(file).columns
    if all(c in columns for c in CANONICAL_COLUMNS):
        return read_canonical_file(file, source=source)
    if set(columns) == {"timestamp", "value"}:
        options: dict[str, Any] = {k: v for k, v in nab_options.items() if v is not None}
        if provider is not None:
            options["provider"] = provider
        if cluster is not None:
            options["cluster"] = cluster
        return read_nab_csv(file, source=source, **options)
    if "name" in columns and "value" in columns:
        samples = read_samples_file(file, source=source)
        return map_samples(samples, provider=provider, cluster=cluster, period_s=period_s)
    raise SourceError(
        f"{file}: columns {columns} match no known layout: canonical ({', '.join(CANONICAL_COLUMNS)}), "
        "exporter samples (ts, name, value, labels...) or NAB (timestamp, value)"
    )


def ingest_file(
    path: Path | str,
    *,
    dataset: str | None = None,
    provider: str | None = None,
    cluster: str | None = None,
    timestamp: dt.datetime | None = None,
    period_s: float | None = None,
    store: Any = None,
) -> Any:
    """Read a metrics file, map it, and append it to the store (``workbench ingest file``).

    Returns
    -------
    workbench.mapping.persist.IngestReport
        The mapping result and the store's answer.
    """
    from workbench.mapping.persist import dataset_name, save_result

    file = Path(path)
    result = read_metrics_file(
        file, provider=provider, cluster=cluster, timestamp=timestamp, period_s=period_s
    )
    source = result.frame["source"][0] if result.frame.height else f"file:{file.name}"
    parameters = {
        "path": str(file),
        "provider": provider,
        "cluster": cluster,
        "timestamp": timestamp.isoformat() if timestamp else None,
        "period_s": period_s,
    }
    return save_result(
        result, dataset or dataset_name(file.stem), source=source, parameters=parameters, store=store
    )
