"""Canonical frame: validation names the rule, quarantine conserves rows."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.errors import SchemaError
from workbench.frames import CANONICAL_COLUMNS, CANONICAL_SCHEMA, quarantine, to_long, to_wide, validate

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def good_rows(n: int = 3) -> dict[str, list[object]]:
    return {
        "ts": [T0 + dt.timedelta(minutes=i) for i in range(n)],
        "provider": ["kafka"] * n,
        "cluster": ["c1"] * n,
        "level": ["topic"] * n,
        "entity": ["orders"] * n,
        "metric": ["messages_in_per_s"] * n,
        "value": [float(i) for i in range(n)],
        "source": ["test"] * n,
    }


def test_valid_frame_is_returned_with_canonical_dtypes():
    out = validate(pl.DataFrame(good_rows()), now=NOW)
    assert out.schema == pl.Schema(CANONICAL_SCHEMA)
    assert out.height == 3


@pytest.mark.parametrize(
    ("column", "bad", "reason"),
    [
        ("value", float("nan"), "value is NaN"),
        ("value", float("inf"), "value is infinite"),
        ("value", -1.0, "value is negative"),
        ("entity", None, "entity is null or empty"),
        ("provider", "kinesis", "provider kinesis not one of kafka, rabbitmq, sqs"),
        ("level", "shard", "level shard not one of"),
        ("metric", "cpu_magic", "unknown metric cpu_magic"),
        ("ts", dt.datetime(1970, 1, 2, tzinfo=dt.UTC), "ts before 1990-01-01"),
        ("ts", dt.datetime(2030, 1, 1, tzinfo=dt.UTC), "ts in the future"),
    ],
)
def test_each_rule_quarantines_with_its_reason(column, bad, reason):
    rows = good_rows()
    rows[column][1] = bad
    frame = pl.DataFrame(rows, strict=False)
    split = quarantine(frame, now=NOW)
    assert split.kept.height == 2
    assert split.quarantined["reason"].to_list()[0].startswith(reason)
    assert split.quarantined["row"].to_list() == [1]
    with pytest.raises(SchemaError) as info:
        validate(frame, now=NOW)
    assert info.value.rows, "the error shows offending rows"
    assert info.value.column in CANONICAL_COLUMNS


def test_duplicates_keep_first_and_quarantine_rest():
    rows = good_rows()
    rows["ts"][2] = rows["ts"][1]
    split = quarantine(pl.DataFrame(rows), now=NOW)
    assert split.kept["value"].to_list() == [0.0, 1.0]
    assert split.quarantined["reason"].to_list() == ["duplicate (series, ts)"]


def test_naive_timestamps_are_quarantined_not_guessed():
    rows = good_rows()
    rows["ts"] = [t.replace(tzinfo=None) for t in rows["ts"]]
    split = quarantine(pl.DataFrame(rows), now=NOW)
    assert split.kept.height == 0
    assert set(split.quarantined["reason"]) == {"ts is naive (no time zone)"}


def test_metric_at_wrong_level_is_quarantined():
    rows = good_rows(1)
    rows["metric"] = ["offline_partitions"]
    rows["level"] = ["queue"]
    split = quarantine(pl.DataFrame(rows), now=NOW)
    assert split.quarantined["reason"][0] == "metric offline_partitions is not defined at level queue"


def test_missing_and_extra_columns_raise_naming_the_column():
    rows = good_rows()
    with pytest.raises(SchemaError, match="'value'"):
        quarantine(pl.DataFrame({k: v for k, v in rows.items() if k != "value"}))
    with pytest.raises(SchemaError, match="'colour'"):
        quarantine(pl.DataFrame({**rows, "colour": ["red"] * 3}))


def test_quarantine_keeps_original_text():
    rows = good_rows(2)
    frame = pl.DataFrame({**rows, "value": ["1.5", "lots"]})
    split = quarantine(frame, now=NOW)
    assert split.quarantined.select("value", "reason").row(0) == ("lots", "value is not a number")


def test_wide_long_round_trip():
    rows = good_rows()
    rows["metric"] = ["messages_in_per_s", "messages_out_per_s", "bytes_in_per_s"]
    rows["ts"] = [T0] * 3
    frame = validate(pl.DataFrame(rows), now=NOW)
    back = to_long(to_wide(frame), source="test").sort("metric")
    assert back.equals(frame.sort("metric"))


# --- property: rows in = rows kept + rows quarantined, whatever the input ---------------------

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(None),
    st.integers(min_value=-5, max_value=5).map(float),
)
timestamps = st.one_of(
    st.datetimes(
        min_value=dt.datetime(1960, 1, 1),
        max_value=dt.datetime(2040, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    st.just(None),
    st.sampled_from([T0, T0 + dt.timedelta(minutes=1)]),  # make duplicates likely
)
row = st.fixed_dictionaries(
    {
        "ts": timestamps,
        "provider": st.sampled_from(["kafka", "rabbitmq", "sqs", "kinesis", "", None]),
        "cluster": st.sampled_from(["c1", "c2", "", None]),
        "level": st.sampled_from(["topic", "queue", "partition", "nope", None]),
        "entity": st.sampled_from(["orders", "orders/1", "", None]),
        "metric": st.sampled_from(["messages_in_per_s", "queue_depth_messages", "bogus", None]),
        "value": values,
        "source": st.sampled_from(["s", None]),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, max_size=40))
def test_rows_are_conserved_for_any_bad_frame(rows):
    frame = pl.DataFrame(rows, schema={**CANONICAL_SCHEMA, "provider": pl.String, "level": pl.String})
    split = quarantine(frame, now=NOW)
    assert split.kept.height + split.quarantined.height == split.rows_in == len(rows)
    assert split.quarantined["reason"].null_count() == 0
    assert sorted(split.quarantined["row"].to_list()) == sorted(set(split.quarantined["row"].to_list()))
    # everything kept is valid: validating it again loses nothing
    assert validate(split.kept, now=NOW).height == split.kept.height
    kept_values = split.kept["value"].to_list()
    assert all(v is not None and math.isfinite(v) for v in kept_values)
