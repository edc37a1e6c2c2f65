"""Keys and their scopes, failing closed, Host / Origin / content-type guards, UI sessions and
CSRF, security headers: each on the real server over real HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from mlwarden.server.app import create_app
from mlwarden.server.settings import ServerSettings
from mlwarden.store.keys import KeyStore, Scope
from serverproc import ServerProcess, free_port

ALERTING = """
channels:
  - {kind: webhook, name: ops, url: "https://hooks.example.com/x"}
"""
#: Routes anyone may call: liveness, the API's own description, the login page, static files.
PUBLIC = {"/v1/health", "/openapi.json", "/docs", "/ui/login", "/ui/logout", "/", "/ui"}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, through included routers (FastAPI >= 0.165 wraps them)."""
    for r in routes:
        if isinstance(r, APIRoute):
            yield r
        elif hasattr(r, "original_router"):
            yield from _api_routes(r.original_router.routes)


def test_every_route_declares_the_scope_it_needs() -> None:
    app = create_app(ServerSettings(data_dir=None))
    missing, scopes = [], {}
    routes = list(_api_routes(app.routes))
    assert len(routes) > 40
    for route in routes:
        if route.path in PUBLIC:
            continue
        found = [
            d.call.scope  # type: ignore[attr-defined]
            for d in route.dependant.dependencies
            if hasattr(d.call, "scope")
        ]
        if len(found) != 1:
            missing.append(f"{sorted(route.methods)} {route.path}")
        else:
            for m in route.methods:
                scopes[(m, route.path)] = found[0]
    assert not missing, f"routes without exactly one scope: {missing}"
    # the writes that change what the server does need admin; SDK writes only ingest
    assert scopes[("PUT", "/v1/alerting")] is Scope.ADMIN
    assert scopes[("GET", "/v1/alerting")] is Scope.ADMIN
    assert scopes[("PUT", "/v1/models/{model}/monitors")] is Scope.ADMIN
    assert scopes[("POST", "/v1/models/{model}/reference")] is Scope.ADMIN
    assert scopes[("POST", "/v1/models/{model}/events")] is Scope.INGEST
    assert scopes[("POST", "/v1/traces")] is Scope.INGEST
    assert scopes[("POST", "/v1/incidents/{incident_id}/acknowledge")] is Scope.OPERATE
    assert scopes[("POST", "/ui/models/{model}/monitors")] is Scope.ADMIN
    assert scopes[("GET", "/v1/models")] is Scope.READ
    # every GET reads, but those showing secrets-adjacent configuration or who did what
    admin_reads = {"/v1/alerting", "/ui/security"} | {
        p for _, p in scopes if p.startswith("/v1/security/")
    }
    assert all(
        s is (Scope.ADMIN if p in admin_reads else Scope.READ)
        for (m, p), s in scopes.items()
        if m == "GET"
    )
    assert scopes[("GET", "/v1/security/access")] is Scope.ADMIN


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    data = tmp_path / "d"
    ks = KeyStore(data / "keys.json")
    keys = {
        "ingest": ks.create("p"),
        "read": ks.create("p", scopes=["read"]),
        "operate": ks.create("p", scopes=["operate"]),
        "admin": ks.create("p", scopes=["admin"]),
    }
    srv = ServerProcess(data).start()
    try:
        yield srv, keys
    finally:
        srv.stop()


