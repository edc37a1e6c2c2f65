"""A local fake of four pipeline APIs, speaking their request and response shapes.

Each route checks what the real API checks before it starts a run (authentication, required
fields and their types, parameters the pipeline declares, duplicate run names) and answers as
the real API does:

* Airflow 2 stable REST API ``POST /api/v1/dags/{dag_id}/dagRuns`` (Basic or Bearer auth;
  ``DAGRun`` JSON; 409 for a known ``dag_run_id``; 404 for an unknown DAG).
* Argo Workflows ``POST /api/v1/workflows/{namespace}/submit`` (``WorkflowSubmitRequest``;
  ``Workflow`` JSON; 409 ``AlreadyExists`` for a known name; parameters must be declared by the
  template).
* GitHub ``POST /repos/{owner}/{repo}/actions/workflows/{id}/dispatches`` (Bearer token,
  ``application/vnd.github+json``; 204; 422 "Unexpected inputs provided" for undeclared inputs,
  inputs must be strings).
* Kubeflow Pipelines v2 ``POST /apis/v2beta1/runs`` (``V2beta1Run``; the run with its
  ``run_id`` and ``state: PENDING``).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "pipeline-token"
BASIC = "Basic YWlyZmxvdzphaXJmbG93"  # airflow:airflow
DECLARED = {
    "incident_id", "project", "model", "kind", "signature", "severity", "event",
    "incident_url", "retrain_from", "retrain_to",
}  # fmt: skip


@dataclass
class Fake:
    port: int = 0
    started: list[dict[str, Any]] = field(default_factory=list)
    refused: list[tuple[str, int, str]] = field(default_factory=list)
    declared: set[str] = field(default_factory=lambda: set(DECLARED))
    _names: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def fake_pipelines() -> Iterator[Fake]:
    fake = Fake()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: Any = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _refuse(self, status: int, message: str, body: Any) -> None:
            fake.refused.append((self.path, status, message))
            self._answer(status, body)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                self._refuse(400, "not JSON", {"message": "Problems parsing JSON"})
                return
            auth = self.headers.get("Authorization", "")
            with lock:
                if m := re.fullmatch(r"/api/v1/dags/([^/]+)/dagRuns", self.path):
                    self._airflow(m[1], body, auth)
                elif m := re.fullmatch(r"/api/v1/workflows/([^/]+)/submit", self.path):
                    self._argo(m[1], body, auth)
                elif m := re.fullmatch(
                    r"/repos/([^/]+)/([^/]+)/actions/workflows/([^/]+)/dispatches", self.path
                ):
                    self._github(m[3], body, auth)
                elif self.path == "/apis/v2beta1/runs":
                    self._kubeflow(body, auth)
                else:
                    self._refuse(404, "no such route", {"message": "Not Found"})

        def _airflow(self, dag_id: str, body: dict[str, Any], auth: str) -> None:
            if auth not in (BASIC, f"Bearer {TOKEN}"):
                self._refuse(401, "auth", {"title": "Unauthorized", "status": 401})
                return
            if dag_id != "retrain":
                self._refuse(404, "dag", {"title": "DAG not found", "status": 404})
                return
            run_id = body.get("dag_run_id")
            if not isinstance(body.get("conf"), dict) or not isinstance(run_id, str):
                self._refuse(400, "shape", {"title": "Bad Request", "status": 400})
                return
            if run_id in fake._names:
                detail = f"DAGRun with DAG ID: '{dag_id}' and DAGRun ID: '{run_id}' already exists"
                self._refuse(409, "duplicate", {"title": "Conflict", "status": 409,
                                                "detail": detail})  # fmt: skip
                return
            fake._names.add(run_id)
            fake.started.append({"kind": "airflow", "id": run_id, "parameters": body["conf"]})
            self._answer(200, {"dag_id": dag_id, "dag_run_id": run_id, "state": "queued",
                               "conf": body["conf"], "run_type": "manual"})  # fmt: skip

        def _argo(self, namespace: str, body: dict[str, Any], auth: str) -> None:
            if auth != f"Bearer {TOKEN}":
                self._refuse(401, "auth", {"code": 16, "message": "token not valid"})
                return
            opts = body.get("submitOptions") or {}
            ok = (
                body.get("namespace") == namespace
                and body.get("resourceKind") in ("WorkflowTemplate", "ClusterWorkflowTemplate")
                and isinstance(body.get("resourceName"), str)
                and isinstance(opts.get("parameters", []), list)
            )
            if not ok:
                self._refuse(400, "shape", {"code": 3, "message": "invalid submit request"})
                return
            params = dict(p.split("=", 1) for p in opts.get("parameters", []))
            if unknown := set(params) - fake.declared:
                msg = f"spec.arguments.{sorted(unknown)[0]} was not supplied"
                self._refuse(400, "parameters", {"code": 3, "message": msg})
                return
            name = opts.get("name") or f"{body['resourceName']}-{uuid.uuid4().hex[:5]}"
            if name in fake._names:
                msg = f'workflows.argoproj.io "{name}" already exists'
                self._refuse(409, "duplicate", {"code": 6, "message": msg})
                return
            fake._names.add(name)
            fake.started.append({"kind": "argo", "id": name, "parameters": params,
                                 "labels": opts.get("labels")})  # fmt: skip
            self._answer(200, {"metadata": {"name": name, "namespace": namespace},
                               "spec": {"workflowTemplateRef": {"name": body["resourceName"]}},
                               "status": {}})  # fmt: skip

        def _github(self, workflow: str, body: dict[str, Any], auth: str) -> None:
            if auth != f"Bearer {TOKEN}":
                self._refuse(401, "auth", {"message": "Bad credentials"})
                return
            if self.headers.get("Accept") != "application/vnd.github+json":
                self._refuse(415, "accept", {"message": "Unsupported Media Type"})
                return
            inputs = body.get("inputs") or {}
            if not isinstance(body.get("ref"), str):
                self._refuse(422, "ref", {"message": 'Invalid request. "ref" wasn\'t supplied.'})
                return
            if unknown := sorted(set(inputs) - fake.declared):
                self._refuse(422, "inputs", {"message": f"Unexpected inputs provided: {unknown}"})
                return
            if not all(isinstance(v, str) for v in inputs.values()):
                self._refuse(422, "types", {"message": "inputs must be strings"})
                return
            fake.started.append({"kind": "github", "id": workflow, "parameters": inputs,
                                 "ref": body["ref"]})  # fmt: skip
            self._answer(204)

        def _kubeflow(self, body: dict[str, Any], auth: str) -> None:
            if auth != f"Bearer {TOKEN}":
                self._refuse(401, "auth", {"error": "Unauthenticated", "code": 16})
                return
            ref = body.get("pipeline_version_reference") or {}
            params = (body.get("runtime_config") or {}).get("parameters")
            if (
                not isinstance(body.get("display_name"), str)
                or not ref.get("pipeline_id")
                or (not isinstance(params, dict))
            ):
                self._refuse(400, "shape", {"error": "Invalid input error", "code": 3})
                return
            run_id = str(uuid.uuid4())
            fake.started.append({"kind": "kubeflow", "id": body["display_name"],
                                 "parameters": params, "run_id": run_id})  # fmt: skip
            self._answer(200, {"run_id": run_id, "display_name": body["display_name"],
                               "pipeline_version_reference": ref, "state": "PENDING"})  # fmt: skip

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
