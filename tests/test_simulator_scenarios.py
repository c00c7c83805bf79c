"""Scenario library: every built-in scenario runs, validates, and shows its incidents."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from workbench import frames
from workbench.errors import ConfigError
from workbench.sources.simulator import (
    export_scenario,
    get_scenario,
    import_scenario,
    list_scenarios,
    scenario_names,
    simulate,
)
from workbench.sources.simulator.library import BUILTIN_DIR

BUILTIN = sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def moved(frame: pl.DataFrame, incident: dict, metric: str) -> bool:
    """Does ``metric`` of one of the incident's entities leave its pre-incident range?"""
    span = max(incident["end"] - incident["start"], dt.timedelta(hours=1))
    for entity in incident["entities"]:
        series = frame.filter(
            pl.col("cluster") == incident["cluster"], pl.col("entity") == entity, pl.col("metric") == metric
        )
        for _, group in series.group_by("level"):
            before = group.filter(pl.col("ts") < incident["start"], pl.col("ts") >= incident["start"] - span)[
                "value"
            ].to_numpy()
            during = group.filter(pl.col("ts").is_between(incident["start"], incident["end"]))[
                "value"
            ].to_numpy()
            if before.size < 5 or during.size == 0:
                continue
            median = np.median(before)
            spread = np.median(np.abs(before - median)) * 1.4826
            if np.max(np.abs(during - median)) > 6 * spread + 0.05 * abs(median) + 1e-6:
                return True
    return False


def test_library_has_at_least_twelve_documented_scenarios() -> None:
    assert len(BUILTIN) >= 12
    listing = list_scenarios()
    assert set(BUILTIN) <= set(listing["name"])
    assert (listing.filter(pl.col("name").is_in(BUILTIN))["description"].str.len_chars() > 40).all()
    assert "default" in scenario_names()


@pytest.mark.parametrize("name", BUILTIN)
def test_scenario_incidents_are_visible_in_the_metrics_they_name(name: str) -> None:
    result = simulate(name, seed=3)
    first_day = result.frame["ts"].min() + dt.timedelta(days=1)
    frames.validate(
        result.frame.filter(pl.col("ts") < first_day)
    )  # the schema; every row is checked elsewhere
    spec = get_scenario(name)
    assert result.incidents.height == len(spec.incidents)
    for incident in result.incidents.to_dicts():
        assert incident["metrics"], incident
        near = result.frame.filter(
            pl.col("cluster") == incident["cluster"],
            pl.col("metric").is_in(incident["metrics"]),
            pl.col("entity").is_in(incident["entities"]),
        )
        missing = [m for m in incident["metrics"] if not moved(near, incident, m)]
        assert not missing, f"{name}: {incident['kind']} does not show in {missing}"


def test_default_scenario_is_a_modest_fleet() -> None:
    spec = get_scenario("default")
    assert spec.kafka
    assert spec.rabbitmq
    assert spec.sqs
    assert spec.days == 7
    assert 3 <= len(spec.incidents) <= 6


def test_export_edit_import_round_trip(isolated_settings: Path) -> None:
    exported = export_scenario("slow-consumer", isolated_settings)
    text = exported.read_text(encoding="utf-8")
    assert text.startswith("# Queue Workbench scenario")
    edited = isolated_settings / "mine.yaml"
    edited.write_text(
        text.replace("name: slow-consumer", "name: my-slow-consumer").replace(
            "magnitude: 0.35", "magnitude: 0.2"
        ),
        encoding="utf-8",
    )
    spec = import_scenario(edited)
    assert spec.name == "my-slow-consumer"
    assert "my-slow-consumer" in scenario_names()
    assert get_scenario("my-slow-consumer").incidents[0].magnitude == 0.2
    assert list_scenarios().filter(pl.col("name") == "my-slow-consumer")["origin"].item() == "imported"
    with pytest.raises(ConfigError, match="exists"):
        import_scenario(edited)
    original = simulate("slow-consumer", days=1, seed=1)
    again = simulate(get_scenario("slow-consumer"), days=1, seed=1)
    assert original.frame.equals(again.frame)


def test_invalid_import_is_refused_with_the_field(isolated_settings: Path) -> None:
    bad = isolated_settings / "bad.yaml"
    bad.write_text(
        "name: broken\nkafka:\n  - topics: [{name: t, partitions: 0, load: {base_rate: 1}}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"kafka\.0\.topics\.0\.partitions"):
        import_scenario(bad)
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        import_scenario(bad)
