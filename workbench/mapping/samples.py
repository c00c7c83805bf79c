"""Exporter-native samples: what every real source produces before mapping.

A :class:`SampleSet` holds two Polars frames, so that label work is done once per
*series* and never once per *sample*:

``series``
    One row per raw series: ``series_id`` (UInt32), ``__name__`` (the exporter's
    metric name) and one String column per label name seen (null where a series
    lacks the label). The full label set is the series identity (§9.3 rule 1:
    rates are computed per raw series).
``points``
    One row per sample: ``series_id``, ``ts`` (``Datetime("ms", "UTC")``) and
    ``value`` (Float64, NaN and infinities kept so the mapping can quarantine them).

Examples
--------
>>> import datetime as dt
>>> from workbench.mapping.samples import SampleSet
>>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
>>> s = SampleSet.from_records(
...     [("rabbitmq_queue_messages_ready", {"vhost": "/", "queue": "orders"}, t, 95.0)],
...     source="file:x",
... )
>>> (s.series.height, s.points.height, s.label_names)
(1, 1, ['queue', 'vhost'])
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import polars as pl

from workbench.errors import SchemaError

__all__ = ["NAME", "POINTS_SCHEMA", "TS_DTYPE", "SampleSet", "concat_sample_sets"]

#: Column of the series table holding the exporter metric name. Prometheus reserves
#: label names starting with ``__``, so no label (YACE has one called ``name``) can clash.
NAME = "__name__"

TS_DTYPE = pl.Datetime("ms", "UTC")
POINTS_SCHEMA: dict[str, pl.DataType] = {
    "series_id": pl.UInt32(),
    "ts": TS_DTYPE,
    "value": pl.Float64(),
}


@dataclass(frozen=True)
class SampleSet:
    """Raw exporter samples: a series table and a points table.

    Attributes
    ----------
    series : pl.DataFrame
        ``series_id``, ``__name__`` and one String column per label.
    points : pl.DataFrame
        ``series_id``, ``ts``, ``value`` (see :data:`POINTS_SCHEMA`).
    source : str
        Provenance written into the canonical ``source`` column, e.g.
        ``prometheus:prod`` or ``file:scrape.prom``.
    unique_points : bool
        True when the source guarantees one sample per ``(series_id, ts)``
        (Prometheus range pulls); otherwise the mapping checks for repeats.
    rated_names : frozenset of str
        Exporter names whose values the source already turned into per-second
        rates (PromQL ``rate()``); the mapping uses them as they are.
    rejected : pl.DataFrame
        Input the source could not turn into samples (e.g. an unparseable
        exposition line): columns ``location``, ``text``, ``reason``.
    """

    series: pl.DataFrame
    points: pl.DataFrame
    source: str
    rated_names: frozenset[str] = frozenset()
    unique_points: bool = False
    rejected: pl.DataFrame = field(default_factory=lambda: empty_rejected())

    def __post_init__(self) -> None:
        for column in ("series_id", NAME):
            if column not in self.series.columns:
                raise SchemaError(column, f"series table needs it; has {self.series.columns}")
        for column, dtype in POINTS_SCHEMA.items():
            if self.points.schema.get(column) != dtype:
                raise SchemaError(
                    column, f"points table needs dtype {dtype}, has {self.points.schema.get(column)}"
                )

    @property
    def label_names(self) -> list[str]:
        """Sorted label names present in the series table."""
        return sorted(c for c in self.series.columns if c not in ("series_id", NAME))

    @property
    def metric_names(self) -> list[str]:
        """Sorted distinct exporter metric names."""
        return sorted(self.series[NAME].unique().to_list())

    @classmethod
    def from_records(
        cls,
        records: Iterable[tuple[str, Mapping[str, str], dt.datetime, float]],
        *,
        source: str,
        rejected: pl.DataFrame | None = None,
    ) -> SampleSet:
        """Build a sample set from ``(name, labels, ts, value)`` tuples.

        Meant for small inputs (exposition scrapes, tests); bulk sources build the
        two frames directly.
        """
        names: list[str] = []
        labels: list[dict[str, str]] = []
        ids: list[int] = []
        times: list[dt.datetime] = []
        values: list[float] = []
        index: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        for name, label_map, ts, value in records:
            key = (name, tuple(sorted(label_map.items())))
            sid = index.get(key)
            if sid is None:
                sid = len(index)
                index[key] = sid
                names.append(name)
                labels.append(dict(label_map))
            ids.append(sid)
            times.append(ts)
            values.append(float(value))
        series = series_frame(names, labels)
        points = pl.DataFrame(
            {"series_id": ids, "ts": times, "value": values},
            schema={"series_id": pl.UInt32(), "ts": pl.Datetime("us", "UTC"), "value": pl.Float64()},
        ).with_columns(pl.col("ts").cast(TS_DTYPE))
        return cls(
            series=series,
            points=points,
            source=source,
            rejected=rejected if rejected is not None else empty_rejected(),
        )


def empty_rejected() -> pl.DataFrame:
    """An empty table of rejected input (``location``, ``text``, ``reason``)."""
    return pl.DataFrame(schema={"location": pl.String(), "text": pl.String(), "reason": pl.String()})


def series_frame(names: list[str], labels: list[dict[str, str]]) -> pl.DataFrame:
    """Build the series table from parallel lists of names and label dicts."""
    label_names = sorted({k for lab in labels for k in lab if k != "__name__"})
    data: dict[str, list[object]] = {
        "series_id": list(range(len(names))),
        NAME: list(names),
    }
    for key in label_names:
        data[key] = [lab.get(key) for lab in labels]
    schema: dict[str, pl.DataType] = {"series_id": pl.UInt32(), NAME: pl.String()}
    schema.update({k: pl.String() for k in label_names})
    return pl.DataFrame(data, schema=schema)


def concat_sample_sets(sets: list[SampleSet], *, source: str | None = None) -> SampleSet:
    """Concatenate sample sets, renumbering series ids and merging equal series.

    Two inputs holding the same series (same name and labels) share one id, so a
    counter scraped in two files is one series over time.
    """
    if not sets:
        raise SchemaError("series", "nothing to concatenate: no sample sets given")
    tagged = [s.series.with_columns(pl.lit(i, dtype=pl.UInt32).alias("_set")) for i, s in enumerate(sets)]
    all_series = pl.concat(tagged, how="diagonal_relaxed")
    keys = [c for c in all_series.columns if c not in ("series_id", "_set")]
    numbered = all_series.with_columns(pl.struct(keys).rank("dense").cast(pl.UInt32).sub(1).alias("_new_id"))
    mapping = numbered.select("_set", "series_id", "_new_id")
    series = (
        numbered.unique("_new_id", keep="first")
        .sort("_new_id")
        .drop("series_id", "_set")
        .rename({"_new_id": "series_id"})
        .select("series_id", *keys)
    )
    points = pl.concat(
        [s.points.with_columns(pl.lit(i, dtype=pl.UInt32).alias("_set")) for i, s in enumerate(sets)]
    )
    points = points.join(mapping, on=["_set", "series_id"], how="left").select(
        pl.col("_new_id").alias("series_id"), "ts", "value"
    )
    rejected = pl.concat([s.rejected for s in sets])
    return SampleSet(
        series=series,
        points=points,
        source=source or sets[0].source,
        rated_names=frozenset().union(*(s.rated_names for s in sets)),
        rejected=rejected,
    )
