"""The OpenAPI document is checked in, so any API change is a visible diff.

Regenerate after an intended change: ``MLWARDEN_UPDATE_SNAPSHOTS=1 pytest tests/test_openapi.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

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
