"""Exporter samples → canonical frames, with the normalization rules of §9.3.

:func:`map_samples` applies the mapping tables of the detected dialects to a
:class:`~workbench.mapping.samples.SampleSet`:

1. **Rates per raw series.** Counter and offset rules go through
   :func:`workbench.mapping.rates.counter_to_rate` per raw series (every label,
   channel pids included) *before* anything is summed. Counter resets follow PromQL
   ``rate()``; offset resets drop the interval. The first sample of a series has no
   rate: those samples are counted (``rate_warmup``), not mapped.
2. **No double counting.** Rules carry label conditions (``topic`` present or absent),
   ``unless_present`` prefers the finer family, one table claims each exporter name
   (highest priority), and series that differ only in scrape-replica labels are
   averaged, not summed.
3. **Sentinels and NaN.** ``-1`` lags, NaN and infinities become quarantined rows
   with a reason, never values.
4. **Units.** ``scale``; ``age`` rules turn a Unix time in seconds into an age;
   ``per_period`` rules divide by the period.

Nothing is dropped silently: every input sample ends up *mapped* (used by a rule),
*ignored* (a family a table knows and does not map), *unmatched* (a mapped family
whose labels fit no rule) or *unknown*; :class:`MappingResult` lists each with counts.

Examples
--------
>>> import datetime as dt
>>> import polars as pl
>>> from workbench.mapping.samples import NAME, SampleSet
>>> from workbench.mapping.normalize import map_samples
>>> t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
>>> t1 = t0 + dt.timedelta(seconds=10)
>>> lab = {"consumergroup": "billing", "topic": "orders", "partition": "0"}
>>> s = SampleSet.from_records([
...     ("kafka_consumergroup_lag", lab, t0, 5.0),
...     ("kafka_consumergroup_lag", lab, t1, -1.0),
...     ("kafka_consumergroup_current_offset", lab, t0, 100.0),
...     ("kafka_consumergroup_current_offset", lab, t1, 150.0),
...     ("mystery_metric", {}, t0, 1.0),
... ], source="file:example")
>>> r = map_samples(s, cluster="c1")
>>> r.exporters
['kafka_exporter']
>>> r.frame.filter(pl.col("metric") == "messages_out_per_s")["value"].to_list()
[5.0]
>>> r.quarantined["reason"].unique().to_list()
['sentinel -1 (unknown)']
>>> r.unknown["name"].to_list()
['mystery_metric']
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import polars as pl

from workbench.errors import NotFoundError, ParameterError
from workbench.frames import (
    CANONICAL_SCHEMA,
    DEFAULT_FUTURE_TOLERANCE,
    DEFAULT_TS_MIN,
    QUARANTINE_SCHEMA,
    TS_DTYPE,
)
from workbench.mapping.detect import detect_exporters
from workbench.mapping.rates import CounterKind, counter_to_rate
from workbench.mapping.samples import NAME, SampleSet
from workbench.mapping.tables import MappingTable, Rule, tables

__all__ = ["MappingResult", "map_samples"]

logger = logging.getLogger(__name__)

_AGGREGATES = {
    "sum": lambda e: e.sum(),
    "max": lambda e: e.max(),
    "min": lambda e: e.min(),
    "mean": lambda e: e.mean(),
    "last": lambda e: e.last(),
}
# Metrics whose values may be negative (as in workbench.frames).
_SIGNED = frozenset({"external_value"})
_STATUS_SCHEMA = {"name": pl.String(), "series": pl.UInt32(), "samples": pl.UInt32(), "reason": pl.String()}


@dataclass(frozen=True)
class MappingResult:
    """What :func:`map_samples` made of a sample set.

    Attributes
    ----------
    frame : pl.DataFrame
        Canonical rows kept (:data:`workbench.frames.CANONICAL_SCHEMA`).
    quarantined : pl.DataFrame
        Canonical rows that could not be kept, as text with a ``reason``
        (:data:`workbench.frames.QUARANTINE_SCHEMA`).
    unknown : pl.DataFrame
        Exporter names no table knows: ``name``, ``series``, ``samples``, ``reason``.
    ignored : pl.DataFrame
        Exporter names known and deliberately not mapped, or whose labels fit no
        rule: ``name``, ``series``, ``samples``, ``reason``.
    rejected : pl.DataFrame
        Input the source could not parse (``location``, ``text``, ``reason``).
    exporters : list of str
        Tables detected and applied, highest priority first.
    counts : dict of str to int
        ``samples_in`` = ``samples_mapped + samples_ignored + samples_unknown``;
        ``rate_warmup`` (first samples of counter series, which have no rate),
        ``samples_repeated`` (later repeats of a ``(series, ts)``, quarantined),
        ``rows_out``, ``rows_quarantined``, ``lines_rejected``.
    """

    frame: pl.DataFrame
    quarantined: pl.DataFrame
    unknown: pl.DataFrame
    ignored: pl.DataFrame
    rejected: pl.DataFrame
    exporters: list[str]
    counts: dict[str, int]

    def summary(self) -> pl.DataFrame:
        """One row per outcome and reason, with row/sample counts (for CLI output)."""
        parts = [
            pl.DataFrame(
                {"outcome": ["kept"], "reason": [""], "count": [self.frame.height]},
                schema={"outcome": pl.String(), "reason": pl.String(), "count": pl.Int64()},
            ),
            self.quarantined.group_by("reason")
            .agg(pl.len().cast(pl.Int64).alias("count"))
            .select(pl.lit("quarantined").alias("outcome"), "reason", "count"),
            self.rejected.group_by("reason")
            .agg(pl.len().cast(pl.Int64).alias("count"))
            .select(pl.lit("rejected input").alias("outcome"), "reason", "count"),
            self.ignored.group_by("reason")
            .agg(pl.col("samples").sum().cast(pl.Int64).alias("count"))
            .select(pl.lit("ignored samples").alias("outcome"), "reason", "count"),
            pl.DataFrame(
                {
                    "outcome": ["counter warm-up"],
                    "reason": ["first sample of a counter series has no rate yet"],
                    "count": [self.counts.get("rate_warmup", 0)],
                },
                schema={"outcome": pl.String(), "reason": pl.String(), "count": pl.Int64()},
            ),
            self.unknown.select(
                pl.lit("unknown samples").alias("outcome"),
                pl.lit("no mapping table knows the name").alias("reason"),
                pl.col("samples").sum().cast(pl.Int64).alias("count"),
            ).filter(pl.col("count") > 0),
        ]
        return pl.concat(parts).filter(pl.col("count") > 0)


def _label(name: str, columns: Sequence[str]) -> pl.Expr:
    if name in columns:
        return pl.when(pl.col(name) == "").then(None).otherwise(pl.col(name))
    return pl.lit(None, dtype=pl.String)


_TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _template(option: str, columns: Sequence[str]) -> pl.Expr:
    """``aws-{account_id}-{region}``: text with labels filled in (null if a label is missing)."""
    pieces: list[pl.Expr] = []
    pos = 0
    for match in _TEMPLATE.finditer(option):
        if match.start() > pos:
            pieces.append(pl.lit(option[pos : match.start()]))
        pieces.append(_label(match.group(1), columns))
        pos = match.end()
    if pos < len(option):
        pieces.append(pl.lit(option[pos:]))
    return pl.concat_str(pieces)


def _alternatives(spec: str, columns: Sequence[str]) -> pl.Expr:
    """``a|b`` = first non-null of labels a, b; ``a+b`` = ``a/b``; ``x-{a}-{b}`` a template
    (each null if a label is missing)."""
    options = []
    for option in spec.split("|"):
        if "{" in option:
            options.append(_template(option, columns))
            continue
        parts = [_label(p, columns) for p in option.split("+")]
        options.append(parts[0] if len(parts) == 1 else pl.concat_str(parts, separator="/"))
    return options[0] if len(options) == 1 else pl.coalesce(options)


def _queue_expr(columns: Sequence[str]) -> pl.Expr:
    vhost = pl.coalesce(_label("queue_vhost", columns), _label("vhost", columns))
    queue = _label("queue", columns)
    return (
        pl.when(vhost.is_null() | (vhost == "/"))
        .then(queue)
        .otherwise(pl.concat_str([vhost, queue], separator="/"))
    )


def _entity_expr(rule: Rule, columns: Sequence[str]) -> pl.Expr:
    parts: list[pl.Expr] = []
    for token in rule.entity:
        if token == "@cluster":
            parts.append(pl.col("_cluster"))
        elif token == "@node":
            parts.append(pl.col("_node"))
        elif token == "@queue":
            parts.append(_queue_expr(columns))
        else:
            parts.append(_alternatives(token, columns))
    return parts[0] if len(parts) == 1 else pl.concat_str(parts, separator="/")


def _glob_regex(glob: str) -> str:
    """Anchored Rust-regex for a shell glob (``*`` and ``?`` only)."""
    return "^" + ".*".join(".".join(re.escape(p) for p in part.split("?")) for part in glob.split("*")) + "$"


def _condition(rule: Rule, columns: Sequence[str]) -> pl.Expr:
    cond = pl.col(NAME) == rule.source
    for label in rule.require_labels:
        cond = cond & _label(label, columns).is_not_null()
    for label in rule.absent_labels:
        cond = cond & _label(label, columns).is_null()
    for label, value in rule.match_labels.items():
        cond = cond & (_label(label, columns) == value).fill_null(False)
    for label, globs in rule.match_globs.items():
        pattern = "|".join(f"(?:{_glob_regex(g)})" for g in globs)
        cond = cond & _label(label, columns).str.contains(pattern).fill_null(False)
    return cond


def _context(series: pl.DataFrame, table: MappingTable, default_cluster: str) -> pl.DataFrame:
    """Add ``_cluster`` and ``_node`` to the series table, as the table says."""
    cols = series.columns
    identity_cluster: pl.Expr = pl.lit(None, dtype=pl.String)
    identity_node: pl.Expr = pl.lit(None, dtype=pl.String)
    out = series
    ident = table.identity
    if ident is not None:
        rows = series.filter(pl.col(NAME) == ident["metric"])
        cl, nl, on = ident.get("cluster_label", ""), ident.get("node_label", ""), ident.get("join_on", "")
        if rows.height:
            info = rows.select(
                _label(on, cols).alias("_join"),
                _label(cl, cols).alias("_id_cluster"),
                _label(nl, cols).alias("_id_node"),
            ).unique("_join", keep="first")
            if on in cols and info["_join"].null_count() == 0:
                out = (
                    out.with_columns(_label(on, cols).alias("_join"))
                    .join(info, on="_join", how="left", maintain_order="left")
                    .drop("_join")
                )
            elif rows.select(_label(cl, cols).alias("c"), _label(nl, cols).alias("n")).unique().height == 1:
                # One scrape target (a file): everything belongs to it. (Several identities
                # without a join label, as in a history of a whole fleet, name no one node.)
                out = out.with_columns(
                    pl.lit(info["_id_cluster"][0], dtype=pl.String).alias("_id_cluster"),
                    pl.lit(info["_id_node"][0], dtype=pl.String).alias("_id_node"),
                )
            if "_id_cluster" in out.columns:
                identity_cluster, identity_node = pl.col("_id_cluster"), pl.col("_id_node")
    # A series' own identity labels (as a Prometheus relabelling or a fleet-wide export adds
    # them) win over the identity join, which only fills in what the series do not carry.
    own_cluster = _label(ident.get("cluster_label", ""), cols) if ident else pl.lit(None, dtype=pl.String)
    own_node = _label(ident.get("node_label", ""), cols) if ident else pl.lit(None, dtype=pl.String)
    cluster = pl.coalesce(
        own_cluster,
        identity_cluster,
        *[_alternatives(spec, cols) for spec in table.cluster_labels],
        pl.lit(default_cluster),
    )
    out = out.with_columns(cluster.alias("_cluster"))
    node = pl.coalesce(
        own_node, identity_node, *[_alternatives(s, cols) for s in table.node_labels], pl.col("_cluster")
    )
    return out.with_columns(node.alias("_node")).drop("_id_cluster", "_id_node", strict=False)


def _dedupe_key(selected: pl.DataFrame, table: MappingTable) -> pl.DataFrame:
    """Give series that differ only in scrape-replica labels one ``_dkey``."""
    replica = set(table.replica_labels)
    keys = [c for c in selected.columns if c not in replica and c != "series_id" and not c.startswith("_")]
    keys += [NAME, "_cluster", "_entity"]
    return selected.with_columns(pl.struct(keys).hash().alias("_dkey"))


def _rule_rows(
    samples: SampleSet,
    selected: pl.DataFrame,
    table: MappingTable,
    rule: Rule,
    period_s: float,
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Map one rule: (canonical rows, quarantined rows, rate warm-up samples).

    Label work (entity ids, cluster names) is done on the small series table; the
    per-sample work only touches ``series_id``, ``ts`` and ``value``.
    """
    selected = _dedupe_key(
        selected.with_columns(_entity_expr(rule, selected.columns).alias("_entity")), table
    )
    needs_dedupe = selected["_dkey"].n_unique() < selected.height
    needs_group = needs_dedupe or selected.select("_cluster", "_entity").n_unique() < selected.height
    ids = selected["series_id"]
    pts = samples.points
    if ids.len() < samples.series.height:
        pts = pts.filter(pl.col("series_id").is_in(ids.implode()))
    value = pl.col("value")
    no_entity = selected.filter(pl.col("_entity").is_null())["series_id"]
    bad_mask = value.is_null() | ~value.is_finite()
    if no_entity.len():
        bad_mask = bad_mask | pl.col("series_id").is_in(no_entity.implode())
    for sentinel in rule.sentinels:
        bad_mask = bad_mask | (value == sentinel)
    if rule.kind == "offset":
        bad_mask = bad_mask | (value < 0)
    flagged = pts.with_columns(bad_mask.fill_null(True).alias("_bad"))
    bad = flagged.filter(pl.col("_bad")).drop("_bad")
    good = flagged.filter(~pl.col("_bad")).drop("_bad") if bad.height else pts
    warmup = 0
    if rule.kind in ("counter", "offset") and rule.source not in samples.rated_names:
        kind: CounterKind = "offset" if rule.kind == "offset" else "counter"
        good = counter_to_rate(good, by=["series_id"], kind=kind, drop_first=False)
        warmup = int(good["value"].null_count())
        good = good.filter(value.is_not_null())
    elif rule.kind == "per_period":
        good = good.with_columns(value / period_s)
    elif rule.kind == "age":
        good = good.with_columns(
            (pl.col("ts").dt.epoch("ms").cast(pl.Float64) / 1000.0 - value).alias("value")
        )
    if rule.scale != 1.0:
        good = good.with_columns(value * rule.scale)
    names = selected.select("series_id", "_cluster", "_entity", "_dkey")
    good = good.join(names, on="series_id", how="inner")
    if needs_dedupe:
        good = good.group_by("ts", "_cluster", "_entity", "_dkey").agg(value.mean())
    if needs_group:
        good = good.group_by("ts", "_cluster", "_entity").agg(_AGGREGATES[rule.aggregate](value))
    rows = good.select(
        "ts",
        pl.lit(table.provider).alias("provider"),
        pl.col("_cluster").alias("cluster"),
        pl.lit(rule.level).alias("level"),
        pl.col("_entity").alias("entity"),
        pl.lit(rule.metric).alias("metric"),
        "value",
    )
    reason = (
        pl.when(pl.col("_entity").is_null())
        .then(pl.lit(f"missing label for entity {'/'.join(rule.entity)} of {rule.source}"))
        .when(value.is_null())
        .then(pl.lit("value is not a number"))
        .when(value.is_nan())
        .then(pl.lit("value is NaN"))
        .when(value.is_infinite())
        .then(pl.lit("value is infinite"))
    )
    for sentinel in rule.sentinels:
        reason = reason.when(value == sentinel).then(pl.lit(f"sentinel {sentinel:g} (unknown)"))
    reason_expr = reason.otherwise(pl.lit("negative offset"))
    quarantined = bad.join(names, on="series_id", how="inner").select(
        pl.lit(None, dtype=pl.Int64).alias("row"),
        pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.3f%z").alias("ts"),
        pl.lit(table.provider).alias("provider"),
        pl.col("_cluster").alias("cluster"),
        pl.lit(rule.level).alias("level"),
        pl.col("_entity").alias("entity"),
        pl.lit(rule.metric).alias("metric"),
        pl.col("value").cast(pl.String).alias("value"),
        pl.lit(samples.source).alias("source"),
        reason_expr.alias("reason"),
    )
    return rows, quarantined, warmup