def _h(key: str, **extra: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", **extra}


def test_an_sdk_key_cannot_change_alerting_or_specs(
    keyed: tuple[ServerProcess, dict[str, str]],
) -> None:
    srv, keys = keyed
    yaml_ct = {"content-type": "application/yaml"}
    with httpx.Client(base_url=srv.url, timeout=30) as http:
        # the reproduction: the SDK's key configures alerting (and through it, commands)
        for who in ("ingest", "read", "operate"):
            r = http.put("/v1/alerting", content=ALERTING, headers=_h(keys[who], **yaml_ct))
            assert r.status_code == 403, (who, r.text)
            msg = r.json()["error"]["message"]
            assert "'admin' scope" in msg and "--scope admin" in msg
        r = http.put("/v1/alerting", content=ALERTING, headers=_h(keys["admin"], **yaml_ct))
        assert r.status_code == 200 and r.json()["channels"][0]["name"] == "ops"
        assert http.get("/v1/alerting", headers=_h(keys["read"])).status_code == 403

        # ingest registers a new model and writes events, and reads nothing
        spec = {"name": "m", "task": "regression", "features": [{"name": "x", "kind": "numeric"}]}
        assert http.post("/v1/models", json=spec, headers=_h(keys["ingest"])).status_code == 201
        ev = [{"event_id": "e1", "features": {"x": 1.0}, "prediction": 0.5}]
        r = http.post("/v1/models/m/events", json=ev, headers=_h(keys["ingest"]))
        assert r.status_code == 200, r.text
        assert http.get("/v1/models", headers=_h(keys["ingest"])).status_code == 403
        assert http.get("/metrics", headers=_h(keys["ingest"])).status_code == 403
        # ...but may not change an existing spec
        changed = {**spec, "features": [{"name": "y", "kind": "numeric"}]}
        r = http.post("/v1/models?replace=true", json=changed, headers=_h(keys["ingest"]))
        assert r.status_code == 403
        r = http.put("/v1/models/m/monitors", json={}, headers=_h(keys["operate"]))
        assert r.status_code == 403
        # read reads and cannot write events
        assert http.get("/v1/models", headers=_h(keys["read"])).status_code == 200
        r = http.post("/v1/models/m/events", json=ev, headers=_h(keys["read"]))
        assert r.status_code == 403
        # a revoked admin key is refused at once
        ks = KeyStore(srv.data_dir / "keys.json")
        ks.revoke(keys["admin"][4:].split("_")[0])
        r = http.put("/v1/alerting", content=ALERTING, headers=_h(keys["admin"], **yaml_ct))
        assert r.status_code == 401

        # health answers anyone, with numbers only for a reader
        anon = http.get("/v1/health").json()
        assert anon["status"] == "ok" and anon["models"] is None and anon["rows_committed"] is None
        assert http.get("/v1/health", headers=_h(keys["read"])).json()["models"] == 1


def test_a_server_off_loopback_never_serves_without_a_key(tmp_path: Path) -> None:
    data = tmp_path / "d"
    key = KeyStore(data / "keys.json").create("p", scopes=["admin"])
    srv = ServerProcess(data, "--host", "0.0.0.0", port=free_port()).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            assert http.get("/v1/models", headers=_h(key)).status_code == 200
            # the last key revoked, then the key file deleted: still closed
            assert (
                cli("keys", "revoke", key[4:].split("_")[0], "--data-dir", str(data)).returncode
                == 0
            )
            for _ in range(2):
                assert http.get("/v1/models").status_code == 401
                r = http.put(
                    "/v1/alerting", content=ALERTING, headers={"content-type": "application/yaml"}
                )
                assert r.status_code == 401
                r = http.get("/ui/", follow_redirects=False)
                assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
                (data / "keys.json").unlink(missing_ok=True)
    finally:
        srv.stop()


def test_cross_site_requests_and_rebinding_are_refused(server: ServerProcess) -> None:
    ev = '[{"event_id": "e1", "features": {"x": 1}, "prediction": 1}]'
    with httpx.Client(base_url=server.url, timeout=30) as http:
        # a page elsewhere posting with fetch(no-cors, text/plain): refused, nothing stored
        r = http.post(
            "/v1/models/m/events",
            content=ev,
            headers={"content-type": "text/plain", "origin": "https://evil.example"},
        )
        assert r.status_code == 403
        r = http.post("/v1/models/m/events", content=ev, headers={"content-type": "text/plain"})
        assert r.status_code == 415 and "content type" in r.json()["error"]["message"]
        r = http.post(
            "/v1/models/m/events",
            content=ev,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 415
        # DNS rebinding: the attacker's name resolving to this loopback server
        r = http.get("/v1/models", headers={"host": "attacker.example"})
        assert r.status_code == 421 and "--allowed-host" in r.json()["error"]["message"]
        r = http.get("/ui/", headers={"host": f"attacker.example:{server.port}"})
        assert r.status_code == 421
        # its own names still work, and a same-origin write passes the guard
        for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
            assert http.get("/v1/health", headers={"host": host}).status_code == 200
        r = http.post(
            "/v1/models",
            json={"name": "m", "task": "regression"},
            headers={"origin": server.url},
        )
        assert r.status_code == 201


def test_allowed_host_and_public_url(tmp_path: Path) -> None:
    srv = ServerProcess(
        tmp_path / "d",
        "--allowed-host",
        "models.internal",
        "--public-url",
        "https://ml.example.com",
    ).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            assert http.get("/v1/health", headers={"host": "models.internal"}).status_code == 200
            assert http.get("/v1/health", headers={"host": "ml.example.com"}).status_code == 200
            assert http.get("/v1/health", headers={"host": "other.example"}).status_code == 421
            ok = http.post(
                "/v1/models",
                json={"name": "m", "task": "regression"},
                headers={"origin": "https://ml.example.com"},
            )
            assert ok.status_code == 201
            bad = http.post(
                "/v1/models",
                json={"name": "n", "task": "regression"},
                headers={"origin": "https://ml.example.com.evil.example"},
            )
            assert bad.status_code == 403
    finally:
        srv.stop()


def test_security_headers_and_offline_docs(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        page = http.get("/ui/")
        assert page.status_code == 200
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert http.get("/v1/health").headers["x-content-type-options"] == "nosniff"
        docs = http.get("/docs")
        assert docs.status_code == 200
        assert "cdn" not in docs.text.lower() and "https://" not in docs.text
        srcs = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
        assert srcs and all(s.startswith("/") for s in srcs)
        for s in srcs:
            assert http.get(s).status_code == 200, s
        assert "sha256-" in docs.headers["content-security-policy"]


def _csrf(page: httpx.Response) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m, "no form token on the page"
    return m.group(1)


def test_ui_sessions_and_form_tokens(keyed: tuple[ServerProcess, dict[str, str]]) -> None:
    srv, keys = keyed
    origin = {"origin": srv.url}
    with httpx.Client(base_url=srv.url, timeout=30, follow_redirects=False) as browser:
        assert browser.get("/ui/").status_code == 303
        login = browser.get("/ui/login")
        token = _csrf(login)
        # without the form token, the login (like every form) is refused
        r = browser.post("/ui/login", data={"key": keys["read"]}, headers=origin)
        assert r.status_code == 403
        r = browser.post("/ui/login", data={"key": keys["read"], "csrf": token}, headers=origin)
        assert r.status_code == 303
        sid = browser.cookies.get("mlwarden_session")
        assert sid and keys["read"] not in sid and "mlwarden_key" not in browser.cookies
        set_cookie = r.headers["set-cookie"].lower()
        assert (
            "httponly" in set_cookie and "samesite=strict" in set_cookie and "max-age" in set_cookie
        )
        page = browser.get("/ui/")
        assert page.status_code == 200 and "Log out" in page.text

        # a read key cannot change monitors through the UI
        r = browser.post("/ui/models/m/monitors/setup", data={"csrf": _csrf(page)}, headers=origin)
        assert r.status_code == 403

        # logout ends the session on the server: the old cookie no longer opens pages
        r = browser.post("/ui/logout", data={"csrf": _csrf(page)}, headers=origin)
        assert r.status_code == 303
        stolen = httpx.get(
            f"{srv.url}/ui/", cookies={"mlwarden_session": sid}, follow_redirects=False
        )
        assert stolen.status_code == 303

        # revoking the key ends its sessions at once
        login = browser.get("/ui/login")
        r = browser.post(
            "/ui/login", data={"key": keys["operate"], "csrf": _csrf(login)}, headers=origin
        )
        assert r.status_code == 303 and browser.get("/ui/").status_code == 200
        KeyStore(srv.data_dir / "keys.json").revoke(keys["operate"][4:].split("_")[0])
        assert browser.get("/ui/").status_code == 303


def test_cli_key_scopes(tmp_path: Path) -> None:
    d = str(tmp_path / "d")
    made = cli("keys", "create", "--project", "p", "--data-dir", d)
    assert made.returncode == 0 and "scope ingest" in made.stderr
    admin = cli("keys", "create", "--project", "p", "--scope", "admin", "--data-dir", d)
    assert admin.returncode == 0 and "scope admin" in admin.stderr
    listed = cli("keys", "list", "--data-dir", d)
    assert "admin" in listed.stdout and "ingest" in listed.stdout
    bad = cli("keys", "create", "--project", "p", "--scope", "root", "--data-dir", d)
    assert bad.returncode != 0 and "'root'" in bad.stderr and "Traceback" not in bad.stderr
    key_id = admin.stdout.strip()[4:].split("_")[0]
    assert cli("keys", "revoke", key_id, "--data-dir", d).returncode == 0
    # key changes are in the audit log, with before / after and never a secret or its hash
    lines = [
        json.loads(line)
        for f in sorted((tmp_path / "d" / "security" / "audit").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    assert [e["action"] for e in lines] == ["key.create", "key.create", "key.revoke"]
    revoke = lines[-1]
    assert revoke["target"] == key_id and revoke["before"]["revoked_at"] is None
    assert revoke["after"]["revoked_at"] and revoke["after"]["scopes"] == ["admin"]
    text = json.dumps(lines)
    assert admin.stdout.strip() not in text and "hash" not in text


def test_keys_from_before_scopes_ingest_and_read(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ks = KeyStore(path)
    key = ks.create("p", scopes=["admin"])
    text = re.sub(r',\s*"scopes": \[[^\]]*\]', "", path.read_text())
    path.write_text(text)
    assert "scopes" not in path.read_text()
    old = KeyStore(path).authenticate(key)
    assert old.granted() == {Scope.INGEST, Scope.READ}
