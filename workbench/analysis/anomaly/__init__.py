"""Anomaly detection: streaming detectors, calibration, alarm rules and findings.

Examples
--------
>>> import numpy as np
>>> from workbench.analysis.anomaly import StreamingEnsembleDetector, alarm_events
>>> x = np.r_[np.sin(np.arange(500) / 7), 5.0, np.sin(np.arange(501, 600) / 7)][:, None]
>>> det = StreamingEnsembleDetector().fit(x[:300])
>>> alarm_events(det.anomaly_score(x[300:]))["peak_row"].to_list()
[200]
"""

from __future__ import annotations

from workbench.analysis.anomaly.alarms import ALERT_SCHEMA, AlarmRule, alarm_events
from workbench.analysis.anomaly.calibration import conformal_log_pvalues, surprise_score
from workbench.analysis.anomaly.detectors import RollingZScoreDetector, StreamingEnsembleDetector
from workbench.analysis.anomaly.findings import detect_anomalies, score_series, warmup_rows
from workbench.analysis.anomaly.multivariate import ResidualIsolationForest, residual_features

__all__ = [
    "ALERT_SCHEMA",
    "AlarmRule",
    "ResidualIsolationForest",
    "RollingZScoreDetector",
    "StreamingEnsembleDetector",
    "alarm_events",
    "conformal_log_pvalues",
    "detect_anomalies",
    "residual_features",
    "score_series",
    "surprise_score",
    "warmup_rows",
]
