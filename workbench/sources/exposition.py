"""Prometheus text exposition and OpenMetrics → :class:`~workbench.mapping.samples.SampleSet`.

Parsing is done by ``prometheus_client``'s own parsers. Real scrapes are not always
valid: RabbitMQ before 3.11.28 writes a ``"`` inside a queue name unescaped, which makes
the whole body unparseable. The parser here therefore works in two passes: the whole
text first; if that fails, family block by family block, and inside a broken block
line by line, so every good sample is kept and every bad line is *rejected* with its
line number and the parser's reason (never silently skipped, never a crash).

Empty families (``# TYPE``/``# HELP`` without samples) and summaries/histograms
(``_count``/``_sum``/``_bucket`` samples) are accepted; what the mapping does not use
is listed by it as ignored or unknown.

Examples
--------
>>> import datetime as dt
>>> from workbench.sources.exposition import parse_exposition
>>> text = '''# TYPE rabbitmq_queue_messages_ready gauge
... rabbitmq_queue_messages_ready{vhost="/",queue="orders"} 95
... rabbitmq_queue_messages_ready{vhost="/",queue="bad"name"} 3
... '''
>>> s = parse_exposition(text, timestamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), source="file:x")
>>> s.points["value"].to_list()
[95.0]
>>> s.rejected["location"].to_list()
['line 3']
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from workbench.errors import SourceError
from workbench.mapping.samples import SampleSet

__all__ = ["is_openmetrics", "parse_exposition", "read_exposition"]

logger = logging.getLogger(__name__)

_MAX_LINE_SHOWN = 300
_RECORD = tuple[str, dict[str, str], dt.datetime, float]
_UNESCAPED_QUOTE = re.compile(r'="[^"\\]*"[^,}\s]')


def is_openmetrics(text: str) -> bool:
    """True if ``text`` is OpenMetrics (it ends with the ``# EOF`` marker)."""
    return text.rstrip().endswith("# EOF")


def _timestamp(sample_ts: Any, default: dt.datetime) -> dt.datetime:
    if sample_ts is None:
        return default
    return dt.datetime.fromtimestamp(float(sample_ts), tz=dt.UTC)


def _records(families: Iterable[Any], default_ts: dt.datetime) -> list[_RECORD]:
    out: list[_RECORD] = []
    for family in families:
        for sample in family.samples:
            out.append(
                (sample.name, dict(sample.labels), _timestamp(sample.timestamp, default_ts), sample.value)
            )
    return out


def _blocks(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """Split lines into family blocks: (first line number, lines)."""
    start, family = 1, None
    block: list[str] = []
    for number, line in enumerate(lines, start=1):
        name = None
        if line.startswith(("# TYPE ", "# HELP ", "# UNIT ")):
            parts = line.split(maxsplit=3)
            name = parts[2] if len(parts) > 2 else None
        if name is not None and name != family and block:
            yield start, block
            start, block = number, []
        if name is not None:
            family = name
        block.append(line)
    if block:
        yield start, block


def _reason(err: Exception, line: str) -> str:
    text = str(err) or type(err).__name__
    if _UNESCAPED_QUOTE.search(line):
        text = 'unescaped " inside a label value (RabbitMQ < 3.11.28 writes queue names so): ' + text
    return f"unparseable sample: {text}"[:_MAX_LINE_SHOWN]


def parse_exposition(
    text: str,
    *,
    timestamp: dt.datetime,
    source: str,
    openmetrics: bool | None = None,
) -> SampleSet:
    """Parse exposition or OpenMetrics text into samples.

    Parameters
    ----------
    text : str
        The body of a ``/metrics`` response or a ``.prom``/``.om`` file.
    timestamp : datetime
        Time of samples without their own timestamp (the scrape time). Must be
        time-zone aware.
    source : str
        Provenance, e.g. ``file:scrape.prom``.
    openmetrics : bool, optional
        Force the dialect; default: OpenMetrics when the text ends with ``# EOF``.

    Returns
    -------
    SampleSet
        Good samples, plus ``rejected`` lines with their reasons.

    Raises
    ------
    SourceError
        If ``timestamp`` is naive or nothing at all could be parsed from a non-empty text.
    """
    if timestamp.tzinfo is None:
        raise SourceError(f"timestamp {timestamp} has no time zone; give an aware datetime (UTC)")
    om = is_openmetrics(text) if openmetrics is None else openmetrics
    parser = parse_openmetrics if om else parse_text
    rejected: list[dict[str, str]] = []
    try:
        records = _records(parser(text), timestamp)
    except (ValueError, TypeError, KeyError, IndexError) as err:
        logger.warning(
            "%s: exposition text does not parse as a whole (%s); parsing line by line", source, err
        )
        records = []
        lines = [ln for ln in text.splitlines() if not (om and ln.strip() == "# EOF")]
        for first, block in _blocks(lines):
            suffix = "# EOF\n" if om else ""
            try:
                records.extend(_records(parser("\n".join(block) + "\n" + suffix), timestamp))
                continue
            except (ValueError, TypeError, KeyError, IndexError):
                pass
            header = [ln for ln in block if ln.startswith("#")]
            for offset, line in enumerate(block):
                if line.startswith("#") or not line.strip():
                    continue
                try:
                    records.extend(_records(parser("\n".join([*header, line]) + "\n" + suffix), timestamp))
                except (ValueError, TypeError, KeyError, IndexError) as line_err:
                    rejected.append(
                        {
                            "location": f"line {first + offset}",
                            "text": line[:_MAX_LINE_SHOWN],
                            "reason": _reason(line_err, line),
                        }
                    )
        if not records and not rejected:
            raise SourceError(f"{source}: not Prometheus exposition text: {err}") from err
    rejected_frame = pl.DataFrame(
        rejected, schema={"location": pl.String(), "text": pl.String(), "reason": pl.String()}
    )
    if rejected:
        logger.warning("%s: %d exposition lines rejected", source, len(rejected))
    return SampleSet.from_records(records, source=source, rejected=rejected_frame)


def read_exposition(
    path: Path | str,
    *,
    timestamp: dt.datetime | None = None,
    source: str | None = None,
) -> SampleSet:
    """Read a ``.prom``/``.txt``/``.om`` file of exposition text.

    Parameters
    ----------
    path : Path or str
        The file.
    timestamp : datetime, optional
        Scrape time for samples without one (default: the file's modification time).
    source : str, optional
        Provenance (default ``file:<file name>``).

    Raises
    ------
    SourceError
        If the file cannot be read or is not exposition text.
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as err:
        raise SourceError(f"cannot read exposition file {file}: {err}") from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SourceError(f"exposition file {file} is not UTF-8 text (byte {err.start})") from err
    when = timestamp or dt.datetime.fromtimestamp(file.stat().st_mtime, tz=dt.UTC)
    return parse_exposition(text, timestamp=when, source=source or f"file:{file.name}")