def _combine(parts: list[tuple[Rule, pl.DataFrame]], source: str) -> pl.DataFrame:
    """Concatenate rule outputs; rules landing on one (metric, level) are combined by their aggregate."""
    if not parts:
        return pl.DataFrame(schema=CANONICAL_SCHEMA)
    by_target: dict[tuple[str, str], list[tuple[Rule, pl.DataFrame]]] = {}
    for rule, frame in parts:
        by_target.setdefault((rule.metric, rule.level), []).append((rule, frame))
    keys = ["ts", "provider", "cluster", "level", "entity", "metric"]
    out = []
    for group in by_target.values():
        if len(group) == 1:
            out.append(group[0][1])
            continue
        aggregate = group[0][0].aggregate
        out.append(
            pl.concat([f for _, f in group]).group_by(keys).agg(_AGGREGATES[aggregate](pl.col("value")))
        )
    return pl.concat(out).select(
        "ts",
        pl.col("provider").cast(CANONICAL_SCHEMA["provider"]),
        "cluster",
        pl.col("level").cast(CANONICAL_SCHEMA["level"]),
        "entity",
        "metric",
        "value",
        pl.lit(source).alias("source"),
    )


def _split_repeats(samples: SampleSet) -> tuple[SampleSet, pl.DataFrame]:
    """Keep the first sample of each ``(series, ts)``; later repeats are quarantined."""
    ms = pl.col("ts").dt.epoch("ms")
    earliest = samples.points["ts"].min() if samples.points.height else None
    if isinstance(earliest, dt.datetime) and earliest >= dt.datetime(1970, 1, 1, tzinfo=dt.UTC):
        # one integer key is far cheaper than a struct: 43 bits of ms reach the year 2248
        key = (pl.col("series_id").cast(pl.Int64) * (1 << 43)) + ms
        if samples.points.select(key.n_unique()).item() == samples.points.height:
            return samples, pl.DataFrame(schema=QUARANTINE_SCHEMA)  # the common case, found cheaply
        repeat = ~key.is_first_distinct()
    else:
        repeat = ~pl.struct("series_id", "ts").is_first_distinct()
    flagged = samples.points.with_columns(repeat.alias("_repeat"))
    repeats = flagged.filter(pl.col("_repeat"))
    if repeats.height == 0:
        return samples, pl.DataFrame(schema=QUARANTINE_SCHEMA)
    kept = flagged.filter(~pl.col("_repeat")).drop("_repeat")
    named = repeats.join(samples.series.select("series_id", NAME), on="series_id", how="left")
    quarantined = named.select(
        pl.lit(None, dtype=pl.Int64).alias("row"),
        pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.3f%z").alias("ts"),
        *[pl.lit(None, dtype=pl.String).alias(c) for c in ("provider", "cluster", "level", "entity")],
        pl.col(NAME).alias("metric"),
        pl.col("value").cast(pl.String),
        pl.lit(samples.source).alias("source"),
        pl.lit("duplicate (series, ts)").alias("reason"),
    )
    return replace(samples, points=kept), quarantined


