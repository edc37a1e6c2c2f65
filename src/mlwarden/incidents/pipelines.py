"""Remediation that starts the pipelines teams already run: Airflow, Argo, GitHub Actions, Kubeflow.

An action's ``pipeline`` (instead of ``webhook`` or ``command``) names one of four kinds and
where to start it. Each run sends the request that system's stable API documents, with the
incident as its parameters: the incident id, model, kind, signature, severity, a link, and the
window to retrain on (``retrain_from``: the onset of the change the root-cause analysis found,
as in the incident's "retrain on the window since ..." recommendation, else the first window
that fired; ``retrain_to``: the start of the last window that fired; ISO 8601 UTC).

========== ================================================================ ==================
kind       request                                                          identity
========== ================================================================ ==================
airflow    ``POST {url}/api/v1/dags/{dag_id}/dagRuns`` (Airflow 2 stable     ``dag_run_id``
           REST API; ``api: v2`` for Airflow 3), ``conf`` = the incident     ``mlwarden-<key>``
argo       ``POST {url}/api/v1/workflows/{namespace}/submit`` from a        workflow ``name``
           ``WorkflowTemplate`` (or ``ClusterWorkflowTemplate``), the        ``<template>-<key>``
           incident as ``-p name=value`` parameters
github     ``POST {url}/repos/{repository}/actions/workflows/{workflow}/    none (204)
           dispatches`` (``workflow_dispatch``) on ``ref``, the incident
           as string ``inputs``
kubeflow   ``POST {url}/apis/v2beta1/runs`` (KFP v2) of a pipeline           ``display_name``
           (version), the incident as ``runtime_config.parameters``         ``mlwarden-<key>``
========== ================================================================ ==================

A run's identity is derived from the notification's key, so a re-delivered notification cannot
start a second run where the API refuses duplicates (Airflow, Argo: their ``409 Conflict`` is
read as "already started"). Only the parameters named in ``parameters`` are sent (default: all
of :data:`PARAMETERS`): GitHub refuses inputs its workflow does not declare, Argo and KFP
parameters its template does not. Credentials (``token``, or Airflow's ``username`` and
``password``) are ``${ENV_VAR}`` references the alerting policy allows, expanded at run time.

Examples
--------
>>> from mlwarden.incidents.record import IncidentEvent, Notification
>>> note = Notification(7, "p", "churn", IncidentEvent.OPENED, "high", "Drift", "", "",
...                     payload={"kind": "drift", "signature": "drift:income",
...                              "first_window": "2026-05-01T00:00:00+00:00",
...                              "last_window": "2026-05-03T00:00:00+00:00"})
>>> call = pipeline_call({"kind": "airflow", "url": "http://airflow:8080", "dag_id": "retrain"},
...                      note, expand=lambda param, value: value)
>>> call.url
'http://airflow:8080/api/v1/dags/retrain/dagRuns'
>>> call.body["conf"]["retrain_from"], call.body["dag_run_id"]
('2026-05-01T00:00:00+00:00', 'mlwarden-p-churn-7-0-opened')
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mlwarden.errors import ConfigError, expected
from mlwarden.incidents.record import Notification

__all__ = ["KINDS", "PARAMETERS", "PipelineCall", "check_pipeline", "pipeline_call"]

#: What each kind needs besides ``kind`` and ``url``, and what it may have.
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "airflow": (("dag_id",), ("api", "token", "username", "password", "parameters")),
    "argo": (("namespace", "template"), ("cluster_template", "token", "parameters")),
    "github": (("repository", "workflow", "ref"), ("token", "parameters")),
    "kubeflow": (("pipeline_id",), ("pipeline_version_id", "experiment_id", "token", "parameters")),
}
#: The incident's parameters a pipeline can receive.
PARAMETERS = (
    "incident_id",
    "project",
    "model",
    "kind",
    "signature",
    "severity",
    "event",
    "incident_url",
    "retrain_from",
    "retrain_to",
)
_SECRETS = ("token", "password")
_NAME = re.compile(r"[^a-z0-9-]+")
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class PipelineCall:
    """One request that starts a pipeline run."""

    url: str
    body: dict[str, Any]
    headers: dict[str, str]
    #: The run's identity (or what it is started from), for the run's detail.
    run: str
    #: The API answers 409 to a duplicate identity: the run was started already.
    conflict_is_done: bool


def check_pipeline(spec: object, *, where: str) -> None:
    """Raise :class:`ConfigError` naming what is wrong with an action's ``pipeline``."""

    def bad(param: str, must: str, got: object) -> None:
        raise ConfigError(expected(f"parameter of {where}", f"pipeline.{param}", must, got))

    if not isinstance(spec, Mapping):
        raise ConfigError(
            expected(
                f"parameter of {where}", "pipeline", "be a mapping with 'kind' and 'url'", spec
            )
        )
    kind = spec.get("kind")
    if kind not in KINDS:
        bad("kind", f"be one of {', '.join(KINDS)}", kind)
    required, optional = KINDS[str(kind)]
    unknown = sorted(str(k) for k in set(spec) - {"kind", "url", *required, *optional})
    if unknown:
        bad(unknown[0], f"not be set: a {kind} pipeline takes {', '.join(required + optional)}", "")
    url = spec.get("url", "https://api.github.com" if kind == "github" else None)
    if not isinstance(url, str) or not re.match(r"^(https?://[^/\s]+|\$\{)", url):
        bad("url", "be an http:// or https:// URL with a host (or ${ENV_VAR})", url)
    for name in required:
        value = spec.get(name)
        if not isinstance(value, str) or not value.strip():
            bad(name, "be a non-empty string", value)
    for name in optional:
        value = spec.get(name)
        if name == "parameters":
            if value is not None and (
                not isinstance(value, list) or not all(v in PARAMETERS for v in value)
            ):
                bad(name, f"be a list of {', '.join(PARAMETERS)}", value)
        elif name == "api":
            if value not in (None, "v1", "v2"):
                bad(name, "be 'v1' (Airflow 2) or 'v2' (Airflow 3)", value)
        elif name == "cluster_template":
            if value is not None and not isinstance(value, bool):
                bad(name, "be true or false", value)
        elif value is not None and (not isinstance(value, str) or not value):
            bad(name, "be a non-empty string (or ${ENV_VAR})", "***" if name in _SECRETS else value)
    if kind == "github" and not _GITHUB_REPO.match(str(spec["repository"])):
        bad("repository", "look like 'owner/repo'", spec["repository"])
    if kind == "airflow" and (spec.get("username") is None) != (spec.get("password") is None):
        bad("username", "come with 'password' (basic auth), or use 'token'", spec.get("username"))


