"""What the offline LLM checks return: :class:`Finding` and :class:`CheckResult`, and
:func:`redact` for previews that are safe to store and show."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CheckResult", "Finding", "casefree", "finditer_ci", "redact"]


@dataclass(frozen=True)
class Finding:
    """One thing a check found: its ``type``, where (``start``/``end`` offsets into the checked
    text), a ``preview`` safe to show (personal data masked), and a ``score`` in [0, 1]."""

    check: str
    type: str
    start: int
    end: int
    preview: str
    score: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "preview": self.preview,
            "score": self.score,
        }

    def shifted(self, offset: int) -> Finding:
        """The same finding with offsets moved by ``offset`` (for text checked in pieces)."""
        return Finding(
            self.check, self.type, self.start + offset, self.end + offset, self.preview, self.score
        )


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one text: ``flagged``, a ``score`` and the ``findings``."""

    check: str
    flagged: bool
    score: float = 0.0
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def types(self) -> list[str]:
        """The distinct finding types, sorted."""
        return sorted({f.type for f in self.findings})


def redact(text: str, *, keep_start: int = 0, keep_end: int = 0, limit: int = 24) -> str:
    """Mask ``text`` with ``*`` except ``keep_start``/``keep_end`` characters; cap its length.

    Examples
    --------
    >>> redact("4111111111111111", keep_end=4)
    '************1111'
    >>> redact("AKIAIOSFODNN7EXAMPLE", keep_start=4)
    'AKIA****************'
    """
    n = len(text)
    if keep_start + keep_end >= n:
        keep_start, keep_end = min(keep_start, n // 4), min(keep_end, n // 4)
    middle = n - keep_start - keep_end
    masked = (
        text[:keep_start] + "*" * min(middle, limit) + (text[n - keep_end :] if keep_end else "")
    )
    return masked


def casefree(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """A case-insensitive pattern recompiled to run case-sensitively on lowercased text, which
    Python's :mod:`re` matches about twice as fast (see :func:`finditer_ci`).

    Examples
    --------
    >>> casefree(re.compile(r"\\bDAN\\b", re.IGNORECASE)).pattern
    '\\\\bdan\\\\b'
    """
    src = pattern.pattern
    if re.search(r"\\[A-Z]", src):  # \S, \W, \D, \B would change meaning when lowercased
        raise ValueError(f"Pattern {src!r} uses an uppercase escape; it cannot be lowercased.")
    return re.compile(src.lower(), pattern.flags & ~re.IGNORECASE)


def finditer_ci(
    pattern: re.Pattern[str], fast: re.Pattern[str], text: str, low: str
) -> Iterator[re.Match[str]]:
    """Matches of a case-insensitive ``pattern`` in ``text``: of its :func:`casefree` twin
    ``fast`` in ``low`` (``text.lower()``) when lowercasing kept every offset, else of
    ``pattern`` itself. Read matched text as ``text[m.start():m.end()]``."""
    if len(low) == len(text):
        return fast.finditer(low)
    return pattern.finditer(text)