def _final_check(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The schema rules mapped rows can still break (the rest hold by construction).

    Metric and level are valid by the table model, keys are non-null and unique by the
    aggregation; values can still be negative (a clock-skewed age) and times out of
    range. Reasons are worded as :func:`workbench.frames.quarantine` words them.
    """
    now = dt.datetime.now(dt.UTC)
    upper = now + DEFAULT_FUTURE_TOLERANCE
    reason = (
        pl.when((pl.col("value") < 0) & ~pl.col("metric").is_in(sorted(_SIGNED)))
        .then(pl.lit("value is negative"))
        .when(pl.col("ts") < pl.lit(DEFAULT_TS_MIN).cast(TS_DTYPE))
        .then(pl.lit(f"ts before {DEFAULT_TS_MIN:%Y-%m-%d}"))
        .when(pl.col("ts") > pl.lit(upper).cast(TS_DTYPE))
        .then(pl.lit("ts in the future"))
    )
    bad_mask = (
        ((pl.col("value") < 0) & ~pl.col("metric").is_in(sorted(_SIGNED)))
        | (pl.col("ts") < pl.lit(DEFAULT_TS_MIN).cast(TS_DTYPE))
        | (pl.col("ts") > pl.lit(upper).cast(TS_DTYPE))
    )
    flagged = frame.with_columns(bad_mask.alias("_bad"))
    bad = flagged.filter(pl.col("_bad"))
    if bad.height == 0:
        return frame, pl.DataFrame(schema=QUARANTINE_SCHEMA)
    kept = flagged.filter(~pl.col("_bad")).drop("_bad")
    quarantined = bad.select(
        pl.lit(None, dtype=pl.Int64).alias("row"),
        pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.3f%z").alias("ts"),
        *[
            pl.col(c).cast(pl.String)
            for c in ("provider", "cluster", "level", "entity", "metric", "value", "source")
        ],
        reason.alias("reason"),
    )
    return kept, quarantined


def _status_frame(series_counts: pl.DataFrame, mask: pl.Expr, reason: pl.Expr) -> pl.DataFrame:
    return (
        series_counts.filter(mask)
        .with_columns(reason.alias("reason"))
        .group_by("name", "reason")
        .agg(pl.len().cast(pl.UInt32).alias("series"), pl.col("samples").sum().cast(pl.UInt32))
        .select(list(_STATUS_SCHEMA))
        .sort("samples", "name", descending=[True, False])
    )


def map_samples(
    samples: SampleSet,
    *,
    provider: str | None = None,
    cluster: str | None = None,
    period_s: float | None = None,
    table_names: Sequence[str] | None = None,
    known: Mapping[str, MappingTable] | None = None,
) -> MappingResult:
    """Map exporter-native samples to canonical rows.

    Parameters
    ----------
    samples : SampleSet
        Raw series and points from a source.
    provider : str, optional
        Use only tables of this provider (``kafka``, ``rabbitmq``, ``sqs``).
    cluster : str, optional
        Cluster name when neither labels nor an identity series name one
        (default ``"default"``).
    period_s : float, optional
        Period of ``per_period`` values (YACE ``period``); default: the table's.
    table_names : sequence of str, optional
        Apply exactly these tables instead of detecting them.
    known : mapping of str to MappingTable, optional
        The tables to choose from (default: built-in + user directories + registered).

    Returns
    -------
    MappingResult
        Canonical rows, quarantine, unknown and ignored names, counts.
    """
    if period_s is not None and not period_s > 0:
        raise ParameterError("period_s", allowed="a positive number of seconds", received=period_s)
    catalogue = known if known is not None else tables()
    if table_names is not None:
        missing = [n for n in table_names if n not in catalogue]
        if missing:
            raise NotFoundError("mapping table", missing[0], catalogue)
        active = sorted((catalogue[n] for n in table_names), key=lambda t: -t.priority)
    else:
        active = [catalogue[d.table] for d in detect_exporters(samples, known=catalogue, provider=provider)]
    series = samples.series
    present = set(samples.metric_names)
    # One table claims each (exporter name, canonical metric, level): the generic JMX
    # rules and the Strimzi variant both map messagesin_total, and must not both count.
    claimed: dict[tuple[str, str, str], str] = {}
    for table in active:
        for rule in table.rules:
            claimed.setdefault((rule.source, rule.metric, rule.level), table.name)

    rows: list[tuple[Rule, pl.DataFrame]] = []
    bad: list[pl.DataFrame] = [pl.DataFrame(schema=QUARANTINE_SCHEMA)]
    original = samples
    if not samples.unique_points:
        samples, repeats = _split_repeats(samples)
        bad.append(repeats)
    used: list[pl.Series] = [pl.Series("series_id", [], dtype=pl.UInt32)]
    warmup = 0
    for table in active:
        ctx = _context(series, table, cluster or "default")
        for rule in table.rules:
            if claimed[(rule.source, rule.metric, rule.level)] != table.name or present.intersection(
                rule.unless_present
            ):
                continue
            selected = ctx.filter(_condition(rule, ctx.columns))
            if selected.height == 0:
                continue
            used.append(selected["series_id"])
            r, q, w = _rule_rows(samples, selected, table, rule, period_s or table.period_s)
            rows.append((rule, r))
            bad.append(q)
            warmup += w
    kept, late = _final_check(_combine(rows, samples.source))
    quarantined = pl.concat([*bad, late])

    # Account for every input sample: mapped, ignored/unmatched, or unknown.
    per_series = original.points.group_by("series_id").agg(pl.len().alias("samples"))
    series_counts = (
        series.select("series_id", pl.col(NAME).alias("name"))
        .join(per_series, on="series_id", how="left")
        .with_columns(pl.col("samples").fill_null(0))
    )
    mapped_ids = pl.concat(used).unique()
    is_mapped = pl.col("series_id").is_in(mapped_ids.implode())
    everything = list(catalogue.values())
    ignore_pool = active or everything
    ignored_names = [n for n in present if any(t.ignores(n) for t in ignore_pool)]
    rule_names = {r.source for t in active for r in t.rules}
    reason = (
        pl.when(pl.col("name").is_in(sorted(rule_names)))
        .then(pl.lit("labels fit no rule (or a finer family is present)"))
        .otherwise(pl.lit("known family, not mapped"))
    )
    ignored = _status_frame(
        series_counts,
        ~is_mapped & (pl.col("name").is_in(ignored_names) | pl.col("name").is_in(sorted(rule_names))),
        reason,
    )
    unknown = _status_frame(
        series_counts,
        ~is_mapped & ~pl.col("name").is_in(ignored_names) & ~pl.col("name").is_in(sorted(rule_names)),
        pl.lit("no mapping table knows the name"),
    )
    samples_in = original.points.height
    mapped_samples = int(series_counts.filter(is_mapped)["samples"].sum())
    counts = {
        "samples_in": samples_in,
        "samples_mapped": mapped_samples,
        "samples_ignored": int(ignored["samples"].sum()),
        "samples_unknown": int(unknown["samples"].sum()),
        "rate_warmup": warmup,
        "samples_repeated": samples_in - samples.points.height,
        "rows_out": kept.height,
        "rows_quarantined": quarantined.height,
        "lines_rejected": samples.rejected.height,
    }
    if unknown.height:
        logger.info(
            "%d exporter names not mapped by any table: %s",
            unknown.height,
            unknown["name"].head(10).to_list(),
        )
    return MappingResult(
        frame=kept,
        quarantined=quarantined,
        unknown=unknown,
        ignored=ignored,
        rejected=samples.rejected,
        exporters=[t.name for t in active],
        counts=counts,
    )
