"""NAB v1.1 score of the workbench detector vs two baselines, plus event F1 on simulator scenarios.

Detectors, all run in the same script on the same files:

* ``ensemble``: :class:`~workbench.analysis.anomaly.StreamingEnsembleDetector` with
  the one parameter set below for every file (the workbench's detector);
* ``zscore`` baseline: :class:`~workbench.analysis.anomaly.RollingZScoreDetector`
  (z-score against the previous day of 5-minute samples, Gaussian tail);
* ``iforest`` baseline: scikit-learn's ``IsolationForest`` on raw values, fitted on
  the probationary rows, scoring the rest with ``-score_samples``.

Each file starts from scratch, the probationary rows only warm the detector up,
and the rest is scored record by record (no look-ahead). Scores go through the
workbench's own NAB scorer (:mod:`workbench.analysis.nab`, written from the rules
in data/real/nab/README.md): three profiles, one corpus-wide threshold per profile,
normalised between the null (0) and perfect (100) detectors.

Scenario part: the simulator's incident scenarios are simulated, every series is
run through :func:`~workbench.analysis.anomaly.detect_anomalies`, and findings are
matched to ground-truth incidents by cluster and time (an incident is detected
when a finding in its cluster starts between its start and its end plus a grace
period; findings matching no incident are false alarms). Reported: event-level
precision, recall, F1 and median time to detect.

NAB data: Copyright 2014-2024 Numenta Inc., MIT License; Ahmad et al. 2017,
doi:10.1016/j.neucom.2017.04.070.

Run: ``python benchmarks/nab.py`` (full) or ``--quick`` (subset, < 1 min).
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

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import joblib  # noqa: E402
import sklearn  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402

from workbench.analysis import nab  # noqa: E402
from workbench.analysis.anomaly import (  # noqa: E402
    AlarmRule,
    RollingZScoreDetector,
    StreamingEnsembleDetector,
    detect_anomalies,
)

NAB_ROOT = ROOT / "data" / "real" / "nab"

#: The one parameter set used for every NAB file.
ENSEMBLE = StreamingEnsembleDetector(suppression=0.35)  # package defaults + suppression of 0.35 x warm-up
ZSCORE = RollingZScoreDetector(window=288, warmup=10)

QUICK_FILES = [
    "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv",
    "realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv",
    "realAdExchange/exchange-3_cpc_results.csv",
    "realKnownCause/ec2_request_latency_system_failure.csv",
    "realTraffic/speed_t4013.csv",
]

SCENARIOS = [
    "broker-failure",
    "consumer-crash",
    "slow-consumer",
    "hot-partition",
    "poison-message",
    "disk-alarm",
]
SCENARIO_DETECTOR = StreamingEnsembleDetector(history=720)
SCENARIO_RULE = AlarmRule(threshold=0.75, hits=2, window=5, suppression=120)
GRACE = dt.timedelta(minutes=30)


def iforest_file_scores(values: np.ndarray, seed: int = 0) -> np.ndarray:
    """Plain IsolationForest on raw values: fit on the probationary rows, score the rest."""
    warm = max(nab.probation_length(values.shape[0]), 1)
    forest = IsolationForest(n_estimators=100, random_state=seed).fit(values[:warm, None])
    rest = -forest.score_samples(values[warm:, None])
    return np.concatenate((np.zeros(warm), rest))


def score_nab(
    corpus: list[nab.NabFile], n_jobs: int
) -> tuple[dict[str, dict[str, nab.NabResult]], dict[str, float]]:
    results: dict[str, dict[str, nab.NabResult]] = {}
    seconds: dict[str, float] = {}
    for name, det in (("ensemble", ENSEMBLE), ("zscore", ZSCORE)):
        t0 = time.perf_counter()
        scores = nab.nab_detector_scores(corpus, det, n_jobs=n_jobs)
        seconds[name] = time.perf_counter() - t0
        results[name] = nab.score_all_profiles(corpus, scores)
    t0 = time.perf_counter()
    parts = joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(iforest_file_scores)(f.values) for f in corpus)
    seconds["iforest"] = time.perf_counter() - t0
    results["iforest"] = nab.score_all_profiles(
        corpus, {f.name: p for f, p in zip(corpus, parts, strict=True)}
    )
    return results, seconds


def match_events(findings: pl.DataFrame, incidents: pl.DataFrame) -> dict[str, Any]:
    """Event-level matching of findings to incidents by cluster and time."""
    detected, delays = 0, []
    matched = np.zeros(findings.height, dtype=bool)
    f_start = findings["start"].to_list()
    f_cluster = findings["cluster"].to_list()
    for inc in incidents.iter_rows(named=True):
        lo, hi = inc["start"], inc["end"] + GRACE
        hits = [
            i
            for i, (s, c) in enumerate(zip(f_start, f_cluster, strict=True))
            if c == inc["cluster"] and lo <= s <= hi
        ]
        if hits:
            detected += 1
            matched[hits] = True
            delays.append(min((f_start[i] - inc["start"]).total_seconds() for i in hits) / 60.0)
    return {
        "incidents": incidents.height,
        "detected": detected,
        "findings": findings.height,
        "true_findings": int(matched.sum()),
        "delays_min": delays,
    }


def score_scenarios(quick: bool, n_jobs: int) -> dict[str, Any]:
    from workbench.sources.simulator import simulate

    names = SCENARIOS[1:2] if quick else SCENARIOS
    seeds = [1]
    days = 1.2 if quick else 2.0
    totals = {"incidents": 0, "detected": 0, "findings": 0, "true_findings": 0, "delays_min": []}
    per: dict[str, Any] = {}
    for name in names:
        for seed in seeds:
            sim = simulate(name, days=days, seed=seed)
            incidents = sim.incidents.filter(pl.col("end") > pl.col("start"))
            findings = detect_anomalies(
                sim.frame, detector=SCENARIO_DETECTOR, rule=SCENARIO_RULE, n_jobs=n_jobs
            )
            m = match_events(findings, incidents)
            per[f"{name}:{seed}"] = {k: v for k, v in m.items() if k != "delays_min"}
            for k in ("incidents", "detected", "findings", "true_findings"):
                totals[k] += m[k]
            totals["delays_min"].extend(m["delays_min"])
    precision = totals["true_findings"] / totals["findings"] if totals["findings"] else 0.0
    recall = totals["detected"] / totals["incidents"] if totals["incidents"] else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    delay = float(np.median(totals["delays_min"])) if totals["delays_min"] else float("nan")
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "ttd_min": delay,
        "totals": totals,
        "runs": per,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="subset of files and scenarios (< 1 min)")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--no-scenarios", action="store_true", help="skip the simulator part")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "nab.json")
    args = parser.parse_args(argv)

    corpus = nab.load_nab_corpus(NAB_ROOT, files=QUICK_FILES if args.quick else None)
    t0 = time.perf_counter()
    results, seconds = score_nab(corpus, args.n_jobs)
    print(
        f"NAB v1.1, {len(corpus)} files, {sum(f.n_rows for f in corpus):,} rows, "
        f"{sum(len(f.windows) for f in corpus)} windows{' (QUICK subset)' if args.quick else ''}"
    )
    print(
        f"{'detector':<10} {'standard':>9} {'low_FP':>8} {'low_FN':>8} {'TP':>4} {'FP':>5} {'FN':>4} {'seconds':>8}"
    )
    for name, res in results.items():
        std = res["standard"]
        print(
            f"{name:<10} {std.score:9.2f} {res['reward_low_FP_rate'].score:8.2f} "
            f"{res['reward_low_FN_rate'].score:8.2f} {std.true_positives:4d} {std.false_positives:5d} "
            f"{std.false_negatives:4d} {seconds[name]:8.1f}"
        )
    print("published board: ARTime 74.9/65.1/80.4, Numenta HTM ~70, RCF 51.7, windowed Gaussian 39.6")
    ens = results["ensemble"]
    figures: dict[str, float] = {
        "nab_standard": round(ens["standard"].score, 3),
        "nab_low_fp": round(ens["reward_low_FP_rate"].score, 3),
        "nab_low_fn": round(ens["reward_low_FN_rate"].score, 3),
        "baseline_zscore_standard": round(results["zscore"]["standard"].score, 3),
        "baseline_zscore_low_fp": round(results["zscore"]["reward_low_FP_rate"].score, 3),
        "baseline_zscore_low_fn": round(results["zscore"]["reward_low_FN_rate"].score, 3),
        "baseline_iforest_standard": round(results["iforest"]["standard"].score, 3),
        "baseline_iforest_low_fp": round(results["iforest"]["reward_low_FP_rate"].score, 3),
        "baseline_iforest_low_fn": round(results["iforest"]["reward_low_FN_rate"].score, 3),
        "nab_threshold_standard": round(ens["standard"].threshold, 6),
        "nab_windows_detected_standard": ens["standard"].true_positives,
        "nab_false_positives_standard": ens["standard"].false_positives,
        "nab_files": len(corpus),
        "ensemble_seconds": round(seconds["ensemble"], 2),
        "zscore_seconds": round(seconds["zscore"], 2),
        "iforest_seconds": round(seconds["iforest"], 2),
    }
    scenario: dict[str, Any] = {}
    if not args.no_scenarios:
        scenario = score_scenarios(args.quick, args.n_jobs)
        print(
            f"simulator scenarios: incidents {scenario['totals']['incidents']}, detected "
            f"{scenario['totals']['detected']}, findings {scenario['totals']['findings']} "
            f"({scenario['totals']['true_findings']} during incidents)"
        )
        print(
            f"event precision {scenario['precision']:.3f} recall {scenario['recall']:.3f} "
            f"F1 {scenario['f1']:.3f} median time to detect {scenario['ttd_min']:.1f} min"
        )
        figures |= {
            "scenario_event_precision": round(scenario["precision"], 4),
            "scenario_event_recall": round(scenario["recall"], 4),
            "scenario_event_f1": round(scenario["f1"], 4),
            "scenario_time_to_detect_min": round(scenario["ttd_min"], 2),
        }
    result = {
        "figures": figures,
        "quick": args.quick,
        "detector": repr(ENSEMBLE),
        "per_category_raw": _per_category(corpus, ens["standard"]),
        "scenario_runs": scenario.get("runs", {}),
        "seconds_total": round(time.perf_counter() - t0, 2),
        "cpu_count": os.cpu_count(),
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "polars": pl.__version__,
            "scikit-learn": sklearn.__version__,
            "joblib": joblib.__version__,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return result


def _per_category(corpus: list[nab.NabFile], res: nab.NabResult) -> dict[str, float]:
    out: dict[str, float] = {}
    for f in corpus:
        out[f.category] = round(out.get(f.category, 0.0) + res.per_file[f.name], 3)
    return out


if __name__ == "__main__":
    main()
