"""Monitors: kinds (one per file, one registry), automatic set-up, evaluation, scheduling."""

from mlwarden.monitors import (  # noqa: F401 - importing a kind registers it
    custom,
    duplicate_ids,
    error_rate,
    estimated_performance,
    fairness,
    feature_drift,
    kpi,
    kpi_function,
    latency,
    llm_budget,
    llm_cost,
    llm_embedding_drift,
    llm_errors,
    llm_format,
    llm_injection,
    llm_judge,
    llm_latency,
    llm_pii,
    llm_refusal,
    llm_scores,
    missing_values,
    multivariate_drift,
    out_of_range,
    performance,
    prediction_drift,
    probing,
    resources,
    schema_violations,
    text_drift,
    unseen_categories,
    volume,
)
from mlwarden.monitors.base import MONITORS, Monitor, Objective, Result, Severity, Status
from mlwarden.monitors.suite import MonitorSuite, auto_monitors

__all__ = [
    "MONITORS",
    "Monitor",
    "MonitorSuite",
    "Objective",
    "Result",
    "Severity",
    "Status",
    "auto_monitors",
]
