"""Personal data taken out of text before it is stored, with the PII detectors of
:mod:`mlwarden.stats.pii`.

Three modes, for three needs:

* ``mask``: each finding becomes its type in brackets (``[email]``): the text stays readable,
  the person is gone.
* ``hash``: each finding becomes its type and a keyed hash (``[email:5d41402abc]``): the same
  address always reads the same (count distinct users, follow one conversation), and nobody
  without the server's key can test a guess against it.
* ``drop``: a text with any finding is not stored at all (``None``).

Examples
--------
>>> r = Redactor("mask")
>>> r("write to ann@example.com or call +44 20 7946 0958")
'write to [email] or call [phone]'
>>> h = Redactor("hash", key=b"k")
>>> h("ann@example.com") == h("ann@example.com") != h("bob@example.com")
True
>>> Redactor("drop")("card 4111 1111 1111 1111") is None
True
>>> Redactor("drop")("nothing personal here")
'nothing personal here'
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from typing import Any

from mlwarden.errors import ConfigError, expected
from mlwarden.stats.pii import find_pii

__all__ = ["RedactionMode", "Redactor"]


#: Keys of a rejected payload that identify the row: kept as sent, so the row can be found.
_IDENTIFIERS = frozenset(
    {
        "event_id", "timestamp", "version", "trace_id", "span_id", "parent_span_id",
        "traceId", "spanId", "parentSpanId", "startTimeUnixNano", "endTimeUnixNano",
    }
)  # fmt: skip


class RedactionMode(StrEnum):
    OFF = "off"
    MASK = "mask"
    HASH = "hash"
    DROP = "drop"


class Redactor:
    """Callable: ``text`` with its personal data masked, hashed, or ``None`` (dropped)."""

    def __init__(self, mode: str, *, key: bytes = b"") -> None:
        self.mode = mode
        self.key = key
        valid = [m.value for m in RedactionMode]
        if mode not in valid:
            raise ConfigError(
                expected("option", "redact-pii", f"be one of {', '.join(valid)}", mode)
            )
        if mode == RedactionMode.HASH and not key:
            raise ConfigError("Hashing personal data needs a key (the server keeps one).")

    @property
    def active(self) -> bool:
        return self.mode != RedactionMode.OFF

    def __call__(self, text: str | None) -> str | None:
        if not text or not self.active:
            return text
        found = find_pii(text)
        if not found.flagged:
            return text
        if self.mode == RedactionMode.DROP:
            return None
        out: list[str] = []
        pos = 0
        for f in sorted(found.findings, key=lambda f: f.start):
            if f.start < pos:  # overlapping findings: the first one covers it
                continue
            out.append(text[pos : f.start])
            out.append(self._token(f.type, text[f.start : f.end]))
            pos = f.end
        out.append(text[pos:])
        return "".join(out)

    def payload(self, value: Any) -> Any:
        """A rejected row as sent (dicts, lists, scalars) with every text in it redacted, but
        the identifiers of the row (``event_id``, ``timestamp``, trace and span ids).

        A row is quarantined because it is malformed, so which of its fields is a text feature
        cannot be trusted: every string is passed through the detectors.

        >>> Redactor("mask").payload({"event_id": "e1", "features": {"note": "ann@example.com"}})
        {'event_id': 'e1', 'features': {'note': '[email]'}}
        """
        if not self.active:
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: v if k in _IDENTIFIERS else self.payload(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.payload(v) for v in value]
        return value

    def reason(self, text: str) -> str:
        """A rejection's reason (which may quote the value at fault) with its personal data
        masked; in ``drop`` mode a reason with any is withheld."""
        out = self(text)
        return out if out is not None else "(the reason quoted personal data: withheld)"

    def _token(self, kind: str, value: str) -> str:
        kind = kind.split(":")[0]
        if self.mode == RedactionMode.MASK:
            return f"[{kind}]"
        digest = hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:10]
        return f"[{kind}:{digest}]"
