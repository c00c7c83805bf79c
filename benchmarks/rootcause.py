"""Root-cause accuracy on the simulator's cascade scenarios, and the time to learn 1,000 entities.

Part 1, ``rootcause_top1``: for every incident of the cascade scenarios (broker failure,
slow and crashed consumers, rebalance storm, hot partition, memory/disk alarm, poison
message) and several seeds, the real pipeline runs on the incident's cluster: the
default anomaly detector (``workbench.analysis.anomaly.detect_anomalies``) over the day
before and the three hours after the incident (5-minute samples), then
``rank_causes``. The onset episode (the largest one starting within [-10, +30] min of
the incident, else within (+30, +60] min) is scored: correct when its top-ranked
candidate is the incident's true cause entity (the broker, node, consumer group,
partition or queue the incident hit). An incident whose onset raised no episode counts
as a miss. Baseline side by side: "earliest anomaly" (rank by start time alone, ties by
score). Seeds 11-15 by default: seeds 1-2 were used while developing the ranking.

Part 2, ``learn_1000_entities_s``: wall time of ``learn()`` (default detector,
seasonality, backlog forecasts, root causes) on 1,000 simulated SQS queues (one day at
5-minute steps), with joblib's process pool (all cores) next to a single process.

Run: ``python benchmarks/rootcause.py`` (full) or ``--quick`` (< 1 min: 1 seed, 3
scenarios, 60 queues).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
from joblib import Parallel, delayed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.analysis.anomaly import detect_anomalies  # noqa: E402
from workbench.analysis.learn import LearnConfig, learn  # noqa: E402
from workbench.analysis.rootcause import rank_causes  # noqa: E402
from workbench.sources.simulator.engine import simulate  # noqa: E402
from workbench.sources.simulator.spec import ScenarioSpec  # noqa: E402

CASCADES = [
    "broker-failure",
    "slow-consumer",
    "consumer-crash",
    "rebalance-storm",
    "hot-partition",
    "memory-alarm",
    "disk-alarm",
    "poison-message",
]
GROUP_KINDS = {"slow_consumer", "consumer_crash", "rebalance_storm"}


def cause_entities(incident: dict[str, Any], provider: str) -> set[str]:
    """The entity (entities, for a Kafka group reading several topics) the incident hit."""
    entities = list(incident["entities"])
    first = entities[0]
    if provider == "kafka" and incident["kind"] in GROUP_KINDS:
        group = first.split("/")[0]
        return {e for e in entities if e.split("/")[0] == group}
    return {first}


def score_incident(scenario: str, seed: int, index: int) -> dict[str, Any]:
    result = simulate(scenario, seed=seed, step="5m")
    incident = result.incidents.row(index, named=True)
    start = incident["start"]
    window = result.frame.filter(
        (pl.col("cluster") == incident["cluster"])
        & pl.col("ts").is_between(start - dt.timedelta(hours=24), start + dt.timedelta(hours=3))
    )
    provider = str(window["provider"][0])
    truth = cause_entities(incident, provider)
    anomalies = detect_anomalies(window)
    ranked = rank_causes(anomalies, window)
    first = ranked.group_by("episode").agg(first=pl.col("start").min(), n=pl.len())
    # the onset episode: the largest one starting within [-10, +30] min, else within (+30, +60] min
    near = (
        first.filter(
            pl.col("first").is_between(start - dt.timedelta(minutes=10), start + dt.timedelta(minutes=60))
        )
        .with_columns(late=pl.col("first") > start + dt.timedelta(minutes=30))
        .sort(["late", "n"], descending=[False, True])
    )
    row = {"scenario": scenario, "seed": seed, "kind": incident["kind"], "truth": sorted(truth)[0]}
    if near.height == 0:
        return {**row, "detected": False, "top1": False, "baseline_top1": False, "top": None, "cause": None}
    episode = ranked.filter(pl.col("episode") == near["episode"][0])
    top = episode.row(0, named=True)
    earliest = episode.sort(["start", "score"], descending=[False, True]).row(0, named=True)
    return {
        **row,
        "detected": True,
        "top1": top["entity"] in truth,
        "baseline_top1": earliest["entity"] in truth,
        "top": f"{top['level']}:{top['entity']}:{top['metric']}",
        "cause": top["cause"],
    }


def fleet_spec(queues: int) -> ScenarioSpec:
    return ScenarioSpec.model_validate(
        {
            "name": "fleet-1000",
            "days": 1,
            "step": "5m",
            "sqs": [
                {
                    "queues": [
                        {"name": f"q{i:04d}", "load": {"base_rate": 5 + (i % 50), "daily_amplitude": 0.4}}
                        for i in range(queues)
                    ]
                }
            ],
            "incidents": [
                {
                    "kind": "load_spike",
                    "cluster": "aws-123456789012-eu-west-1",
                    "target": "q0007",
                    "start": "18h",
                    "duration": "1h",
                    "magnitude": 6,
                }
            ],
        }
    )


def time_learn(queues: int) -> dict[str, float]:
    frame = simulate(fleet_spec(queues), seed=3).frame
    entities = frame.select("provider", "cluster", "level", "entity").unique().height
    config = LearnConfig()
    out: dict[str, float] = {"entities": float(entities), "rows": float(frame.height)}
    for label, n_jobs in (("parallel", -1), ("serial", 1)):
        started = time.perf_counter()
        findings = learn(frame, n_jobs=n_jobs, config=config)
        out[f"{label}_s"] = time.perf_counter() - started
        out[f"{label}_findings"] = float(findings.height)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 3 scenarios, 60 queues (< 1 min)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "rootcause.json")
    args = parser.parse_args()
    scenarios = ["broker-failure", "consumer-crash", "poison-message"] if args.quick else CASCADES
    seeds = [11] if args.quick else list(range(11, 11 + args.seeds))
    queues = 60 if args.quick else args.queues

    jobs = []
    for scenario in scenarios:
        n_incidents = simulate(scenario, seed=seeds[0], step="5m").incidents.height
        jobs += [(scenario, seed, i) for seed in seeds for i in range(n_incidents)]
    started = time.perf_counter()
    rows = Parallel(n_jobs=-1)(delayed(score_incident)(*job) for job in jobs)
    rc_seconds = time.perf_counter() - started
    table = pl.DataFrame(rows)
    per_kind = (
        table.group_by("kind")
        .agg(
            runs=pl.len(),
            detected=pl.col("detected").mean(),
            top1=pl.col("top1").mean(),
            baseline_earliest=pl.col("baseline_top1").mean(),
        )
        .sort("kind")
    )

    timing = time_learn(queues)
    scale = 1000.0 / timing["entities"]
    figures = {
        "rootcause_top1": float(table["top1"].mean()),  # type: ignore[arg-type]
        "rootcause_top1_when_detected": float(table.filter("detected")["top1"].mean() or 0.0),  # type: ignore[arg-type]
        "rootcause_onset_detected": float(table["detected"].mean()),  # type: ignore[arg-type]
        "baseline_earliest_anomaly_top1": float(table["baseline_top1"].mean()),  # type: ignore[arg-type]
        "rootcause_runs": table.height,
        "rootcause_seconds": rc_seconds,
        "learn_entities": timing["entities"],
        "learn_parallel_s": timing["parallel_s"],
        "learn_serial_s": timing["serial_s"],
        # measured on exactly 1,000 entities in a full run; a --quick run scales its smaller fleet linearly
        "learn_1000_entities_s": timing["parallel_s"] * scale,
        "learn_1000_entities_serial_s": timing["serial_s"] * scale,
        "learn_speedup": timing["serial_s"] / timing["parallel_s"],
    }
    with pl.Config(tbl_rows=100, fmt_str_lengths=80, float_precision=3, tbl_width_chars=200):
        print(table.select("scenario", "seed", "kind", "truth", "detected", "top1", "top", "cause"))
        print(per_kind)
        print(pl.DataFrame({"figure": list(figures), "value": [float(v) for v in figures.values()]}))
    import joblib
    import sklearn
    import statsmodels

    result = {
        "figures": figures,
        "cpu_count": os.cpu_count(),
        "versions": {
            "python": platform.python_version(),
            "polars": pl.__version__,
            "scikit-learn": sklearn.__version__,
            "statsmodels": statsmodels.__version__,
            "joblib": joblib.__version__,
        },
        "quick": args.quick,
        "per_kind": per_kind.to_dicts(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
