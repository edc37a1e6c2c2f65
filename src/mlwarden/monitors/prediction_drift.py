"""Prediction drift: the model's outputs (score or predicted class) vs the reference."""

from __future__ import annotations

from typing import ClassVar

from mlwarden.monitors.base import MONITORS, Objective, Severity
from mlwarden.monitors.feature_drift import FeatureDrift

__all__ = ["PredictionDrift"]


@MONITORS.register
class PredictionDrift(FeatureDrift):
    """Distribution of the model's score or prediction vs the reference: an early proxy for a
    change in performance before labels arrive.

    Examples
    --------
    >>> PredictionDrift(column="score").id
    'prediction_drift:score'
    """

    kind: ClassVar[str] = "prediction_drift"
    objective: ClassVar[Objective] = Objective.PERFORMANCE
    family: ClassVar[str] = "drift"
    tab: ClassVar[str] = "drift"
    batch: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.HIGH
