"""The pushed-down half of a champion / challenger comparison: counts from the engine.

Every function here returns a few thousand grouped counts at most, whatever the number of
events: the engine joins and groups, Python never sees a row (except :func:`paired_scores`,
which fetches the raw scores of a small window for the exact DeLong test).

* Paired (shadow): the champion's and the challenger's events of the same request share an
  event id. :func:`paired` joins them on it (and the label, when one arrived) and counts the
  pairs per (champion score bin, challenger score bin, labelled, actual positive, each says
  positive, each is right, they agree).
* Unpaired (A/B): :func:`unpaired` counts each version's events per (version, score bin,
  labelled, actual positive, says positive, is right).
* :func:`daily` -- labelled events and right predictions per day and version (the sequential
  test's windows and the chart).
* :func:`slice_counts` -- per value of a column (numeric ones binned): the discordant pairs of
  labelled paired events (champion right only, challenger right only) and their number;
  :func:`unpaired_slice_counts` the labelled events and right predictions per value and
  version (A/B).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import ibis

from mlwarden.analysis.slices_query import bin_key
from mlwarden.store.queries import filter_events

__all__ = [
    "daily",
    "labelled_base",
    "paired",
    "paired_base",
    "paired_scores",
    "slice_counts",
    "unpaired",
    "unpaired_slice_counts",
]

#: The outcome columns every grouped row carries.
KEYS = ("lab", "pos", "pa", "pb", "oka", "okb", "agree")


def _bin(score: Any, bins: int) -> Any:
    raw = (score * bins + 1e-9).floor().cast("int64")
    return ibis.ifelse(
        score.isnull(), ibis.null("int64"), ibis.greatest(ibis.least(raw, bins - 1), 0)
    )


def paired_base(
    events: Any,
    actuals: Any,
    *,
    champion: str,
    challenger: str,
    positive: str | None,
    columns: Sequence[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    segment: dict[str, str] | None = None,
) -> Any:
    """One row per request both versions scored: ``sa``, ``sb`` (scores), outcome flags
    :data:`KEYS`, ``ts`` and the champion's row's ``columns``."""
    ev = filter_events(events, start=start, end=end, segment=segment)
    keep = [c for c in dict.fromkeys(columns) if c in ev.columns]
    has_score = "score" in ev.columns
    a = ev.filter(ev.version == champion)
    a = a.select(
        "event_id",
        "ts",
        *keep,
        _pa=a.prediction.cast("string"),
        sa=a.score if has_score else ibis.null("float64"),
    )
    b = ev.filter(ev.version == challenger)
    b = b.select(
        _eid=b.event_id,
        _pb=b.prediction.cast("string"),
        sb=b.score if has_score else ibis.null("float64"),
    )
    j = a.inner_join(b, a.event_id == b._eid)
    ac = actuals.select(_aid=actuals.event_id, _y=actuals.actual)
    j = j.left_join(ac, j.event_id == ac._aid)
    y = j._y
    pos_lit = ibis.literal(positive if positive is not None else "", "string")
    return j.select(
        "event_id",
        "ts",
        *keep,
        sa=j.sa,
        sb=j.sb,
        lab=y.notnull(),
        pos=(y == pos_lit).fill_null(False),
        pa=(j._pa == pos_lit).fill_null(False),
        pb=(j._pb == pos_lit).fill_null(False),
        oka=(j._pa == y).fill_null(False),
        okb=(j._pb == y).fill_null(False),
        agree=(j._pa == j._pb).fill_null(False),
    )


def paired(base: Any, *, bins: int) -> list[dict[str, Any]]:
    """Pairs counted per (``ba``, ``bb``) score bins and :data:`KEYS`."""
    grouped = base.group_by(ba=_bin(base.sa, bins), bb=_bin(base.sb, bins), **{
        k: base[k] for k in KEYS
    }).aggregate(n=base.count())  # fmt: skip
    rows: list[dict[str, Any]] = grouped.to_pyarrow().to_pylist()
    return rows


def paired_scores(base: Any) -> dict[str, list[Any]]:
    """The labelled pairs' raw scores and actual (``pos``): for a small window only."""
    lab = base.filter(base.lab, base.sa.notnull(), base.sb.notnull())
    out: dict[str, list[Any]] = lab.select("sa", "sb", "pos").to_pyarrow().to_pydict()
    return out


