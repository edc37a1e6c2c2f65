"""From an incident and its causes to a headline and recommended actions, by the rule table.

The rules live in ``rules.yaml`` beside this file (data, not code): each maps an incident
signature to a likely cause, an action and the reason it was chosen. This module only builds
the facts the templates name and checks the conditions.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from mlwarden.errors import ConfigError
from mlwarden.monitors.taxonomy import incident_family_of, tab_of

__all__ = ["Rule", "facts", "headline", "load_rules", "recommend"]

_WHEN = ("kind", "fired", "quiet", "quality", "version_changed", "slices")


@dataclass(frozen=True)
class Rule:
    id: str
    priority: int
    when: dict[str, Any]
    cause: str
    action: str
    why: str

    def holds(self, f: dict[str, Any]) -> bool:
        w = self.when
        kinds = w.get("kind")
        if kinds is not None and f["kind"] not in ([kinds] if isinstance(kinds, str) else kinds):
            return False
        fired = set(f["fired"])
        if "fired" in w and not fired & set(w["fired"]):
            return False
        if "quiet" in w and fired & set(w["quiet"]):
            return False
        if "quality" in w and f.get("quality_kind") != w["quality"]:
            return False
        if "version_changed" in w and bool(f.get("version_changed")) != bool(w["version_changed"]):
            return False
        return not ("slices" in w and bool(f.get("top_slice")) != bool(w["slices"]))


def _rule(item: Any, i: int) -> Rule:
    if not isinstance(item, dict):
        raise ConfigError(f"Rule #{i + 1} of the rule table must be a mapping.")
    missing = [k for k in ("id", "when", "cause", "action", "why") if k not in item]
    if missing:
        raise ConfigError(f"Rule #{i + 1} of the rule table needs {missing[0]!r}.")
    unknown = sorted(set(item["when"]) - set(_WHEN))
    if unknown:
        raise ConfigError(
            f"Rule {item['id']!r} has an unknown condition {unknown[0]!r}; conditions are "
            f"{', '.join(_WHEN)}."
        )
    return Rule(
        id=str(item["id"]),
        priority=int(item.get("priority", 0)),
        when=dict(item["when"]),
        cause=str(item["cause"]),
        action=str(item["action"]),
        why=" ".join(str(item["why"]).split()),
    )


def load_rules(text: str | None = None) -> list[Rule]:
    """The rule table (the packaged one unless ``text`` is given), highest priority first.

    Examples
    --------
    >>> [r.id for r in load_rules()][:2]
    ['upstream-break', 'schema-change']
    """
    if text is None:
        return list(_packaged())
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ConfigError("A rule table must be a mapping with a 'rules' list.")
    rules = [_rule(item, i) for i, item in enumerate(data["rules"])]
    return sorted(rules, key=lambda r: -r.priority)


@cache
def _packaged() -> tuple[Rule, ...]:
    text = files("mlwarden.analysis").joinpath("rules.yaml").read_text(encoding="utf-8")
    return tuple(load_rules(text))


def _pct(x: Any) -> str:
    return f"{x:.1%}" if isinstance(x, (int, float)) else "-"


def _num(x: Any) -> str:
    return f"{x:.3g}" if isinstance(x, (int, float)) else "-"


def _day(iso: Any) -> str:
    return str(iso)[:16].replace("T", " ") if iso else "-"


def facts(incident: Any, causes: dict[str, Any]) -> dict[str, Any]:
    """What the templates may name, from the incident and its causes."""
    members: Sequence[dict[str, Any]] = incident.members
    whole = [m for m in members if m.get("segment") is None]
    f: dict[str, Any] = {
        "kind": incident.kind,
        "model": incident.model,
        "fired": sorted({m["kind"] for m in members}),
        "onset": _day(causes.get("onset") or incident.first_window.isoformat()),
    }
    drifted = [x for x in causes.get("features", []) if x.get("alert")]
    if drifted:
        top = drifted[0]
        f |= {
            "top_feature": top["name"],
            "top_drift": f"{top['drift']:.1f}",
            "top_importance": _num(top.get("importance")),
            "drifted_count": len(drifted),
        }
    perf = [m for m in whole if m["kind"] in ("performance", "estimated_performance")]
    perf.sort(key=lambda m: m["kind"] != "performance")
    if perf:
        p = perf[0]
        f |= {
            "perf_metric": p["monitor"].split(":")[-1]
            + (" (estimated)" if p["kind"] == "estimated_performance" else ""),
            "perf_value": _num(p.get("value")),
            "perf_threshold": _num(p.get("threshold")),
            "labels_clause": ", with its labels"
            if p["kind"] == "performance"
            else "; label it, or use the estimated-performance window as the guide",
        }
    quality = causes.get("quality") or []
    if quality:
        q = quality[0]
        f |= {
            "quality_kind": q["kind"],
            "quality_column": q.get("column") or "?",
            "quality_value": _pct(q.get("value"))
            if q["kind"] == "missing_values"
            else _num(q.get("value")),
            "quality_baseline": _pct(q.get("baseline")),
            "quality_since": _day(q.get("since")),
            "quality_reason": q.get("reason", ""),
        }
    v = causes.get("versions") or {}
    if v.get("changed") and v.get("previous"):
        f |= {
            "version_changed": True,
            "current_version": v["current"],
            "previous_version": v["previous"],
            "version_share": _pct(v.get("share")),
        }
    slices = causes.get("slices") or []
    if slices:
        s = slices[0]
        f |= {
            "top_slice": s["description"],
            "slice_share": _pct(s.get("share")),
            "slice_metric": s.get("metric", ""),
            "slice_value": _num(s.get("value")),
            "slice_rest": _num(s.get("rest")),
        }
    kpis = [m for m in members if m["kind"] == "kpi"]
    if kpis:  # the KPI member that moved most (a segment's, when that is where it moved)
        k = max(kpis, key=lambda m: abs(float((m.get("evidence") or {}).get("change") or 0.0)))
        ev, seg = k.get("evidence") or {}, k.get("segment")
        f |= {
            "kpi_name": str(ev.get("kpi") or k["monitor"].partition(":")[2]).replace("_", " "),
            "kpi_clause": clause(str(k.get("reason") or k["monitor"])),
            "kpi_where": f" in {seg.replace('=', ' = ')}" if seg else "",
            "kpi_value": _num(k.get("value")),
            "kpi_expected": _num(ev.get("expected")),
            "kpi_driver": f", driven by {f['top_feature']} drift" if "top_feature" in f else "",
        }
    ops = [m for m in whole if incident_family_of(m["kind"]) == "operations"]
    if ops:
        f["ops_reason"] = ops[0].get("reason") or ops[0]["monitor"]
    llm = [m for m in whole if tab_of(m["kind"]) == "llm"]  # the kinds of an LLM app's spans
    if llm and "ops_reason" not in f:  # an LLM app's incidents name their first monitor's reason
        f["ops_reason"] = llm[0].get("reason") or llm[0]["monitor"]
    probes = [m for m in members if m["kind"] == "probing"]
    if probes:  # the security family: who probes, and how
        evidence = probes[0].get("evidence") or {}
        f |= {
            "probe_client": evidence.get("client", "?"),
            "probe_patterns": evidence.get("patterns", "?"),
        }
    fair = sorted(
        (m for m in members if m["kind"] == "fairness"), key=lambda m: m.get("segment") is not None
    )
    if fair:
        fm, ev = fair[0], fair[0].get("evidence") or {}
        f |= {
            "fairness_reason": fm.get("reason") or fm["monitor"],
            "fairness_column": fm.get("column") or "the sensitive attribute",
            "fairness_group": ev.get("disadvantaged_group") or "the disadvantaged group",
            "fairness_other": ev.get("compared_group") or "the best-treated group",
            "fairness_metric": ev.get("metric_label") or "disparity",
        }
        if ev.get("disadvantaged_group") is not None and ev.get("rate"):
            f |= {
                "fairness_rate": str(ev["rate"]).replace("_", " "),
                "fairness_value": _num(ev.get("disadvantaged_rate")),
                "fairness_other_value": _num(ev.get("compared_rate")),
            }
    return f


class _Facts(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _fill(template: str, f: dict[str, Any]) -> str:
    return string.Formatter().vformat(template, (), _Facts(f))


def recommend(
    incident: Any, causes: dict[str, Any], *, rules: Sequence[Rule] | None = None
) -> list[dict[str, Any]]:
    """Recommendations for an incident, most important first, each with why it was chosen."""
    f = facts(incident, causes)
    out = []
    for rule in rules if rules is not None else load_rules():
        if rule.holds(f):
            out.append(
                {
                    "rule": rule.id,
                    "cause": _fill(rule.cause, f),
                    "action": _fill(rule.action, f),
                    "why": _fill(rule.why, f),
                }
            )
    return out


#: A parenthesis that holds a test's p-value or alpha: the incident's details keep it, its
#: title does not.
_STATS = re.compile(r"\s*\([^()]*\b(?:p|alpha)\s*[=<>][^()]*\)")


def clause(reason: str) -> str:
    """The part of a monitor's reason a title shows: its first clause, without the test's
    p-value and alpha (the incident's details keep the whole reason).

    Examples
    --------
    >>> clause("p99 latency 115.8 ms vs 2x the recent median (97.9 ms); 4.70% of requests "
    ...        "slower than the usual p99 (48.9 ms), 1% expected (p = 1.2e-33, alpha 0.00058)")
    'p99 latency 115.8 ms vs 2x the recent median (97.9 ms)'
    >>> clause("error rate 4.1% vs 0.5% (p = 0.0001)")
    'error rate 4.1% vs 0.5%'
    """
    return _STATS.sub("", reason).split(";")[0].strip()


def headline(incident: Any, causes: dict[str, Any]) -> str:
    """A one-line title: what happened, and where (p-values stay in the details)."""
    f = facts(incident, causes)
    kind = incident.kind
    where = ""
    if f.get("top_slice") and kind in ("drift", "performance"):
        where = f" ({f['top_slice']} worst)"
    if kind == "quality" and "quality_column" in f:
        if f.get("quality_kind") == "missing_values":
            return f"{f['quality_column']} arrives empty for {f['quality_value']} of events{where}"
        return f"Data quality: {clause(f['quality_reason']) or f['quality_column']}"
    if kind == "drift" and "top_feature" in f:
        more = f" and {f['drifted_count'] - 1} more" if f["drifted_count"] > 1 else ""
        perf = f"; {f['perf_metric']} at {f['perf_value']}" if "perf_metric" in f else ""
        return f"Drift in {f['top_feature']}{more}{perf}{where}"
    if kind == "performance" and "perf_metric" in f:
        return (
            f"{f['perf_metric']} fell to {f['perf_value']} (threshold {f['perf_threshold']}){where}"
        )
    if kind == "business" and "kpi_clause" in f:
        return f"{f['kpi_clause']}{f['kpi_where']}{f['kpi_driver']}"
    if "ops_reason" in f:
        return f"{kind.capitalize()}: {clause(f['ops_reason'])}"
    if kind in ("slo_page", "slo_ticket") and incident.members:  # the burn says it all
        return f"SLO {kind.removeprefix('slo_')}: {clause(str(incident.members[0]['reason']))}"
    if kind == "security" and incident.members:
        return f"Security: {clause(str(incident.members[0]['reason']))}"
    if "fairness_rate" in f:
        return (
            f"Fairness across {f['fairness_column']}: {f['fairness_group']} gets a "
            f"{f['fairness_rate']} of {f['fairness_value']} against {f['fairness_other_value']} "
            f"for {f['fairness_other']}"
        )
    if "fairness_reason" in f:
        return f"Fairness: {clause(f['fairness_reason'])}"
    monitors = sorted({m["monitor"] for m in incident.members})
    return f"{kind.capitalize()}: {', '.join(monitors[:3])}"
