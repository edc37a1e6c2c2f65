"""The words of an alert: a title line, and a plain-text and a markdown body.

Both bodies say the same things in the same order: what happened to which incident of which
model, how many monitors fire since when, the top three likely causes, the first
recommendation and why, the objectives at risk, and the link. Every part is optional: an
incident without causes (or a payload from an older server) still renders.

Examples
--------
>>> from mlwarden.incidents.record import IncidentEvent, Notification
>>> note = Notification(
...     incident_id=7, project="default", model="churn", event=IncidentEvent.OPENED,
...     severity="high", title="Drift in income", text="", url="http://mlw.local/incidents/7",
...     payload={
...         "causes": {"features": [{"name": "income", "drift": 2.4123, "alert": True}]},
...         "recommendations": [{"action": "Retrain on recent data", "why": "income shifted"}],
...     },
... )
>>> title_line(note)
'[high] churn: Drift in income'
>>> print(render_text(note))
Incident #7 of model churn (project default) was opened; severity high.
<BLANKLINE>
Likely causes:
  1. Feature income: drift 2.41x its threshold
<BLANKLINE>
Recommended: Retrain on recent data
Why: income shifted
<BLANKLINE>
Open: http://mlw.local/incidents/7
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlwarden.incidents.record import IncidentEvent, Notification

__all__ = ["render_markdown", "render_text", "title_line"]

#: How many causes an alert lists.
TOP_CAUSES = 3
#: How many firing monitors the summary names.
TOP_MONITORS = 3
#: Characters markdown could read as markup in free text (``#`` only matters at a line start,
#: which free text never is here).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>~])")


def title_line(note: Notification) -> str:
    """``[severity] model: title``, with the event when it is not the opening.

    The title is the incident's own (``payload["title"]``), else the notification's.
    """
    title = note.payload.get("title") or note.title
    line = f"[{note.severity}] {note.model}: {title}"
    return line if note.event is IncidentEvent.OPENED else f"{line} ({note.event.value})"


@dataclass(frozen=True)
class _Cause:
    what: str  # "Feature", "Slice", "Data quality"
    name: str
    detail: str  # "drift 0.412" or ""
    code: bool  # name is an identifier (a column): markdown shows it as code


@dataclass(frozen=True)
class _Parts:
    intro: tuple[str, ...]  # alternating plain / emphasised pieces
    summary: str
    monitors: tuple[str, ...]
    more_monitors: int
    causes: tuple[_Cause, ...]
    action: str
    why: str
    objectives: tuple[str, ...]
    url: str


def _num(v: object) -> str | None:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return f"{v:.3g}"
    return None


def _when(v: object) -> str:
    if isinstance(v, datetime):
        dt = v
    else:
        try:
            dt = datetime.fromisoformat(str(v))
        except ValueError:
            return str(v)
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%d %H:%M") + (" UTC" if dt.tzinfo is not None else "")


def _items(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _feature(item: object) -> _Cause | None:
    if isinstance(item, str):
        return _Cause("Feature", item, "", True)
    if not isinstance(item, Mapping) or item.get("alert") is False:
        return None  # ranked but not alerting: not a cause
    name = item.get("name") or item.get("feature") or item.get("column")
    if not name:
        return None
    details = []
    if (n := _num(item.get("drift"))) is not None:
        details.append(f"drift {n}x its threshold")
    elif (n := _num(item.get("score"))) is not None:
        details.append(f"score {n}")
    if (n := _num(item.get("importance"))) is not None:
        details.append(f"importance {n}")
    return _Cause("Feature", str(name), ", ".join(details), True)


def _slice(item: object) -> _Cause | None:
    desc = item.get("description") if isinstance(item, Mapping) else item
    if not desc:
        return None
    share = item.get("share") if isinstance(item, Mapping) else None
    pct = _num(100 * share) if isinstance(share, int | float) else None
    detail = f"{pct}% of rows" if pct is not None else ""
    return _Cause("Slice", str(desc), detail, False)


def _quality(item: object) -> _Cause | None:
    if not isinstance(item, Mapping):
        return _Cause("Data quality", str(item), "", False) if item else None
    name = item.get("monitor") or item.get("column") or item.get("name")
    reason = str(item.get("reason") or item.get("description") or "")
    if name:
        return _Cause("Data quality", str(name), reason, True)
    return _Cause("Data quality", reason, "", False) if reason else None


def _causes(causes: object) -> tuple[_Cause, ...]:
    """The top causes: the best of each kind first (feature, slice, quality), then the rest."""
    if not isinstance(causes, Mapping):
        return ()
    groups = [
        [c for item in _items(causes.get(key)) if (c := make(item)) is not None]
        for key, make in (("features", _feature), ("slices", _slice), ("quality", _quality))
    ]
    picked = [g[0] for g in groups if g]
    rest = [c for g in groups for c in g[1:]]
    return tuple((picked + rest)[:TOP_CAUSES])


def _parts(note: Notification) -> _Parts:
    p = note.payload
    members = [m for m in _items(p.get("members")) if isinstance(m, Mapping)]
    monitors = list(dict.fromkeys(str(m["monitor"]) for m in members if m.get("monitor")))
    summary = ""
    if monitors:
        summary = f"{len(monitors)} monitor{'s' if len(monitors) != 1 else ''} firing"
        if p.get("first_window"):
            summary += f" since the window of {_when(p['first_window'])}"
    recs = [r for r in _items(p.get("recommendations")) if isinstance(r, Mapping)]
    first = recs[0] if recs else {}
    objectives = []
    for o in _items(p.get("objectives")):
        if isinstance(o, Mapping) and o.get("name"):
            status = f" ({str(o['status']).replace('_', ' ')})" if o.get("status") else ""
            objectives.append(f"{o['name']}{status}")
    if not objectives:
        objectives = list(note.objectives)
    project = f" (project {note.project})" if note.project else ""
    return _Parts(
        intro=(
            f"Incident #{note.incident_id} of model ",
            note.model,
            f"{project} was ",
            note.event.value,
            "; severity ",
            note.severity,
            ".",
        ),
        summary=summary,
        monitors=tuple(monitors[:TOP_MONITORS]),
        more_monitors=max(0, len(monitors) - TOP_MONITORS),
        causes=_causes(p.get("causes")),
        action=str(first.get("action") or ""),
        why=str(first.get("why") or ""),
        objectives=tuple(objectives),
        url=note.url,
    )


def render_text(note: Notification) -> str:
    """The plain-text body: for e-mail text parts, logs, the webhook's ``text``."""
    parts = _parts(note)
    blocks = ["".join(parts.intro)]
    if parts.summary:
        more = f" and {parts.more_monitors} more" if parts.more_monitors else ""
        blocks.append(f"{parts.summary}: {', '.join(parts.monitors)}{more}.")
    if parts.causes:
        lines = ["Likely causes:"]
        for i, c in enumerate(parts.causes, 1):
            lines.append(f"  {i}. {c.what} {c.name}" + (f": {c.detail}" if c.detail else ""))
        blocks.append("\n".join(lines))
    if parts.action:
        blocks.append(f"Recommended: {parts.action}" + (f"\nWhy: {parts.why}" if parts.why else ""))
    if parts.objectives:
        blocks.append(f"Objectives at risk: {', '.join(parts.objectives)}")
    if parts.url:
        blocks.append(f"Open: {parts.url}")
    return "\n\n".join(blocks)


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def render_markdown(note: Notification) -> str:
    """The markdown body (Slack, Teams, Discord, e-mail HTML): same content as the text.

    Free text is escaped, column names are code, the link is an autolink.

    Examples
    --------
    >>> from mlwarden.incidents.record import IncidentEvent, Notification
    >>> note = Notification(
    ...     incident_id=3, project="", model="fraud_v2", event=IncidentEvent.RESOLVED,
    ...     severity="medium", title="Nulls in amount", text="", url="",
    ... )
    >>> print(render_markdown(note))
    Incident #3 of model **fraud\\_v2** was **resolved**; severity **medium**.
    """
    parts = _parts(note)
    intro = "".join(
        _md(piece) if i % 2 == 0 else f"**{_md(piece)}**" for i, piece in enumerate(parts.intro)
    )
    blocks = [intro]
    if parts.summary:
        more = f" and {parts.more_monitors} more" if parts.more_monitors else ""
        names = ", ".join(_code(m) for m in parts.monitors)
        blocks.append(f"{_md(parts.summary)}: {names}{more}.")
    if parts.causes:
        lines = ["**Likely causes**", ""]
        for i, c in enumerate(parts.causes, 1):
            name = _code(c.name) if c.code else _md(c.name)
            lines.append(f"{i}. {c.what} {name}" + (f": {_md(c.detail)}" if c.detail else ""))
        blocks.append("\n".join(lines))
    if parts.action:
        rec = f"**Recommended:** {_md(parts.action)}"
        blocks.append(rec + (f"  \n*Why:* {_md(parts.why)}" if parts.why else ""))
    if parts.objectives:
        blocks.append(f"**Objectives at risk:** {_md(', '.join(parts.objectives))}")
    if parts.url:
        blocks.append(f"Open: <{parts.url}>")
    return "\n\n".join(blocks)
