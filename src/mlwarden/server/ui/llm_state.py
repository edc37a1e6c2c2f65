"""The LLM tab's own filters, kept in the URL beside the model page's (:mod:`.state`).

Query parameters: ``user``, ``session``, ``llm`` (the LLM's model name), ``flag`` (``any`` or
one check: ``pii_in_prompt``, ``pii_in_response``, ``injection``, ``refusal``,
``json_invalid``) and ``trace`` (the trace opened below the list); ``page`` and the time range
are the page's.

Examples
--------
>>> from mlwarden.server.ui.state import ViewState
>>> f = LlmFilters.parse({"user": "ann", "flag": "injection", "tab": "llm"})
>>> f.query(ViewState(tab="llm"), page=2)
'?tab=llm&page=2&user=ann&flag=injection'
>>> f.query(ViewState(tab="llm", page=3), trace="ab12", page=None)
'?tab=llm&user=ann&flag=injection&trace=ab12'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import urlencode

from mlwarden.errors import ValidationError
from mlwarden.server.ui.state import ViewState
from mlwarden.store.span_queries import FLAGS

__all__ = ["FLAG_CHOICES", "LlmFilters"]

FLAG_CHOICES = ("any", *FLAGS)
MAX_LEN = 256


@dataclass(frozen=True)
class LlmFilters:
    user: str | None = None
    session: str | None = None
    llm: str | None = None
    flag: str | None = None
    trace: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> LlmFilters:
        """From query parameters; empty values count as absent."""
        values: dict[str, str | None] = {}
        for f in fields(cls):
            v = params.get(f.name) or None
            if v is not None and len(v) > MAX_LEN:
                raise ValidationError(
                    f"The '{f.name}' parameter must be at most {MAX_LEN} characters. "
                    f"Got {len(v)} instead."
                )
            values[f.name] = v
        if values["flag"] is not None and values["flag"] not in FLAG_CHOICES:
            raise ValidationError(
                f"The 'flag' parameter must be one of {', '.join(FLAG_CHOICES)}. "
                f"Got {values['flag']!r} instead."
            )
        return cls(**values)

    def span_filters(self) -> dict[str, Any]:
        """Keyword filters of :func:`mlwarden.store.span_queries.filter_spans`."""
        out: dict[str, Any] = {"user": self.user, "session": self.session, "model": self.llm}
        if self.flag == "any":
            out["flagged"] = True
        elif self.flag is not None:
            out["flag"] = self.flag
        return out

    def query(self, state: ViewState, **changes: Any) -> str:
        """``?...`` of the page's state and these filters with ``changes`` applied (``page``
        is the page's; None drops a value)."""
        page = changes.pop("page", state.page)
        own = replace(self, **changes) if changes else self
        p = state.params(page=page if page and page > 1 else None)
        p["tab"] = "llm"
        p.update({f.name: getattr(own, f.name) for f in fields(own) if getattr(own, f.name)})
        return "?" + urlencode(p)
