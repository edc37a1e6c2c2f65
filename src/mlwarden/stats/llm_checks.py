"""Offline safety and quality checks of LLM prompts and responses, in one place.

Every check is a pure function of a string, pattern-based, with no model and
no download, so it runs air-gapped at ingest time. Each returns a
:class:`~mlwarden.stats.llm_findings.CheckResult`: whether it fired, a score in [0, 1], and what it found
(:class:`~mlwarden.stats.llm_findings.Finding`: type, character offsets, a redacted preview). The checks
live one concept per module:

* :mod:`mlwarden.stats.pii` — personal data and secrets (:func:`find_pii`);
* :mod:`mlwarden.stats.prompt_injection` — injection and jailbreak heuristics
  (:func:`find_injection`);
* :mod:`mlwarden.stats.llm_quality` — refusals (:func:`detect_refusal`) and
  malformed JSON (:func:`check_json`).

They are re-exported here, with :data:`CHECKS` naming them for callers that
run them by key (the monitors layer wraps them as monitor kinds).

Examples
--------
>>> from mlwarden.stats.llm_checks import CHECKS
>>> sorted(CHECKS)
['injection', 'json', 'pii', 'refusal']
>>> CHECKS["pii"]("write to ann@example.org").findings[0].type
'email'
"""

from __future__ import annotations

from collections.abc import Callable

from mlwarden.stats.llm_findings import CheckResult, Finding, redact
from mlwarden.stats.llm_quality import check_json, detect_refusal
from mlwarden.stats.pii import find_pii
from mlwarden.stats.prompt_injection import find_injection

__all__ = [
    "CHECKS",
    "CheckResult",
    "Finding",
    "check_json",
    "detect_refusal",
    "find_injection",
    "find_pii",
    "redact",
]

#: Every check by key (text in, :class:`CheckResult` out).
CHECKS: dict[str, Callable[[str], CheckResult]] = {
    "pii": find_pii,
    "injection": find_injection,
    "refusal": detect_refusal,
    "json": check_json,
}
