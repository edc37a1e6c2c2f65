"""The OpenAPI document is checked in, so any API change is a visible diff.

Regenerate after an intended change: ``MLWARDEN_UPDATE_SNAPSHOTS=1 pytest tests/test_openapi.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx

from serverproc import ServerProcess

SNAPSHOT = Path(__file__).parent.parent / "docs" / "openapi.json"


def test_served_openapi_matches_snapshot(server: ServerProcess) -> None:
    served = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    text = json.dumps(served, indent=2, sort_keys=True) + "\n"
    if os.environ.get("MLWARDEN_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), "run with MLWARDEN_UPDATE_SNAPSHOTS=1 to create docs/openapi.json"
    assert json.loads(SNAPSHOT.read_text()) == served, "API changed: regenerate docs/openapi.json"
    paths = set(served["paths"])
    assert {
        "/v1/health",
        "/v1/models",
        "/v1/models/{model}/events",
        "/v1/models/{model}/actuals",
    } <= paths


def _untyped(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """An object with no named properties, or an array of them (what ``dict[str, Any]`` makes)."""
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return any(_untyped(s, components) for s in schema[key])
    if schema.get("type") == "array":
        return _untyped(schema.get("items", {}), components)
    if schema.get("type") == "object" or not schema:
        return not schema.get("properties")
    return False


def test_every_json_reply_names_its_fields(server: ServerProcess) -> None:
    served = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    components = served["components"]["schemas"]
    untyped = [
        f"{method.upper()} {path} {code}"
        for path, ops in served["paths"].items()
        for method, op in ops.items()
        for code, reply in op["responses"].items()
        if code.startswith("2")
        for media, content in reply.get("content", {}).items()
        if media == "application/json" and _untyped(content.get("schema", {}), components)
    ]
    assert untyped == []
