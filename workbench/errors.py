"""One exception hierarchy for the whole workbench.

Every error raised on purpose by the package derives from :class:`WorkbenchError`.
Specific errors also subclass the builtin that fits, so callers that only know
Python's builtins (``except ValueError``) still catch them, and carry structured
attributes so programs need not parse messages.

Examples
--------
>>> from workbench.errors import ParameterError
>>> err = ParameterError("step", allowed="a positive duration like '1m'", received="-5s")
>>> str(err)
"parameter 'step': expected a positive duration like '1m', got '-5s'"
>>> isinstance(err, ValueError)
True
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigError",
    "NotFoundError",
    "ParameterError",
    "SchemaError",
    "SourceError",
    "StoreError",
    "WorkbenchError",
]


class WorkbenchError(Exception):
    """Base of every error the workbench raises on purpose."""


class ParameterError(WorkbenchError, ValueError):
    """A function parameter was outside what is allowed.

    Parameters
    ----------
    parameter : str
        Name of the parameter.
    allowed : str
        What would have been accepted, in words.
    received : object
        What was received.
    """

    def __init__(self, parameter: str, *, allowed: str, received: Any) -> None:
        self.parameter = parameter
        self.allowed = allowed
        self.received = received
        super().__init__(f"parameter {parameter!r}: expected {allowed}, got {received!r}")


class SchemaError(WorkbenchError, ValueError):
    """A frame broke a schema rule.

    Parameters
    ----------
    column : str
        The column that broke the rule.
    rule : str
        The rule, in words.
    rows : list of dict, optional
        A few offending rows, to show the user.
    """

    def __init__(self, column: str, rule: str, rows: list[dict[str, Any]] | None = None) -> None:
        self.column = column
        self.rule = rule
        self.rows = rows or []
        message = f"column {column!r}: {rule}"
        if self.rows:
            shown = "; ".join(str(r) for r in self.rows[:3])
            message += f" (e.g. {shown})"
        super().__init__(message)


class ConfigError(WorkbenchError, ValueError):
    """A setting (environment variable or config file) is invalid."""


class SourceError(WorkbenchError, RuntimeError):
    """A metrics source failed: unreachable, refused, or answered nonsense.

    Parameters
    ----------
    message : str
        What went wrong, in words.
    url : str, optional
        The address involved.
    query : str, optional
        The query (e.g. PromQL) involved.
    """

    def __init__(self, message: str, *, url: str | None = None, query: str | None = None) -> None:
        self.url = url
        self.query = query
        parts = [message]
        if url:
            parts.append(f"url={url}")
        if query:
            parts.append(f"query={query}")
        super().__init__(" | ".join(parts))


class StoreError(WorkbenchError, OSError):
    """The Parquet store could not be read or written."""


class NotFoundError(WorkbenchError, KeyError):
    """A named thing (dataset, scenario, metric, registry key) does not exist.

    Parameters
    ----------
    kind : str
        What was looked up, e.g. ``"dataset"``.
    name : str
        The name asked for.
    available : iterable of str, optional
        The names that do exist, to help the user.
    """

    def __init__(self, kind: str, name: str, available: Any = ()) -> None:
        self.kind = kind
        self.name = name
        self.available = sorted(str(a) for a in available)
        message = f"no {kind} named {name!r}"
        if self.available:
            shown = ", ".join(self.available[:20])
            more = "" if len(self.available) <= 20 else f", ... ({len(self.available)} in all)"
            message += f"; available: {shown}{more}"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0])
