"""Where things live in the UI: the tab that shows each monitor kind, the tabs of each task.

Derived from the monitor registry (the ``tab`` each kind declares on its class, see
:mod:`mlwarden.monitors.taxonomy`), so a new kind lands on its tab without a list to edit here.

Examples
--------
>>> tab_of("latency"), tab_of("volume"), tab_of("resources"), tab_of("llm_pii")
('operations', 'operations', 'operations', 'llm')
>>> tab_of("prediction_drift"), tab_of("missing_values"), tab_of("performance:auc")
('drift', 'quality', 'performance')
>>> tab_of("no_such_kind") is None
True
>>> "resources" in kinds_of("operations"), tabs_for_llm()
(True, ('llm', 'operations', 'incidents'))
"""

from __future__ import annotations

from collections.abc import Iterable

from mlwarden.monitors import taxonomy

__all__ = ["TAB_NAMES", "kinds_of", "tab_of", "tabs_for_llm", "tabs_of_monitors"]

#: What each tab is called in links and headings.
TAB_NAMES = {
    "performance": "Performance",
    "drift": "Drift",
    "quality": "Data quality",
    "operations": "Operations",
    "fairness": "Fairness",
    "llm": "LLM",
    "incidents": "Incidents",
}


def tab_of(monitor: str) -> str | None:
    """The tab showing a monitor kind (or a monitor id ``kind:...``); None for unknown kinds."""
    return taxonomy.tab_of(monitor.partition(":")[0])


def kinds_of(tab: str) -> tuple[str, ...]:
    """The registered monitor kinds a tab shows, sorted."""
    return taxonomy.kinds_on_tab(tab)


def tabs_of_monitors(monitors: Iterable[str]) -> list[str]:
    """The tabs of some monitors (ids or kinds), each once, in the order of :data:`TAB_NAMES`."""
    found = {tab_of(m) for m in monitors}
    return [t for t in TAB_NAMES if t in found]


def tabs_for_llm() -> tuple[str, ...]:
    """The tabs of an LLM app: its spans, its operations, its incidents (no performance,
    fairness or feature drift: those need predictions and labels it does not have)."""
    return ("llm", "operations", "incidents")
