"""Simulator throughput: canonical samples generated per second, against a per-sample Python loop.

Fleet: two Kafka clusters (6 brokers, 6 topics x 12 partitions, 6 consumer groups each), one
RabbitMQ cluster (3 nodes, 30 queues with DLQs) and 40 SQS queues with redrive policies,
with one incident of each common kind. That is about 2,200 canonical series; the full run
simulates 7 days at 1-minute resolution (about 22 million samples), ``--quick`` one day.

Measured, side by side in one run:

- ``samples_per_s``: canonical rows produced by ``simulate()`` per second of wall time,
  end to end (load model, mechanics for every provider, incidents and ground truth, and
  assembly of the validated-schema Polars frame). Best of ``--repeat`` runs.
- ``samples_per_cpu_s``: the same rows per second of CPU time of this process (all its
  threads); on a shared machine this shows what the code costs when wall time is inflated
  by other processes. ``load_average`` records how busy the machine was.
- ``mechanics_samples_per_s``: the same, without the frame assembly.
- ``baseline_loop_samples_per_s``: a straightforward per-sample Python implementation of
  the same Kafka partition mechanics (produce, consume with capacity, committed offset,
  lag; one dict row per sample), timed on a subset of partitions and reported per sample.
  The baseline covers the cheapest provider only, so the speed-up is a lower bound.

Clusters are simulated side by side on a thread pool (NumPy releases the GIL), so the
figures use both cores of this machine; the baseline is single-threaded Python.

Run: ``python benchmarks/simulator.py`` (full) or ``--quick`` (< 1 min).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.sources.simulator import ScenarioSpec, simulate  # noqa: E402
from workbench.sources.simulator.engine import canonical_blocks, run_models  # noqa: E402
from workbench.sources.simulator.load import Calendar  # noqa: E402


def fleet_spec(days: float) -> ScenarioSpec:
    """The benchmark fleet (about 2,200 canonical series)."""
    zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo"]
    topics = [
        {
            "name": f"topic-{i:02d}",
            "partitions": 12,
            "replication_factor": 3 if i % 4 else 2,
            "key_skew": 0.2 * (i % 3),
            "load": {
                "base_rate": 50.0 + 40 * i,
                "daily_amplitude": 0.5,
                "peak_hour": 10 + i % 10,
                "timezone": zones[i % 3],
                "business_hours": [8, 18],
                "business_boost": 0.3,
                "noise": 0.08,
                "bursts_per_day": 1,
            },
        }
        for i in range(12)
    ]
    groups = [
        {
            "name": f"group-{i:02d}",
            "topics": [f"topic-{i:02d}"],
            "members": 4,
            "capacity_per_member": (50.0 + 40 * i) * 0.9,
        }
        for i in range(12)
    ]
    queues: list[dict[str, Any]] = []
    for i in range(15):
        queues.append(
            {
                "name": f"q-{i:02d}",
                "vhost": "/" if i % 2 else "apps",
                "type": "quorum" if i % 3 == 0 else "classic",
                "node": i % 3,
                "consumers": 3,
                "capacity_per_consumer": 10.0 + 2 * i,
                "prefetch": 20,
                "reject_ratio": 0.002,
                "nack_ratio": 0.01,
                "dead_letter_queue": f"q-{i:02d}.dlq",
                "load": {"base_rate": 5.0 + 3 * i, "timezone": zones[i % 3], "noise": 0.1},
            }
        )
        queues.append(
            {
                "name": f"q-{i:02d}.dlq",
                "vhost": "/" if i % 2 else "apps",
                "node": (i + 1) % 3,
                "consumers": 0,
                "load": {"base_rate": 0, "noise": 0},
            }
        )
    sqs = []
    for i in range(20):
        sqs.append(
            {
                "name": f"jobs-{i:02d}",
                "consumers": 4,
                "capacity_per_consumer": 3.0 + i,
                "visibility_timeout": "60s",
                "processing_time": "5s",
                "failure_ratio": 0.02,
                "max_receive_count": 4,
                "dead_letter_queue": f"jobs-{i:02d}-dlq",
                "load": {"base_rate": 2.0 + 1.5 * i, "timezone": zones[i % 3], "noise": 0.15},
            }
        )
        sqs.append({"name": f"jobs-{i:02d}-dlq", "consumers": 0, "load": {"base_rate": 0, "noise": 0}})
    incidents = [
        {
            "kind": "broker_failure",
            "cluster": "kafka-bench-1",
            "target": "2",
            "start": "10h",
            "duration": "30m",
        },
        {
            "kind": "slow_consumer",
            "cluster": "kafka-bench-2",
            "target": "group-03",
            "start": "14h",
            "duration": "2h",
            "magnitude": 0.4,
        },
        {
            "kind": "hot_partition",
            "cluster": "kafka-bench-2",
            "target": "topic-05/2",
            "start": "18h",
            "duration": "3h",
            "magnitude": 0.5,
        },
        {
            "kind": "poison_message",
            "cluster": "rabbit-bench-1",
            "target": "q-03",
            "start": "6h",
            "duration": "1h",
            "magnitude": 0.3,
        },
        {
            "kind": "memory_alarm",
            "cluster": "rabbit-bench-1",
            "target": "1",
            "start": "20h",
            "duration": "30m",
            "magnitude": 1.2,
        },
        {
            "kind": "visibility_timeout_short",
            "cluster": "aws-123456789012-eu-west-1",
            "target": "jobs-04",
            "start": "8h",
            "duration": "2h",
            "magnitude": 2,
        },
    ]
    return ScenarioSpec.model_validate(
        {
            "name": "bench-fleet",
            "days": days,
            "kafka": [
                {
                    "name": f"kafka-bench-{c + 1}",
                    "brokers": 6,
                    "topics": topics[c::2],
                    "consumer_groups": groups[c::2],
                }
                for c in range(2)
            ],
            "rabbitmq": [{"name": "rabbit-bench-1", "nodes": 3, "queues": queues}],
            "sqs": [{"account_id": "123456789012", "region": "eu-west-1", "queues": sqs}],
            "incidents": incidents,
        }
    )


def baseline_loop(partitions: int, steps: int, seed: int = 0) -> tuple[int, float]:
    """Per-sample Python loop of the Kafka partition mechanics; returns (samples, seconds)."""
    rng = np.random.default_rng(seed)
    rates = rng.uniform(20, 200, size=partitions).tolist()
    began = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for p in range(partitions):
        leo = 1_000_000.0
        committed = leo
        carry_in = 0.0
        carry_out = 0.0
        capacity = rates[p] * 1.1
        for t in range(steps):
            phase = 2 * np.pi * (t % 1440) / 1440
            rate = rates[p] * (1 + 0.5 * np.cos(phase)) * float(np.exp(0.1 * rng.standard_normal()))
            carry_in += rate * 60
            produced = int(carry_in)
            carry_in -= produced
            leo += produced
            carry_out += capacity * 60
            can = int(carry_out)
            carry_out -= can
            consumed = min(can, leo - committed)
            committed += consumed
            lag = leo - committed
            ts = 1_767_571_200_000 + (t + 1) * 60_000
            entity = f"topic/{p}"
            rows.append({"ts": ts, "entity": entity, "metric": "log_end_offset", "value": leo})
            rows.append({"ts": ts, "entity": entity, "metric": "messages_in_per_s", "value": produced / 60})
            rows.append(
                {"ts": ts, "entity": f"group/{entity}", "metric": "committed_offset", "value": committed}
            )
            rows.append(
                {"ts": ts, "entity": f"group/{entity}", "metric": "consumer_lag_messages", "value": lag}
            )
            rows.append(
                {
                    "ts": ts,
                    "entity": f"group/{entity}",
                    "metric": "messages_out_per_s",
                    "value": consumed / 60,
                }
            )
    return len(rows), time.perf_counter() - began


def versions() -> dict[str, str]:
    """Versions of the packages involved."""
    import numpy
    import polars
    import scipy

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "polars": polars.__version__,
        "scipy": scipy.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one simulated day instead of seven (< 1 min)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs of simulate(); the best is reported"
    )
    args = parser.parse_args()
    days = 1.0 if args.quick else 7.0
    spec = fleet_spec(days)
    simulate(spec, days=0.05, seed=0)  # warm imports and caches

    best_total = best_cpu = float("inf")
    rows = series = 0
    for run in range(args.repeat):
        began, cpu = time.perf_counter(), time.process_time()
        result = simulate(spec, seed=run + 1)
        elapsed = time.perf_counter() - began
        best_cpu = min(best_cpu, time.process_time() - cpu)
        if elapsed < best_total:
            best_total = elapsed
            rows = result.frame.height
            series = result.frame.select("cluster", "level", "entity", "metric").n_unique()
        del result

    calendar = Calendar.build(
        spec.start
        or __import__("workbench.sources.simulator.engine", fromlist=["DEFAULT_START"]).DEFAULT_START,
        int(days * 1440),
        60.0,
    )
    best_mech = float("inf")
    for run in range(args.repeat):
        began = time.perf_counter()
        blocks = canonical_blocks(run_models(spec, calendar, run + 1))
        best_mech = min(best_mech, time.perf_counter() - began)
    mech_samples = int(sum(int(np.isfinite(b.values).sum()) for b in blocks))

    base_partitions = 4 if args.quick else 8
    base_samples, base_seconds = baseline_loop(base_partitions, int(days * 1440))

    figures = {
        "samples_per_s": rows / best_total,
        "samples_per_cpu_s": rows / best_cpu,
        "mechanics_samples_per_s": mech_samples / best_mech,
        "baseline_loop_samples_per_s": base_samples / base_seconds,
        "speedup_vs_loop": (rows / best_total) / (base_samples / base_seconds),
        "series": float(series),
        "samples": float(rows),
        "days": days,
        "seconds": best_total,
        "target_samples_per_s": 10_000_000.0,
        "load_average": os.getloadavg()[0],
    }
    print(f"{'measure':<34}{'value':>18}")
    for name, value in figures.items():
        print(f"{name:<34}{value:>18,.1f}")
    verdict = "met" if figures["samples_per_s"] >= 1e7 else "MISSED"
    print(f"target >= 10,000,000 samples/s: {verdict}")
    out = {"figures": figures, "cpu_count": os.cpu_count(), "versions": versions(), "quick": args.quick}
    name = "simulator-quick.json" if args.quick else "simulator.json"
    target = ROOT / "benchmarks" / "results" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
