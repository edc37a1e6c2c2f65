"""Deleting a model from the UI (Chromium, a real server): a typo'd model is removed with all
its data once its name is typed to confirm; a wrong confirmation deletes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from serverproc import ServerProcess


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    srv = ServerProcess(tmp_path / "data", "--evaluate-every", "0").start()
    try:
        with httpx.Client(base_url=srv.url, timeout=120) as http:
            for name in ("cancer", "cancr2"):
                spec = {
                    "name": name,
                    "task": "binary",
                    "classes": [0, 1],
                    "features": [{"name": "x", "kind": "numeric"}],
                }
                assert http.post("/v1/models", json=spec).status_code in (200, 201)
                events = [
                    {"event_id": f"{name}-{i}", "features": {"x": float(i)}, "prediction": i % 2}
                    for i in range(20)
                ]
                r = http.post(f"/v1/models/{name}/events", json=events)
                assert r.status_code == 200, r.text
        yield srv.url
    finally:
        srv.stop()


def test_a_model_is_deleted_only_once_its_name_is_typed(browser: Any, server_url: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{server_url}/ui/models/cancr2/monitors")
        page.get_by_label("Type the model's name, cancr2, to confirm").fill("cancer")
        page.get_by_role("button", name="Delete model and all its data").click()
        page.wait_for_load_state()
        assert "Nothing was deleted" in page.get_by_role("alert").inner_text()
        assert httpx.get(f"{server_url}/v1/models/cancr2").status_code == 200

        page.get_by_label("Type the model's name, cancr2, to confirm").fill("cancr2")
        page.get_by_role("button", name="Delete model and all its data").click()
        page.wait_for_url(f"{server_url}/ui/?deleted=cancr2")
        notice = page.get_by_role("status").inner_text()
        assert notice == "Deleted the model cancr2 and everything stored of it."
        assert "cancr2" not in page.locator("table.models").inner_text()
        assert httpx.get(f"{server_url}/v1/models/cancr2").status_code == 404
        counts = httpx.get(f"{server_url}/v1/models/cancer/counts", params={"window": "day"})
        assert sum(r["events"] for r in counts.json()) == 20  # the other model is untouched
        audit = httpx.get(f"{server_url}/v1/security/audit").json()
        deleted = [a for a in audit if a["action"] == "model.delete"]
        assert [(a["target"], a["after"]) for a in deleted] == [("cancr2", None)]
        assert deleted[0]["before"]["name"] == "cancr2"
    finally:
        context.close()
