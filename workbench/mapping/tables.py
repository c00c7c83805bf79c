"""Mapping tables: exporter metric names → canonical metrics, as data files.

One YAML file per exporter dialect lives in ``workbench/mapping/tables/``. Users add
their own dialect by dropping a file of the same shape into a directory listed in
``WORKBENCH_MAPPING_DIRS`` (``:``-separated; see :mod:`workbench.config`); a user
table with the name of a built-in one replaces it. No code is needed.

A table names the exporter, its provider, the metric names that identify it
(``detect``), where cluster and node names come from, which families it knows but
does not map (``ignore``), and a list of ``rules``. A rule maps one exporter name
(``source``), optionally restricted by label conditions, to one canonical metric
at one level, with an entity built from labels::

    - source: kafka_consumergroup_lag
      metric: consumer_lag_messages
      level: partition
      entity: [consumergroup, topic, partition]   # joined with "/"
      kind: gauge                                 # gauge|counter|offset|per_period|age
      sentinels: [-1]                             # values that mean "unknown"
      unless_present: []                          # skip if these names exist (no double counting)

Examples
--------
>>> from workbench.mapping.tables import get_table, table_names
>>> "kafka_exporter" in table_names()
True
>>> t = get_table("kafka_exporter")
>>> (t.provider, any(r.metric == "consumer_lag_messages" for r in t.rules))
('kafka', True)
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from workbench.catalog import metrics
from workbench.config import settings
from workbench.errors import ConfigError, NotFoundError

__all__ = [
    "MappingTable",
    "Rule",
    "get_table",
    "load_table",
    "load_tables",
    "register",
    "table_names",
    "tables",
]

logger = logging.getLogger(__name__)

RuleKind = Literal["gauge", "counter", "offset", "per_period", "age"]
Aggregate = Literal["sum", "max", "min", "mean", "last"]
LevelName = Literal["cluster", "broker", "node", "topic", "partition", "queue", "consumer_group"]


class Rule(BaseModel):
    """One exporter series family → one canonical metric at one level.

    Attributes
    ----------
    source : str
        Exporter metric name, exact.
    metric : str
        Canonical metric (must be in the catalogue and allowed at ``level``).
    level : str
        Canonical entity level.
    entity : list of str
        Labels joined with ``/`` to form the entity id. Special tokens:
        ``@cluster`` (the resolved cluster), ``@node`` (the resolved node),
        ``@queue`` (RabbitMQ queue id: ``queue`` or ``vhost/queue``, vhost ``/``
        left out; reads labels ``vhost``/``queue`` or ``queue_vhost``/``queue``).
    kind : str
        ``gauge`` (as is), ``counter`` (per-series rate, resets as in PromQL),
        ``offset`` (per-series rate, negative jumps dropped), ``per_period`` (÷ the
        source's period), ``age`` (sample time − value, value a Unix time in seconds).
    aggregate : str
        How series that land on the same entity and time combine (after the
        per-series step): ``sum`` adds channels/partitions, ``max``/``mean``/...
    scale : float
        Multiplier to reach the catalogue unit (e.g. ms → s = 0.001).
    sentinels : list of float
        Values that mean "unknown"; rows with them are quarantined, not mapped.
    require_labels : list of str
        Labels that must be present and non-empty.
    absent_labels : list of str
        Labels that must be absent or empty (e.g. the all-topics broker total).
    match_labels : dict
        Labels that must equal a value.
    match_globs : dict
        Labels that must match one of some glob patterns (e.g. DLQ names).
    unless_present : list of str
        Skip the rule when any of these exporter names is in the input (prefer
        a finer or better family; avoids double counting).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    metric: str
    level: LevelName
    entity: list[str] = Field(default_factory=lambda: ["@cluster"])
    kind: RuleKind = "gauge"
    aggregate: Aggregate = "sum"
    scale: float = 1.0
    sentinels: list[float] = Field(default_factory=list)
    require_labels: list[str] = Field(default_factory=list)
    absent_labels: list[str] = Field(default_factory=list)
    match_labels: dict[str, str] = Field(default_factory=dict)
    match_globs: dict[str, list[str]] = Field(default_factory=dict)
    unless_present: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_catalogue(self) -> Rule:
        catalogue = metrics()
        if self.metric not in catalogue:
            raise ValueError(
                f"rule for {self.source!r}: metric {self.metric!r} is not in the catalogue "
                f"(known: {', '.join(sorted(catalogue))})"
            )
        if self.level not in catalogue[self.metric].levels:
            raise ValueError(
                f"rule for {self.source!r}: metric {self.metric!r} is not defined at level "
                f"{self.level!r} (allowed: {catalogue[self.metric].levels})"
            )
        return self


class MappingTable(BaseModel):
    """One exporter dialect: detection, naming and rules.

    Attributes
    ----------
    name : str
        Table id, e.g. ``kafka_exporter``.
    provider : str
        ``kafka``, ``rabbitmq`` or ``sqs``.
    description : str
        Where the names come from.
    priority : int
        When two detected tables map the same exporter name, the higher priority
        wins (Strimzi and Bitnami variants over the generic JMX example rules).
    detect : list of str
        Exporter metric names; any of them present means the source speaks this dialect.
    detect_require_labels : dict
        Optional ``{name: [labels]}``: a detect name counts only with these labels
        (RabbitMQ per-object and aggregated share names and differ by labels).
    detect_absent_labels : dict
        Optional ``{name: [labels]}``: a detect name counts only without these labels.
    cluster_labels : list of str
        Labels tried in order for the cluster name; ``a+b`` joins two labels with ``/``.
    node_labels : list of str
        Labels tried in order for the broker/node name.
    identity : dict, optional
        ``{metric, cluster_label, node_label, join_on}``: an info series naming the
        cluster and node, joined to every series on ``join_on`` (RabbitMQ's
        ``rabbitmq_identity_info``); used before ``cluster_labels``.
    replica_labels : list of str
        Labels that only name the scraping replica (two exporter replicas of one
        cluster): series that differ only in them are averaged, not summed.
    churn_labels : list of str
        Labels that change without meaning (channel pids, member hosts); dropped
        after the per-series step.
    ignore : list of str
        Glob patterns of exporter names the table knows and deliberately does not map.
    period_s : float
        Default period for ``per_period`` rules (YACE's job ``period``).
    rules : list of Rule
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    provider: Literal["kafka", "rabbitmq", "sqs"]
    description: str = ""
    priority: int = 10
    detect: list[str]
    detect_require_labels: dict[str, list[str]] = Field(default_factory=dict)
    detect_absent_labels: dict[str, list[str]] = Field(default_factory=dict)
    cluster_labels: list[str] = Field(default_factory=list)
    node_labels: list[str] = Field(default_factory=lambda: ["instance"])
    identity: dict[str, str] | None = None
    replica_labels: list[str] = Field(default_factory=list)
    churn_labels: list[str] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)
    period_s: float = 60.0
    rules: list[Rule]

    def source_names(self) -> set[str]:
        """Exporter names used by at least one rule."""
        return {r.source for r in self.rules}

    def ignores(self, name: str) -> bool:
        """True if ``name`` matches one of the table's ``ignore`` patterns."""
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.ignore)


