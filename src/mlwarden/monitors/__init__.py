"""Monitors: kinds (one per file, one registry), automatic set-up, evaluation, scheduling.

The kinds are *declared* here by name and module, not imported: a kind's module is imported
when the kind is first looked up (``MONITORS.get(kind)``, a spec naming it, a table derived
from the registry), so setting up a tabular model never imports the LLM kinds and their
pattern tables. To add a kind: write its module (one class, ``@MONITORS.register``, a
``kind`` class attribute) and add one line ``"kind": "module"`` to :data:`KINDS` below; the
registry refuses a declared module that does not register its kind, and
``tests/monitors/test_registry.py`` checks every line against the classes. A kind registered
by a plugin's own import needs no line.
"""

from mlwarden.monitors.base import MONITORS, Monitor, Objective, Result, Severity, Status
from mlwarden.monitors.suite import MonitorSuite, auto_monitors

#: Every built-in kind -> the module (under ``mlwarden.monitors``) that registers it.
KINDS: dict[str, str] = {
    "custom": "custom",
    "duplicate_ids": "duplicate_ids",
    "error_rate": "error_rate",
    "estimated_performance": "estimated_performance",
    "fairness": "fairness",
    "feature_drift": "feature_drift",
    "kpi": "kpi",
    "kpi_function": "kpi_function",
    "latency": "latency",
    "llm_budget": "llm_budget",
    "llm_cost": "llm_cost",
    "llm_embedding_drift": "llm_embedding_drift",
    "llm_errors": "llm_errors",
    "llm_format": "llm_format",
    "llm_injection": "llm_injection",
    "llm_judge": "llm_judge",
    "llm_latency": "llm_latency",
    "llm_pii": "llm_pii",
    "llm_refusal": "llm_refusal",
    "llm_score": "llm_scores",
    "missing_values": "missing_values",
    "multivariate_drift": "multivariate_drift",
    "out_of_range": "out_of_range",
    "performance": "performance",
    "prediction_drift": "prediction_drift",
    "probing": "probing",
    "resources": "resources",
    "schema_violations": "schema_violations",
    "text_drift": "text_drift",
    "unseen_categories": "unseen_categories",
    "volume": "volume",
}
for _kind, _module in KINDS.items():
    MONITORS.declare(_kind, f"{__name__}.{_module}")

__all__ = [
    "KINDS",
    "MONITORS",
    "Monitor",
    "MonitorSuite",
    "Objective",
    "Result",
    "Severity",
    "Status",
    "auto_monitors",
]
