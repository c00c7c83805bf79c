"""One duration parser: every room names the parameter a bad duration was given for."""

from __future__ import annotations

import pytest

from workbench.analysis.health import health_report
from workbench.durations import parse_duration, polars_duration
from workbench.errors import ParameterError
from workbench.sources.prometheus import parse_duration as prometheus_seconds
from workbench.sources.simulator import simulate


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2d6h", 194400), ("1h30m", 5400), ("PT1H", 3600), ("250ms", 0.25), (45, 45)],
)
def test_durations_parse(text, seconds):
    assert parse_duration(text).total_seconds() == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["7", "7q", "", "5 minutes", "1h-2m", True])
def test_window_lengths_must_carry_a_known_unit(bad):
    with pytest.raises(ParameterError) as info:
        polars_duration(bad, parameter="every")
    assert info.value.parameter == "every"


def test_prometheus_durations_are_positive_seconds():
    assert prometheus_seconds("5m") == 300.0
    with pytest.raises(ParameterError, match="'since'"):
        prometheus_seconds("0s", parameter="since")


def test_health_and_simulator_name_their_parameter():
    frame = simulate("steady-week", days=0.05, seed=1).frame
    with pytest.raises(ParameterError, match="'every'"):
        health_report(frame, every="7q")
    with pytest.raises(ParameterError, match="'step'"):
        simulate("steady-week", days=0.05, seed=1, step="7q")