_REGISTRY: dict[str, MappingTable] = {}


def load_table(path: Path | str, *, text: str | None = None) -> MappingTable:
    """Read and validate one mapping table file.

    Raises
    ------
    ConfigError
        Naming the file and what is wrong (bad YAML, unknown field, unknown metric, ...).
    """
    try:
        raw = yaml.safe_load(text if text is not None else Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"mapping table {path}: cannot read YAML: {err}") from err
    try:
        return MappingTable.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"mapping table {path}: {err}") from err


def _builtin_tables() -> list[MappingTable]:
    folder = resources.files("workbench.mapping").joinpath("tables")
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            out.append(load_table(entry.name, text=entry.read_text(encoding="utf-8")))
    return out


def load_tables(directories: Iterable[Path] = ()) -> dict[str, MappingTable]:
    """Built-in tables plus every ``*.yaml``/``*.yml`` in ``directories`` (later wins)."""
    found = {t.name: t for t in _builtin_tables()}
    for directory in directories:
        folder = Path(directory)
        if not folder.is_dir():
            raise ConfigError(f"mapping directory {folder} does not exist or is not a directory")
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            table = load_table(path)
            if table.name in found:
                logger.info("mapping table %s from %s replaces the built-in one", table.name, path)
            found[table.name] = table
    return found


@lru_cache(maxsize=1)
def _configured() -> dict[str, MappingTable]:
    return load_tables(settings().mapping_dirs)


def tables(*, refresh: bool = False) -> dict[str, MappingTable]:
    """Every known table: built-ins, the configured user directories, and registered ones.

    Parameters
    ----------
    refresh : bool
        Re-read the files (after changing ``WORKBENCH_MAPPING_DIRS``).
    """
    if refresh:
        _configured.cache_clear()
    return {**_configured(), **_REGISTRY}


def register(table: MappingTable) -> None:
    """Register a table made in code (replaces one of the same name)."""
    _REGISTRY[table.name] = table


def get_table(name: str) -> MappingTable:
    """Return a table by name, or raise :class:`NotFoundError` listing the known ones."""
    known = tables()
    try:
        return known[name]
    except KeyError:
        raise NotFoundError("mapping table", name, known) from None


def table_names() -> list[str]:
    """Sorted names of every known table."""
    return sorted(tables())
