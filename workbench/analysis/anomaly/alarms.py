"""Alarm rules: turn per-row anomaly scores into alert events an operator can act on.

A row is a *hit* when its score exceeds ``threshold``. An alarm fires on a hit
when at least ``hits`` of the last ``window`` rows (itself included) are hits, and
no alarm fired in the previous ``suppression`` rows. Each alarm becomes one event
spanning from the firing row to the last hit before its suppression ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from workbench.errors import ParameterError

__all__ = ["ALERT_SCHEMA", "AlarmRule", "alarm_events"]

FloatArray = npt.NDArray[np.float64]

ALERT_SCHEMA: dict[str, pl.DataType] = {
    "first_row": pl.Int64(),
    "last_row": pl.Int64(),
    "peak_row": pl.Int64(),
    "peak_score": pl.Float64(),
    "hits": pl.Int64(),
}


@dataclass(frozen=True)
class AlarmRule:
    """``hits`` of the last ``window`` rows above ``threshold``, then quiet for ``suppression`` rows.

    Attributes
    ----------
    threshold : float
        Score a row must exceed to count as a hit (scores live in ``[0, 1)``).
    hits : int
        Hits needed within ``window`` rows.
    window : int
        Rows in the counting window.
    suppression : int
        Rows after an alarm during which no new alarm fires.

    Examples
    --------
    >>> AlarmRule(threshold=0.7, hits=2, window=5, suppression=100).hits
    2
    """

    threshold: float = 0.6
    hits: int = 1
    window: int = 1
    suppression: int = 288

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold < 1.0:
            raise ParameterError("threshold", allowed="a score in [0, 1)", received=self.threshold)
        if self.window < 1:
            raise ParameterError("window", allowed="an integer >= 1", received=self.window)
        if not 1 <= self.hits <= self.window:
            raise ParameterError(
                "hits", allowed=f"an integer in [1, window={self.window}]", received=self.hits
            )
        if self.suppression < 0:
            raise ParameterError("suppression", allowed="an integer >= 0", received=self.suppression)


def alarm_events(scores: FloatArray, rule: AlarmRule | None = None) -> pl.DataFrame:
    """Alert events of one series under an alarm rule.

    Parameters
    ----------
    scores : numpy.ndarray
        Anomaly scores in time order.
    rule : AlarmRule, optional
        Defaults to ``AlarmRule()``.

    Returns
    -------
    polars.DataFrame
        One row per alarm (:data:`ALERT_SCHEMA`): first and last row of the
        episode, the row and value of its highest score, and the hits in it.

    Examples
    --------
    >>> s = np.zeros(50); s[[10, 11, 12, 40]] = [0.7, 0.9, 0.8, 0.95]
    >>> alarm_events(s, AlarmRule(threshold=0.6, hits=2, window=3, suppression=20)).rows()
    [(11, 12, 11, 0.9, 2)]
    """
    rule = rule or AlarmRule()
    s = np.asarray(scores, dtype=np.float64)
    hit = s > rule.threshold
    csum = np.concatenate(([0], np.cumsum(hit)))
    idx = np.arange(s.size)
    in_window = csum[idx + 1] - csum[np.maximum(idx + 1 - rule.window, 0)]
    candidates = np.flatnonzero(hit & (in_window >= rule.hits))
    fired: list[int] = []
    next_allowed = -1
    for row in candidates.tolist():  # loops over candidate alarms, not over rows
        if row >= next_allowed:
            fired.append(row)
            next_allowed = row + rule.suppression + 1 if rule.suppression else row + 1
    records = []
    for row in fired:
        stop = min(row + max(rule.suppression, 1), s.size)
        episode_hits = np.flatnonzero(hit[row:stop]) + row
        peak = row + int(np.argmax(s[row:stop]))
        records.append((row, int(episode_hits[-1]), peak, float(s[peak]), int(episode_hits.size)))
    return pl.DataFrame(records, schema=ALERT_SCHEMA, orient="row")
