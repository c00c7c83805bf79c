"""Points in time given by users: ISO 8601 text or datetimes, always with a zone, as UTC.

A naive time could be in any zone, so it is refused rather than guessed (the frame
schema quarantines naive timestamps for the same reason).

Examples
--------
>>> from workbench.times import parse_utc_time
>>> parse_utc_time("2026-01-05T02:00:00+02:00", parameter="start").isoformat()
'2026-01-05T00:00:00+00:00'
>>> parse_utc_time("2026-01-05T00:00:00", parameter="start")
Traceback (most recent call last):
...
workbench.errors.ParameterError: parameter 'start': expected a time with a zone, e.g. 2026-01-05T00:00:00Z, got '2026-01-05T00:00:00'
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from workbench.errors import ParameterError

__all__ = ["parse_utc_time"]

_ALLOWED = "an ISO 8601 time with a zone, e.g. 2026-01-05T00:00:00Z"


def parse_utc_time(value: Any, *, parameter: str) -> dt.datetime:
    """Return ``value`` (datetime or ISO text, ``Z`` allowed) as an aware UTC datetime.

    Raises
    ------
    ParameterError
        If the value is not a time, or has no zone.
    """
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as err:
            raise ParameterError(parameter, allowed=_ALLOWED, received=value) from err
    if not isinstance(value, dt.datetime):
        raise ParameterError(parameter, allowed=_ALLOWED, received=value)
    if value.tzinfo is None:
        raise ParameterError(
            parameter, allowed="a time with a zone, e.g. 2026-01-05T00:00:00Z", received=value.isoformat()
        )
    return value.astimezone(dt.UTC)
