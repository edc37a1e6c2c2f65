"""The pushed-down half of a champion / challenger comparison: counts from the engine.

Every function here returns grouped counts, whatever the number of events: the engine joins
and groups, Python never sees a row (except :func:`paired_scores`, which fetches the raw
scores of a small window for the exact DeLong test). Each comparison is one scan with grouping
sets (:func:`~mlwarden.analysis.slices_query.grouped_sums`: DuckDB's ``GROUPING SETS``, or one
ibis aggregate per set on other engines):

* Paired (shadow): the champion's and the challenger's events of the same request share an
  event id. :func:`paired_base` joins them on it (and the label, when one arrived);
  :func:`paired_counts` counts the pairs per (champion score bin, challenger score bin,
  labelled, actual positive, each says positive, each is right, they agree), per day, and per
  value of each slice column (numeric ones binned).
* Unpaired (A/B): :func:`unpaired_counts` counts each version's events per (version, score
  bin, labelled, actual positive, says positive, is right), per day and per slice value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import ibis

from mlwarden.analysis.slices_query import bin_key, grouped_sums
from mlwarden.store.base import Store
from mlwarden.store.queries import filter_events

__all__ = ["Group", "paired_base", "paired_counts", "paired_scores", "unpaired_counts"]


#: One grouping set's counts: key tuple -> (n, n, n) (grouped sums of a constant 1).
Group = dict[tuple[Any, ...], tuple[int, float, float]]


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
    """One row per request both versions scored: ``sa``, ``sb`` (scores), the outcome flags
    ``lab``, ``pos``, ``pa``, ``pb``, ``oka``, ``okb``, ``agree``, ``ts`` and the champion's
    row's ``columns``."""
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


#: The grouping sets of a paired comparison (and the slices': ``(s<i>, lab, oka, okb)``).
PAIRED_SETS: dict[str, tuple[str, ...]] = {
    "outcomes": ("lab", "pos", "pa", "pb", "oka", "okb", "agree"),
    "hist_a": ("ba", "pa"),
    "hist_b": ("bb", "pb"),
    "day": ("day", "lab", "oka", "okb"),
    "joint": ("ba", "bb", "lab", "pos"),
}
#: No cap on the groups of a set (a joint grid is at most bins^2 x 3 cells).
NO_LIMIT = 10**12


def _slice_key(t: Any, column: str, edges: Sequence[float] | None) -> Any:
    return bin_key(t[column], edges) if edges is not None else t[column].cast("string")


def paired_counts(
    store: Store,
    base: Any,
    *,
    bins: int,
    joint: bool,
    slices: Mapping[str, Sequence[float] | None],
) -> tuple[dict[str, Group], dict[str, Group]]:
    """One scan of :func:`paired_base` for everything the comparison needs, with grouping
    sets: the pairs per :data:`PAIRED_SETS` (``ba``, ``bb``: score bins of ``bins``; the
    ``joint`` histogram of both versions' bins per class only when asked: DeLong over binned
    scores), and per value of each column of ``slices`` (numeric ones binned at their edges,
    codes of :func:`~mlwarden.analysis.slices_query.bin_key`): ``(key, lab, oka, okb)``.
    """
    t = base.mutate(_y=ibis.literal(1.0))
    keys: dict[str, Any] = {k: t[k] for k in ("lab", "pos", "pa", "pb", "oka", "okb", "agree")}
    keys |= {"ba": _bin(t.sa, bins), "bb": _bin(t.sb, bins), "day": t.ts.truncate("D")}
    named = {k: v for k, v in PAIRED_SETS.items() if joint or k != "joint"}
    sets = list(named.values())
    for i, (col, edges) in enumerate(slices.items()):
        keys[f"s{i}"] = _slice_key(t, col, edges)
        sets.append((f"s{i}", "lab", "oka", "okb"))
    groups = grouped_sums(store, t, keys, sets, limit=NO_LIMIT)
    return dict(zip(named, groups, strict=False)), dict(
        zip(slices, groups[len(named) :], strict=True)
    )


UNPAIRED = ("version", "b", "lab", "pos", "p", "ok")


def unpaired_counts(
    store: Store,
    events: Any,
    actuals: Any,
    *,
    versions: Sequence[str],
    positive: str | None,
    bins: int,
    slices: Mapping[str, Sequence[float] | None],
    start: datetime | None = None,
    end: datetime | None = None,
    segment: dict[str, str] | None = None,
) -> tuple[Group, Group, dict[str, Group]]:
    """Like :func:`paired_counts` for an A/B split, in one scan of each version's events and
    their labels: per :data:`UNPAIRED` keys, per (``day``, ``version``, ``lab``, ``ok``) and
    per (slice ``key``, ``version``, ``lab``, ``ok``)."""
    ev = filter_events(events, start=start, end=end, segment=segment)
    ev = ev.filter(ev.version.isin(list(versions)))
    ac = actuals.select(_aid=actuals.event_id, _act=actuals.actual)
    j = ev.left_join(ac, ev.event_id == ac._aid)
    pred = j.prediction.cast("string")
    pos_lit = ibis.literal(positive if positive is not None else "", "string")
    score = j.score if "score" in j.columns else ibis.null("float64")
    t = j.mutate(_y=ibis.literal(1.0))
    keys: dict[str, Any] = {
        "version": t.version,
        "b": _bin(score, bins),
        "lab": t._act.notnull(),
        "pos": (t._act == pos_lit).fill_null(False),
        "p": (pred == pos_lit).fill_null(False),
        "ok": (pred == t._act).fill_null(False),
        "day": t.ts.truncate("D"),
    }
    sets: list[tuple[str, ...]] = [UNPAIRED, ("day", "version", "lab", "ok")]
    for i, (col, edges) in enumerate(slices.items()):
        keys[f"s{i}"] = _slice_key(t, col, edges)
        sets.append((f"s{i}", "version", "lab", "ok"))
    groups = grouped_sums(store, t, keys, sets, limit=NO_LIMIT)
    return groups[0], groups[1], dict(zip(slices, groups[2:], strict=True))


def paired_scores(base: Any) -> dict[str, list[Any]]:
    """The labelled pairs' raw scores and actual (``pos``): for a small window only."""
    lab = base.filter(base.lab, base.sa.notnull(), base.sb.notnull())
    out: dict[str, list[Any]] = lab.select("sa", "sb", "pos").to_pyarrow().to_pydict()
    return out
