"""Registry of every learner in the package, for the one ``parametrize_with_checks`` test.

Each entry is a dotted path to an estimator class, the keyword arguments of a
small, fast instance, and the scikit-learn checks it is known to fail with the
reason (a documented design choice, never a bug being hidden). To add a learner,
append one :class:`EstimatorEntry` to :data:`ESTIMATORS` (or call
:func:`register_estimator` from a plug-in).

Examples
--------
>>> names = [type(e).__name__ for e in all_estimators()]
>>> "StreamingEnsembleDetector" in names
True
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from sklearn.base import BaseEstimator

from workbench.errors import NotFoundError

__all__ = ["ESTIMATORS", "EstimatorEntry", "all_estimators", "expected_failed_checks", "register_estimator"]

#: Why streaming detectors fail the order/subset invariance checks: by design, a
#: row's score depends on the rows before it in the same call (no look-ahead, but
#: look-back), exactly like record-by-record processing.
_STREAMING = "streaming detector: a row's score depends on the rows before it in X (time order)"


@dataclass(frozen=True)
class EstimatorEntry:
    """One learner to check.

    Attributes
    ----------
    path : str
        ``module:ClassName``.
    params : dict
        Keyword arguments for a small, fast instance.
    expected_failures : dict of str to str
        scikit-learn check name -> reason it does not apply.
    """

    path: str
    params: dict[str, Any] = field(default_factory=dict)
    expected_failures: dict[str, str] = field(default_factory=dict)

    def build(self) -> BaseEstimator:
        """Import the class and instantiate it with ``params``."""
        module_name, _, class_name = self.path.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        estimator: BaseEstimator = cls(**self.params)
        return estimator


_STREAMING_FAILURES = {
    "check_methods_subset_invariance": _STREAMING,
    "check_methods_sample_order_invariance": _STREAMING,
}

ESTIMATORS: list[EstimatorEntry] = [
    EstimatorEntry(
        "workbench.analysis.anomaly.detectors:StreamingEnsembleDetector",
        {"window": 4, "history": 200, "warmup": 5, "threshold": 0.3},
        _STREAMING_FAILURES,
    ),
    EstimatorEntry(
        "workbench.analysis.anomaly.detectors:RollingZScoreDetector",
        {"window": 20, "warmup": 5},
        {"check_methods_sample_order_invariance": _STREAMING},
    ),
    EstimatorEntry(
        "workbench.analysis.anomaly.multivariate:ResidualIsolationForest",
        {"period": 5, "n_estimators": 20, "seasonal": False, "random_state": 0},
        _STREAMING_FAILURES,
    ),
    EstimatorEntry("workbench.fidelity.learn:SimulationLearner", {"ar_max_lag": 2, "random_state": 0}),
    EstimatorEntry("workbench.analysis.seasonality:SeasonalDecomposer", {}),
    EstimatorEntry("workbench.analysis.forecast:SeasonalForecaster", {"trend": "none"}),
]


def register_estimator(entry: EstimatorEntry) -> None:
    """Add a learner to the registry (idempotent on ``entry.path`` and ``params``).

    Examples
    --------
    >>> register_estimator(ESTIMATORS[0])
    >>> len([e for e in ESTIMATORS if e == ESTIMATORS[0]])
    1
    """
    if entry not in ESTIMATORS:
        ESTIMATORS.append(entry)


def all_estimators() -> list[BaseEstimator]:
    """A fresh instance of every registered learner."""
    return [entry.build() for entry in ESTIMATORS]


def expected_failed_checks(estimator: BaseEstimator) -> dict[str, str]:
    """The checks a registered estimator is documented not to pass (for ``parametrize_with_checks``).

    Raises
    ------
    NotFoundError
        If the estimator's class is not registered.
    """
    path = f"{type(estimator).__module__}:{type(estimator).__name__}"
    for entry in ESTIMATORS:
        if entry.path == path:
            return dict(entry.expected_failures)
    raise NotFoundError("registered estimator", path, [e.path for e in ESTIMATORS])
