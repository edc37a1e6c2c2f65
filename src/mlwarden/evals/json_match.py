"""JSON-schema match of an output: ``jsonschema`` when it is installed, else a subset.

The subset covers what output-format checks use: ``type``, ``properties``, ``required``,
``additionalProperties`` (true / false / a schema), ``items``, ``enum``, ``const``,
``minimum`` / ``maximum``, ``minLength`` / ``maxLength``, ``minItems`` / ``maxItems``,
``pattern``, plus the annotations (``title``, ``description``, ``$schema``, ``$id``,
``default``, ``examples``). Any other keyword is refused when the schema is checked, naming
it, rather than silently ignored.

Examples
--------
>>> s = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}
>>> check_schema(s)
>>> errors(s, {"a": 1}), errors(s, {"a": "x"})
([], ["$.a: 'x' is not of type integer"])
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any

from mlwarden.errors import ConfigError, expected

__all__ = ["SUPPORTED", "check_schema", "errors", "jsonschema_module"]

_TYPES: dict[str, Any] = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
    "number": (int, float), "integer": int,
}  # fmt: skip
_ANNOTATIONS = {"title", "description", "$schema", "$id", "default", "examples", "$comment"}
#: Keywords the built-in subset checks.
SUPPORTED = frozenset({"type", "properties", "required", "additionalProperties", "items",
                       "enum", "const", "minimum", "maximum", "minLength", "maxLength",
                       "minItems", "maxItems", "pattern"}) | _ANNOTATIONS  # fmt: skip


def jsonschema_module() -> Any:
    """The ``jsonschema`` module when installed, else None."""
    if importlib.util.find_spec("jsonschema") is None:
        return None
    import jsonschema  # type: ignore[import-untyped]  # optional, no stubs

    return jsonschema


def check_schema(schema: Any) -> None:
    """Raise :class:`ConfigError` for a schema that is not an object, or (subset) one using
    a keyword the subset does not check."""
    if not isinstance(schema, dict):
        raise ConfigError(expected("parameter", "schema", "be a JSON Schema object", schema))
    full = jsonschema_module()
    if full is not None:
        try:
            full.validators.validator_for(schema).check_schema(schema)
        except full.SchemaError as exc:
            raise ConfigError(
                f"The 'schema' parameter is not a valid JSON Schema: {exc.message}"
            ) from exc
        return
    _walk(schema)


def _walk(s: Any) -> None:
    if isinstance(s, bool):
        return
    if not isinstance(s, dict):
        raise ConfigError(expected("parameter", "schema", "hold JSON Schema objects", s))
    unknown = sorted(set(s) - SUPPORTED)
    if unknown:
        raise ConfigError(
            f"The JSON Schema keyword {unknown[0]!r} is not supported without the jsonschema "
            f"package (pip install jsonschema); supported: {', '.join(sorted(SUPPORTED))}."
        )
    types = s.get("type")
    for t in types if isinstance(types, list) else [types] if types is not None else []:
        if t not in _TYPES:
            raise ConfigError(
                expected("JSON Schema keyword", "type", f"be one of {', '.join(_TYPES)}", t)
            )
    for sub in (s.get("properties") or {}).values():
        _walk(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(s.get(key), dict):
            _walk(s[key])
    if "pattern" in s:
        try:
            re.compile(s["pattern"])
        except (re.error, TypeError) as exc:
            raise ConfigError(
                expected("JSON Schema keyword", "pattern", "be a regular expression", s["pattern"])
            ) from exc


def _is(v: Any, t: str) -> bool:
    if t in ("number", "integer") and isinstance(v, bool):
        return False
    if t == "integer" and isinstance(v, float):
        return v.is_integer()
    return isinstance(v, _TYPES[t])


def _check(s: Any, v: Any, at: str, out: list[str]) -> None:
    if s is True or s == {}:
        return
    if s is False:
        out.append(f"{at}: no value is allowed here")
        return
    t = s.get("type")
    if t is not None and not any(_is(v, x) for x in (t if isinstance(t, list) else [t])):
        out.append(f"{at}: {v!r} is not of type {t if isinstance(t, str) else ' or '.join(t)}")
        return
    if "enum" in s and v not in s["enum"]:
        out.append(f"{at}: {v!r} is not one of {s['enum']!r}")
    if "const" in s and v != s["const"]:
        out.append(f"{at}: {v!r} is not {s['const']!r}")
    if isinstance(v, int | float) and not isinstance(v, bool):
        if "minimum" in s and v < s["minimum"]:
            out.append(f"{at}: {v!r} is less than {s['minimum']!r}")
        if "maximum" in s and v > s["maximum"]:
            out.append(f"{at}: {v!r} is more than {s['maximum']!r}")
    if isinstance(v, str):
        if len(v) < s.get("minLength", 0) or len(v) > s.get("maxLength", len(v)):
            out.append(f"{at}: the length {len(v)} is out of bounds")
        if "pattern" in s and not re.search(s["pattern"], v):
            out.append(f"{at}: {v[:40]!r} does not match {s['pattern']!r}")
    if isinstance(v, list):
        if len(v) < s.get("minItems", 0) or len(v) > s.get("maxItems", len(v)):
            out.append(f"{at}: {len(v)} items is out of bounds")
        if isinstance(s.get("items"), dict):
            for i, x in enumerate(v):
                _check(s["items"], x, f"{at}[{i}]", out)
    if isinstance(v, dict):
        props = s.get("properties") or {}
        for k in s.get("required") or []:
            if k not in v:
                out.append(f"{at}: {k!r} is a required property")
        for k, x in v.items():
            if k in props:
                _check(props[k], x, f"{at}.{k}", out)
            elif "additionalProperties" in s:
                _check(s["additionalProperties"], x, f"{at}.{k}", out)


def errors(schema: dict[str, Any], value: Any) -> list[str]:
    """What in ``value`` breaks ``schema`` (empty when it matches)."""
    full = jsonschema_module()
    if full is not None:
        v = full.validators.validator_for(schema)(schema)
        return [f"$.{'.'.join(map(str, e.absolute_path))}: {e.message}".replace("$.:", "$:")
                for e in v.iter_errors(value)]  # fmt: skip
    out: list[str] = []
    _check(schema, value, "$", out)
    return out
