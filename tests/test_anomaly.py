"""Anomaly detectors: streaming == batch, no look-ahead, calibration, alarm rules, findings."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from workbench.analysis.anomaly import (
    AlarmRule,
    ResidualIsolationForest,
    RollingZScoreDetector,
    StreamingEnsembleDetector,
    alarm_events,
    conformal_log_pvalues,
    detect_anomalies,
    score_series,
    surprise_score,
)
from workbench.errors import ParameterError, SchemaError
from workbench.figures.anomaly import anomaly_figure
from workbench.frames import FINDING_SCHEMA

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def daily_series(n: int = 1500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 100 + 20 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 2, n)


DETECTORS = [
    StreamingEnsembleDetector(window=8, history=500),
    StreamingEnsembleDetector(window=8, history=500, suppression=0.5),
    RollingZScoreDetector(window=100),
    ResidualIsolationForest(period=288, random_state=0),
]


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: type(d).__name__)
def test_record_by_record_equals_batch(detector: object) -> None:
    x = daily_series(1100)
    x[900] += 40
    x = np.column_stack((x, daily_series(1100, seed=1)))
    det = detector.fit(x[:700])  # type: ignore[attr-defined]
    batch = det.anomaly_score(x[700:])
    streamed = np.concatenate([det.update(x[i : i + 1]) for i in range(700, 1100)])
    np.testing.assert_allclose(streamed, batch, rtol=1e-9, atol=1e-12)
    assert batch.min() >= 0.0
    assert batch.max() < 1.0


def test_no_look_ahead() -> None:
    x = daily_series(1000)
    det = StreamingEnsembleDetector(window=8, history=500).fit(x[:500, None])
    before = det.anomaly_score(x[500:, None])
    changed = x.copy()
    changed[800:] += 1000.0
    after = det.anomaly_score(changed[500:, None])
    np.testing.assert_array_equal(before[:300], after[:300])
    assert after[300] > before[300]


def test_spike_and_level_shift_score_highest() -> None:
    x = daily_series(2000)
    x[1500] += 50  # spike
    x[1800:] += 30  # level shift
    scores = score_series(x, StreamingEnsembleDetector(window=8, history=800))
    assert int(np.argmax(scores[:1700])) == 1500
    assert scores[1800:1810].max() > 0.6
    # calm part stays low
    assert np.quantile(scores[400:1400], 0.99) < 0.6


def test_conformal_pvalues_are_calibrated_on_exchangeable_data() -> None:
    rng = np.random.default_rng(3)
    stats = np.abs(rng.normal(size=5000))
    log_p, hist = conformal_log_pvalues(stats, np.empty(0), tail=0.0)
    p = np.exp(log_p[100:])
    assert abs(np.mean(p <= 0.05) - 0.05) < 0.015
    assert abs(np.mean(p <= 0.2) - 0.2) < 0.03
    assert np.all(np.diff(hist) >= 0)
    assert hist.size == 5000
    assert surprise_score(np.log(np.array([1.0, 1e-2])))[1] == pytest.approx(2 / 3)


def test_suppression_keeps_one_high_score_per_episode() -> None:
    x = daily_series(1500)
    x[1200:1210] += 60
    plain = score_series(x, StreamingEnsembleDetector(window=8, history=500, suppression=0))
    quiet = score_series(x, StreamingEnsembleDetector(window=8, history=500, suppression=100))
    assert (plain[1200:1300] > 0.6).sum() > 1
    assert (quiet[1200:1300] > 0.6).sum() == 1
    assert quiet[1200] == plain[1200]


def test_predict_and_decision_follow_threshold() -> None:
    x = daily_series(900)[:, None]
    x[850] += 80
    det = StreamingEnsembleDetector(window=8, history=400, threshold=0.7).fit(x[:600])
    scores = det.anomaly_score(x[600:])
    pred = det.predict(x[600:])
    np.testing.assert_array_equal(pred == -1, scores > 0.7)
    np.testing.assert_allclose(det.decision_function(x[600:]), 0.7 - scores)
    assert pred[250] == -1


def test_invalid_parameters_raise_parameter_error() -> None:
    x = daily_series(300)[:, None]
    with pytest.raises(ParameterError, match="threshold"):
        StreamingEnsembleDetector(threshold=1.5).fit(x)
    with pytest.raises(ParameterError, match="scales"):
        StreamingEnsembleDetector(scales=(0,)).fit(x)
    with pytest.raises(ParameterError, match="window"):
        RollingZScoreDetector(window=1).fit(x)
    with pytest.raises(ParameterError, match="hits"):
        AlarmRule(hits=3, window=2)
    with pytest.raises(ParameterError, match="warmup"):
        score_series(x[:, 0], warmup=0)


def test_alarm_rule_hits_window_and_suppression() -> None:
    s = np.zeros(100)
    s[[10, 30, 31, 60, 61, 62, 95]] = 0.9
    one = alarm_events(s, AlarmRule(threshold=0.5, hits=1, window=1, suppression=0))
    assert one["first_row"].to_list() == [10, 30, 31, 60, 61, 62, 95]
    two = alarm_events(s, AlarmRule(threshold=0.5, hits=2, window=3, suppression=0))
    assert two["first_row"].to_list() == [31, 61, 62]
    sup = alarm_events(s, AlarmRule(threshold=0.5, hits=2, window=3, suppression=40))
    assert sup.rows() == [(31, 62, 31, 0.9, 4)]
    assert alarm_events(np.zeros(10)).height == 0


def canonical(values: dict[tuple[str, str], np.ndarray]) -> pl.DataFrame:
    parts = []
    for (entity, metric), v in values.items():
        parts.append(
            pl.DataFrame(
                {
                    "ts": [T0 + dt.timedelta(minutes=5 * i) for i in range(v.size)],
                    "provider": "kafka",
                    "cluster": "c1",
                    "level": "topic",
                    "entity": entity,
                    "metric": metric,
                    "value": v,
                    "source": "test",
                }
            )
        )
    return pl.concat(parts)


def test_detect_anomalies_returns_findings_frame() -> None:
    base = daily_series(1200)
    spiky = base.copy()
    spiky[1000] += 80
    frame = canonical(
        {
            ("orders", "messages_in_per_s"): spiky,
            ("orders", "messages_out_per_s"): daily_series(1200, seed=5),
            ("payments", "messages_in_per_s"): daily_series(1200, seed=6),
        }
    )
    found = detect_anomalies(frame, rule=AlarmRule(threshold=0.75, suppression=288), multivariate=True)
    assert found.schema == pl.Schema(FINDING_SCHEMA)
    uni = found.filter(pl.col("kind") == "anomaly")
    hit = uni.filter((pl.col("entity") == "orders") & (pl.col("metric") == "messages_in_per_s"))
    assert hit["start"].to_list() == [T0 + dt.timedelta(minutes=5 * 1000)]
    assert hit["severity"].to_list() == ["critical"]
    assert "messages_in_per_s reached" in hit["explanation"][0]
    assert uni.height <= 3  # calm series stay quiet at this threshold
    multi = found.filter(pl.col("kind") == "multivariate_anomaly")
    assert set(multi["metric"].to_list()) <= {"messages_in_per_s+messages_out_per_s"}


def test_detect_anomalies_edge_cases() -> None:
    short = canonical({("orders", "messages_in_per_s"): daily_series(10)})
    assert detect_anomalies(short).height == 0
    assert detect_anomalies(short).schema == pl.Schema(FINDING_SCHEMA)
    with pytest.raises(ParameterError, match="min_rows"):
        detect_anomalies(short, min_rows=1)
    bad = short.with_columns(pl.lit(float("nan")).alias("value"))
    with pytest.raises(SchemaError):
        detect_anomalies(bad)


def test_cumulative_series_scored_on_increments() -> None:
    rate = np.full(1000, 10.0) + np.random.default_rng(0).normal(0, 0.5, 1000)
    rate[800] = 60.0
    offsets = np.cumsum(rate)
    scores = score_series(offsets)
    assert int(np.argmax(scores)) == 800


def test_anomaly_figure_draws_bands_and_threshold() -> None:
    x = daily_series(600)
    frame = pl.DataFrame(
        {
            "ts": [T0 + dt.timedelta(minutes=i) for i in range(600)],
            "value": x,
            "score": np.linspace(0, 0.9, 600),
        }
    )
    findings = pl.DataFrame(
        {
            "start": [T0 + dt.timedelta(minutes=100)],
            "end": [T0 + dt.timedelta(minutes=120)],
            "severity": ["critical"],
            "explanation": ["spike"],
        }
    )
    fig = anomaly_figure(frame, findings, threshold=0.6, title="t", max_points=200)
    assert len(fig.data) == 2
    assert len(fig.data[0].x) <= 200
    assert len(fig.layout.shapes) == 2  # one band + the threshold line
    with pytest.raises(SchemaError):
        anomaly_figure(frame.drop("value"))


def test_simulated_consumer_crash_is_found_in_its_cluster() -> None:
    from workbench.sources.simulator import simulate

    sim = simulate("consumer-crash", days=1.5, seed=1)
    incident = sim.incidents.filter(pl.col("end") > pl.col("start")).row(0, named=True)
    frame = sim.frame.filter(
        (pl.col("cluster") == incident["cluster"])
        & pl.col("metric").is_in(["consumer_lag_messages", "messages_out_per_s"])
        & pl.col("level").is_in(["topic", "consumer_group"])
    )
    found = detect_anomalies(frame, rule=AlarmRule(threshold=0.75, hits=2, window=5, suppression=120))
    assert found.height > 0
    first = found["start"].min()
    assert incident["start"] <= first <= incident["end"]
