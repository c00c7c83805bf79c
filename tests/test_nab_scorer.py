"""The NAB scorer on hand-made cases whose scores are worked out by hand from ABOUT.md's rules."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from workbench.analysis import nab
from workbench.errors import NotFoundError, ParameterError, SchemaError


def sigma(y: float) -> float:
    """NAB's scaled sigmoid, written out independently of the module."""
    return -1.0 if y > 3 else 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def make_file(
    n: int = 100, windows: tuple[tuple[int, int], ...] = ((40, 49),), name: str = "a/x.csv"
) -> nab.NabFile:
    return nab.NabFile(name, np.arange(n).astype("datetime64[s]"), np.zeros(n), windows)


def scores_at(n: int, rows: dict[int, float]) -> np.ndarray:
    s = np.zeros(n)
    for row, value in rows.items():
        s[row] = value
    return s


def norm(raw: float, null: float, perfect: float) -> float:
    return 100.0 * (raw - null) / (perfect - null)


def test_probation_length_matches_rule() -> None:
    assert nab.probation_length(100) == 15
    assert nab.probation_length(4032) == 604
    assert nab.probation_length(22695) == 750  # capped at 0.15 * 5000


def test_scaled_sigmoid_values() -> None:
    assert nab.scaled_sigmoid(np.array([-1.0]))[0] == pytest.approx(0.9866142981514305)
    assert nab.scaled_sigmoid(np.array([0.0]))[0] == 0.0
    assert nab.scaled_sigmoid(np.array([3.0001]))[0] == -1.0
    assert nab.scaled_sigmoid(np.array([2.0]))[0] == pytest.approx(sigma(2.0))


def test_earliest_detection_is_perfect() -> None:
    f = make_file()
    res = nab.score_corpus([f], {f.name: scores_at(100, {40: 1.0})})
    assert res.raw == pytest.approx(1.0)
    assert res.score == pytest.approx(100.0)
    assert (res.true_positives, res.false_positives, res.false_negatives) == (1, 0, 0)


def test_last_row_of_window_gets_little_credit() -> None:
    f = make_file()
    res = nab.score_corpus([f], {f.name: scores_at(100, {49: 1.0})})
    credit = sigma(-1 / 10) / sigma(-1.0)  # y = -(R - i + 1) / W = -(49 - 49 + 1) / 10
    assert res.raw == pytest.approx(credit)
    assert res.score == pytest.approx(norm(credit, -1.0, 1.0))


def test_only_the_best_detection_in_a_window_counts() -> None:
    f = make_file()
    res = nab.score_corpus([f], {f.name: scores_at(100, {45: 1.0, 42: 1.0, 48: 1.0})})
    assert res.raw == pytest.approx(sigma(-(49 - 42 + 1) / 10) / sigma(-1.0))


def test_false_positive_before_any_window_costs_full_weight_per_profile() -> None:
    f = make_file()
    s = {f.name: scores_at(100, {20: 1.0, 40: 1.0})}
    std = nab.score_corpus([f], s, "standard", threshold=0.5)
    low_fp = nab.score_corpus([f], s, "reward_low_FP_rate", threshold=0.5)
    low_fn = nab.score_corpus([f], s, "reward_low_FN_rate", threshold=0.5)
    assert std.raw == pytest.approx(1.0 - 0.11)
    assert low_fp.raw == pytest.approx(1.0 - 0.22)
    assert low_fn.raw == pytest.approx(1.0 - 0.11)
    assert low_fn.score == pytest.approx(norm(0.89, -2.0, 1.0))


def test_false_positive_after_a_window_is_discounted_by_distance() -> None:
    f = make_file()
    near = nab.score_corpus([f], {f.name: scores_at(100, {40: 1.0, 52: 1.0})}, threshold=0.5)
    far = nab.score_corpus([f], {f.name: scores_at(100, {40: 1.0, 99: 1.0})}, threshold=0.5)
    assert near.raw == pytest.approx(1.0 + 0.11 * sigma((52 - 49) / (10 - 1)))
    assert far.raw == pytest.approx(1.0 - 0.11)  # y = 50 / 9 > 3 -> exactly -1


def test_probationary_rows_are_ignored_and_missed_window_costs_a_fn() -> None:
    f = make_file()
    res = nab.score_corpus([f], {f.name: scores_at(100, {5: 1.0, 14: 1.0})})
    assert res.raw == pytest.approx(-1.0)
    assert res.score == pytest.approx(0.0)
    assert res.false_positives == 0
    low_fn = nab.score_corpus([f], {f.name: scores_at(100, {5: 1.0})}, "reward_low_FN_rate")
    assert low_fn.raw == pytest.approx(-2.0)


