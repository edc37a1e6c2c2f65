"""One monitor-kind taxonomy: every table that groups kinds agrees with the registry."""

from __future__ import annotations

import pytest

from mlwarden.analysis import rootcause
from mlwarden.incidents.grouping import family_of, group_firing, incident_kind
from mlwarden.monitors import MONITORS, Objective, taxonomy
from mlwarden.server.security import SECURITY_KINDS
from mlwarden.server.ui import tab_llm, tabs, tabs_ops
from mlwarden.server.ui.placement import TAB_NAMES, tab_of

KINDS = MONITORS.keys()
DECLARED = ("objective", "family", "tab", "batch")


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_declares_its_taxonomy_on_its_own_class(kind: str) -> None:
    """Declared on the kind's own class, not inherited (an LLM latency kind that inherited
    ``latency``'s family would open operations incidents)."""
    cls = MONITORS.get(kind)
    missing = [name for name in DECLARED if name not in vars(cls)]
    assert not missing, f"{cls.__name__} does not declare {missing}"
    assert isinstance(cls.objective, Objective)
    assert isinstance(cls.family, str) and cls.family
    assert cls.tab in TAB_NAMES and cls.tab != "incidents"
    assert isinstance(cls.batch, bool)


def test_span_kinds_are_on_the_llm_tab_and_not_in_batch_reports() -> None:
    for kind in KINDS:
        cls = MONITORS.get(kind)
        assert (cls.source == "spans") == (cls.tab == "llm"), kind
        if cls.source == "spans":
            assert not cls.batch, kind


def test_out_of_range_is_in_one_family_everywhere() -> None:
    """It was "drift" for incidents and "quality" for root cause: a drift incident whose
    shifted feature also left its range must stay a drift incident (and get the retrain
    rule), so it is "drift" for both; the model page shows it with the per-column checks."""
    assert taxonomy.family_of("out_of_range") == "drift"
    assert incident_kind("model", ["out_of_range", "feature_drift"]) == "drift"
    assert incident_kind("model", ["out_of_range", "missing_values"]) == "quality"
    assert "out_of_range" in tabs.QUALITY_KINDS and "out_of_range" not in tabs.DRIFT_KINDS
    members = [
        {"monitor": f"{k}:x", "kind": k, "column": "x", "first_window": "2026-01-01", "value": 1.0}
        for k in ("out_of_range", "missing_values")
    ]
    assert [q["kind"] for q in rootcause._quality(members)] == ["missing_values"]


def test_incident_tables_agree_with_the_registry() -> None:
    for kind in KINDS:
        fam = MONITORS.get(kind).family
        group = taxonomy.INCIDENT_FAMILIES.get(fam, fam)
        assert family_of(kind) == group, kind
        assert incident_kind(group, [kind]) == (fam if group in ("model", "operations") else group)
    assert SECURITY_KINDS == {k for k in KINDS if MONITORS.get(k).family == "security"}
    quality = {k for k in KINDS if MONITORS.get(k).family == "quality"}
    members = [
        {"monitor": k, "kind": k, "column": None, "first_window": "2026-01-01", "value": 0.0}
        for k in KINDS
    ]
    assert {q["kind"] for q in rootcause._quality(members)} == quality


def test_ui_tabs_agree_with_the_registry() -> None:
    for kind in KINDS:
        assert tab_of(kind) == MONITORS.get(kind).tab
        assert tab_of(f"{kind}:col") == MONITORS.get(kind).tab
    on = {t: {k for k in KINDS if MONITORS.get(k).tab == t} for t in TAB_NAMES}
    assert set(tabs.DRIFT_KINDS) == on["drift"]
    assert set(tabs.QUALITY_KINDS) == on["quality"]
    assert set(tabs.PERF_KINDS) <= on["performance"]
    assert set(tab_llm.LLM_KINDS) == on["llm"]
    assert set(tabs_ops.OPS_KINDS) == on["operations"]


def test_batch_reports_judge_the_kinds_that_declare_batch() -> None:
    from mlwarden.reporting import batch

    assert not hasattr(batch, "OPERATIONAL")  # the hand-written set is gone
    assert taxonomy.not_batch_kinds() == {k for k in KINDS if not MONITORS.get(k).batch}
    assert {"volume", "latency", "duplicate_ids", "probing"} <= taxonomy.not_batch_kinds()


def test_group_firing_uses_the_declared_families() -> None:
    from datetime import UTC, datetime

    from mlwarden.monitors import Result, Status

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    firing = [
        Result(monitor=k, kind=k, window_start=t0, window_end=t0, status=Status.ALERT)
        for k in ("out_of_range", "feature_drift", "latency", "llm_latency")
    ]
    groups = {g.family: g.kinds for g in group_firing(firing)}
    assert groups == {
        "model": ["feature_drift", "out_of_range"],
        "operations": ["latency"],
        "llm_latency": ["llm_latency"],
    }
