"""Durations as people and Prometheus write them: ``90s``, ``15m``, ``2d6h``, ISO ``PT1H``.

One parser for every room (simulator specs, Prometheus pulls, health windows), so a
duration means the same everywhere and a bad one names the parameter it was given for.

Examples
--------
>>> from workbench.durations import parse_duration
>>> parse_duration("1h30m").total_seconds()
5400.0
>>> parse_duration("7q", parameter="every")
Traceback (most recent call last):
...
workbench.errors.ParameterError: parameter 'every': expected a duration like '15m', '2d6h' or ISO 'PT15M' (units ms, s, m, h, d, w, y), got '7q'
"""

from __future__ import annotations

import datetime as dt
import re

from pydantic import TypeAdapter, ValidationError

from workbench.errors import ParameterError

__all__ = ["parse_duration", "polars_duration"]

_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_ALLOWED = "a duration like '15m', '2d6h' or ISO 'PT15M' (units ms, s, m, h, d, w, y)"


def parse_duration(value: str | float | dt.timedelta, *, parameter: str = "duration") -> dt.timedelta:
    """Parse a duration; bare numbers are seconds.

    Parameters
    ----------
    value : str, float or timedelta
        The duration.
    parameter : str
        Name of the parameter the value was given for (used in the error).

    Raises
    ------
    ParameterError
        If the text is not a duration.
    """
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, bool):
        raise ParameterError(parameter, allowed=_ALLOWED, received=value)
    if isinstance(value, int | float):
        return dt.timedelta(seconds=float(value))
    text = str(value).strip().lower().replace(" ", "")
    if text.startswith(("p", "-p")):
        try:
            return TypeAdapter(dt.timedelta).validate_python(text.upper())
        except ValidationError as err:
            raise ParameterError(parameter, allowed=_ALLOWED, received=value) from err
    pos = 0
    total = 0.0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ParameterError(parameter, allowed=_ALLOWED, received=value)
    return dt.timedelta(seconds=total)


def polars_duration(value: str | float | dt.timedelta, *, parameter: str = "every") -> dt.timedelta:
    """Parse a positive window length for Polars (``dt.truncate``, ``group_by_dynamic``).

    Polars' own duration strings accept units we do not mean (``q`` quarters, ``mo`` months);
    checking here turns a typo into a clear error instead of a silently odd window.

    Examples
    --------
    >>> polars_duration("5m")
    datetime.timedelta(seconds=300)
    """
    parsed = parse_duration(value, parameter=parameter)
    if parsed.total_seconds() <= 0:
        raise ParameterError(parameter, allowed="a positive duration such as '5m' or '1h'", received=value)
    return parsed
