"""Batch reports (HTML / JSON) and the CI gate: the same monitors over one window."""

from mlwarden.reporting.batch import report
from mlwarden.reporting.result import Report

__all__ = ["Report", "report"]
