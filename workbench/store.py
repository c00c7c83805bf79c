"""The Parquet store: crash-safe, idempotent appends with manifests, and lazy scans.

Layout under the store root (``data/store`` by default)::

    <dataset>/
      manifest.json                        the commit point: lists every live file
      parts/provider=<p>/date=<d>/<id>.parquet
      incidents/<id>.parquet               simulator ground truth, if any
      findings.parquet                     written by learning (replaced atomically)

How an append stays atomic: new rows are written to fresh files (fsynced), then a new
manifest is written to a temporary file and moved over the old one with
:func:`os.replace`, which is atomic on POSIX. Readers only see files the manifest lists,
so a writer killed at any point leaves the previous state readable and complete; files
of an interrupted append are orphans that the next writer removes.

Appends are idempotent: rows whose ``(series, ts)`` is already stored are not written
again (the stored value wins and the result counts them).

Examples
--------
>>> import tempfile, datetime as dt, polars as pl
>>> from workbench.store import Store
>>> from workbench.frames import CANONICAL_SCHEMA
>>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
>>> frame = pl.DataFrame({"ts": [t], "provider": ["sqs"], "cluster": ["acct"], "level": ["queue"],
...     "entity": ["jobs"], "metric": ["queue_depth_messages"], "value": [3.0],
...     "source": ["file:doc"]}, schema=CANONICAL_SCHEMA)
>>> store = Store(tempfile.mkdtemp())
>>> store.append("doc", frame, source="file:doc").rows
1
>>> store.append("doc", frame, source="file:doc").rows   # same rows again: kept once
1
>>> store.scan("doc", metric="queue_depth_messages").collect().height
1
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import polars as pl

from workbench import __version__
from workbench.config import settings
from workbench.errors import NotFoundError, ParameterError, StoreError
from workbench.frames import (
    CANONICAL_SCHEMA,
    FINDING_SCHEMA,
    INCIDENT_SCHEMA,
    SERIES_KEYS,
    validate,
)
from workbench.times import parse_utc_time

__all__ = ["AppendResult", "Manifest", "Store"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SORT = ["provider", "cluster", "level", "metric", "entity", "ts"]


@dataclass
class PartInfo:
    """One Parquet file of a dataset, as recorded in the manifest."""

    path: str
    rows: int
    sha256: str
    provider: str
    date: str
    min_ts: str
    max_ts: str


@dataclass
class Manifest:
    """What a dataset holds and where it came from.

    Attributes
    ----------
    dataset : str
        Dataset name.
    source : str
        Where the rows came from (``sim:<scenario>:<seed>``, ``prometheus:<name>``, ...).
    parameters : dict
        The parameters that produced it (scenario, days, query, ...).
    seed : int or None
        Random seed, for simulated data.
    rows : int
        Rows stored.
    start, end : str or None
        ISO time range of the rows.
    checksum : str
        SHA-256 over the parts' checksums (the dataset's content checksum).
    package_version : str
        Version of the workbench that last wrote it.
    parts : list of PartInfo
        The live files.
    incidents : list of PartInfo
        Ground-truth incident files.
    history : list of dict
        One entry per append: when, rows offered, rows added, rows already stored.
    """

    dataset: str
    source: str
    parameters: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    rows: int = 0
    start: str | None = None
    end: str | None = None
    checksum: str = ""
    package_version: str = __version__
    created: str = ""
    updated: str = ""
    parts: list[PartInfo] = field(default_factory=list)
    incidents: list[PartInfo] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        """Serialise to JSON text."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse JSON text written by :meth:`to_json`."""
        raw = json.loads(text)
        raw["parts"] = [PartInfo(**p) for p in raw.get("parts", [])]
        raw["incidents"] = [PartInfo(**p) for p in raw.get("incidents", [])]
        return cls(**raw)


