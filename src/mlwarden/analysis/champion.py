"""Champion / challenger: compare two versions of a model and say whether to promote.

:func:`compare_versions` reads the counts of :mod:`mlwarden.analysis.champion_query` and runs
the tests of :mod:`mlwarden.stats.version_tests`:

* **paired** (the challenger in shadow: its events share the champion's event ids): McNemar
  for accuracy, DeLong for ROC AUC (exact over raw scores up to :data:`RAW_LIMIT` labelled
  pairs, else over the joint histogram of scores binned at 1/:data:`GRID_BINS`), a paired
  bootstrap for precision, recall, F1 and positive rate; the agreement rate; the slices
  (segment and categorical columns, numeric ones in quartiles) where the challenger is
  significantly worse, by McNemar per slice with Holm's correction over all slices tested.
* **unpaired** (an A/B split): a difference of proportions for accuracy with the mSPRT of
  :mod:`mlwarden.stats.always_valid` over the days (valid however often it is looked at),
  DeLong's variances summed for AUC, independent bootstraps for the rest; the worse slices
  by a difference of proportions per slice, Holm-corrected.
* **before labels**: the predictions' distributions (positive rate, mean score, the largest
  gap between the two score distributions) and each version's estimated accuracy, CBPE-style
  (each prediction right with the probability its score gives, scores taken as calibrated).

``mode="auto"`` picks paired when at least half of the challenger's events have a champion
event of the same id. The result carries a verdict in plain words and a recommendation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from mlwarden.analysis import champion_query as q
from mlwarden.analysis.slices_query import MISSING_CODE, window_quantiles
from mlwarden.errors import ValidationError, expected
from mlwarden.schema.spec import FeatureKind, Task
from mlwarden.stats.always_valid import SequentialStep, sequential_difference
from mlwarden.stats.version_tests import (
    delong_paired,
    delong_raw,
    delong_unpaired,
    holm,
    mcnemar,
    paired_bootstrap,
    two_proportions,
    unpaired_bootstrap,
)
from mlwarden.store.base import ModelRecord, Store
from mlwarden.store.queries import filter_events

__all__ = ["Comparison", "MetricDiff", "SliceFinding", "compare_versions"]

#: Labelled pairs up to which DeLong runs on raw scores (else on the binned grid).
RAW_LIMIT = 200_000
#: Score bins per version of the joint histogram (DeLong on binned scores).
GRID_BINS = 200
#: Score bins per version of the unpaired histograms.
BINS = 1000
MODES = ("auto", "paired", "unpaired")
#: Slices need this many labelled pairs to be tested.
MIN_SLICE = 30
MAX_SLICE_COLUMNS = 30
MAX_SLICE_VALUES = 50


@dataclass(frozen=True)
class MetricDiff:
    """One metric of both versions and the challenger's difference (``challenger - champion``)
    with its interval and p-value."""

    metric: str
    champion: float | None
    challenger: float | None
    diff: float | None
    low: float | None
    high: float | None
    p_value: float | None
    test: str

    @property
    def significant(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


@dataclass(frozen=True)
class SliceFinding:
    """A slice where the challenger's accuracy differs from the champion's (paired)."""

    column: str
    condition: str
    n: int
    diff: float
    low: float
    high: float
    p_value: float
    adjusted_p: float


@dataclass(frozen=True)
class Comparison:
    model: str
    champion: str
    challenger: str
    mode: str
    #: Paired: requests both versions scored; unpaired: events of each version.
    events: dict[str, int]
    labelled: dict[str, int]
    agreement: float | None
    metrics: list[MetricDiff]
    worse_slices: list[SliceFinding]
    before_labels: dict[str, Any]
    sequential: list[dict[str, Any]]
    daily: list[dict[str, Any]]
    auc_method: str | None
    verdict: str
    recommendation: str
    notes: list[str] = field(default_factory=list)


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}"


def _num(x: float) -> str:
    return f"{x:+.3f}"


def _p(p: float | None) -> str:
    if p is None:
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def compare_versions(
    store: Store,
    record: ModelRecord,
    *,
    champion: str,
    challenger: str,
    start: datetime | None = None,
    end: datetime | None = None,
    segment: dict[str, str] | None = None,
    mode: str = "auto",
    level: float = 0.95,
    slices: bool = True,
) -> Comparison:
    """Compare ``challenger`` with ``champion`` over the events of ``[start, end)`` (see the
    module docstring). ``slices=False`` skips the search for worse slices.

    Examples
    --------
    >>> compare_versions(None, None, champion="v1", challenger="v1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mlwarden.errors.ValidationError: The 'challenger' parameter must be a version other than ...
    """
    if challenger == champion:
        raise ValidationError(
            expected("parameter", "challenger", "be a version other than the champion", challenger)
        )
    if mode not in MODES:
        raise ValidationError(expected("parameter", "mode", "be one of " + ", ".join(MODES), mode))
    spec = record.spec
    if not spec.task.is_classification:
        raise ValidationError(
            f"The champion / challenger comparison needs a classifier; model {record.name!r} is "
            f"{spec.task.value}."
        )
    events, actuals = store.events(record), store.actuals(record)
    ev = filter_events(events, start=start, end=end, segment=segment)
    both = ev.filter(ev.version.isin([champion, challenger]))
    counts = {
        r["version"]: int(r["n"])
        for r in both.group_by("version").aggregate(n=both.count()).to_pyarrow().to_pylist()
    }
    for role, v in (("champion", champion), ("challenger", challenger)):
        if not counts.get(v):
            raise ValidationError(
                f"Model {record.name!r} has no events of version {v!r} (the {role}) in this range."
            )
    positive = spec.effective_positive_class
    binary = spec.task is Task.BINARY and positive is not None
    scored = binary and "score" in events.columns
    cols = _slice_columns(record)
    base = q.paired_base(
        events, actuals, champion=champion, challenger=challenger, positive=positive,
        columns=cols, start=start, end=end, segment=segment,
    )  # fmt: skip
    grid = q.paired(base, bins=GRID_BINS) if mode != "unpaired" else []
    if mode == "auto":
        pairs = sum(r["n"] for r in grid)
        mode = "paired" if pairs >= 0.5 * counts[challenger] else "unpaired"
    if mode == "paired":
        out = _paired(base, grid, record, cols if slices else [], binary=binary, scored=scored,
                      champion=champion, challenger=challenger, level=level)  # fmt: skip
    else:
        rows = q.unpaired(
            events, actuals, versions=[champion, challenger], positive=positive, bins=BINS,
            start=start, end=end, segment=segment,
        )  # fmt: skip
        out = _unpaired(rows, binary=binary, scored=scored, champion=champion,
                        challenger=challenger, level=level)  # fmt: skip
        if slices and out["metrics"]:
            lab = q.labelled_base(events, actuals, versions=[champion, challenger], start=start,
                                  end=end, segment=segment)  # fmt: skip
            out["slices"] = _worse_slices(lab, record, cols, level=level,
                                          versions=(champion, challenger))  # fmt: skip
    days = q.daily(
        events, actuals, versions=[champion, challenger], start=start, end=end, segment=segment
    )
    daily = _daily(days, champion, challenger)
    seq: list[SequentialStep] = []
    if mode == "unpaired" and daily:
        seq = sequential_difference(
            n_a=[d["n_champion"] for d in daily],
            hits_a=[d["hits_champion"] for d in daily],
            n_b=[d["n_challenger"] for d in daily],
            hits_b=[d["hits_challenger"] for d in daily],
            alpha=1 - level,
        )
    verdict, rec = _verdict(out, seq, champion=champion, challenger=challenger, mode=mode)
    return Comparison(
        model=record.name,
        champion=champion,
        challenger=challenger,
        mode=mode,
        events=out["events"],
        labelled=out["labelled"],
        agreement=out.get("agreement"),
        metrics=out["metrics"],
        worse_slices=out.get("slices", []),
        before_labels=out["before"],
        sequential=[
            {"day": d["day"], "diff": s.diff, "low": s.low, "high": s.high, "p_value": s.p_value}
            for d, s in zip(daily, seq, strict=False)
        ],
        daily=daily,
        auc_method=out.get("auc_method"),
        verdict=verdict,
        recommendation=rec,
    )


def _slice_columns(record: ModelRecord) -> list[str]:
    spec = record.spec
    kinds = (FeatureKind.CATEGORICAL, FeatureKind.BOOLEAN, FeatureKind.NUMERIC)
    feats = [f.name for f in spec.features if f.kind in kinds]
    return list(dict.fromkeys([*spec.tag_columns, *feats]))[:MAX_SLICE_COLUMNS]


def _before(
    hist_a: np.ndarray[Any, Any],
    hist_b: np.ndarray[Any, Any],
    pos_a: float,
    pos_b: float,
    n_a: float,
    n_b: float,
    bins: int,
) -> dict[str, Any]:
    """Prediction distributions and CBPE-style estimated accuracy from score histograms split
    by what each prediction said (``hist[b, says_positive]``)."""
    mid = (np.arange(bins) + 0.5) / bins
    out: dict[str, Any] = {
        "positive_rate": {"champion": pos_a / n_a if n_a else None,
                          "challenger": pos_b / n_b if n_b else None},
    }  # fmt: skip
    sa, sb = hist_a.sum(), hist_b.sum()
    if sa and sb:
        ma, mb = hist_a.sum(1), hist_b.sum(1)
        out["mean_score"] = {
            "champion": float((ma * mid).sum() / sa),
            "challenger": float((mb * mid).sum() / sb),
        }
        out["score_distance"] = float(np.abs(np.cumsum(ma) / sa - np.cumsum(mb) / sb).max())

        def est(h: np.ndarray[Any, Any], total: float) -> float:
            return float(((1 - mid) * h[:, 0] + mid * h[:, 1]).sum() / total)

        out["estimated_accuracy"] = {"champion": est(hist_a, sa), "challenger": est(hist_b, sb)}
        coarse = bins // 20
        out["histogram"] = {
            "edges": [i / 20 for i in range(21)],
            "champion": (ma.reshape(20, coarse).sum(1) / sa).tolist(),
            "challenger": (mb.reshape(20, coarse).sum(1) / sb).tolist(),
        }
    return out


def _paired(
    base: Any,
    rows: list[dict[str, Any]],
    record: ModelRecord,
    cols: list[str],
    *,
    champion: str,
    challenger: str,
    binary: bool,
    scored: bool,
    level: float,
) -> dict[str, Any]:
    n = sum(r["n"] for r in rows)
    lab = [r for r in rows if r["lab"]]
    labelled = sum(r["n"] for r in lab)
    out: dict[str, Any] = {
        "events": {"pairs": n},
        "labelled": {"pairs": labelled},
        "agreement": sum(r["n"] for r in rows if r["agree"]) / n if n else None,
        "metrics": [],
    }
    hist_a, hist_b = np.zeros((GRID_BINS, 2)), np.zeros((GRID_BINS, 2))
    for r in rows:
        if r["ba"] is not None:
            hist_a[r["ba"], int(r["pa"])] += r["n"]
        if r["bb"] is not None:
            hist_b[r["bb"], int(r["pb"])] += r["n"]
    pos_a = sum(r["n"] for r in rows if r["pa"])
    pos_b = sum(r["n"] for r in rows if r["pb"])
    out["before"] = _before(hist_a, hist_b, pos_a, pos_b, n, n, GRID_BINS) if n else {}
    if not binary:
        out["before"].pop("positive_rate", None)
    if not labelled:
        return out
    b = sum(r["n"] for r in lab if r["oka"] and not r["okb"])
    c = sum(r["n"] for r in lab if r["okb"] and not r["oka"])
    mc = mcnemar(b=b, c=c, n=labelled, level=level)
    acc_a = sum(r["n"] for r in lab if r["oka"]) / labelled
    metrics = [
        MetricDiff("accuracy", acc_a, acc_a + mc.diff, mc.diff, mc.low, mc.high, mc.p_value,
                   f"mcnemar_{mc.test}"),
    ]  # fmt: skip
    if scored:
        scored_pairs = sum(r["n"] for r in lab if r["ba"] is not None and r["bb"] is not None)
        raw = q.paired_scores(base) if scored_pairs <= RAW_LIMIT else None
        try:
            if raw is not None:
                d = delong_raw(raw["pos"], raw["sa"], raw["sb"], level=level)
                out["auc_method"] = "delong_raw"
            else:
                pg, ng = np.zeros((GRID_BINS, GRID_BINS)), np.zeros((GRID_BINS, GRID_BINS))
                for r in lab:
                    if r["ba"] is not None and r["bb"] is not None:
                        (pg if r["pos"] else ng)[r["ba"], r["bb"]] += r["n"]
                d = delong_paired(pg, ng, level=level)
                out["auc_method"] = f"delong_binned_{GRID_BINS}"
            metrics.insert(0, MetricDiff("roc_auc", d.auc_a, d.auc_b, d.diff, d.low, d.high,
                                         d.p_value, out["auc_method"]))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - one class only: no AUC, said in notes
            out.setdefault("notes", []).append(f"ROC AUC not computed: {exc}")
    if binary:
        cells = np.zeros(8)
        for r in lab:
            cells[4 * int(r["pa"]) + 2 * int(r["pb"]) + int(r["pos"])] += r["n"]
        for bd in paired_bootstrap(cells, level=level):
            metrics.append(MetricDiff(bd.metric, bd.a, bd.b, bd.diff, bd.low, bd.high,
                                      bd.p_value, "paired_bootstrap"))  # fmt: skip
    out["metrics"] = metrics
    out["slices"] = _worse_slices(base, record, cols, level=level) if cols else []
    return out


def _worse_slices(
    base: Any,
    record: ModelRecord,
    cols: list[str],
    *,
    level: float,
    versions: tuple[str, str] | None = None,
) -> list[SliceFinding]:
    """Slices where the challenger's accuracy is significantly below the champion's: McNemar
    per slice on pairs, or (``versions`` given: an A/B split) a difference of proportions."""
    spec = record.spec
    numeric = {f.name for f in spec.features if f.kind is FeatureKind.NUMERIC}
    edges = {
        c: sorted(set(v))
        for c, v in window_quantiles(base, [c for c in cols if c in numeric], [0.25, 0.5, 0.75])
        .items()
    }  # fmt: skip
    tested: list[tuple[str, str, Any]] = []
    for col in cols:
        e = edges.get(col) if col in numeric else None
        if col in numeric and not e:
            continue
        if versions is not None:
            tested += _unpaired_slices(base, col, e, versions, level)
            continue
        rows = q.slice_counts(base, col, edges=e, max_values=MAX_SLICE_VALUES)
        for r in rows or []:
            if r["n"] < MIN_SLICE or r["key"] is None or r["key"] == MISSING_CODE:
                continue
            tested.append((col, _condition(col, r["key"], e), mcnemar(b=int(r["b"] or 0),
                           c=int(r["c"] or 0), n=int(r["n"]), level=level)))  # fmt: skip
    if not tested:
        return []
    adj = holm([t[2].p_value for t in tested])
    out = [
        SliceFinding(col, cond, m.n, m.diff, m.low, m.high, m.p_value, a)
        for (col, cond, m), a in zip(tested, adj, strict=True)
        if m.diff < 0 and a < 1 - level
    ]
    out.sort(key=lambda s: (s.adjusted_p, s.diff))
    return out


def _unpaired_slices(
    base: Any, col: str, edges: list[float] | None, versions: tuple[str, str], level: float
) -> list[tuple[str, str, Any]]:
    rows = q.unpaired_slice_counts(base, col, edges=edges, max_values=MAX_SLICE_VALUES)
    cells: dict[Any, dict[str, tuple[int, int]]] = {}
    for r in rows or []:
        if r["key"] is not None and r["key"] != MISSING_CODE:
            cells.setdefault(r["key"], {})[r["version"]] = (int(r["n"]), int(r["hits"] or 0))
    out: list[tuple[str, str, Any]] = []
    for key, by in cells.items():
        (na, ha), (nb, hb) = by.get(versions[0], (0, 0)), by.get(versions[1], (0, 0))
        if min(na, nb) < MIN_SLICE:
            continue
        t = two_proportions(hits_a=ha, n_a=na, hits_b=hb, n_b=nb, level=level)
        out.append((col, _condition(col, key, edges), _Tested(na + nb, t.diff, t.low, t.high,
                                                              t.p_value)))  # fmt: skip
    return out


@dataclass(frozen=True)
class _Tested:
    n: int
    diff: float
    low: float
    high: float
    p_value: float


def _condition(col: str, key: Any, edges: list[float] | None) -> str:
    if edges is None:
        return f"{col} = {key}"
    k = int(key)
    if k == 0:
        return f"{col} < {edges[0]:.4g}"
    if k >= len(edges):
        return f"{col} >= {edges[-1]:.4g}"
    return f"{edges[k - 1]:.4g} <= {col} < {edges[k]:.4g}"


def _unpaired(
    rows: list[dict[str, Any]],
    *,
    champion: str,
    challenger: str,
    binary: bool,
    scored: bool,
    level: float,
) -> dict[str, Any]:
    by = {v: [r for r in rows if r["version"] == v] for v in (champion, challenger)}
    n = {v: sum(r["n"] for r in rs) for v, rs in by.items()}
    lab = {v: [r for r in rs if r["lab"]] for v, rs in by.items()}
    nl = {v: sum(r["n"] for r in rs) for v, rs in lab.items()}
    hists = []
    for v in (champion, challenger):
        h = np.zeros((BINS, 2))
        for r in by[v]:
            if r["b"] is not None:
                h[r["b"], int(r["p"])] += r["n"]
        hists.append(h)
    pos = [sum(r["n"] for r in by[v] if r["p"]) for v in (champion, challenger)]
    before = _before(hists[0], hists[1], pos[0], pos[1], n[champion], n[challenger], BINS)
    if not binary:
        before.pop("positive_rate", None)
    out: dict[str, Any] = {
        "events": {"champion": n[champion], "challenger": n[challenger]},
        "labelled": {"champion": nl[champion], "challenger": nl[challenger]},
        "metrics": [],
        "before": before,
    }
    if not (nl[champion] and nl[challenger]):
        return out
    hits = {v: sum(r["n"] for r in rs if r["ok"]) for v, rs in lab.items()}
    tp = two_proportions(hits_a=hits[champion], n_a=nl[champion], hits_b=hits[challenger],
                         n_b=nl[challenger], level=level)  # fmt: skip
    metrics = [MetricDiff("accuracy", tp.a, tp.b, tp.diff, tp.low, tp.high, tp.p_value,
                          "two_proportions")]  # fmt: skip
    if scored:
        grids = []
        for v in (champion, challenger):
            p, ng = np.zeros(BINS), np.zeros(BINS)
            for r in lab[v]:
                if r["b"] is not None:
                    (p if r["pos"] else ng)[r["b"]] += r["n"]
            grids += [p, ng]
        try:
            d = delong_unpaired(*grids, level=level)
            out["auc_method"] = f"delong_unpaired_binned_{BINS}"
            metrics.insert(0, MetricDiff("roc_auc", d.auc_a, d.auc_b, d.diff, d.low, d.high,
                                         d.p_value, out["auc_method"]))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - one class only: no AUC, said in notes
            out.setdefault("notes", []).append(f"ROC AUC not computed: {exc}")
    if binary:
        cells = []
        for v in (champion, challenger):
            c4 = np.zeros(4)
            for r in lab[v]:
                c4[2 * int(r["p"]) + int(r["pos"])] += r["n"]
            cells.append(c4)
        for bd in unpaired_bootstrap(cells[0], cells[1], level=level):
            metrics.append(MetricDiff(bd.metric, bd.a, bd.b, bd.diff, bd.low, bd.high,
                                      bd.p_value, "bootstrap"))  # fmt: skip
    out["metrics"] = metrics
    return out


def _daily(rows: list[dict[str, Any]], champion: str, challenger: str) -> list[dict[str, Any]]:
    days: dict[Any, dict[str, Any]] = {}
    for r in rows:
        d = days.setdefault(r["day"], {"day": r["day"], "n_champion": 0, "hits_champion": 0,
                                       "n_challenger": 0, "hits_challenger": 0})  # fmt: skip
        role = "champion" if r["version"] == champion else "challenger"
        d[f"n_{role}"] += int(r["n"])
        d[f"hits_{role}"] += int(r["hits"] or 0)
    return [days[k] for k in sorted(days)]


def _describe(m: MetricDiff) -> str:
    assert m.diff is not None and m.low is not None and m.high is not None
    name = {"roc_auc": "AUC", "accuracy": "accuracy"}.get(m.metric, m.metric)
    if m.metric == "roc_auc":
        return f"{name} by {abs(m.diff):.3f} [{m.low:+.3f}, {m.high:+.3f}], {_p(m.p_value)}"
    return (
        f"{name} by {abs(m.diff) * 100:.1f} points [{_pct(m.low)}, {_pct(m.high)}], {_p(m.p_value)}"
    )


def _verdict(
    out: dict[str, Any], seq: list[SequentialStep], *, champion: str, challenger: str, mode: str
) -> tuple[str, str]:
    metrics: list[MetricDiff] = out["metrics"]
    if not metrics:
        before = out["before"]
        est = before.get("estimated_accuracy")
        missing = [v for v, role in ((champion, "champion"), (challenger, "challenger"))
                   if not out["labelled"].get(role)]  # fmt: skip
        text = (
            "No labels yet in this range"
            if "pairs" in out["labelled"] or len(missing) == 2
            else f"No labels yet for {missing[0]} in this range"
        )
        if est:
            text += (
                f"; estimated accuracy (scores taken as calibrated) {est['champion']:.3f} "
                f"for {champion}, {est['challenger']:.3f} for {challenger}"
            )
        if out.get("agreement") is not None:
            text += f"; the versions agree on {out['agreement']:.1%} of requests"
        return text + ".", f"Wait for labels before deciding between {champion} and {challenger}."
    main = next((m for m in metrics if m.metric == "roc_auc" and m.diff is not None), metrics[0])
    acc = next(m for m in metrics if m.metric == "accuracy")
    parts = []
    for m in [main] + ([acc] if acc is not main else []):
        if m.diff is None:
            continue
        word = "better" if m.diff > 0 else "worse" if m.diff < 0 else "equal"
        parts.append(f"{word} on {_describe(m)}")
    text = f"Challenger {challenger} " + "; ".join(parts)
    if mode == "unpaired" and seq and seq[-1].diff is not None:
        s = seq[-1]
        assert s.diff is not None and s.low is not None and s.high is not None
        text += (
            f"; sequential test (valid when checked every day): accuracy {_pct(s.diff)} points "
            f"[{_pct(s.low)}, {_pct(s.high)}], always-valid {_p(s.p_value)}"
        )
    slices: list[SliceFinding] = out.get("slices", [])
    if slices:
        text += "; worse in " + ", ".join(
            f"segment {s.condition} (accuracy {_pct(s.diff)} points [{_pct(s.low)}, "
            f"{_pct(s.high)}], Holm-adjusted {_p(s.adjusted_p)})"
            for s in slices[:3]
        )
    text += "."
    # a decision from an A/B split looked at every day rests on the always-valid test
    if mode == "unpaired" and seq and seq[-1].low is not None and seq[-1].high is not None:
        sig_up, sig_down = seq[-1].low > 0, seq[-1].high < 0
        if main.metric == "roc_auc" and main.significant:
            sig_up, sig_down = sig_up or main.low > 0, sig_down or main.high < 0  # type: ignore[operator]
    else:
        sig_up = main.significant and (main.diff or 0) > 0
        sig_down = main.significant and (main.diff or 0) < 0
    name = {"roc_auc": "AUC"}.get(main.metric, main.metric)
    if sig_down:
        rec = f"Keep {champion}: the challenger is significantly worse on {name}."
    elif sig_up and slices:
        where = ", ".join(s.condition for s in slices[:3])
        rec = (
            f"Promote {challenger} with care: better overall on {name}, but significantly "
            f"worse in {where}; check those segments (or keep {champion} for them) first."
        )
    elif sig_up:
        rec = (
            f"Promote {challenger}: significantly better on {name}, no segment significantly worse."
        )
    else:
        n = sum(out["labelled"].values())
        rec = (
            f"Keep {champion} for now: no significant difference on {name} over {n} labelled "
            "events; keep collecting."
        )
    return text, rec
