"""The fidelity report: verdicts per statistic and series, corrected p-values, HTML + JSON.

:func:`compare_frames` pairs each real series with a synthetic one, runs every statistic of
:mod:`workbench.fidelity.compare`, corrects the p-values for multiple comparisons
(statsmodels ``multipletests``, Holm by default) and turns each statistic into a pass/fail
verdict with the thresholds in :data:`THRESHOLDS`. :func:`write_report` writes the result
with its figures under ``reports/fidelity/<UTC timestamp>/``.

Thresholds (documented in the README, section "Simulation fidelity")
-----------------------------------------------------------------------
=========================  =====  ======  =================================================
statistic                  rule   value   meaning
=========================  =====  ======  =================================================
ks_complement              >=     0.90    1 - KS statistic (SDMetrics KSComplement)
ks_test                    >=     0.05    Holm-adjusted KS p-value (thinned series)
anderson_darling           >=     0.05    Holm-adjusted k-sample AD p-value (thinned)
wasserstein_normalized     <=     0.25    Wasserstein distance / real standard deviation
acf_distance               <=     0.10    RMS ACF difference, lags up to one day
seasonal_correlation       >=     0.80    hour-of-day profile correlation (n/a if the real
                                          series has no significant daily profile)
spectral_distance          <=     0.25    total variation of normalised Welch spectra
discriminative_auc         <=     0.60    cross-validated AUC of a real-vs-synthetic
                                          window classifier (0.5 = indistinguishable)
tstr_ratio                 <=     1.25    train-on-synthetic / train-on-real forecast MAE
=========================  =====  ======  =================================================

Examples
--------
>>> import datetime as dt, numpy as np
>>> t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
>>> def frame(seed):
...     ts = [t0 + dt.timedelta(minutes=5 * i) for i in range(2000)]
...     v = np.random.default_rng(seed).normal(10, 1, 2000)
...     return pl.DataFrame({"ts": ts, "provider": "sqs", "cluster": "c", "level": "queue",
...                          "entity": "q", "metric": "messages_in_per_s", "value": v, "source": "x"})
>>> result = compare_frames(frame(0), frame(1))
>>> result.verdicts()["verdict"].to_list()[0] in ("pass", "fail")
True
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from joblib import Parallel, delayed

from workbench.errors import ParameterError
from workbench.fidelity.compare import SeriesDetails, compare_series
from workbench.fidelity.learn import SERIES_KEYS, frame_series
from workbench.fidelity.series_model import regular_grid

__all__ = ["THRESHOLDS", "FidelityResult", "Threshold", "compare_frames", "normalise_name", "write_report"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Threshold:
    """A pass rule: ``statistic <op> value``; ``source`` is the statistic column it reads."""

    op: str
    value: float
    source: str
    description: str


#: The documented pass/fail thresholds (see the module docstring and the README).
THRESHOLDS: dict[str, Threshold] = {
    "ks_complement": Threshold(">=", 0.90, "ks_complement", "1 - KS statistic (SDMetrics KSComplement)"),
    "ks_test": Threshold(">=", 0.05, "ks_pvalue", "KS two-sample test, adjusted p-value (thinned series)"),
    "anderson_darling": Threshold(
        ">=", 0.05, "ad_pvalue", "k-sample Anderson-Darling, adjusted p-value (thinned)"
    ),
    "wasserstein_normalized": Threshold(
        "<=", 0.25, "wasserstein_normalized", "Wasserstein distance / real std"
    ),
    "acf_distance": Threshold("<=", 0.10, "acf_distance", "RMS ACF difference, lags up to one day"),
    "seasonal_correlation": Threshold(">=", 0.80, "seasonal_correlation", "hour-of-day profile correlation"),
    "spectral_distance": Threshold(
        "<=", 0.25, "spectral_distance", "total variation of normalised Welch spectra"
    ),
    "discriminative_auc": Threshold(
        "<=", 0.60, "discriminative_auc", "real-vs-synthetic window classifier, CV AUC"
    ),
    "tstr_ratio": Threshold("<=", 1.25, "tstr_ratio", "train-on-synthetic / train-on-real forecast MAE"),
}
_PVALUES = ("ks_pvalue", "ad_pvalue")


def normalise_name(name: str) -> str:
    """Entity name as a queue/topic name: lower case, runs of other characters to ``-``.

    Examples
    --------
    >>> normalise_name("realAWSCloudwatch/elb_request_count_8c0756")
    'realawscloudwatch-elb-request-count-8c0756'
    """
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass
class FidelityResult:
    """Everything a fidelity comparison produced.

    Attributes
    ----------
    statistics : polars.DataFrame
        One row per compared pair: the real series key, the synthetic series it was
        compared with (``sim_*``), every statistic, and adjusted p-values (``*_adjusted``).
    details : dict of str to SeriesDetails
        Figure arrays per pair label.
    thresholds : dict of str to Threshold
        The thresholds the verdicts used.
    correction : str
        The multiple-comparison method.
    """

    statistics: pl.DataFrame
    details: dict[str, SeriesDetails] = field(default_factory=dict)
    thresholds: dict[str, Threshold] = field(default_factory=lambda: dict(THRESHOLDS))
    correction: str = "holm"

    def verdicts(self) -> pl.DataFrame:
        """Long result frame: one row per pair and statistic with value, threshold, verdict."""
        rows = []
        for rec in self.statistics.iter_rows(named=True):
            for name, rule in self.thresholds.items():
                value = rec.get(f"{rule.source}_adjusted", rec.get(rule.source))
                raw_p = rec.get(rule.source) if rule.source in _PVALUES else None
                applicable = not (name == "seasonal_correlation" and not rec.get("seasonal_applicable", 1.0))
                if value is None or not np.isfinite(value) or not applicable:
                    verdict = "n/a"
                else:
                    ok = value >= rule.value if rule.op == ">=" else value <= rule.value
                    verdict = "pass" if ok else "fail"
                rows.append(
                    {
                        "pair": rec["pair"],
                        **{k: rec[k] for k in SERIES_KEYS},
                        "statistic": name,
                        "value": float(value) if value is not None else float("nan"),
                        "p_value": float(raw_p) if raw_p is not None else None,
                        "rule": rule.op,
                        "threshold": rule.value,
                        "verdict": verdict,
                    }
                )
        return pl.DataFrame(rows, schema_overrides={"p_value": pl.Float64})

    def summary(self) -> pl.DataFrame:
        """Per statistic: mean value over pairs, pairs passed / applicable, overall verdict."""
        v = self.verdicts()
        return (
            v.group_by("statistic", maintain_order=True)
            .agg(
                pl.col("value").filter(pl.col("verdict") != "n/a").mean().alias("mean"),
                pl.col("rule").first(),
                pl.col("threshold").first(),
                (pl.col("verdict") == "pass").sum().alias("passed"),
                (pl.col("verdict") != "n/a").sum().alias("applicable"),
            )
            .with_columns(
                pl.when(pl.col("applicable") == 0)
                .then(pl.lit("n/a"))
                .when(pl.col("passed") == pl.col("applicable"))
                .then(pl.lit("pass"))
                .otherwise(pl.lit("fail"))
                .alias("verdict")
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: thresholds, correction, statistics, verdicts, summary, details."""
        return {
            "correction": self.correction,
            "thresholds": {k: asdict(v) for k, v in self.thresholds.items()},
            "statistics": self.statistics.to_dicts(),
            "verdicts": self.verdicts().to_dicts(),
            "summary": self.summary().to_dicts(),
            "details": {k: asdict(v) for k, v in self.details.items()},
        }


