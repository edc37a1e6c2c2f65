"""What the LLM app pages share (sessions, users, dashboard, review queue): the app's spans,
the page's range, and links that keep the page's state in the URL.

The range is the model page's (``start`` / ``end``, by default the 30 days up to the app's
latest span); each page adds its own filters to the query string, so a link reproduces the
view.

Examples
--------
>>> link = Link("/ui/models/bot/users", {"sort": "cost", "start": "2026-01-01"})
>>> link(sort="calls", page=None)
'/ui/models/bot/users?sort=calls&start=2026-01-01'
>>> link.to("/ui/models/bot/users/ann", keep=("start",))
'/ui/models/bot/users/ann?start=2026-01-01'
>>> link.to("/ui/models/bot?tab=llm", keep=("start",))
'/ui/models/bot?tab=llm&start=2026-01-01'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from mlwarden.errors import ValidationError, expected
from mlwarden.schema.spec import Task
from mlwarden.server.ui.state import ViewState
from mlwarden.store.span_aggregates import model_spans, span_time_range

if TYPE_CHECKING:
    from mlwarden.store.base import Store

    pass

__all__ = ["LLMApp", "Link", "llm_app", "optional_float"]

MAX_PARAM = 256


@dataclass(frozen=True)
class Link:
    """The current page's path and query parameters; calling it gives a link with changes
    (None or "" drops a parameter)."""

    path: str
    params: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, **changes: Any) -> str:
        return self.to(self.path, **changes)

    def to(self, path: str, *, keep: tuple[str, ...] | None = None, **changes: Any) -> str:
        """A link to ``path`` with this page's parameters (only ``keep`` ones when given)."""
        p = {k: v for k, v in self.params.items() if keep is None or k in keep}
        p.update({k: str(v) for k, v in changes.items() if v is not None and v != ""})
        for k, v in changes.items():
            if v is None or v == "":
                p.pop(k, None)
        if not p:
            return path
        return path + ("&" if "?" in path else "?") + urlencode(p)


@dataclass(frozen=True)
class LLMApp:
    """An LLM app's page context: its record, spans (ibis), range and the page's link."""

    record: Any
    model: str
    spans: Any
    state: ViewState
    link: Link
    params: Mapping[str, str]

    @property
    def base(self) -> str:
        return "/ui/models/" + quote(self.model, safe="")

    def range(self) -> dict[str, Any]:
        return {"start": self.state.start, "end": self.state.end}

    def context(self) -> dict[str, Any]:
        return {"record": self.record, "model": self.model, "state": self.state,
                "link": self.link, "base": self.base, "q": self.params}  # fmt: skip


def llm_app(store: Store, project: str, model: str, path: str, params: Mapping[str, str]) -> LLMApp:
    """The context of an LLM app page (a 404 for an unknown model, a 400 for a model that
    is not an ``llm`` app)."""
    record = store.get_model(project, model)
    if record.spec.task is not Task.LLM:
        raise ValidationError(
            expected(
                "model", model, "be an LLM app (task llm) to have this page", record.spec.task.value
            )
        )
    clean = {k: v for k, v in params.items() if v != ""}
    for k, v in clean.items():
        if len(v) > MAX_PARAM:
            raise ValidationError(
                expected("parameter", k, f"be at most {MAX_PARAM} characters", v[:40] + "…")
            )
    state = ViewState.parse({k: clean[k] for k in ("start", "end", "page") if k in clean})
    _, hi = span_time_range(store, record)
    state = state.with_range(hi.replace(tzinfo=UTC) if hi is not None and hi.tzinfo is None else hi)
    shown = {k: v for k, v in clean.items() if k != "page"}
    return LLMApp(record, model, model_spans(store, record), state, Link(path, shown), clean)


def optional_float(params: Mapping[str, str], name: str) -> float | None:
    """A non-negative number from the query string, or None when absent."""
    v = params.get(name)
    if not v:
        return None
    try:
        x = float(v)
    except ValueError:
        x = -1.0
    if not 0 <= x < 1e12:
        raise ValidationError(expected("parameter", name, "be a number >= 0", v))
    return x


def yes_no(params: Mapping[str, str], name: str) -> bool | None:
    """``yes`` / ``no`` from the query string as True / False; None when absent."""
    v = params.get(name)
    if not v:
        return None
    if v not in ("yes", "no"):
        raise ValidationError(expected("parameter", name, "be yes or no", v))
    return v == "yes"
