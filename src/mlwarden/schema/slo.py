"""Synthetic probes and service level objectives of a model, as declared.

A **probe** is an HTTP request the server sends to a model's endpoint every ``interval_s``
seconds: it passes when the answer comes within ``timeout_s`` with ``expect_status`` and the
body check (``body_contains``, or the JSON value at ``json_path`` equal to ``json_equals``).

An **SLO** is a promise over ``period_days`` (30 by default): ``availability`` (the share of
good probes or requests is at least ``objective``) or ``latency`` (the share answered within
``threshold_ms`` is at least ``objective``). ``source`` says what is counted: ``probes`` (the
model's probe results, or one probe's with ``probe``) or ``requests`` (the events the SDK and
middleware log: ``status`` 'error' is a failure, ``latency_ms`` the time).

Examples
--------
>>> p = ProbeSpec.from_dict({"name": "predict", "url": "https://m.example.com/predict",
...                          "method": "POST", "body": '{"x": 1}', "json_path": "ok",
...                          "json_equals": True, "interval_s": 30})
>>> p.method, p.interval_s, p.to_dict()["json_equals"]
('POST', 30.0, True)
>>> s = SloSpec.from_dict({"name": "available", "objective": 99.9})
>>> s.objective, s.budget, s.kind, s.source
(0.999, 0.001, 'availability', 'probes')
>>> SloSpec.from_dict({"name": "fast", "kind": "latency"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mlwarden.errors.ConfigError: The 'threshold_ms' field of SLO 'fast' must be a number > 0 ... Got None instead.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from mlwarden.errors import ConfigError, expected
from mlwarden.schema.spec import check_name

__all__ = ["METHODS", "SLO_KINDS", "SLO_SOURCES", "ProbeSpec", "SloSpec", "parse_slos"]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
SLO_KINDS = ("availability", "latency")
SLO_SOURCES = ("probes", "requests")
#: Bounds of a probe's timing: a probe every second at most, once a day at least.
MIN_INTERVAL_S, MAX_INTERVAL_S, MAX_TIMEOUT_S = 1.0, 86_400.0, 60.0
MAX_BODY_CHARS = 65_536


def _name(value: Any, what: str) -> str:
    try:
        return check_name(value, what)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _number(
    data: dict[str, Any], key: str, default: float, where: str, lo: float, hi: float
) -> float:
    value = data.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not lo <= value <= hi
    ):
        raise ConfigError(
            expected(f"field of {where}", key, f"be a number in [{lo:g}, {hi:g}]", value)
        )
    return float(value)


def _known(data: Any, keys: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"A {where} must be a mapping. Got {type(data).__name__} instead.")
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise ConfigError(
            expected(
                f"field of {where}", unknown[0], "be one of " + ", ".join(keys), data[unknown[0]]
            )
        )
    return data


@dataclass(frozen=True)
class ProbeSpec:
    """One synthetic probe (see the module docstring)."""

    name: str
    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    expect_status: int = 200
    body_contains: str | None = None
    json_path: str | None = None
    json_equals: Any = None
    interval_s: float = 60.0
    timeout_s: float = 10.0

    @classmethod
    def from_dict(cls, data: Any) -> ProbeSpec:
        keys = tuple(cls.__dataclass_fields__)
        data = _known(data, keys, "probe")
        name = _name(data.get("name"), "probe name")
        where = f"probe {name!r}"
        url = data.get("url")
        if (
            not isinstance(url, str)
            or not url.startswith(("http://", "https://"))
            or len(url) > 2048
        ):
            raise ConfigError(
                expected(f"field of {where}", "url", "be an http:// or https:// URL", url)
            )
        method = str(data.get("method", "GET")).upper()
        if method not in METHODS:
            raise ConfigError(
                expected(
                    f"field of {where}",
                    "method",
                    "be one of " + ", ".join(METHODS),
                    data.get("method"),
                )
            )
        headers = data.get("headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ConfigError(
                expected(f"field of {where}", "headers", "map names to strings", headers)
            )
        body = data.get("body")
        if body is not None and (not isinstance(body, str) or len(body) > MAX_BODY_CHARS):
            raise ConfigError(
                expected(
                    f"field of {where}",
                    "body",
                    f"be a string of at most {MAX_BODY_CHARS} characters",
                    body,
                )
            )
        status = data.get("expect_status", 200)
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ConfigError(
                expected(
                    f"field of {where}", "expect_status", "be an HTTP status code (100-599)", status
                )
            )
        for key in ("body_contains", "json_path"):
            v = data.get(key)
            if v is not None and (not isinstance(v, str) or not v):
                raise ConfigError(expected(f"field of {where}", key, "be a non-empty string", v))
        if data.get("body_contains") is not None and data.get("json_path") is not None:
            raise ConfigError(
                f"The {where} has both 'body_contains' and 'json_path': give one body check."
            )
        interval = _number(data, "interval_s", 60.0, where, MIN_INTERVAL_S, MAX_INTERVAL_S)
        timeout = _number(
            data, "timeout_s", min(10.0, interval), where, 0.001, min(MAX_TIMEOUT_S, interval)
        )
        return cls(
            name=name,
            url=url,
            method=method,
            headers=dict(headers),
            body=body,
            expect_status=status,
            body_contains=data.get("body_contains"),
            json_path=data.get("json_path"),
            json_equals=data.get("json_equals"),
            interval_s=interval,
            timeout_s=timeout,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SloSpec:
    """One service level objective (see the module docstring); ``objective`` is a fraction."""

    name: str
    objective: float
    kind: str = "availability"
    source: str = "probes"
    probe: str | None = None
    threshold_ms: float | None = None
    period_days: float = 30.0

    @property
    def budget(self) -> float:
        """The share of bad probes or requests the objective allows (its error budget)."""
        return round(1.0 - self.objective, 12)

    @classmethod
    def from_dict(cls, data: Any) -> SloSpec:
        data = _known(data, tuple(cls.__dataclass_fields__), "SLO")
        name = _name(data.get("name"), "SLO name")
        where = f"SLO {name!r}"
        kind = data.get("kind", "availability")
        if kind not in SLO_KINDS:
            raise ConfigError(
                expected(f"field of {where}", "kind", "be one of " + ", ".join(SLO_KINDS), kind)
            )
        source = data.get("source", "probes")
        if source not in SLO_SOURCES:
            raise ConfigError(
                expected(
                    f"field of {where}", "source", "be one of " + ", ".join(SLO_SOURCES), source
                )
            )
        raw = data.get("objective", 99.9)
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not 50 <= raw < 100:
            raise ConfigError(
                expected(
                    f"field of {where}", "objective", "be a percentage in [50, 100), e.g. 99.9", raw
                )
            )
        threshold = data.get("threshold_ms")
        if kind == "latency" and (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not threshold > 0
        ):
            raise ConfigError(
                expected(
                    f"field of {where}",
                    "threshold_ms",
                    "be a number > 0 for a latency SLO",
                    threshold,
                )
            )
        probe = data.get("probe")
        if probe is not None:
            probe = _name(probe, f"probe of {where}")
            if source != "probes":
                raise ConfigError(
                    f"The {where} names a probe but counts {source}: drop 'probe' or use source 'probes'."
                )
        period = _number(data, "period_days", 30.0, where, 1.0, 366.0)
        return cls(
            name=name,
            objective=round(float(raw) / 100.0, 12),
            kind=kind,
            source=source,
            probe=probe,
            threshold_ms=float(threshold) if threshold is not None else None,
            period_days=period,
        )

    def to_dict(self) -> dict[str, Any]:
        """As declared (``objective`` a percentage again)."""
        out = asdict(self)
        out["objective"] = round(self.objective * 100.0, 10)
        return out


def parse_slos(items: Any) -> list[SloSpec]:
    """A model's SLO declarations (a list of mappings), names unique."""
    if not isinstance(items, list):
        raise ConfigError(f"The 'slos' must be a list. Got {type(items).__name__} instead.")
    out = [SloSpec.from_dict(i) for i in items]
    names = [s.name for s in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ConfigError(f"The SLO name {dup!r} is declared twice; names must be unique.")
    return out
