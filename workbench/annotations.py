"""Notes on a time range of an entity, kept beside the store.

An annotation says "this happened here": an operator marks 14:00–14:30 on
consumer group ``billing`` as "deploy of billing v2.3". Notes live in the store
directory under ``annotations/``, one JSON file per note, written atomically
(temporary file + rename), so concurrent writers never corrupt each other and a
crash leaves either the whole note or none of it.

Examples
--------
>>> import datetime as dt, tempfile
>>> root = tempfile.mkdtemp()
>>> t = dt.datetime(2026, 1, 1, 14, tzinfo=dt.timezone.utc)
>>> note = add_annotation(root, cluster="c1", level="consumer_group", entity="billing",
...                       start=t, end=t + dt.timedelta(minutes=30), text="deploy v2.3")
>>> read_annotations(root, entity="billing").get_column("text").to_list()
['deploy v2.3']
>>> delete_annotation(root, note["id"])
>>> read_annotations(root).height
0
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any

import polars as pl

from workbench.errors import NotFoundError, ParameterError, StoreError
from workbench.times import parse_utc_time

__all__ = [
    "ANNOTATION_SCHEMA",
    "MAX_TEXT_LENGTH",
    "add_annotation",
    "annotations_dir",
    "delete_annotation",
    "read_annotations",
]

logger = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 2000

ANNOTATION_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "cluster": pl.String(),
    "level": pl.String(),
    "entity": pl.String(),
    "metric": pl.String(),
    "start": pl.Datetime("ms", "UTC"),
    "end": pl.Datetime("ms", "UTC"),
    "text": pl.String(),
    "author": pl.String(),
    "created": pl.Datetime("ms", "UTC"),
}

_ID = re.compile(r"^[0-9a-f]{32}$")


def annotations_dir(root: Any) -> Path:
    """Directory holding the notes of a store (``<store root>/annotations``).

    Parameters
    ----------
    root : path-like or Store
        The store's root directory, or an object with a ``root`` attribute.
    """
    # A Store exposes its directory as ``root``; a Path's own ``root`` is "/", so check paths first.
    base = Path(root) if isinstance(root, str | os.PathLike) else Path(root.root)
    return base / "annotations"


def _as_utc(value: Any, name: str) -> dt.datetime:
    return parse_utc_time(value, parameter=name)


def add_annotation(
    root: Any,
    *,
    cluster: str,
    level: str,
    entity: str,
    start: dt.datetime | str,
    end: dt.datetime | str,
    text: str,
    metric: str | None = None,
    author: str = "",
) -> dict[str, Any]:
    """Store a note on ``[start, end]`` of one entity and return it.

    Parameters
    ----------
    root : path-like or Store
        Store root (see :func:`annotations_dir`).
    cluster, level, entity : str
        The entity the note is about.
    start, end : datetime or str
        Timezone-aware bounds, ``start <= end``.
    text : str
        The note, 1 to ``MAX_TEXT_LENGTH`` characters. Stored verbatim; every
        view escapes it.
    metric : str, optional
        Restrict the note to one metric's chart.
    author : str
        Who wrote it.

    Returns
    -------
    dict
        The stored note, including its ``id``.

    Raises
    ------
    ParameterError
        On empty or too long text, missing entity keys, or ``start > end``.
    StoreError
        If the note cannot be written.
    """
    for name, value in (("cluster", cluster), ("level", level), ("entity", entity)):
        if not isinstance(value, str) or not value:
            raise ParameterError(name, allowed="a non-empty string", received=value)
    if not isinstance(text, str) or not text.strip():
        raise ParameterError("text", allowed="a non-empty note", received=text)
    if len(text) > MAX_TEXT_LENGTH:
        raise ParameterError(
            "text", allowed=f"at most {MAX_TEXT_LENGTH} characters", received=f"{len(text)} characters"
        )
    t0, t1 = _as_utc(start, "start"), _as_utc(end, "end")
    if t0 > t1:
        raise ParameterError(
            "end", allowed=f"a time at or after start {t0.isoformat()}", received=t1.isoformat()
        )
    note = {
        "id": uuid.uuid4().hex,
        "cluster": cluster,
        "level": level,
        "entity": entity,
        "metric": metric,
        "start": t0.isoformat(),
        "end": t1.isoformat(),
        "text": text,
        "author": author,
        "created": dt.datetime.now(dt.UTC).isoformat(),
    }
    folder = annotations_dir(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(note, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / f"{note['id']}.json")
    except OSError as err:
        raise StoreError(f"cannot write annotation under {folder}: {err}") from err
    logger.info("annotation %s on %s/%s/%s", note["id"], cluster, level, entity)
    return note


def read_annotations(
    root: Any,
    *,
    cluster: str | None = None,
    level: str | None = None,
    entity: str | None = None,
    start: dt.datetime | str | None = None,
    end: dt.datetime | str | None = None,
) -> pl.DataFrame:
    """Notes matching the filters, overlapping ``[start, end]`` when given, oldest first.

    Returns
    -------
    pl.DataFrame
        Columns of :data:`ANNOTATION_SCHEMA` (empty frame when there are none).
    """
    folder = annotations_dir(root)
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    rows: list[dict[str, Any]] = []
    for path in files:
        try:
            rows.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as err:
            logger.warning("skipping unreadable annotation %s: %s", path.name, err)
    if not rows:
        return pl.DataFrame(schema=ANNOTATION_SCHEMA)
    frame = pl.DataFrame(rows, schema={k: pl.String() for k in ANNOTATION_SCHEMA}).with_columns(
        pl.col(c).str.to_datetime(time_zone="UTC").dt.cast_time_unit("ms")
        for c in ("start", "end", "created")
    )
    filters = [
        pl.col(k) == v
        for k, v in (("cluster", cluster), ("level", level), ("entity", entity))
        if v is not None
    ]
    if start is not None:
        filters.append(pl.col("end") >= _as_utc(start, "start"))
    if end is not None:
        filters.append(pl.col("start") <= _as_utc(end, "end"))
    if filters:
        frame = frame.filter(*filters)
    return frame.sort("start", "created")


def delete_annotation(root: Any, annotation_id: str) -> None:
    """Remove one note by id.

    Raises
    ------
    ParameterError
        If the id is not 32 hex characters.
    NotFoundError
        If no such note exists.
    """
    if not isinstance(annotation_id, str) or not _ID.match(annotation_id):
        raise ParameterError("annotation_id", allowed="32 lowercase hex characters", received=annotation_id)
    path = annotations_dir(root) / f"{annotation_id}.json"
    try:
        path.unlink()
    except FileNotFoundError:
        raise NotFoundError("annotation", annotation_id) from None
