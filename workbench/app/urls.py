"""View state in the URL: parse and build the query strings the pages share.

Every view's state lives in its URL so a link restores it exactly.

Examples
--------
>>> q = parse_query("?dataset=d1&entity=orders%2F3&metrics=a,b")
>>> q["entity"], q["metrics"]
('orders/3', 'a,b')
>>> entity_href("d1", "kafka", "c1", "partition", "orders/3")
'/entity?dataset=d1&provider=kafka&cluster=c1&level=partition&entity=orders%2F3'
>>> split_list("a,,b")
['a', 'b']
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlencode

from workbench.errors import ParameterError

__all__ = ["entity_href", "parse_query", "parse_time", "split_list", "with_query"]


def parse_query(search: str | None) -> dict[str, str]:
    """Query string (with or without ``?``) to a dict; the last value of a key wins."""
    if not search:
        return {}
    return dict(parse_qsl(search.lstrip("?"), keep_blank_values=False))


def with_query(path: str, **params: str | None) -> str:
    """``path`` plus the non-empty parameters as a query string."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def entity_href(
    dataset: str, provider: str, cluster: str, level: str, entity: str, **extra: str | None
) -> str:
    """Link to the drill-down view of one entity."""
    return with_query(
        "/entity", dataset=dataset, provider=provider, cluster=cluster, level=level, entity=entity, **extra
    )


def split_list(value: str | None) -> list[str]:
    """Comma-separated list from the URL (empty items dropped)."""
    return [v for v in (value or "").split(",") if v]


def parse_time(value: str | None, name: str) -> dt.datetime | None:
    """ISO time from the URL, made UTC (naive times are read as UTC).

    Raises
    ------
    ParameterError
        If the text is not an ISO 8601 time.
    """
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T"))
    except ValueError as err:
        raise ParameterError(name, allowed="an ISO 8601 time like 2026-01-01T12:00", received=value) from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)
