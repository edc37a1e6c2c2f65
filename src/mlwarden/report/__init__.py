"""Batch reports (HTML / JSON) and the CI gate: the same monitors over one window."""

from mlwarden.report.batch import report
from mlwarden.report.result import Report

__all__ = ["Report", "report"]
