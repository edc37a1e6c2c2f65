"""The state of a view, all of it in the URL: a link reproduces the view exactly.

Query parameters: ``version``, ``start`` and ``end`` (dates or ISO times, UTC), ``segment``
(``column=value``), ``tab``, ``feature`` and ``window`` (the drift drill-down), ``sort``,
``state`` (incident filter), ``a`` and ``b`` (compared versions), ``page`` and ``cadence`` (the
window length shown when the monitors changed cadence), ``refresh`` (auto-refresh: ``30s``,
``1m`` or ``5m``; absent: off). The model is in the path.

Examples
--------
>>> s = ViewState.parse({"tab": "drift", "start": "2026-01-01", "segment": "region=north"})
>>> s.tab, s.start.isoformat(), s.segment
('drift', '2026-01-01T00:00:00+00:00', 'region=north')
>>> s.query(tab="operations", page=None)
'?tab=operations&start=2026-01-01&segment=region%3Dnorth'
>>> s.query(feature="credit_score", window="2026-01-03")
'?tab=drift&start=2026-01-01&segment=region%3Dnorth&feature=credit_score&window=2026-01-03'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from mlwarden.errors import ValidationError

__all__ = ["REFRESH", "TABS", "ViewState", "parse_time"]

TABS = ("performance", "drift", "quality", "operations", "fairness", "llm", "incidents")
SORTS = ("importance", "drift", "name")
DEFAULT_DAYS = 30
CADENCE = re.compile(r"[1-9][0-9]{0,3}[mhdw]")
#: Auto-refresh choices: the URL's value, its seconds.
REFRESH = {"30s": 30, "1m": 60, "5m": 300}


def parse_time(value: str, name: str) -> datetime:
    """A date (``2026-01-31``) or an ISO time; naive times are UTC."""
    try:
        t = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(
            f"The '{name}' parameter must be a date (YYYY-MM-DD) or an ISO time. Got {value!r} instead."
        ) from exc
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _fmt_time(t: datetime) -> str:
    t = t.astimezone(UTC)
    if t == t.replace(hour=0, minute=0, second=0, microsecond=0):
        return t.strftime("%Y-%m-%d")
    return t.replace(tzinfo=None).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ViewState:
    """Everything a page shows depends on these (and the model in the path)."""

    tab: str = "performance"
    version: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    segment: str | None = None
    feature: str | None = None
    window: datetime | None = None
    sort: str = "importance"
    state: str | None = None
    #: The two versions of the comparison page.
    a: str | None = None
    b: str | None = None
    page: int = 1
    #: The window length whose results are shown ('6h', '1d'); None: the monitors' current one.
    cadence: str | None = None
    #: Reload the page's data every so often (a key of ``REFRESH``); None: off.
    refresh: str | None = None

    @property
    def refresh_seconds(self) -> int | None:
        """The auto-refresh interval in seconds, None when off."""
        return REFRESH.get(self.refresh) if self.refresh else None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> ViewState:
        """From query parameters; empty values count as absent."""
        p = {k: v for k, v in params.items() if v != ""}
        tab = p.get("tab", "performance")
        if tab not in TABS:
            raise ValidationError(
                f"The 'tab' parameter must be one of {', '.join(TABS)}. Got {tab!r} instead."
            )
        sort = p.get("sort", "importance")
        if sort not in SORTS:
            raise ValidationError(
                f"The 'sort' parameter must be one of {', '.join(SORTS)}. Got {sort!r} instead."
            )
        segment = p.get("segment")
        if segment is not None and "=" not in segment:
            raise ValidationError(
                f"The 'segment' parameter must look like 'column=value'. Got {segment!r} instead."
            )
        try:
            page = int(p.get("page", "1"))
        except ValueError:
            page = 0
        if page < 1:
            raise ValidationError(
                f"The 'page' parameter must be an integer >= 1. Got {p.get('page')!r} instead."
            )
        cadence = p.get("cadence")
        if cadence is not None and not CADENCE.fullmatch(cadence):
            raise ValidationError(
                f"The 'cadence' parameter must look like '1h', '6h', '1d' or '1w'. Got {cadence!r} "
                "instead."
            )
        refresh = p.get("refresh")
        if refresh is not None and refresh not in REFRESH:
            raise ValidationError(
                f"The 'refresh' parameter must be one of {', '.join(REFRESH)} (absent: off). "
                f"Got {refresh!r} instead."
            )
        start = parse_time(p["start"], "start") if "start" in p else None
        end = parse_time(p["end"], "end") if "end" in p else None
        if start and end and end <= start:
            raise ValidationError("The 'end' must be after the 'start'.")
        return cls(
            tab=tab,
            version=p.get("version"),
            start=start,
            end=end,
            segment=segment,
            feature=p.get("feature"),
            window=parse_time(p["window"], "window") if "window" in p else None,
            sort=sort,
            state=p.get("state"),
            a=p.get("a"),
            b=p.get("b"),
            page=page,
            cadence=cadence,
            refresh=refresh,
        )

    def with_range(self, hi: datetime | None) -> ViewState:
        """Fill a missing range: the ``DEFAULT_DAYS`` days up to ``hi`` (the end of the latest
        data, rounded up to a midnight), or to the end of today."""
        if self.start and self.end:
            return self
        end = self.end
        if end is None:
            last = (hi or datetime.now(UTC)).astimezone(UTC)
            end = last.replace(hour=0, minute=0, second=0, microsecond=0)
            if end < last:
                end += timedelta(days=1)
        return replace(self, start=self.start or end - timedelta(days=DEFAULT_DAYS), end=end)

    def params(self, **changes: Any) -> dict[str, str]:
        """The query parameters of this state with ``changes`` applied (None drops one);
        defaults are left out unless given in ``changes``."""
        cur = replace(self, **changes) if changes else self
        defaults = ViewState()
        out: dict[str, str] = {}
        for f in fields(cur):
            v = getattr(cur, f.name)
            if v is None or (v == getattr(defaults, f.name) and f.name not in changes):
                continue
            out[f.name] = _fmt_time(v) if isinstance(v, datetime) else str(v)
        return out

    def query(self, **changes: Any) -> str:
        """``?a=b&...`` of this state with ``changes`` applied."""
        p = self.params(**changes)
        return "?" + urlencode(p) if p else ""

    def drill_link(self) -> Callable[[str, datetime], str]:
        """``self.query(feature=..., window=...)`` as a function, fast: a heat map has hundreds
        of cells, and encoding the whole state for each took a sixth of a page's time.

        >>> s = ViewState.parse({"tab": "drift", "segment": "region=north", "sort": "drift"})
        >>> w = datetime(2026, 1, 3, tzinfo=UTC)
        >>> s.drill_link()("x", w) == s.query(feature="x", window=w)
        True
        """
        p = self.params(feature=None, window=None)
        names = [f.name for f in fields(self)]
        cut = names.index("feature")
        pre = urlencode({k: v for k, v in p.items() if names.index(k) < cut})
        post = urlencode({k: v for k, v in p.items() if names.index(k) > cut})

        def link(feature: str, window: datetime) -> str:
            mid = urlencode({"feature": feature, "window": _fmt_time(window)})
            return "?" + "&".join(x for x in (pre, mid, post) if x)

        return link
