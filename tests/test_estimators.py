"""Every learner of the package honours the scikit-learn estimator contract.

The list comes from :func:`workbench.analysis.estimators.all_estimators`; to add a
learner, append it to ``ESTIMATORS`` there, not here.
"""

from __future__ import annotations

from typing import Any

from sklearn.utils.estimator_checks import parametrize_with_checks

from workbench.analysis.estimators import all_estimators, expected_failed_checks


@parametrize_with_checks(all_estimators(), expected_failed_checks=expected_failed_checks)
def test_sklearn_contract(estimator: Any, check: Any) -> None:
    check(estimator)
