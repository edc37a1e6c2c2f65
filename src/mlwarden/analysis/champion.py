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

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from mlwarden.analysis import champion_query as q
from mlwarden.analysis.champion_cells import cell_counts
from mlwarden.analysis.champion_kpis import KpiDiff, compare_kpis
from mlwarden.analysis.champion_query import Group
from mlwarden.analysis.slices_query import MISSING_CODE, window_quantiles
from mlwarden.errors import StatisticsError, ValidationError, expected
from mlwarden.schema.kpi import KpiExpression
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
from mlwarden.store.pair_cells import GRID_BINS as PAIR_GRID_BINS
from mlwarden.store.pair_cells import PairCellSource
from mlwarden.store.queries import filter_events

__all__ = ["Comparison", "KpiDiff", "MetricDiff", "SliceFinding", "compare_versions"]

#: Labelled pairs up to which DeLong runs on raw scores (else on the binned grid).
RAW_LIMIT = 200_000
#: Score bins per version of the joint histogram (DeLong on binned scores): the store's
#: pair cells' bins (``store/pair_cells.py``), so either source gives the same grid.
GRID_BINS = PAIR_GRID_BINS
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
    #: The model's business KPIs of both versions (``analysis/champion_kpis.py``).
    kpis: list[KpiDiff] = field(default_factory=list)


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
    kpis: Sequence[tuple[str, str, KpiExpression]] = (),
) -> Comparison:
    """Compare ``challenger`` with ``champion`` over the events of ``[start, end)`` (see the
    module docstring). ``slices=False`` skips the search for worse slices. ``kpis``: business
    KPIs ``(name, expression, parsed)`` compared too (``analysis/champion_kpis.py``).

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
    # shadow rows included: the challenger in shadow is what is compared
    events, actuals = store.events(record, shadow=True), store.actuals(record)
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
    cols = _slice_columns(record) if slices else []
    counts_p = None
    cells = None
    if (
        mode != "unpaired"
        and not segment
        and counts[champion] > RAW_LIMIT
        and isinstance(store, PairCellSource)
    ):
        # large windows read the store's pair cells (no join) when every challenger event
        # has its champion pair in the cells; else (or without cells) the engine joins
        cells = store.pair_cells(
            record, versions=(champion, challenger), start=start, end=end, columns=cols
        )
        if cells is not None and cells.pairs != counts[challenger]:
            cells = None
    if cells is not None:
        numeric = {f.name for f in spec.features if f.kind is FeatureKind.NUMERIC}
        sets_c, by_slice_c, edges = cell_counts(cells, numeric=numeric)
        counts_p = (sets_c, by_slice_c)
        mode = "paired"
    else:
        edges = _edges(ev.filter(ev.version == champion), record, cols)
    # the join of both versions' events and their labels (unused when the cells serve)
    base = q.paired_base(
        events, actuals, champion=champion, challenger=challenger, positive=positive,
        columns=cols, start=start, end=end, segment=segment,
    ) if cells is None else None  # fmt: skip
    if mode != "unpaired" and counts_p is None:
        # the joint score histogram is only read above RAW_LIMIT pairs (else raw scores)
        joint = counts[champion] > RAW_LIMIT
        counts_p = q.paired_counts(store, base, bins=GRID_BINS, joint=joint, slices=edges)
        if mode == "auto":
            pairs = sum(v[0] for v in counts_p[0]["outcomes"].values())
            mode = "paired" if pairs >= 0.5 * counts[challenger] else "unpaired"
    kw: dict[str, Any] = {"champion": champion, "challenger": challenger, "level": level}
    if mode == "paired":
        assert counts_p is not None
        sets, by_slice = counts_p
        out = _paired(base, sets, binary=binary, scored=scored, **kw)
        daily = _daily(sets["day"], champion, challenger, paired=True)
        if out["metrics"]:
            out["slices"] = _worse_slices(by_slice, edges, paired=True, **kw)
    else:
        grid, by_day, by_slice = q.unpaired_counts(
            store, events, actuals, versions=[champion, challenger], positive=positive,
            bins=BINS, slices=edges, start=start, end=end, segment=segment,
        )  # fmt: skip
        out = _unpaired(grid, binary=binary, scored=scored, **kw)
        daily = _daily(by_day, champion, challenger, paired=False)
        if out["metrics"]:
            out["slices"] = _worse_slices(by_slice, edges, paired=False, **kw)
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
    kpi_diffs = (
        compare_kpis(
            events, actuals, kpis, champion=champion, challenger=challenger,
            paired=mode == "paired", start=start, end=end, segment=segment, level=level,
        )
        if kpis
        else []
    )  # fmt: skip
    said = [k for k in kpi_diffs if k.diff is not None and k.low is not None]
    if said:
        verdict += " KPIs: " + "; ".join(_describe_kpi(k) for k in said) + "."
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
        notes=out.get("notes", []),
        kpis=kpi_diffs,
    )


def _describe_kpi(k: KpiDiff) -> str:
    assert k.diff is not None and k.low is not None and k.high is not None
    word = "higher" if k.diff > 0 else "lower" if k.diff < 0 else "equal"
    sig = "" if k.significant else ", not significant"
    return (
        f"{k.kpi.replace('_', ' ')} {word} by {abs(k.diff):.4g} [{k.low:+.4g}, {k.high:+.4g}], "
        f"{_p(k.p_value)}{sig}"
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


def _arrays(groups: Group, names: Sequence[str]) -> dict[str, np.ndarray[Any, Any]]:
    """Grouped counts as columns: ``n`` and one array per key (bins as ints, -1 for none)."""
    keys = list(groups)
    out: dict[str, np.ndarray[Any, Any]] = {
        "n": np.array([groups[k][0] for k in keys], dtype=np.float64)
    }
    for i, name in enumerate(names):
        vals = [k[i] for k in keys]
        if name in ("ba", "bb", "b"):
            out[name] = np.array([-1 if v is None else int(v) for v in vals], dtype=np.int64)
        elif name == "version":
            out[name] = np.array(vals, dtype=object)
        else:
            out[name] = np.array([bool(v) for v in vals], dtype=bool)
    return out


def _hist(n: np.ndarray[Any, Any], b: np.ndarray[Any, Any], says: np.ndarray[Any, Any],
          bins: int) -> np.ndarray[Any, Any]:  # fmt: skip
    h = np.zeros((bins, 2))
    ok = b >= 0
    np.add.at(h, (b[ok], says[ok].astype(int)), n[ok])
    return h


def _paired(
    base: Any,
    sets: dict[str, Group],
    *,
    champion: str,
    challenger: str,
    binary: bool,
    scored: bool,
    level: float,
) -> dict[str, Any]:
    g = _arrays(sets["outcomes"], q.PAIRED_SETS["outcomes"])
    n_all, lab = g["n"], g["lab"]
    n = int(n_all.sum())
    labelled = int(n_all[lab].sum())
    out: dict[str, Any] = {
        "events": {"pairs": n},
        "labelled": {"pairs": labelled},
        "agreement": float(n_all[g["agree"]].sum() / n) if n else None,
        "metrics": [],
    }
    ha = _arrays(sets["hist_a"], ("ba", "pa"))
    hb = _arrays(sets["hist_b"], ("bb", "pb"))
    hist_a = _hist(ha["n"], ha["ba"], ha["pa"], GRID_BINS)
    hist_b = _hist(hb["n"], hb["bb"], hb["pb"], GRID_BINS)
    pos_a, pos_b = float(n_all[g["pa"]].sum()), float(n_all[g["pb"]].sum())
    out["before"] = _before(hist_a, hist_b, pos_a, pos_b, n, n, GRID_BINS) if n else {}
    if not binary:
        out["before"].pop("positive_rate", None)
    if not labelled:
        return out
    oka, okb = g["oka"] & lab, g["okb"] & lab
    b = int(n_all[oka & ~g["okb"]].sum())
    c = int(n_all[okb & ~g["oka"]].sum())
    mc = mcnemar(b=b, c=c, n=labelled, level=level)
    acc_a = float(n_all[oka].sum()) / labelled
    metrics = [
        MetricDiff("accuracy", acc_a, acc_a + mc.diff, mc.diff, mc.low, mc.high, mc.p_value,
                   f"mcnemar_{mc.test}"),
    ]  # fmt: skip
    if scored:
        try:
            if "joint" not in sets:
                raw = q.paired_scores(base)
                d = delong_raw(raw["pos"], raw["sa"], raw["sb"], level=level)
                out["auc_method"] = "delong_raw"
            else:
                j = _arrays(sets["joint"], q.PAIRED_SETS["joint"])
                grids = []
                for cls in (True, False):
                    m = j["lab"] & (j["pos"] == cls) & (j["ba"] >= 0) & (j["bb"] >= 0)
                    h = np.zeros((GRID_BINS, GRID_BINS))
                    np.add.at(h, (j["ba"][m], j["bb"][m]), j["n"][m])
                    grids.append(h)
                d = delong_paired(grids[0], grids[1], level=level)
                out["auc_method"] = f"delong_binned_{GRID_BINS}"
            metrics.insert(0, MetricDiff("roc_auc", d.auc_a, d.auc_b, d.diff, d.low, d.high,
                                         d.p_value, out["auc_method"]))  # fmt: skip
        except StatisticsError as exc:  # one class only: no AUC, said in notes
            out.setdefault("notes", []).append(f"ROC AUC not computed: {exc}")
    if binary:
        cells = np.zeros(8)
        idx = 4 * g["pa"].astype(int) + 2 * g["pb"].astype(int) + g["pos"].astype(int)
        np.add.at(cells, idx[lab], n_all[lab])
        for bd in paired_bootstrap(cells, level=level):
            metrics.append(MetricDiff(bd.metric, bd.a, bd.b, bd.diff, bd.low, bd.high,
                                      bd.p_value, "paired_bootstrap"))  # fmt: skip
    out["metrics"] = metrics
    return out


def _edges(
    champion_events: Any, record: ModelRecord, cols: list[str]
) -> dict[str, list[float] | None]:
    """Slice columns and their interior bin edges (numeric: the champion's quartiles in the
    range, one engine query; others: None). A numeric column without quartiles is left out."""
    numeric = {f.name for f in record.spec.features if f.kind is FeatureKind.NUMERIC}
    qs = window_quantiles(champion_events, [c for c in cols if c in numeric], [0.25, 0.5, 0.75])
    out: dict[str, list[float] | None] = {}
    for c in cols:
        if c not in numeric:
            out[c] = None
        elif qs.get(c):
            out[c] = sorted(set(qs[c]))
    return out


def _worse_slices(
    by_slice: dict[str, Group],
    edges: dict[str, list[float] | None],
    *,
    paired: bool,
    champion: str,
    challenger: str,
    level: float,
) -> list[SliceFinding]:
    """Slices where the challenger's accuracy is significantly below the champion's: McNemar
    per slice on pairs, or (an A/B split) a difference of proportions; Holm's correction over
    every slice tested. Columns with more than :data:`MAX_SLICE_VALUES` values are skipped."""
    tested: list[tuple[str, str, Any]] = []
    for col, groups in by_slice.items():
        e = edges.get(col)
        cells: dict[Any, dict[str, int]] = {}
        for key, (n, _, _) in groups.items():
            if paired:
                value, lab, oka, okb = key
                if not lab:
                    continue
                cell = cells.setdefault(value, {"n": 0, "b": 0, "c": 0})
                cell["n"] += n
                cell["b"] += n if oka and not okb else 0
                cell["c"] += n if okb and not oka else 0
            else:
                value, version, lab, ok = key
                if not lab:
                    continue
                role = "a" if version == champion else "b"
                cell = cells.setdefault(value, {"na": 0, "ha": 0, "nb": 0, "hb": 0})
                cell[f"n{role}"] += n
                cell[f"h{role}"] += n if ok else 0
        if len(cells) > MAX_SLICE_VALUES:
            continue
        for value, cell in cells.items():
            if value is None or value == MISSING_CODE:
                continue
            cond = _condition(col, value, e)
            if paired:
                if cell["n"] < MIN_SLICE:
                    continue
                tested.append((col, cond, mcnemar(b=cell["b"], c=cell["c"], n=cell["n"],
                                                  level=level)))  # fmt: skip
            elif min(cell["na"], cell["nb"]) >= MIN_SLICE:
                t = two_proportions(hits_a=cell["ha"], n_a=cell["na"], hits_b=cell["hb"],
                                    n_b=cell["nb"], level=level)  # fmt: skip
                tested.append((col, cond, _Tested(cell["na"] + cell["nb"], t.diff, t.low,
                                                  t.high, t.p_value)))  # fmt: skip
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
    grid: Group,
    *,
    champion: str,
    challenger: str,
    binary: bool,
    scored: bool,
    level: float,
) -> dict[str, Any]:
    g = _arrays(grid, q.UNPAIRED)
    n_all = g["n"]
    role = {v: g["version"] == v for v in (champion, challenger)}
    n = {v: int(n_all[m].sum()) for v, m in role.items()}
    lab = {v: m & g["lab"] for v, m in role.items()}
    nl = {v: int(n_all[m].sum()) for v, m in lab.items()}
    hists = [_hist(n_all[role[v]], g["b"][role[v]], g["p"][role[v]], BINS)
             for v in (champion, challenger)]  # fmt: skip
    pos = [float(n_all[role[v] & g["p"]].sum()) for v in (champion, challenger)]
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
    hits = {v: int(n_all[m & g["ok"]].sum()) for v, m in lab.items()}
    tp = two_proportions(hits_a=hits[champion], n_a=nl[champion], hits_b=hits[challenger],
                         n_b=nl[challenger], level=level)  # fmt: skip
    metrics = [MetricDiff("accuracy", tp.a, tp.b, tp.diff, tp.low, tp.high, tp.p_value,
                          "two_proportions")]  # fmt: skip
    if scored:
        grids = []
        for v in (champion, challenger):
            for cls in (True, False):
                m = lab[v] & (g["pos"] == cls) & (g["b"] >= 0)
                h = np.zeros(BINS)
                np.add.at(h, g["b"][m], n_all[m])
                grids.append(h)
        try:
            d = delong_unpaired(*grids, level=level)
            out["auc_method"] = f"delong_unpaired_binned_{BINS}"
            metrics.insert(0, MetricDiff("roc_auc", d.auc_a, d.auc_b, d.diff, d.low, d.high,
                                         d.p_value, out["auc_method"]))  # fmt: skip
        except StatisticsError as exc:  # one class only: no AUC, said in notes
            out.setdefault("notes", []).append(f"ROC AUC not computed: {exc}")
    if binary:
        cells = []
        for v in (champion, challenger):
            c4 = np.zeros(4)
            idx = 2 * g["p"].astype(int) + g["pos"].astype(int)
            np.add.at(c4, idx[lab[v]], n_all[lab[v]])
            cells.append(c4)
        for bd in unpaired_bootstrap(cells[0], cells[1], level=level):
            metrics.append(MetricDiff(bd.metric, bd.a, bd.b, bd.diff, bd.low, bd.high,
                                      bd.p_value, "bootstrap"))  # fmt: skip
    out["metrics"] = metrics
    return out


def _daily(by_day: Group, champion: str, challenger: str, *, paired: bool) -> list[dict[str, Any]]:
    """Labelled events and right predictions per day and version, from the day groups:
    paired keys (day, lab, oka, okb), unpaired keys (day, version, lab, ok)."""
    days: dict[Any, dict[str, Any]] = {}
    for key, (n, _, _) in by_day.items():
        d = days.setdefault(key[0], {"day": key[0], "n_champion": 0, "hits_champion": 0,
                                     "n_challenger": 0, "hits_challenger": 0})  # fmt: skip
        if paired:
            _, lab, oka, okb = key
            if lab:
                d["n_champion"] += n
                d["n_challenger"] += n
                d["hits_champion"] += n if oka else 0
                d["hits_challenger"] += n if okb else 0
        else:
            _, version, lab, ok = key
            role = "champion" if version == champion else "challenger"
            if lab:
                d[f"n_{role}"] += n
                d[f"hits_{role}"] += n if ok else 0
    return [days[k] for k in sorted(days) if k is not None]


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
