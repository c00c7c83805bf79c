"""Forecast accuracy: SeasonalForecaster vs seasonal naive (and naive), MASE on held-out data.

Series: the NAB ops series (all 17 realAWSCloudwatch files plus the two ops files of
realKnownCause, bundled under data/real/nab) and simulator series (Kafka topic publish
rates, consumer-group lag and SQS/RabbitMQ queue depth from the ``default`` scenario).

Protocol (rolling origin): for each series, forecasts start at several origins in the
last fifth of the series (80, 85, 90, 95 % of its length); each method is fitted on up
to 14 days before the origin and forecasts the next 24 hours (or what is left). The
error of a series is the mean absolute error over all its origins, scaled by the
in-sample MAE of the one-day seasonal naive forecast on the history before the first
origin (MASE, m = one day). The headline figure is mean MASE of the forecaster divided
by mean MASE of the seasonal naive forecast (lower is better; target <= 0.8).

Run: ``python benchmarks/forecast.py`` (full) or ``--quick`` (< 1 min).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.analysis.forecast import SeasonalForecaster, default_forecaster  # noqa: E402
from workbench.analysis.nab import load_nab_corpus  # noqa: E402

NAB_ROOT = ROOT / "data" / "real" / "nab"
NAB_OPS = [
    "realKnownCause/cpu_utilization_asg_misconfiguration.csv",
    "realKnownCause/ec2_request_latency_system_failure.csv",
]
DAY = 86_400.0


@dataclass
class Series:
    name: str
    group: str
    t: np.ndarray  # seconds
    y: np.ndarray
    metric: str | None = None


def nab_series(quick: bool) -> list[Series]:
    labels = json.loads((NAB_ROOT / "labels" / "combined_windows.json").read_text())
    names = sorted(n for n in labels if n.startswith("realAWSCloudwatch/")) + NAB_OPS
    if quick:
        names = names[::6]
    out = []
    for f in load_nab_corpus(NAB_ROOT, files=names):
        t = f.timestamps.astype("datetime64[s]").astype(np.int64).astype(np.float64)
        out.append(Series(f.name, "nab", t, f.values.astype(np.float64)))
    return out


def sim_series(quick: bool) -> list[Series]:
    from workbench.sources.simulator.engine import simulate

    days = 7 if quick else 14
    frame = simulate("default", days=days, seed=11, step="5m").frame
    wanted = frame.filter(
        (
            pl.col("level").cast(pl.String).is_in(["topic", "queue"])
            & (pl.col("metric") == "messages_in_per_s")
        )
        | (
            (pl.col("level").cast(pl.String) == "consumer_group")
            & (pl.col("metric") == "consumer_lag_messages")
        )
        | ((pl.col("level").cast(pl.String) == "queue") & (pl.col("metric") == "queue_depth_messages"))
    )
    out = []
    for (cluster, level, entity, metric), part in (
        wanted.sort("ts")
        .partition_by(["cluster", "level", "entity", "metric"], as_dict=True, maintain_order=True)
        .items()
    ):
        t = part["ts"].dt.epoch("s").to_numpy().astype(np.float64)
        out.append(
            Series(f"{cluster}/{level}/{entity}/{metric}", "sim", t, part["value"].to_numpy(), str(metric))
        )
    out.sort(key=lambda s: s.name)
    return out[::3] if quick else out


def evaluate(
    series: Series, origins: list[float], methods: dict[str, SeasonalForecaster | None]
) -> dict[str, float]:
    t, y = series.t, series.y
    step = float(np.median(np.diff(np.unique(t))))
    m = max(1, round(DAY / step))
    first = int(origins[0] * t.size)
    history = y[:first]
    scale = float(np.mean(np.abs(history[m:] - history[:-m]))) if history.size > m else float("nan")
    errors: dict[str, list[float]] = {name: [] for name in methods}
    for frac in origins:
        cut = int(frac * t.size)
        keep = t[:cut] > t[cut - 1] - 14 * DAY
        ahead = (t[cut:] > t[cut - 1]) & (t[cut:] <= t[cut - 1] + DAY)
        if ahead.sum() < 2:
            continue
        Xtr, ytr = t[:cut][keep].reshape(-1, 1), y[:cut][keep]
        Xte, yte = t[cut:][ahead].reshape(-1, 1), y[cut:][ahead]
        for name, chosen in methods.items():
            # None = the forecaster the workbench itself picks for this metric
            est = default_forecaster(series.metric) if chosen is None else chosen
            pred = est.fit(Xtr, ytr).predict(Xte)
            errors[name].append(float(np.mean(np.abs(pred - yte))))
    return {name: float(np.mean(v)) / scale if scale > 0 else float("nan") for name, v in errors.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few series and one origin (< 1 min)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "forecast.json")
    args = parser.parse_args()
    origins = [0.9] if args.quick else [0.8, 0.85, 0.9, 0.95]
    methods = {
        "seasonal_forecaster": None,
        "seasonal_naive": SeasonalForecaster(method="seasonal_naive", period="daily"),
        "naive": SeasonalForecaster(method="seasonal_naive", period="none"),
    }
    started = time.perf_counter()
    rows = []
    for series in nab_series(args.quick) + sim_series(args.quick):
        t0 = time.perf_counter()
        scores = evaluate(series, origins, methods)
        rows.append(
            {"series": series.name, "group": series.group, **scores, "seconds": time.perf_counter() - t0}
        )
    table = pl.DataFrame(rows).filter(pl.all_horizontal(pl.col(list(methods)).is_finite()))
    table = table.with_columns(ratio=pl.col("seasonal_forecaster") / pl.col("seasonal_naive"))
    elapsed = time.perf_counter() - started

    def ratio(frame: pl.DataFrame, base: str = "seasonal_naive") -> float:
        return float(frame["seasonal_forecaster"].mean() / frame[base].mean())  # type: ignore[operator]

    def geo(frame: pl.DataFrame) -> float:
        ratios = frame["ratio"].to_numpy()
        ratios = ratios[np.isfinite(ratios) & (ratios > 0)]  # a zero-error baseline has no ratio
        return float(np.exp(np.log(ratios).mean()))

    nab, sim = table.filter(pl.col("group") == "nab"), table.filter(pl.col("group") == "sim")
    figures = {
        "mase_ratio_vs_seasonal_naive": ratio(table),
        "mase_ratio_vs_seasonal_naive_nab": ratio(nab),
        "mase_ratio_vs_seasonal_naive_sim": ratio(sim),
        "mase_ratio_geomean_per_series": geo(table),
        "mase_ratio_vs_naive": ratio(table, "naive"),
        "mase_seasonal_forecaster": float(table["seasonal_forecaster"].mean()),  # type: ignore[arg-type]
        "mase_seasonal_naive": float(table["seasonal_naive"].mean()),  # type: ignore[arg-type]
        "mase_naive": float(table["naive"].mean()),  # type: ignore[arg-type]
        "series": table.height,
        "series_better_than_seasonal_naive": int((table["ratio"] < 1).sum()),
        "seconds": elapsed,
    }
    with pl.Config(tbl_rows=100, fmt_str_lengths=70, float_precision=3, tbl_width_chars=160):
        print(table.select("series", "seasonal_forecaster", "seasonal_naive", "naive", "ratio", "seconds"))
        print(pl.DataFrame({"figure": list(figures), "value": [float(v) for v in figures.values()]}))
    import joblib
    import sklearn
    import statsmodels

    result = {
        "figures": figures,
        "cpu_count": os.cpu_count(),
        "versions": {
            "python": platform.python_version(),
            "statsmodels": statsmodels.__version__,
            "scikit-learn": sklearn.__version__,
            "polars": pl.__version__,
            "numpy": np.__version__,
            "joblib": joblib.__version__,
        },
        "quick": args.quick,
        "protocol": "rolling origin at 80/85/90/95 % (quick: 90 %), 24 h horizon, <= 14 d history, MASE m = 1 day",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
