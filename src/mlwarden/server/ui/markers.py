"""Markers on a model's time charts: its annotations (and the project's) and its versions.

Every time chart of a model page (line charts and heat maps of every tab) draws the markers
that fall within its visible range: a vertical line with a short label, the full text in a
tooltip. A version's registration (``POST /v1/models/{m}/versions``) is a deploy marker of
its own; annotations are stored by :mod:`mlwarden.store.duckdb_annotations`.

Examples
--------
>>> from datetime import UTC, datetime
>>> m = Marker(at=datetime(2026, 3, 1, 12, tzinfo=UTC), end=None, kind="deploy",
...            text="v2 rolled out", author="ci", source="annotation", id=7)
>>> m.payload()["t"], m.payload()["label"]
(1772366400.0, 'deploy: v2 rolled out')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlwarden.store.base import Store
from mlwarden.store.times import utc_aware

__all__ = ["MAX_MARKERS", "Marker", "markers_for"]

#: Markers drawn at most per page (the most recent); a label shows 40 characters.
MAX_MARKERS = 200
_LABEL = 40


@dataclass(frozen=True)
class Marker:
    """One marker: a time (and an end for a span), a kind, its text and where it came from
    (``annotation`` with its id, or ``version``)."""

    at: datetime
    end: datetime | None
    kind: str
    text: str
    author: str
    source: str
    id: int | None = None
    #: None: an annotation of the whole project (or a version)
    model: str | None = None

    @property
    def label(self) -> str:
        short = self.text if len(self.text) <= _LABEL else self.text[: _LABEL - 1] + "…"
        return f"{self.kind}: {short}"

    def payload(self) -> dict[str, Any]:
        """What the browser draws (times in epoch seconds)."""
        tip = f"{self.kind} at {self.at:%Y-%m-%d %H:%M} UTC: {self.text}"
        if self.author:
            tip += f" ({self.author})"
        return {
            "t": self.at.timestamp(),
            "end": None if self.end is None else self.end.timestamp(),
            "kind": self.kind,
            "label": self.label,
            "title": tip,
            "source": self.source,
        }


def markers_for(
    store: Store, project: str, model: str, *, start: datetime, end: datetime
) -> list[Marker]:
    """The markers of ``model``'s pages in ``[start, end)``, oldest first: its annotations,
    the project's, and its versions' registrations (as deploys)."""
    out = [
        Marker(
            at=a.time,
            end=a.end,
            kind=a.kind.value,
            text=a.text,
            author=a.author,
            source="annotation",
            id=a.id,
            model=a.model,
        )
        for a in store.annotations(project, model, start=start, end=end, limit=MAX_MARKERS)
    ]
    for v in store.list_versions(project, model):
        at = utc_aware(v.created_at)
        if start <= at < end:
            text = f"version {v.version}" + (f": {v.description}" if v.description else "")
            out.append(
                Marker(at=at, end=None, kind="deploy", text=text, author="", source="version")
            )
    out.sort(key=lambda m: m.at)
    return out[-MAX_MARKERS:]