def parameters(note: Notification) -> dict[str, str]:
    """The incident as a pipeline's parameters (strings: every API takes those)."""
    p = note.payload
    found = p.get("causes")
    causes: dict[str, Any] = found if isinstance(found, dict) else {}
    # the root-cause analysis' onset of the change when it found one (the recommendation's
    # "retrain on the window since ..."), else the first window that fired
    first, last = causes.get("onset") or p.get("first_window"), p.get("last_window")
    values = {
        "incident_id": note.incident_id,
        "project": note.project,
        "model": note.model,
        "kind": p.get("kind"),
        "signature": p.get("signature"),
        "severity": note.severity,
        "event": note.event.value,
        "incident_url": note.url,
        "retrain_from": first,
        "retrain_to": last or first,
    }
    return {k: "" if v is None else str(v) for k, v in values.items()}


def _identity(note: Notification, prefix: str, limit: int) -> str:
    """A name made of the notification's key, valid as an Argo/Kubernetes/Airflow name."""
    name = _NAME.sub("-", f"{prefix}-{note.key}".lower()).strip("-")
    return name[:limit].rstrip("-")


def pipeline_call(
    spec: Mapping[str, Any], note: Notification, *, expand: Callable[[str, str], str]
) -> PipelineCall:
    """The request that starts ``spec``'s pipeline for ``note``; ``expand(param, value)``
    resolves ``${ENV_VAR}`` references."""
    kind = spec["kind"]
    url = expand("pipeline.url", spec.get("url", "https://api.github.com")).rstrip("/")
    every = parameters(note)
    chosen = {k: every[k] for k in spec.get("parameters") or PARAMETERS}
    headers = {"User-Agent": "mlwarden", "Content-Type": "application/json",
               "Accept": "application/json"}  # fmt: skip
    if spec.get("token") is not None:
        headers["Authorization"] = f"Bearer {expand('pipeline.token', spec['token'])}"
    if kind == "airflow":
        if spec.get("username") is not None:
            user = expand("pipeline.username", spec["username"])
            password = expand("pipeline.password", spec["password"])
            basic = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        run_id = _identity(note, "mlwarden", 250)
        api = spec.get("api") or "v1"
        body: dict[str, Any] = {"dag_run_id": run_id, "conf": chosen,
                                "note": f"Started by mlwarden for incident #{note.incident_id}"}  # fmt: skip
        if api == "v2":
            body["logical_date"] = None  # Airflow 3 requires the field; null: "now"
        target = f"{url}/api/{api}/dags/{quote(spec['dag_id'], safe='')}/dagRuns"
        return PipelineCall(target, body, headers, f"DAG run {run_id!r}", True)
    if kind == "argo":
        name = _identity(note, spec["template"], 63)
        body = {
            "namespace": spec["namespace"],
            "resourceKind": (
                "ClusterWorkflowTemplate" if spec.get("cluster_template") else "WorkflowTemplate"
            ),
            "resourceName": spec["template"],
            "submitOptions": {
                "name": name,
                "parameters": [f"{k}={v}" for k, v in chosen.items()],
                "labels": f"mlwarden.io/incident={note.incident_id}",
            },
        }
        target = f"{url}/api/v1/workflows/{quote(spec['namespace'], safe='')}/submit"
        return PipelineCall(target, body, headers, f"workflow {name!r}", True)
    if kind == "github":
        headers["Accept"] = "application/vnd.github+json"
        headers["X-GitHub-Api-Version"] = "2022-11-28"
        body = {"ref": spec["ref"], "inputs": chosen}
        workflow = quote(spec["workflow"], safe="")
        target = f"{url}/repos/{spec['repository']}/actions/workflows/{workflow}/dispatches"
        return PipelineCall(
            target, body, headers, f"workflow {spec['workflow']!r} on {spec['ref']!r}", False
        )
    display = _identity(note, "mlwarden", 128)
    ref: dict[str, str] = {"pipeline_id": spec["pipeline_id"]}
    if spec.get("pipeline_version_id"):
        ref["pipeline_version_id"] = spec["pipeline_version_id"]
    body = {
        "display_name": display,
        "description": f"Started by mlwarden for incident #{note.incident_id}",
        "pipeline_version_reference": ref,
        "runtime_config": {"parameters": chosen},
    }
    if spec.get("experiment_id"):
        body["experiment_id"] = spec["experiment_id"]
    return PipelineCall(f"{url}/apis/v2beta1/runs", body, headers, f"run {display!r}", False)
