"""How monitor kinds group, read from the declarations on their classes.

Each kind says on its class what problem a firing of it describes (``family``), which tab of
the model page shows it (``tab``) and whether a batch report judges it (``batch``). Every
table that groups kinds (incident families, root-cause quality causes, security events, UI
tabs, batch reports) is derived here from the registry, so a new kind is one file and the
tables cannot disagree.

The only table written by hand groups *families*, not kinds: which families explain one
another and so share an incident (a model's data and its performance; its serving
operations).

Examples
--------
>>> family_of("out_of_range"), family_of("missing_values"), family_of("volume")
('drift', 'quality', 'traffic')
>>> incident_family_of("out_of_range"), incident_family_of("latency"), incident_family_of("llm_cost")
('model', 'operations', 'cost')
>>> family_of("no_such_kind"), incident_family_of("no_such_kind")
('no_such_kind', 'no_such_kind')
>>> "missing_values" in kinds_in_family("quality"), tab_of("out_of_range"), tab_of("x") is None
(True, 'quality', True)
>>> sorted(not_batch_kinds())[:3]
['duplicate_ids', 'error_rate', 'latency']
"""

from __future__ import annotations

from mlwarden.monitors.base import MONITORS, Monitor

__all__ = [
    "INCIDENT_FAMILIES",
    "MODEL_FAMILIES",
    "OPERATIONS_FAMILIES",
    "family_of",
    "incident_family_of",
    "kinds_in_family",
    "kinds_on_tab",
    "not_batch_kinds",
    "tab_of",
]

#: Families of a model's data and performance, in the order an incident of several is named
#: after (a data-quality break explains drift, which explains a performance drop).
MODEL_FAMILIES = ("quality", "drift", "performance")
#: Families of a model's serving operations, in the order an incident of several is named
#: after ("traffic" last: a drop in volume follows errors and slowness).
OPERATIONS_FAMILIES = ("errors", "latency", "resources", "traffic")
#: Monitor family -> incident family, for the families that share incidents; any other
#: family (fairness, security, cost, an LLM kind's own) is an incident family of its own.
INCIDENT_FAMILIES: dict[str, str] = {
    **dict.fromkeys(MODEL_FAMILIES, "model"),
    **dict.fromkeys(OPERATIONS_FAMILIES, "operations"),
}


def _cls(kind: str) -> type[Monitor] | None:
    return MONITORS.get(kind) if kind in MONITORS else None


def family_of(kind: str) -> str:
    """The monitor family of a kind (an unknown kind is a family of its own)."""
    cls = _cls(kind)
    return kind if cls is None else cls.family


def incident_family_of(kind: str) -> str:
    """The incident family of a kind: the firings an open incident of it absorbs."""
    family = family_of(kind)
    return INCIDENT_FAMILIES.get(family, family)


def kinds_in_family(*families: str) -> frozenset[str]:
    """The registered kinds of some monitor families."""
    return frozenset(k for k in MONITORS.keys() if MONITORS.get(k).family in families)


def tab_of(kind: str) -> str | None:
    """The model page's tab that shows a kind (None for an unknown kind)."""
    cls = _cls(kind)
    return None if cls is None else cls.tab


def kinds_on_tab(tab: str) -> tuple[str, ...]:
    """The registered kinds a tab shows, sorted."""
    return tuple(k for k in MONITORS.keys() if MONITORS.get(k).tab == tab)


def not_batch_kinds() -> frozenset[str]:
    """The registered kinds a batch report does not judge."""
    return frozenset(k for k in MONITORS.keys() if not MONITORS.get(k).batch)
