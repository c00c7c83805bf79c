"""Numenta Anomaly Benchmark (NAB v1.1) corpus loader and scorer.

The scorer is written from the rules in ``data/real/nab/README.md`` (NAB's ABOUT.md) (no NAB code
is used): labelled windows, a probationary period, the scaled sigmoid that gives
early detections more credit, three application profiles, one threshold per
profile for the whole corpus chosen to maximise the raw score, and
normalisation between the null detector (never fires) and the perfect detector.

The threshold sweep is exact and vectorised: every row above the probationary
period becomes an "event" (its anomaly score and the change in the corpus raw
score when that row starts to count as a detection); sorting all events by score
and taking a cumulative sum gives the raw score at every distinct threshold.

Data: NAB corpus, Copyright 2014-2024 Numenta Inc., MIT License; cite Ahmad,
Lavin, Purdy & Agha (2017), doi:10.1016/j.neucom.2017.04.070.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone

from workbench.errors import NotFoundError, ParameterError, SchemaError

__all__ = [
    "PROFILES",
    "NabFile",
    "NabProfile",
    "NabResult",
    "load_nab_corpus",
    "nab_detector_scores",
    "nab_row_weights",
    "probation_length",
    "scaled_sigmoid",
    "score_all_profiles",
    "score_corpus",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Fraction of each file used as the probationary (learning) period.
PROBATION_FRACTION = 0.15
#: The probationary period is capped at ``PROBATION_FRACTION * 5000`` rows.
PROBATION_CAP_ROWS = 5000


@dataclass(frozen=True)
class NabProfile:
    """Weights of one NAB application profile.

    Attributes
    ----------
    name : str
        Profile name as NAB spells it.
    a_tp, a_fp, a_fn : float
        Reward of the earliest detection in a window, cost of a false alarm far
        from any window, and cost of a window with no detection.
    """

    name: str
    a_tp: float
    a_fp: float
    a_fn: float


PROFILES: dict[str, NabProfile] = {
    "standard": NabProfile("standard", 1.0, 0.11, 1.0),
    "reward_low_FP_rate": NabProfile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    "reward_low_FN_rate": NabProfile("reward_low_FN_rate", 1.0, 0.11, 2.0),
}


@dataclass(frozen=True)
class NabFile:
    """One NAB series with its label windows as row positions.

    Attributes
    ----------
    name : str
        Path relative to the corpus ``data/`` folder, e.g. ``realKnownCause/nyc_taxi.csv``.
    timestamps : numpy.ndarray
        ``datetime64[s]`` timestamps in file order (not necessarily increasing).
    values : numpy.ndarray
        Float values in file order.
    windows : tuple of (int, int)
        Inclusive ``(first_row, last_row)`` of every label window, in order.
    """

    name: str
    timestamps: npt.NDArray[np.datetime64]
    values: FloatArray
    windows: tuple[tuple[int, int], ...] = field(default_factory=tuple)

    @property
    def n_rows(self) -> int:
        """Number of rows in the file."""
        return int(self.values.shape[0])

    @property
    def category(self) -> str:
        """Corpus category (the folder name)."""
        return self.name.split("/", 1)[0]


@dataclass(frozen=True)
class NabResult:
    """Score of a detector on the corpus under one profile.

    Attributes
    ----------
    profile : str
        Profile name.
    threshold : float
        Corpus-wide threshold (a row is a detection when ``score >= threshold``).
    raw : float
        Raw corpus score at that threshold.
    null_raw, perfect_raw : float
        Raw scores of the null and perfect detectors.
    score : float
        Normalised score, ``100 * (raw - null) / (perfect - null)``.
    true_positives, false_positives, false_negatives : int
        Windows detected, detections outside windows, windows missed.
    per_file : dict of str to float
        Raw score of every file at the chosen threshold.
    """

    profile: str
    threshold: float
    raw: float
    null_raw: float
    perfect_raw: float
    score: float
    true_positives: int
    false_positives: int
    false_negatives: int
    per_file: dict[str, float]


def probation_length(n_rows: int, fraction: float = PROBATION_FRACTION) -> int:
    """Number of leading rows excluded from scoring.

    ``min(floor(fraction * n_rows), fraction * 5000)`` as NAB defines it.

    Examples
    --------
    >>> probation_length(1000), probation_length(22695)
    (150, 750)
    """
    return int(min(math.floor(fraction * n_rows), fraction * PROBATION_CAP_ROWS))


def scaled_sigmoid(y: FloatArray | float) -> FloatArray:
    """NAB's scaled sigmoid ``2 / (1 + exp(5 y)) - 1``, exactly ``-1`` for ``y > 3``.

    Examples
    --------
    >>> [round(float(v), 4) for v in scaled_sigmoid(np.array([-1.0, 0.0, 5.0]))]
    [0.9866, 0.0, -1.0]
    """
    arr = np.asarray(y, dtype=np.float64)
    with np.errstate(over="ignore"):
        out = 2.0 / (1.0 + np.exp(5.0 * arr)) - 1.0
    return np.where(arr > 3.0, -1.0, out)


def nab_row_weights(
    n_rows: int, windows: Sequence[tuple[int, int]], profile: NabProfile
) -> tuple[FloatArray, IntArray]:
    """Weighted score of a detection at every row, and the window each row is in.

    Parameters
    ----------
    n_rows : int
        Rows in the file.
    windows : sequence of (int, int)
        Inclusive row ranges of the label windows, in increasing order.
    profile : NabProfile
        Weights to apply.

    Returns
    -------
    weights : numpy.ndarray
        Credit (inside a window, positive) or penalty (outside, negative) of a
        detection at each row.
    window_id : numpy.ndarray
        Index of the window containing each row, ``-1`` outside windows and
        ``-2`` inside the probationary period (not scored).

    Examples
    --------
    >>> w, ids = nab_row_weights(100, [(40, 49)], PROFILES["standard"])
    >>> round(float(w[40]), 6), round(float(w[20]), 2), int(ids[45]), int(ids[5])
    (1.0, -0.11, 0, -2)
    """
    rows = np.arange(n_rows, dtype=np.float64)
    weights = np.full(n_rows, -profile.a_fp, dtype=np.float64)
    window_id = np.full(n_rows, -1, dtype=np.int64)
    max_tp = float(scaled_sigmoid(-1.0))
    for k, (start, end) in enumerate(windows):
        width = float(end - start + 1)
        inside = slice(start, end + 1)
        y_in = -(end - rows[inside] + 1.0) / width
        weights[inside] = scaled_sigmoid(y_in) * profile.a_tp / max_tp
        window_id[inside] = k
        next_start = windows[k + 1][0] if k + 1 < len(windows) else n_rows
        after = slice(end + 1, next_start)
        if width > 1:
            y_out = np.abs(rows[after] - end) / (width - 1.0)
            weights[after] = scaled_sigmoid(y_out) * profile.a_fp
    window_id[: probation_length(n_rows)] = -2
    return weights, window_id


def _file_events(
    scores: FloatArray, windows: Sequence[tuple[int, int]], profile: NabProfile
) -> tuple[FloatArray, FloatArray, int]:
    """Threshold-sweep events of one file: (scores, raw-score deltas, scored windows)."""
    weights, window_id = nab_row_weights(scores.shape[0], windows, profile)
    outside = window_id == -1
    ev_scores = [scores[outside]]
    ev_deltas = [weights[outside]]
    n_windows = 0
    for k in range(len(windows)):
        members = np.flatnonzero(window_id == k)
        if members.size == 0:
            continue  # window lies wholly in the probationary period
        n_windows += 1
        order = members[np.argsort(-scores[members], kind="stable")]
        best = np.maximum.accumulate(weights[order])
        deltas = np.diff(np.concatenate(([-profile.a_fn], best)))
        ev_scores.append(scores[order])
        ev_deltas.append(deltas)
    return np.concatenate(ev_scores), np.concatenate(ev_deltas), n_windows


def _check_scores(corpus: Sequence[NabFile], scores: Mapping[str, FloatArray]) -> None:
    for nab_file in corpus:
        if nab_file.name not in scores:
            raise NotFoundError("anomaly scores for NAB file", nab_file.name, scores.keys())
        arr = np.asarray(scores[nab_file.name])
        if arr.shape != (nab_file.n_rows,):
            raise ParameterError(
                f"scores[{nab_file.name!r}]",
                allowed=f"a 1-d array of length {nab_file.n_rows}",
                received=f"shape {arr.shape}",
            )
        if not np.all(np.isfinite(arr)):
            raise ParameterError(
                f"scores[{nab_file.name!r}]", allowed="finite anomaly scores", received="NaN or inf"
            )


def _score_at(
    corpus: Sequence[NabFile],
    scores: Mapping[str, FloatArray],
    profile: NabProfile,
    threshold: float,
) -> tuple[float, int, int, int, dict[str, float]]:
    total, tp, fp, fn = 0.0, 0, 0, 0
    per_file: dict[str, float] = {}
    for nab_file in corpus:
        s = np.asarray(scores[nab_file.name], dtype=np.float64)
        weights, window_id = nab_row_weights(nab_file.n_rows, nab_file.windows, profile)
        hit = s >= threshold
        out = hit & (window_id == -1)
        file_raw = float(weights[out].sum())
        fp += int(out.sum())
        for k in range(len(nab_file.windows)):
            members = window_id == k
            if not members.any():
                continue
            detected = hit & members
            if detected.any():
                tp += 1
                file_raw += float(weights[detected].max())
            else:
                fn += 1
                file_raw -= profile.a_fn
        per_file[nab_file.name] = file_raw
        total += file_raw
    return total, tp, fp, fn, per_file


def score_corpus(
    corpus: Sequence[NabFile],
    scores: Mapping[str, FloatArray],
    profile: NabProfile | str = "standard",
    *,
    threshold: float | None = None,
) -> NabResult:
    """Score anomaly scores on a NAB corpus under one profile.

    Parameters
    ----------
    corpus : sequence of NabFile
        Files with their label windows.
    scores : mapping of str to numpy.ndarray
        Anomaly score of every row of every file, keyed by ``NabFile.name``.
    profile : NabProfile or str, default "standard"
        Profile or its name (a key of :data:`PROFILES`).
    threshold : float, optional
        Fixed threshold; by default the corpus-wide threshold maximising the
        raw score is searched over every distinct score (and "no detection").

    Returns
    -------
    NabResult

    Examples
    --------
    >>> ts = np.arange(100).astype("datetime64[s]")
    >>> f = NabFile("a/x.csv", ts, np.zeros(100), ((40, 49),))
    >>> s = np.zeros(100); s[40] = 1.0
    >>> round(score_corpus([f], {"a/x.csv": s}).score, 3)
    100.0
    """
    prof = _profile(profile)
    _check_scores(corpus, scores)
    parts = [_file_events(np.asarray(scores[f.name], dtype=np.float64), f.windows, prof) for f in corpus]
    n_windows = sum(p[2] for p in parts)
    null_raw = -prof.a_fn * n_windows
    perfect_raw = prof.a_tp * n_windows
    if threshold is None:
        threshold = _best_threshold(parts, null_raw)
    raw, tp, fp, fn, per_file = _score_at(corpus, scores, prof, threshold)
    denom = perfect_raw - null_raw
    norm = 100.0 * (raw - null_raw) / denom if denom > 0 else 0.0
    return NabResult(prof.name, float(threshold), raw, null_raw, perfect_raw, norm, tp, fp, fn, per_file)


def _best_threshold(parts: Sequence[tuple[FloatArray, FloatArray, int]], null_raw: float) -> float:
    ev_s = np.concatenate([p[0] for p in parts]) if parts else np.empty(0)
    ev_d = np.concatenate([p[1] for p in parts]) if parts else np.empty(0)
    if ev_s.size == 0:
        return 1.1
    order = np.argsort(-ev_s, kind="stable")
    ev_s, ev_d = ev_s[order], ev_d[order]
    cum = null_raw + np.cumsum(ev_d)
    # A threshold t admits every event with score >= t: evaluate after the last of each tie.
    last_of_tie = np.flatnonzero(np.append(ev_s[1:] != ev_s[:-1], True))
    cand_raw, cand_thr = cum[last_of_tie], ev_s[last_of_tie]
    best = int(np.argmax(cand_raw))
    top = max(1.1, float(ev_s[0]) + 1e-9)
    if cand_raw[best] <= null_raw:
        return top
    return float(cand_thr[best])


def score_all_profiles(corpus: Sequence[NabFile], scores: Mapping[str, FloatArray]) -> dict[str, NabResult]:
    """Score under all three NAB profiles, each with its own corpus-wide threshold.

    Examples
    --------
    >>> ts = np.arange(100).astype("datetime64[s]")
    >>> f = NabFile("a/x.csv", ts, np.zeros(100), ((40, 49),))
    >>> sorted(score_all_profiles([f], {"a/x.csv": np.zeros(100)}))
    ['reward_low_FN_rate', 'reward_low_FP_rate', 'standard']
    """
    return {name: score_corpus(corpus, scores, prof) for name, prof in PROFILES.items()}


def _profile(profile: NabProfile | str) -> NabProfile:
    if isinstance(profile, NabProfile):
        return profile
    if profile not in PROFILES:
        raise ParameterError("profile", allowed=f"one of {sorted(PROFILES)}", received=profile)
    return PROFILES[profile]


def _file_scores(values: FloatArray, detector: BaseEstimator) -> FloatArray:
    n = values.shape[0]
    warm = max(probation_length(n), 1)
    model = clone(detector).fit(values[:warm, None])
    return np.concatenate((np.zeros(warm), model.anomaly_score(values[warm:, None])))


def nab_detector_scores(
    corpus: Sequence[NabFile], detector: BaseEstimator, *, n_jobs: int = 1
) -> dict[str, FloatArray]:
    """Run a streaming detector over every file as NAB prescribes.

    Each file starts from scratch: a clone of ``detector`` is fitted on the
    probationary rows (which score 0) and then scores the remaining rows record
    by record via ``anomaly_score`` (no look-ahead). Files run in parallel
    through joblib.

    Parameters
    ----------
    corpus : sequence of NabFile
        Files to score.
    detector : estimator
        Any detector with ``fit`` and ``anomaly_score`` (scores in ``[0, 1]``).
    n_jobs : int, default 1
        joblib workers.

    Returns
    -------
    dict of str to numpy.ndarray
        Anomaly score of every row, keyed by file name.

    Examples
    --------
    >>> from workbench.analysis.anomaly import RollingZScoreDetector
    >>> f = NabFile("a/x.csv", np.arange(200).astype("datetime64[s]"), np.sin(np.arange(200.0)))
    >>> nab_detector_scores([f], RollingZScoreDetector(window=20))["a/x.csv"].shape
    (200,)
    """
    results = Parallel(n_jobs=n_jobs)(delayed(_file_scores)(f.values, detector) for f in corpus)
    return {f.name: np.asarray(r, dtype=np.float64) for f, r in zip(corpus, results, strict=True)}


def load_nab_corpus(
    root: Path,
    *,
    files: Sequence[str] | None = None,
    windows_file: str = "labels/combined_windows.json",
) -> list[NabFile]:
    """Load the NAB series and their label windows.

    Parameters
    ----------
    root : pathlib.Path
        Corpus folder holding ``data/`` and ``labels/`` (e.g. ``data/real/nab``).
    files : sequence of str, optional
        Subset of file names (``category/name.csv``); all labelled files by default.
    windows_file : str, default "labels/combined_windows.json"
        Label windows file relative to ``root``.

    Returns
    -------
    list of NabFile
        In sorted name order; window timestamps are mapped to the first row
        carrying that timestamp, and row order is kept as in the file.
    """
    labels_path = root / windows_file
    if not labels_path.is_file():
        raise NotFoundError("NAB label file", str(labels_path))
    labels: dict[str, list[list[str]]] = json.loads(labels_path.read_text())
    names = sorted(labels) if files is None else list(files)
    corpus = []
    for name in names:
        if name not in labels:
            raise NotFoundError(f"NAB file in {windows_file}", name, labels)
        corpus.append(_load_file(root, name, labels[name]))
    logger.info("loaded %d NAB files (%d rows)", len(corpus), sum(f.n_rows for f in corpus))
    return corpus


def _load_file(root: Path, name: str, windows: list[list[str]]) -> NabFile:
    path = root / "data" / name
    if not path.is_file():
        raise NotFoundError("NAB series file", str(path))
    frame = pl.read_csv(path, schema={"timestamp": pl.String, "value": pl.Float64})
    stamps = frame["timestamp"].str.slice(0, 19)
    ts = stamps.str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="ms").to_numpy().astype("datetime64[s]")
    firsts = pl.DataFrame({"stamp": stamps}).with_row_index("row").group_by("stamp").agg(pl.col("row").min())
    first_row = dict(zip(firsts["stamp"].to_list(), firsts["row"].to_list(), strict=True))
    rows = []
    for start, end in windows:
        try:
            rows.append((first_row[start[:19]], first_row[end[:19]]))
        except KeyError as err:
            raise SchemaError(
                "timestamp",
                f"{name}: label window [{start}, {end}] must start and end on a row timestamp",
            ) from err
    values = frame["value"].to_numpy().astype(np.float64)
    return NabFile(name, ts, values, tuple(rows))