def _regular(ts: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    return regular_grid(ts, values)


def _on_step(ts: np.ndarray, values: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample a regular series to ``step`` (block means when coarser, interpolation otherwise)."""
    own = float(np.median(np.diff(ts))) if ts.size > 1 else step
    if np.isclose(own, step, rtol=1e-3):
        return ts, values
    if step > own:
        grid = np.floor((ts - ts[0]) / step).astype(np.int64)
        sums, counts = np.bincount(grid, weights=values), np.bincount(grid)
        keep = counts > 0
        return ts[0] + step * np.flatnonzero(keep), sums[keep] / counts[keep]
    grid = np.arange(ts[0], ts[-1] + step / 2, step)
    return grid, np.interp(grid, ts, values)


def _pairs(real_keys: list[dict[str, str]], sim_keys: list[dict[str, str]]) -> list[tuple[int, int]]:
    """Pair real with synthetic series: exact key, then entity+metric, then entity, then metric."""
    rates = ("messages_in_per_s", "published_per_s")

    def find(i: int) -> int | None:
        r = real_keys[i]
        rules: list[Callable[[dict[str, str]], bool]] = [
            lambda s: all(s[k] == r[k] for k in SERIES_KEYS),
            lambda s: (
                normalise_name(s["entity"]) == normalise_name(r["entity"]) and s["metric"] == r["metric"]
            ),
            lambda s: normalise_name(s["entity"]) == normalise_name(r["entity"]) and s["metric"] in rates,
        ]
        for rule in rules:
            hits = [j for j, s in enumerate(sim_keys) if rule(s)]
            if hits:
                return hits[0]
        return None

    return [(i, j) for i in range(len(real_keys)) if (j := find(i)) is not None]


def _compare_pair(
    real: tuple[np.ndarray, np.ndarray],
    sim: tuple[np.ndarray, np.ndarray],
    standardize: bool,
    random_state: int,
) -> tuple[dict[str, float], SeriesDetails]:
    rt, rv, step = _regular(*real)
    st, sv, _ = _regular(*sim)
    st, sv = _on_step(st, sv, step)
    if standardize:
        rv = (rv - rv.mean()) / (rv.std() or 1.0)
        sv = (sv - sv.mean()) / (sv.std() or 1.0)
    return compare_series(rt, rv, st, sv, step_s=step, random_state=random_state)


def compare_frames(
    real: pl.DataFrame | pl.LazyFrame,
    sim: pl.DataFrame | pl.LazyFrame,
    *,
    pairs: list[tuple[dict[str, str], dict[str, str]]] | None = None,
    standardize: bool = False,
    thresholds: dict[str, Threshold] | None = None,
    correction: str = "holm",
    random_state: int = 0,
    n_jobs: int | None = None,
) -> FidelityResult:
    """Compare a synthetic canonical frame with a real one, per series.

    Parameters
    ----------
    real, sim : polars.DataFrame or LazyFrame
        Canonical frames.
    pairs : list of (real key, sim key), optional
        Explicit pairing by series keys (dicts of ``provider, cluster, level, entity,
        metric``). Default: each real series is paired with the synthetic series of the
        same key, else of the same (normalised) entity and metric, else of the same entity
        and an arrival-rate metric (what a learned scenario produces).
    standardize : bool
        z-score both series first (compare shapes when the scales are arbitrary, e.g. a
        built-in scenario against real data).
    thresholds : dict, optional
        Replace :data:`THRESHOLDS`.
    correction : str
        ``multipletests`` method for the p-values (``holm``, ``fdr_bh``, ...).
    random_state : int
        Seed of the discriminator.
    n_jobs : int, optional
        joblib parallelism over pairs.

    Returns
    -------
    FidelityResult

    Raises
    ------
    ParameterError
        If no real series could be paired with a synthetic one.
    """
    from statsmodels.stats.multitest import multipletests

    real_series, sim_series = frame_series(real), frame_series(sim)
    real_keys, sim_keys = [k for k, _, _ in real_series], [k for k, _, _ in sim_series]
    if pairs is None:
        index = _pairs(real_keys, sim_keys)
    else:
        index = []
        for rk, sk in pairs:
            try:
                index.append((real_keys.index(dict(rk)), sim_keys.index(dict(sk))))
            except ValueError as err:
                raise ParameterError(
                    "pairs", allowed="series keys present in both frames", received=(rk, sk)
                ) from err
    if not index:
        raise ParameterError(
            "sim",
            allowed="a frame with series matching the real ones (same entity, or pass pairs=)",
            received=f"{len(sim_keys)} synthetic series, {len(real_keys)} real series, none matched",
        )
    outputs = Parallel(n_jobs=n_jobs)(
        delayed(_compare_pair)(real_series[i][1:], sim_series[j][1:], standardize, random_state)
        for i, j in index
    )
    rows, details = [], {}
    for (i, j), (stats_, det) in zip(index, outputs, strict=True):
        label = "/".join(real_keys[i][k] for k in ("cluster", "entity", "metric"))
        rows.append(
            {"pair": label, **real_keys[i], **{f"sim_{k}": sim_keys[j][k] for k in SERIES_KEYS}, **stats_}
        )
        details[label] = det
    statistics = pl.DataFrame(rows)
    pvals = np.concatenate([statistics[c].to_numpy() for c in _PVALUES])
    adjusted = multipletests(pvals, method=correction)[1]
    n = statistics.height
    statistics = statistics.with_columns(
        *(pl.Series(f"{c}_adjusted", adjusted[k * n : (k + 1) * n]) for k, c in enumerate(_PVALUES))
    )
    return FidelityResult(statistics, details, dict(thresholds or THRESHOLDS), correction)


def _html_table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td class='{html.escape(str(v))}'>{html.escape(str(v))}</td>" for v in row)
        + "</tr>"
        for row in frame.iter_rows()
    )
    return f"<table border='1' cellspacing='0' cellpadding='3'><tr>{head}</tr>{body}</table>"


def write_report(
    result: FidelityResult,
    out_dir: Path | str | None = None,
    *,
    title: str = "Simulation fidelity",
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``report.json`` and ``report.html`` (verdict table + figures); return the folder.

    ``out_dir`` defaults to ``<reports_dir>/fidelity/<UTC timestamp>/``.
    """
    from workbench.figures.fidelity import report_figures

    if out_dir is None:
        from workbench.config import settings

        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        out_dir = settings().reports_dir / "fidelity" / stamp
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "title": title,
        "created": dt.datetime.now(dt.UTC).isoformat(),
        "metadata": metadata or {},
        **result.to_dict(),
    }
    (folder / "report.json").write_text(json.dumps(payload, indent=1, default=str, allow_nan=True))
    summary = result.summary().with_columns(pl.col("mean").round(3))
    verdicts = result.verdicts().with_columns(pl.col("value").round(4), pl.col("p_value").round(4))
    parts = [
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>td.pass{background:#d4f4d4} td.fail{background:#f8d0d0} body{font-family:sans-serif}</style>"
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>p-values corrected with {result.correction}; two-sample tests on series thinned by their "
        "decorrelation lag. Thresholds are documented in the README (Simulation fidelity).</p>",
        "<h2>Summary</h2>",
        _html_table(summary),
        "<h2>Verdicts per series</h2>",
        _html_table(verdicts.drop("provider", "level")),
    ]
    first = True
    for label, det in result.details.items():
        parts.append(f"<h2>{html.escape(label)}</h2>")
        for fig in report_figures(det, title=label):
            parts.append(fig.to_html(full_html=False, include_plotlyjs=bool(first)))
            first = False
    parts.append("</body></html>")
    (folder / "report.html").write_text("\n".join(parts))
    logger.info("fidelity report written to %s", folder)
    return folder