def unpaired(
    events: Any,
    actuals: Any,
    *,
    versions: Sequence[str],
    positive: str | None,
    bins: int,
    start: datetime | None = None,
    end: datetime | None = None,
    segment: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Each version's events per (version, score bin ``b``, ``lab``, ``pos``, ``p``, ``ok``)."""
    ev = filter_events(events, start=start, end=end, segment=segment)
    ev = ev.filter(ev.version.isin(list(versions)))
    ac = actuals.select(_aid=actuals.event_id, _y=actuals.actual)
    j = ev.left_join(ac, ev.event_id == ac._aid)
    pred = j.prediction.cast("string")
    pos_lit = ibis.literal(positive if positive is not None else "", "string")
    score = j.score if "score" in j.columns else ibis.null("float64")
    grouped = j.group_by(
        version=j.version,
        b=_bin(score, bins),
        lab=j._y.notnull(),
        pos=(j._y == pos_lit).fill_null(False),
        p=(pred == pos_lit).fill_null(False),
        ok=(pred == j._y).fill_null(False),
    ).aggregate(n=j.count())
    rows: list[dict[str, Any]] = grouped.to_pyarrow().to_pylist()
    return rows


def daily(
    events: Any,
    actuals: Any,
    *,
    versions: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
    segment: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Labelled events (``n``) and right predictions (``hits``) per day and version."""
    ev = filter_events(events, start=start, end=end, segment=segment)
    ev = ev.filter(ev.version.isin(list(versions)))
    ac = actuals.select(_aid=actuals.event_id, _y=actuals.actual)
    j = ev.inner_join(ac, ev.event_id == ac._aid)
    ok = (j.prediction.cast("string") == j._y).fill_null(False)
    out = (
        j.group_by(day=j.ts.truncate("D"), version=j.version)
        .aggregate(n=j.count(), hits=ok.cast("int64").sum())
        .order_by(["day", "version"])
    )
    rows: list[dict[str, Any]] = out.to_pyarrow().to_pylist()
    return rows


def slice_counts(
    base: Any, column: str, *, edges: Sequence[float] | None, max_values: int
) -> list[dict[str, Any]] | None:
    """Per value of ``column`` (bin code of ``edges`` for a numeric one) over labelled pairs:
    ``n``, ``b`` (champion right only) and ``c`` (challenger right only). None when a
    categorical column has more than ``max_values`` values (an id, not a segment)."""
    lab = base.filter(base.lab)
    key = bin_key(lab[column], edges) if edges is not None else lab[column].cast("string")
    grouped = lab.group_by(key=key).aggregate(
        n=lab.count(),
        b=(lab.oka & ~lab.okb).cast("int64").sum(),
        c=(~lab.oka & lab.okb).cast("int64").sum(),
    )
    rows: list[dict[str, Any]] = grouped.limit(max_values + 1).to_pyarrow().to_pylist()
    if len(rows) > max_values:
        return None
    return rows


def labelled_base(
    events: Any,
    actuals: Any,
    *,
    versions: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
    segment: dict[str, str] | None = None,
) -> Any:
    """The labelled events of ``versions`` with ``ok`` (the prediction is right)."""
    ev = filter_events(events, start=start, end=end, segment=segment)
    ev = ev.filter(ev.version.isin(list(versions)))
    ac = actuals.select(_aid=actuals.event_id, _y=actuals.actual)
    j = ev.inner_join(ac, ev.event_id == ac._aid)
    return j.mutate(ok=(j.prediction.cast("string") == j._y).fill_null(False))


def unpaired_slice_counts(
    base: Any, column: str, *, edges: Sequence[float] | None, max_values: int
) -> list[dict[str, Any]] | None:
    """Per value of ``column`` and version of :func:`labelled_base`: ``n`` and ``hits``; None
    when a categorical column has more than ``max_values`` values."""
    key = bin_key(base[column], edges) if edges is not None else base[column].cast("string")
    grouped = base.group_by(key=key, version=base.version).aggregate(
        n=base.count(), hits=base.ok.cast("int64").sum()
    )
    rows: list[dict[str, Any]] = grouped.limit(2 * max_values + 1).to_pyarrow().to_pylist()
    if len({r["key"] for r in rows}) > max_values:
        return None
    return rows