def test_threshold_is_optimised_over_distinct_scores() -> None:
    f = make_file()
    # At t=0.9 only the FP fires (-1.11); at t=0.5 FP + earliest TP (0.89); null is -1.
    res = nab.score_corpus([f], {f.name: scores_at(100, {20: 0.9, 40: 0.5})})
    assert res.threshold == pytest.approx(0.5)
    assert res.raw == pytest.approx(0.89)
    # Many cheap-looking FPs at a lower score than the TP are not admitted.
    s = scores_at(100, {45: 0.8, **{r: 0.3 for r in range(60, 100, 2)}})
    res2 = nab.score_corpus([f], {f.name: s})
    assert res2.threshold == pytest.approx(0.8)
    assert res2.raw == pytest.approx(sigma(-(49 - 45 + 1) / 10) / sigma(-1.0))


def test_no_detection_is_chosen_when_everything_hurts() -> None:
    f = make_file(windows=())
    res = nab.score_corpus([f], {f.name: scores_at(100, {30: 0.7, 60: 0.9})})
    assert res.threshold > 0.9
    assert res.raw == 0.0
    assert res.false_positives == 0


def test_tied_scores_enter_together() -> None:
    f = make_file()
    # FP and a late TP share score 0.6: the sweep cannot take one without the other.
    s = scores_at(100, {20: 0.6, 48: 0.6})
    res = nab.score_corpus([f], {f.name: s})
    tp = sigma(-(49 - 48 + 1) / 10) / sigma(-1.0)
    assert res.raw == pytest.approx(max(-1.0, tp - 0.11))


def test_one_threshold_for_the_whole_corpus() -> None:
    a = make_file(name="a/one.csv")
    b = make_file(name="a/two.csv", windows=((60, 69),))
    s = {a.name: scores_at(100, {40: 0.9}), b.name: scores_at(100, {60: 0.4, 30: 0.5})}
    res = nab.score_corpus([a, b], s)
    # t=0.9: +1 (a) -1 (b) = 0; t=0.5: adds FP in b = -0.11; t=0.4: +1 +1 -0.11 = 1.89.
    assert res.threshold == pytest.approx(0.4)
    assert res.raw == pytest.approx(1.89)
    assert res.null_raw == -2.0
    assert res.perfect_raw == 2.0
    assert res.score == pytest.approx(norm(1.89, -2.0, 2.0))
    assert set(res.per_file) == {a.name, b.name}


def test_all_profiles_and_errors() -> None:
    f = make_file()
    out = nab.score_all_profiles([f], {f.name: scores_at(100, {40: 1.0})})
    assert {k: round(v.score, 6) for k, v in out.items()} == {
        "standard": 100.0,
        "reward_low_FP_rate": 100.0,
        "reward_low_FN_rate": 100.0,
    }
    with pytest.raises(NotFoundError):
        nab.score_corpus([f], {})
    with pytest.raises(ParameterError, match="length 100"):
        nab.score_corpus([f], {f.name: np.zeros(5)})
    with pytest.raises(ParameterError, match="profile"):
        nab.score_corpus([f], {f.name: np.zeros(100)}, "nope")


def test_loader_maps_windows_to_first_row_of_a_timestamp(tmp_path: Path) -> None:
    (tmp_path / "data" / "cat").mkdir(parents=True)
    stamps = [f"2020-01-01 00:{m:02d}:00" for m in range(10)]
    stamps.insert(5, stamps[4])  # duplicate timestamp, kept in file order
    lines = ["timestamp,value", *[f"{s},{i}" for i, s in enumerate(stamps)]]
    (tmp_path / "data" / "cat" / "f.csv").write_text("\n".join(lines) + "\n")
    labels = {"cat/f.csv": [["2020-01-01 00:04:00.000000", "2020-01-01 00:06:00.000000"]]}
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "combined_windows.json").write_text(json.dumps(labels))
    [f] = nab.load_nab_corpus(tmp_path)
    assert f.n_rows == 11
    assert f.windows == ((4, 7),)
    assert f.values[5] == 5.0
    bad = {"cat/f.csv": [["2020-01-01 00:04:30.000000", "2020-01-01 00:06:00.000000"]]}
    (tmp_path / "labels" / "combined_windows.json").write_text(json.dumps(bad))
    with pytest.raises(SchemaError, match="timestamp"):
        nab.load_nab_corpus(tmp_path)
    with pytest.raises(NotFoundError):
        nab.load_nab_corpus(tmp_path, files=["cat/missing.csv"])


def test_bundled_corpus_has_116_windows_after_probation() -> None:
    root = Path(__file__).resolve().parents[1] / "data" / "real" / "nab"
    corpus = nab.load_nab_corpus(root)
    assert len(corpus) == 58
    assert sum(f.n_rows for f in corpus) == 365_558
    assert sum(len(f.windows) for f in corpus) == 116
    perfect = {f.name: np.zeros(f.n_rows) for f in corpus}
    for f in corpus:
        for start, _ in f.windows:
            perfect[f.name][start] = 1.0
    out = nab.score_all_profiles(corpus, perfect)
    assert out["standard"].score == pytest.approx(100.0)
    assert out["reward_low_FN_rate"].null_raw == -232.0
