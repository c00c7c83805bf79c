"""CLI: learn-sim writes a scenario that simulate runs; validate-sim prints verdicts and writes the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from typer.testing import CliRunner

from workbench.cli import app
from workbench.fidelity.scenario import REAL_REFERENCES, _main_arrival_series
from workbench.sources.files import read_nab_csv
from workbench.store import Store

runner = CliRunner()


def _real_frame() -> pl.DataFrame:
    """Four days of the bundled NAB ELB request count (5-minute samples)."""
    frame = read_nab_csv(
        Path(__file__).resolve().parent.parent / "data/real/nab/data" / REAL_REFERENCES[0]
    ).frame
    return frame.sort("ts").head(4 * 288)


def test_learn_sim_simulate_validate_sim_round_trip(isolated_settings: Path) -> None:
    store_dir = isolated_settings / "store"
    Store(store_dir).append("real-elb", _real_frame(), source="file:nab/elb")

    learned = runner.invoke(
        app, ["learn-sim", "real-elb", "--name", "elb-learned", "--store-dir", str(store_dir)]
    )
    assert learned.exit_code == 0, learned.output
    assert "workbench simulate elb-learned" in learned.output
    scenario_file = isolated_settings / "data" / "scenarios" / "elb-learned.yaml"
    assert "learned_series" in scenario_file.read_text()

    simulated = runner.invoke(
        app,
        [
            "simulate",
            "elb-learned",
            "--days",
            "2",
            "--seed",
            "4",
            "--dataset",
            "sim-elb",
            "--store-dir",
            str(store_dir),
        ],
    )
    assert simulated.exit_code == 0, simulated.output

    out = isolated_settings / "report"
    validated = runner.invoke(
        app,
        [
            "validate-sim",
            "--real",
            "real-elb",
            "--sim",
            "sim-elb",
            "--store-dir",
            str(store_dir),
            "--out",
            str(out),
        ],
    )
    assert validated.exit_code == 0, validated.output
    assert "discriminative_auc" in validated.output
    assert "ks_complement" in validated.output
    payload = json.loads((out / "report.json").read_text())
    assert {r["statistic"] for r in payload["verdicts"]} >= {"ks_test", "anderson_darling", "tstr_ratio"}
    assert all(r["verdict"] in ("pass", "fail", "n/a") for r in payload["verdicts"])
    assert (out / "report.html").stat().st_size > 10_000


def test_validate_sim_needs_both_datasets_or_scenarios() -> None:
    result = runner.invoke(app, ["validate-sim", "--real", "only-real"])
    assert result.exit_code != 0
    assert "--real/--sim" in str(result.exception) or "--real/--sim" in result.output


def test_learn_sim_unknown_dataset_is_a_clear_error(isolated_settings: Path) -> None:
    result = runner.invoke(
        app, ["learn-sim", "no-such-dataset", "--store-dir", str(isolated_settings / "store")]
    )
    assert result.exit_code != 0
    assert "no-such-dataset" in str(result.exception) + result.output


def test_main_arrival_series_picks_the_busiest_topic() -> None:
    from workbench.sources.simulator import simulate

    frame = simulate("default", days=0.1, seed=1).frame
    main = _main_arrival_series(frame)
    assert main.select("cluster", "entity").unique().height == 1
    assert main["metric"].unique().to_list()[0] in ("messages_in_per_s", "published_per_s")
    assert np.isfinite(main["value"].to_numpy()).all()


def test_scenario_fidelity_scores_a_builtin_scenario_against_real_data() -> None:
    from workbench.fidelity import scenario_fidelity

    result = scenario_fidelity(["steady-week"], days=3, references=REAL_REFERENCES[:1])
    assert result.statistics["pair"].to_list() == [
        "steady-week/realAWSCloudwatch/elb_request_count_8c0756/external_value"
    ]
    verdicts = result.verdicts()
    assert verdicts.height == 9
    assert set(verdicts["verdict"]) <= {"pass", "fail", "n/a"}
