"""The OTLP/gRPC receiver is held to the same rules as HTTP: access log and ingest rate limit.

It authenticated callers but wrote nothing to the access log (so the failed-authentication and
flood monitors, which read it, were blind to gRPC) and had no rate limit (one key could flood
the store through port 4317 while HTTP answered 429).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from mlwarden.store.keys import KeyStore
from serverproc import ServerProcess, free_port

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture(scope="module")
def grpc_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, str, dict[str, str]]]:
    data = tmp_path_factory.mktemp("grpcsec") / "data"
    ks = KeyStore(data / "keys.json")
    keys = {
        "ingest": ks.create("p", scopes=["ingest"]),
        "admin": ks.create("p", scopes=["read", "operate", "admin"]),
    }
    port = free_port()
    # one ingest call per key, then one per 1,000 s: the second call is refused however slow
    srv = ServerProcess(
        data, "--otlp-grpc-port", str(port),
        "--rate-limit-ingest", "0.001", "--rate-limit-burst-s", "1000",
    ).start()  # fmt: skip
    try:
        yield srv, f"127.0.0.1:{port}", keys
    finally:
        srv.stop()


def _export(endpoint: str, key: str) -> tuple[grpc.StatusCode, str]:
    with grpc.insecure_channel(endpoint) as channel:
        call = channel.unary_unary(TRACES)
        try:
            call(b"", metadata=(("authorization", f"Bearer {key}"),), timeout=120)
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
        return grpc.StatusCode.OK, ""


def _access(srv: ServerProcess, key: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{srv.url}/v1/security/access", params={"route": TRACES, "limit": 100},
                  headers={"authorization": f"Bearer {key}"}, timeout=60)  # fmt: skip
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


def test_grpc_calls_are_logged_and_rate_limited(
    grpc_server: tuple[ServerProcess, str, dict[str, str]],
) -> None:
    srv, endpoint, keys = grpc_server
    assert _export(endpoint, keys["ingest"]) == (grpc.StatusCode.OK, "")
    code, details = _export(endpoint, keys["ingest"])
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)
    assert "Too many ingest requests" in details and "Retry after" in details
    code, _ = _export(endpoint, "mlw_nosuchkey_0000000000000000")
    assert code is grpc.StatusCode.UNAUTHENTICATED

    rows = _access(srv, keys["admin"])
    statuses = sorted(r["status"] for r in rows)
    assert statuses == [200, 401, 429], rows
    ok = next(r for r in rows if r["status"] == 200)
    assert ok["method"] == "GRPC" and ok["project"] == "p" and ok["client"] == "127.0.0.1"
    assert ok["key_id"] and ok["key_id"] in keys["ingest"]
