"""Counters to rates: resets, offset resets, sentinels, PromQL rate() semantics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from workbench.errors import ParameterError, SchemaError
from workbench.mapping.rates import counter_to_rate, increase_expr, prometheus_rate

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _series(values: list[float], *, name: str = "a", step_s: int = 60) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": [T0 + timedelta(seconds=step_s * i) for i in range(len(values))],
            "series": name,
            "value": values,
        }
    )


def test_counter_reset_counts_new_value() -> None:
    out = counter_to_rate(_series([100.0, 160.0, 30.0, 90.0]), by=["series"])
    assert out["value"].to_list() == [1.0, 0.5, 1.0]


def test_offset_reset_drops_interval_and_sentinel() -> None:
    frame = _series([-1.0, 100.0, 160.0, 30.0, 90.0])
    out = counter_to_rate(frame, by=["series"], kind="offset", drop_first=False)
    # the -1 sentinel is removed, the first real value has no predecessor,
    # and the negative jump 160 -> 30 is dropped, not read as a restart
    assert out["value"].to_list() == [None, 1.0, None, 1.0]


def test_series_do_not_bleed_and_input_order_does_not_matter() -> None:
    frame = pl.concat([_series([0.0, 60.0, 120.0], name="a"), _series([1000.0, 1000.0], name="b")])
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    out = counter_to_rate(shuffled, by=["series"], out="rate")
    assert out.select("series", "rate").rows() == [("a", 1.0), ("a", 1.0), ("b", 0.0)]
    assert "value" in out.columns


def test_lazy_in_lazy_out_and_matches_eager() -> None:
    frame = pl.concat([_series([0.0, 60.0, 30.0], name=n) for n in "xyz"])
    lazy = counter_to_rate(frame.lazy(), by=["series"])
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().equals(counter_to_rate(frame, by=["series"]))


def test_vectorised_matches_numpy_reference() -> None:
    rng = np.random.default_rng(7)
    n_series, n = 20, 200
    inc = rng.poisson(5.0, size=(n_series, n)).astype(float)
    values = inc.cumsum(axis=1)
    resets = rng.random((n_series, n)) < 0.02
    for s in range(n_series):
        for i in np.flatnonzero(resets[s]):
            values[s, i:] -= values[s, i] - inc[s, i]  # restart from this increment
    frame = pl.DataFrame(
        {
            "ts": np.tile(np.arange(n) * 60_000, n_series).astype("datetime64[ms]"),
            "series": np.repeat(np.arange(n_series), n),
            "value": values.ravel(),
        }
    )
    out = counter_to_rate(frame, by=["series"])
    expected = np.diff(values, axis=1)
    expected = np.where(expected < 0, values[:, 1:], expected) / 60.0
    np.testing.assert_allclose(out["value"].to_numpy(), expected.ravel())


def test_increase_expr_over_groups() -> None:
    frame = pl.concat([_series([5.0, 7.0, 1.0], name="a"), _series([2.0, 3.0], name="b")])
    out = frame.with_columns(increase_expr().over("series").alias("inc"))
    assert out["inc"].to_list() == [None, 2.0, 1.0, None, 1.0]


def test_errors_name_the_problem() -> None:
    with pytest.raises(SchemaError, match="'label'"):
        counter_to_rate(_series([1.0, 2.0]), by=["label"])
    with pytest.raises(ParameterError, match="kind"):
        counter_to_rate(_series([1.0, 2.0]), by=["series"], kind="gauge")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="range"):
        prometheus_rate(_series([1.0, 2.0]), by=["series"], range="five minutes")


def _prom_reference(ts_s: np.ndarray, vals: np.ndarray, t: float, rng: float) -> float | None:
    """Prometheus extrapolatedRate written out plainly (promql/functions.go)."""
    mask = (ts_s > t - rng) & (ts_s <= t)
    ts_w, v_w = ts_s[mask], vals[mask]
    if len(v_w) < 2:
        return None
    result = v_w[-1] - v_w[0]
    for i in range(1, len(v_w)):
        if v_w[i] < v_w[i - 1]:
            result += v_w[i - 1]
    sampled = ts_w[-1] - ts_w[0]
    avg = sampled / (len(v_w) - 1)
    to_start = ts_w[0] - (t - rng)
    to_end = t - ts_w[-1]
    if result > 0 and v_w[0] >= 0:
        to_zero = sampled * (v_w[0] / result)
        to_start = min(to_start, to_zero)
    threshold = avg * 1.1
    extrapolate = sampled
    extrapolate += to_start if to_start < threshold else avg / 2
    extrapolate += to_end if to_end < threshold else avg / 2
    return float(result * extrapolate / sampled / rng)


def test_prometheus_rate_matches_reference_with_jitter_and_resets() -> None:
    rng = np.random.default_rng(11)
    n = 120
    ts_ms = (np.arange(n) * 15_000 + rng.uniform(0, 5_000, n)).astype("int64")
    ts_s = ts_ms / 1000.0
    vals = rng.poisson(30, n).astype(float).cumsum() + 500
    vals[60:] -= vals[59]  # a reset
    frame = pl.DataFrame(
        {
            "ts": ts_ms.astype("datetime64[ms]"),
            "job": "j",
            "value": vals,
        }
    ).with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    out = prometheus_rate(frame, by=["job"], range="2m", step="1m")
    assert out.height > 20
    for t, got in out.select("ts", "value").iter_rows():
        t_s = (t - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
        expected = _prom_reference(ts_s, vals, t_s, 120.0)
        assert expected is not None
        assert got == pytest.approx(expected, rel=1e-9)


def test_prometheus_increase_per_window() -> None:
    frame = _series([15.0, 30.0, 45.0, 60.0], step_s=15).with_columns(pl.col("ts") + timedelta(seconds=15))
    out = prometheus_rate(frame, by=["series"], range="1m", per_second=False)
    assert out.filter(pl.col("ts") == T0 + timedelta(minutes=1))["value"].to_list() == [60.0]


@pytest.mark.parametrize("kind", ["counter", "offset"])
def test_categorical_packed_path_equals_string_path(kind: str) -> None:
    rng = np.random.default_rng(5)
    frames = [_series(list(rng.integers(0, 50, 30).cumsum().astype(float)), name=f"s{i}") for i in range(12)]
    frame = pl.concat(frames).with_columns(cluster=pl.lit("c"))
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 17 == 5)
        .then(pl.col("value") / 3)
        .otherwise(pl.col("value"))
        .alias("value")
    ).sample(fraction=1.0, shuffle=True, seed=2)
    by = ["cluster", "series"]
    plain = counter_to_rate(frame, by=by, kind=kind)  # type: ignore[arg-type]
    packed = counter_to_rate(frame.with_columns(pl.col(by).cast(pl.Categorical)), by=by, kind=kind)  # type: ignore[arg-type]
    packed = packed.with_columns(pl.col(by).cast(pl.String)).sort([*by, "ts"])
    assert plain.sort([*by, "ts"]).equals(packed)


@pytest.mark.services
def test_prometheus_rate_equals_a_real_prometheus(prometheus_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Backfill a counter with a reset into a real Prometheus; its rate() equals ours."""
    import requests

    now = int(datetime.now(UTC).timestamp())
    start = (now - 3 * 3600) // 3600 * 3600 + 7.5  # off the evaluation grid: no boundary ties
    rng = np.random.default_rng(3)
    n = 120
    ts_s = start + np.arange(n) * 15.0
    vals = rng.poisson(40, n).astype(float).cumsum()
    vals[70:] -= vals[69] - 3.0  # a restart
    lines = ["# HELP wb_test A test counter.", "# TYPE wb_test counter"]
    lines += [f'wb_test_total{{series="a"}} {v} {t:.3f}' for t, v in zip(ts_s, vals, strict=True)]
    path = tmp_path / "counter.om"
    path.write_text("\n".join([*lines, "# EOF", ""]))
    prom = prometheus_factory([], backfill=[path])
    frame = pl.DataFrame(
        {"ts": (ts_s * 1000).astype("int64").astype("datetime64[ms]"), "series": "a", "value": vals}
    ).with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    ours = prometheus_rate(frame, by=["series"], range="2m", step="1m")
    checked = 0
    for t, value in ours.select("ts", "value").iter_rows():
        params = {"query": "rate(wb_test_total[2m])", "time": t.timestamp()}
        answer = requests.get(f"{prom.url}/api/v1/query", params=params, timeout=30).json()
        result = answer["data"]["result"]
        assert result, (t, answer)
        assert float(result[0]["value"][1]) == pytest.approx(value, rel=1e-9)
        checked += 1
    assert checked >= 25