@dataclass(frozen=True)
class AppendResult:
    """Outcome of :meth:`Store.append`.

    Attributes
    ----------
    dataset : str
    offered : int
        Rows passed in.
    added : int
        Rows newly stored.
    already_stored : int
        Rows skipped because their ``(series, ts)`` was stored before.
    rows : int
        Rows in the dataset after the append.
    manifest : Manifest
    conflicting : int
        Of ``already_stored``, rows whose stored value differs (the stored value is kept).
    """

    dataset: str
    offered: int
    added: int
    already_stored: int
    rows: int
    manifest: Manifest
    conflicting: int = 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_parquet_durably(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.write_parquet(tmp, compression="zstd", statistics=True, row_group_size=256_000)
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _as_utc(value: dt.datetime | str | None, parameter: str) -> dt.datetime | None:
    return None if value is None else parse_utc_time(value, parameter=parameter)


class Store:
    """A directory of Parquet datasets with manifests.

    Parameters
    ----------
    root : path, optional
        Store directory (default: ``settings().store_dir``, env ``WORKBENCH_STORE_DIR``).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else settings().store_dir

    # ------------------------------------------------------------------ paths
    def _dir(self, dataset: str) -> Path:
        if not isinstance(dataset, str) or not _NAME.match(dataset):
            raise ParameterError(
                "dataset",
                allowed="a name of letters, digits, '.', '_' or '-' (1-128 characters)",
                received=dataset,
            )
        return self.root / dataset

    @contextlib.contextmanager
    def _lock(self, dataset: str) -> Iterator[None]:
        directory = self._dir(dataset)
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / ".lock").open("a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -------------------------------------------------------------- manifests
    def names(self) -> list[str]:
        """Names of the datasets with a committed manifest, sorted."""
        if not self.root.exists():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/manifest.json"))

    def manifest(self, dataset: str) -> Manifest:
        """Return the committed manifest of ``dataset``.

        Raises
        ------
        NotFoundError
            If the dataset has no committed manifest.
        StoreError
            If the manifest cannot be parsed.
        """
        path = self._dir(dataset) / "manifest.json"
        if not path.exists():
            raise NotFoundError("dataset", dataset, self.names())
        try:
            return Manifest.from_json(path.read_text(encoding="utf-8"))
        except (ValueError, TypeError, KeyError) as err:
            raise StoreError(f"manifest of dataset {dataset!r} is unreadable: {err}") from err

    def _commit(self, dataset: str, manifest: Manifest) -> None:
        directory = self._dir(dataset)
        tmp = directory / f".manifest-{uuid.uuid4().hex}.tmp"
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(manifest.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, directory / "manifest.json")
        _fsync_dir(directory)

    def _remove_orphans(self, dataset: str, manifest: Manifest | None) -> None:
        """Delete files an interrupted append left behind (only under the writer lock)."""
        directory = self._dir(dataset)
        live = set()
        if manifest is not None:
            live = {p.path for p in manifest.parts} | {p.path for p in manifest.incidents}
        for sub in ("parts", "incidents"):
            for path in (directory / sub).rglob("*.parquet*") if (directory / sub).exists() else []:
                if str(path.relative_to(directory)) not in live:
                    path.unlink(missing_ok=True)
        for tmp in directory.glob(".manifest-*.tmp"):
            tmp.unlink(missing_ok=True)

    def verify(self, dataset: str) -> list[str]:
        """Check every file a manifest lists exists and matches its checksum.

        Returns
        -------
        list of str
            Problems found (empty when the dataset is intact).
        """
        manifest = self.manifest(dataset)
        directory = self._dir(dataset)
        problems = []
        for part in [*manifest.parts, *manifest.incidents]:
            path = directory / part.path
            if not path.exists():
                problems.append(f"{part.path}: missing")
            elif _sha256(path) != part.sha256:
                problems.append(f"{part.path}: checksum mismatch")
        expected = hashlib.sha256("".join(sorted(p.sha256 for p in manifest.parts)).encode()).hexdigest()
        if manifest.parts and expected != manifest.checksum:
            problems.append("dataset checksum does not match its parts")
        return problems

    # ----------------------------------------------------------------- writes
    def append(
        self,
        dataset: str,
        frame: pl.DataFrame,
        *,
        source: str,
        parameters: dict[str, Any] | None = None,
        seed: int | None = None,
        incidents: pl.DataFrame | None = None,
    ) -> AppendResult:
        """Append canonical rows to a dataset, atomically and idempotently.

        Parameters
        ----------
        dataset : str
            Dataset name (created if new).
        frame : pl.DataFrame
            A canonical frame; it is validated (use :func:`workbench.frames.quarantine`
            first to set bad rows aside).
        source : str
            Provenance recorded in the manifest.
        parameters : dict, optional
            Parameters recorded in the manifest (JSON-serialisable).
        seed : int, optional
            Random seed recorded in the manifest.
        incidents : pl.DataFrame, optional
            Ground-truth incidents (:data:`~workbench.frames.INCIDENT_SCHEMA`).

        Raises
        ------
        SchemaError
            If ``frame`` or ``incidents`` break the schema.
        StoreError
            If the files cannot be written.
        """
        frame = validate(frame)
        if incidents is not None:
            incidents = _cast_exact(incidents, INCIDENT_SCHEMA, "incidents")
        try:
            json.dumps(parameters or {})
        except TypeError as err:
            raise ParameterError(
                "parameters", allowed="a JSON-serialisable mapping", received=parameters
            ) from err
        with self._lock(dataset):
            try:
                return self._append_locked(dataset, frame, source, parameters or {}, seed, incidents)
            except OSError as err:
                raise StoreError(f"cannot write dataset {dataset!r} under {self.root}: {err}") from err

    def _append_locked(
        self,
        dataset: str,
        frame: pl.DataFrame,
        source: str,
        parameters: dict[str, Any],
        seed: int | None,
        incidents: pl.DataFrame | None,
    ) -> AppendResult:
        directory = self._dir(dataset)
        try:
            old = self.manifest(dataset)
        except NotFoundError:
            old = None
        self._remove_orphans(dataset, old)
        offered = frame.height
        conflicting = 0
        new_rows = frame.unique(subset=["ts", *SERIES_KEYS], keep="first", maintain_order=True)
        if old is not None and old.parts and new_rows.height:
            lo = cast(dt.datetime, new_rows["ts"].min())
            hi = cast(dt.datetime, new_rows["ts"].max())
            stored = (
                self.scan(dataset, start=lo, end=hi, _end_inclusive=True)
                .select("ts", *SERIES_KEYS, "value")
                .collect()
            )
            # Same (series, ts) with another value is kept as stored, but counted and reported.
            conflicting = (
                new_rows.join(stored, on=["ts", *SERIES_KEYS], how="inner", suffix="_stored")
                .filter(pl.col("value").ne_missing(pl.col("value_stored")))
                .height
            )
            new_rows = new_rows.join(
                stored.drop("value"), on=["ts", *SERIES_KEYS], how="anti", maintain_order="left"
            )
        manifest = old or Manifest(dataset=dataset, source=source, created=_now())
        manifest.source = source
        manifest.parameters = parameters or manifest.parameters
        manifest.seed = seed if seed is not None else manifest.seed
        batch = uuid.uuid4().hex[:12]
        new_parts: list[PartInfo] = []
        if new_rows.height:
            keyed = new_rows.with_columns(_date=pl.col("ts").dt.strftime("%Y-%m-%d"))
            for (provider, date), part in keyed.sort(_SORT).group_by(
                ["provider", "_date"], maintain_order=True
            ):
                rel = Path("parts") / f"provider={provider}" / f"date={date}" / f"{batch}.parquet"
                body = part.drop("_date")
                _write_parquet_durably(body, directory / rel)
                new_parts.append(
                    PartInfo(
                        path=str(rel),
                        rows=body.height,
                        sha256=_sha256(directory / rel),
                        provider=str(provider),
                        date=str(date),
                        min_ts=body["ts"].min().isoformat(),  # type: ignore[union-attr]
                        max_ts=body["ts"].max().isoformat(),  # type: ignore[union-attr]
                    )
                )
        if incidents is not None and incidents.height and old is not None and old.incidents:
            # Idempotent like the rows: an incident already stored is not stored again.
            stored_keys = {_incident_key(r) for r in self.read_incidents(dataset).iter_rows()}
            keep = [_incident_key(r) not in stored_keys for r in incidents.iter_rows()]
            incidents = incidents.filter(pl.Series(keep, dtype=pl.Boolean))
        if incidents is not None and incidents.height:
            rel = Path("incidents") / f"{batch}.parquet"
            _write_parquet_durably(incidents, directory / rel)
            manifest.incidents.append(
                PartInfo(
                    path=str(rel),
                    rows=incidents.height,
                    sha256=_sha256(directory / rel),
                    provider="",
                    date="",
                    min_ts=str(incidents["start"].min()),
                    max_ts=str(incidents["end"].max()),
                )
            )
        manifest.parts.extend(new_parts)
        manifest.rows = sum(p.rows for p in manifest.parts)
        if manifest.parts:
            manifest.start = min(p.min_ts for p in manifest.parts)
            manifest.end = max(p.max_ts for p in manifest.parts)
        manifest.checksum = hashlib.sha256(
            "".join(sorted(p.sha256 for p in manifest.parts)).encode()
        ).hexdigest()
        manifest.package_version = __version__
        manifest.updated = _now()
        added = new_rows.height
        manifest.history.append(
            {
                "at": manifest.updated,
                "offered": offered,
                "added": added,
                "already_stored": offered - added,
                "conflicting": conflicting,
            }
        )
        self._commit(dataset, manifest)
        return AppendResult(dataset, offered, added, offered - added, manifest.rows, manifest, conflicting)

    def delete(self, dataset: str) -> None:
        """Remove a dataset and its files."""
        with self._lock(dataset):
            directory = self._dir(dataset)
            if not (directory / "manifest.json").exists():
                raise NotFoundError("dataset", dataset, self.names())
            (directory / "manifest.json").unlink()
        shutil.rmtree(directory, ignore_errors=True)

    # ------------------------------------------------------------------ reads
    def scan(
        self,
        dataset: str | Sequence[str] | None = None,
        *,
        start: dt.datetime | str | None = None,
        end: dt.datetime | str | None = None,
        provider: str | Sequence[str] | None = None,
        cluster: str | Sequence[str] | None = None,
        level: str | Sequence[str] | None = None,
        entity: str | Sequence[str] | None = None,
        metric: str | Sequence[str] | None = None,
        _end_inclusive: bool = False,
    ) -> pl.LazyFrame:
        """Lazily read canonical rows, filtered with predicate pushdown.

        Files are pruned by the manifest (provider, date, time range) before Parquet
        statistics prune row groups; the filters are applied as lazy predicates.

        Parameters
        ----------
        dataset : str or list of str, optional
            Dataset(s) to read (default: every dataset).
        start, end : datetime or ISO text, optional
            Half-open time range ``[start, end)``; times must carry a time zone.
        provider, cluster, level, entity, metric : str or list of str, optional
            Keep only these values.

        Returns
        -------
        pl.LazyFrame
            Canonical schema.
        """
        names = self.names() if dataset is None else [dataset] if isinstance(dataset, str) else list(dataset)
        lo, hi = _as_utc(start, "start"), _as_utc(end, "end")
        providers = _as_list(provider)
        files: list[str] = []
        for name in names:
            manifest = self.manifest(name)
            directory = self._dir(name)
            for part in manifest.parts:
                if providers and part.provider not in providers:
                    continue
                if lo is not None and dt.datetime.fromisoformat(part.max_ts) < lo:
                    continue
                if hi is not None and dt.datetime.fromisoformat(part.min_ts) > hi:
                    continue
                files.append(str(directory / part.path))
        if not files:
            return pl.LazyFrame(schema=CANONICAL_SCHEMA)
        lazy = pl.scan_parquet(files, hive_partitioning=False, schema=CANONICAL_SCHEMA)
        predicates: list[pl.Expr] = []
        if lo is not None:
            predicates.append(pl.col("ts") >= lo)
        if hi is not None:
            predicates.append(pl.col("ts") <= hi if _end_inclusive else pl.col("ts") < hi)
        for column, wanted in (
            ("provider", providers),
            ("cluster", _as_list(cluster)),
            ("level", _as_list(level)),
            ("entity", _as_list(entity)),
            ("metric", _as_list(metric)),
        ):
            if wanted:
                predicates.append(pl.col(column).cast(pl.String).is_in(wanted))
        return lazy.filter(*predicates) if predicates else lazy

    def read_incidents(self, dataset: str) -> pl.DataFrame:
        """Return the ground-truth incidents stored with ``dataset`` (maybe empty)."""
        manifest = self.manifest(dataset)
        directory = self._dir(dataset)
        frames = [pl.read_parquet(directory / p.path) for p in manifest.incidents]
        if not frames:
            return pl.DataFrame(schema=INCIDENT_SCHEMA)
        return pl.concat(frames).sort("start")

    def write_findings(self, dataset: str, findings: pl.DataFrame) -> Path:
        """Store (replace) the findings of ``dataset`` atomically; return the file path."""
        self.manifest(dataset)  # the dataset must exist
        findings = _cast_exact(findings, FINDING_SCHEMA, "findings")
        path = self._dir(dataset) / "findings.parquet"
        with self._lock(dataset):
            _write_parquet_durably(findings, path)
        return path

    def read_findings(self, dataset: str) -> pl.DataFrame:
        """Return the stored findings of ``dataset`` (empty if learning has not run)."""
        self.manifest(dataset)
        path = self._dir(dataset) / "findings.parquet"
        if not path.exists():
            return pl.DataFrame(schema=FINDING_SCHEMA)
        return pl.read_parquet(path)

    def datasets(self) -> pl.DataFrame:
        """Summarise what the store holds: one row per dataset."""
        rows = []
        for name in self.names():
            m = self.manifest(name)
            rows.append(
                {
                    "dataset": name,
                    "source": m.source,
                    "rows": m.rows,
                    "start": m.start,
                    "end": m.end,
                    "files": len(m.parts),
                    "incidents": sum(p.rows for p in m.incidents),
                    "seed": m.seed,
                    "updated": m.updated,
                }
            )
        schema = {
            "dataset": pl.String,
            "source": pl.String,
            "rows": pl.Int64,
            "start": pl.String,
            "end": pl.String,
            "files": pl.Int64,
            "incidents": pl.Int64,
            "seed": pl.Int64,
            "updated": pl.String,
        }
        return pl.DataFrame(rows, schema=schema)


def _incident_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(tuple(v) if isinstance(v, list) else v for v in row)


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _cast_exact(frame: pl.DataFrame, schema: dict[str, pl.DataType], what: str) -> pl.DataFrame:
    from workbench.errors import SchemaError

    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise SchemaError(missing[0], f"{what} frame needs columns {list(schema)}")
    try:
        return frame.select([pl.col(c).cast(t) for c, t in schema.items()])
    except pl.exceptions.PolarsError as err:
        raise SchemaError(what, f"cannot cast to the {what} schema: {err}") from err
