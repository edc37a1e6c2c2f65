"""The model's business KPIs (``kind: kpi`` monitors, docs/kpi.md) for champion and challenger,
with the challenger's difference, a 95% interval and a p-value.

A KPI whose aggregates are all additive (``sum``, ``count``, ``mean``, ``rate``: sums and
counts) is compared by a **bucket bootstrap**: each version's events are split into
:data:`BUCKETS` buckets by a hash of their event id, the engine returns each bucket's sums and
counts (one grouped query for both versions, the KPI's own aggregates of
:mod:`mlwarden.store.kpi_aggregates`), and each replicate reweights the buckets (multinomial
weights), recombines the sums and evaluates the KPI. Buckets are groups of whole requests
drawn at random, so reweighting them resamples requests. Paired (shadow), a request's two
events share their bucket and each replicate uses the same weights for both versions, so the
interval accounts for the versions seeing the same traffic; an A/B split draws the versions'
weights independently. ``min``, ``max`` and ``quantile`` are not sums of buckets: a KPI using
them is listed with its reason and no comparison.

A ``sum`` compares totals: in an A/B split with unequal traffic, write the KPI per prediction
(``mean``, ``rate`` or ``... / count()``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from mlwarden._lazy import ibis
from mlwarden.errors import NotFoundError
from mlwarden.monitors.kpi import Kpi
from mlwarden.monitors.kpi_rows import combine, leaf_values
from mlwarden.monitors.service import load_suite
from mlwarden.schema.kpi import KpiExpression, parse_kpi
from mlwarden.schema.spec import ModelSpec
from mlwarden.store.kpi_aggregates import KpiTerms, kpi_terms
from mlwarden.store.protocols import Suites
from mlwarden.store.queries import filter_events

__all__ = ["ADDITIVE", "BUCKETS", "KpiDiff", "compare_kpis", "model_kpis"]

#: Buckets of requests per version the bootstrap reweights.
BUCKETS = 200
REPLICATES = 2000
#: Aggregates that are sums of their buckets' numbers.
ADDITIVE = frozenset({"sum", "count", "mean", "rate"})


@dataclass(frozen=True)
class KpiDiff:
    """One KPI of both versions and the challenger's difference (``challenger - champion``)
    with its interval; ``note`` says why a number is missing."""

    kpi: str
    expression: str
    champion: float | None
    challenger: float | None
    diff: float | None
    low: float | None
    high: float | None
    p_value: float | None
    test: str
    note: str | None = None

    @property
    def significant(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def _finite(x: Any) -> float | None:
    v = float(x)
    return v if np.isfinite(v) else None


def _value(e: KpiExpression, terms: np.ndarray[Any, Any], widths: list[int]) -> Any:
    """The KPI of summed terms (a vector of terms, or a matrix: one row per replicate)."""
    raw: list[list[Any]] = []
    k = 0
    for w in widths:
        raw.append([terms[..., k + j] for j in range(w)])
        k += w
    with np.errstate(divide="ignore", invalid="ignore"):
        return combine(e, leaf_values(e, raw))


def compare_kpis(
    events: Any,
    actuals: Any,
    kpis: Sequence[tuple[str, str, KpiExpression]],
    *,
    champion: str,
    challenger: str,
    paired: bool,
    label: str = "actual",
    start: datetime | None = None,
    end: datetime | None = None,
    segment: dict[str, str] | None = None,
    level: float = 0.95,
    seed: int = 0,
) -> list[KpiDiff]:
    """Each KPI ``(name, expression text, parsed)`` of both versions' events in the range
    (``events``: shadow rows included), compared as the module docstring says."""
    out: list[KpiDiff] = []
    ev = filter_events(events, start=start, end=end, segment=segment)
    ev = ev.filter(ev.version.isin([champion, challenger]))
    bucket = (ev.event_id.hash().abs() % BUCKETS).cast("int64")
    ev = ev.mutate(_w=ibis.ifelse(ev.version == champion, bucket, bucket + BUCKETS))
    if any(e.uses_label for _, _, e in kpis):
        ac = actuals.select(_aid=actuals.event_id, **{label: actuals[label]})
        ev = ev.left_join(ac, ev.event_id == ac._aid).drop("_aid")
    rng = np.random.default_rng(seed)
    wa = rng.multinomial(BUCKETS, np.full(BUCKETS, 1 / BUCKETS), size=REPLICATES)
    wb = wa if paired else rng.multinomial(BUCKETS, np.full(BUCKETS, 1 / BUCKETS), REPLICATES)
    test = "paired_bucket_bootstrap" if paired else "bucket_bootstrap"
    for name, text, e in kpis:
        skip = sorted({a.func for a in e.aggregates} - ADDITIVE)
        if skip:
            out.append(KpiDiff(name, text, None, None, None, None, None, None, "none",
                               f"not compared: {', '.join(skip)} of a range is not a sum of "
                               "its parts"))  # fmt: skip
            continue
        got = kpi_terms(ev, KpiTerms(e, labelled=e.uses_label, label=label))
        widths = [2 if a.func in ("mean", "rate") else 1 for a in e.aggregates]
        per = np.zeros((2 * BUCKETS, sum(widths)))
        for w, v in got.items():
            flat = [0.0 if x is None else x for t in v["terms"] for x in t]
            per[w] = flat
        ta, tb = per[:BUCKETS], per[BUCKETS:]
        ka, kb = _finite(_value(e, ta.sum(0), widths)), _finite(_value(e, tb.sum(0), widths))
        if ka is None or kb is None:
            out.append(KpiDiff(name, text, ka, kb, None, None, None, None, test,
                               "undefined for a version in this range (no rows, or a division "
                               "by zero)"))  # fmt: skip
            continue
        d = np.asarray(_value(e, wb @ tb, widths) - _value(e, wa @ ta, widths), dtype=float)
        d = d[np.isfinite(d)]
        if len(d) < 0.95 * REPLICATES:
            out.append(KpiDiff(name, text, ka, kb, kb - ka, None, None, None, test,
                               "no interval: the KPI is undefined in many resamples"))  # fmt: skip
            continue
        a = (1 - level) / 2
        low, high = (float(x) for x in np.quantile(d, [a, 1 - a]))
        tail = min((d <= 0).sum(), (d >= 0).sum())
        p = min(1.0, 2 * (tail + 1) / (len(d) + 1))
        out.append(KpiDiff(name, text, ka, kb, kb - ka, low, high, p, test))
    return out


def model_kpis(
    store: Suites, project: str, model: str, spec: ModelSpec
) -> list[tuple[str, str, KpiExpression]]:
    """The model's KPI monitors as ``(name, expression, parsed)`` (none before its monitors
    are set up)."""
    try:
        suite = load_suite(store, project, model)
    except NotFoundError:
        return []
    columns = {*spec.feature_names, *spec.tag_columns}
    return [
        (str(m.name), str(m.expression), parse_kpi(str(m.expression), columns=columns))
        for m in suite.monitors
        if isinstance(m, Kpi)
    ]
