"""A small client of MLflow's tracking server over its REST API (``/api/2.0/mlflow/...`` and the
artifact proxy ``/api/2.0/mlflow-artifacts/artifacts/...``), with httpx.

mlwarden needs no ``mlflow`` package: the REST API is MLflow's documented, stable interface,
and the package would pin pyarrow below ours. Only what mlwarden uses is here: the registry
(registered models, versions, aliases, version tags), runs (get, search, create, log-batch,
tags), experiments and logged models (MLflow 3), and reading an artifact.

Errors are ours: a tracking server that cannot be reached is a :class:`TransportError`, an
unknown model, version, alias or run a :class:`NotFoundError`, a refused token an
:class:`AuthError`, anything else an :class:`MlwardenError` with MLflow's own message.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote, unquote, urlsplit

import httpx

from mlwarden.errors import (
    AuthError,
    ConfigError,
    MlwardenError,
    NotFoundError,
    TransportError,
    expected,
)

__all__ = ["MlflowRest", "check_tracking_uri"]

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
#: Largest artifact read (an MLmodel file, a reference dataset): 512 MiB.
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024


def check_tracking_uri(uri: str) -> str:
    """A tracking server's base URL (``http(s)://host:port``, an optional path prefix).

    Examples
    --------
    >>> check_tracking_uri("http://127.0.0.1:5000/")
    'http://127.0.0.1:5000'
    >>> check_tracking_uri("sqlite:///mlflow.db")
    Traceback (most recent call last):
    ...
    mlwarden.errors.ConfigError: The 'tracking-uri' option must be the http:// or https:// URL of an MLflow tracking server (mlwarden talks to its REST API). Got 'sqlite:///mlflow.db' instead.
    """  # noqa: E501
    parts = urlsplit(uri or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            expected(
                "option",
                "tracking-uri",
                "be the http:// or https:// URL of an MLflow tracking server (mlwarden talks "
                "to its REST API)",
                uri,
            )
        )
    return uri.rstrip("/")


class MlflowRest:
    """The REST API of one tracking server. ``token``: sent as ``Authorization: Bearer``
    (``MLFLOW_TRACKING_TOKEN``); else ``MLFLOW_TRACKING_USERNAME`` / ``_PASSWORD`` as basic
    auth when both are set, as MLflow's own client does."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.tracking_uri = check_tracking_uri(tracking_uri)
        headers = {"User-Agent": "mlwarden"}
        auth: tuple[str, str] | None = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        else:
            user = os.environ.get("MLFLOW_TRACKING_USERNAME")
            password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
            if user and password:
                auth = (user, password)
        self._http = httpx.Client(
            base_url=self.tracking_uri,
            headers=headers,
            auth=auth,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the calls -----------------------------------------------------------------------------

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        try:
            r = self._http.request(method, f"{API}/{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise TransportError(
                f"Cannot reach the MLflow tracking server at {self.tracking_uri} "
                f"({type(exc).__name__}). Check --tracking-uri / MLFLOW_TRACKING_URI."
            ) from exc
        if r.status_code < 400:
            try:
                body: dict[str, Any] = r.json() if r.content else {}
            except ValueError as exc:
                raise MlwardenError(
                    f"The MLflow tracking server at {self.tracking_uri} answered {what} with "
                    "something that is not JSON; is this the tracking server's URL?"
                ) from exc
            return body
        try:
            err = r.json()
            code, message = str(err.get("error_code", "")), str(err.get("message", ""))
        except ValueError:
            code, message = "", r.text[:300]
        detail = (
            f"MLflow ({self.tracking_uri}) refused {what}: {message or code} (HTTP {r.status_code})"
        )
        if r.status_code == 404 or code == "RESOURCE_DOES_NOT_EXIST":
            raise NotFoundError(detail)
        if r.status_code in (401, 403):
            raise AuthError(
                detail + "; set MLFLOW_TRACKING_TOKEN (or the server's --mlflow-token)."
            )
        raise MlwardenError(detail)

    def model_version(self, name: str, version: str) -> dict[str, Any]:
        mv: dict[str, Any] = self._call(
            "GET",
            "model-versions/get",
            f"model version {name}/{version}",
            params={"name": name, "version": version},
        )["model_version"]
        return mv

    def model_version_by_alias(self, name: str, alias: str) -> dict[str, Any]:
        mv: dict[str, Any] = self._call(
            "GET",
            "registered-models/alias",
            f"alias {name}@{alias}",
            params={"name": name, "alias": alias},
        )["model_version"]
        return mv

    def registered_model(self, name: str) -> dict[str, Any]:
        rm: dict[str, Any] = self._call(
            "GET", "registered-models/get", f"registered model {name}", params={"name": name}
        )["registered_model"]
        return rm

    def run(self, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self._call(
            "GET", "runs/get", f"run {run_id}", params={"run_id": run_id}
        )["run"]
        return run

    def logged_model(self, model_id: str) -> dict[str, Any]:
        """An MLflow 3 logged model (``models:/m-...``)."""
        model: dict[str, Any] = self._call(
            "GET", f"logged-models/{quote(model_id, safe='')}", f"logged model {model_id}"
        )["model"]
        return model

    def experiment_id(self, name: str, *, create: bool = False) -> str | None:
        try:
            exp = self._call(
                "GET",
                "experiments/get-by-name",
                f"experiment {name!r}",
                params={"experiment_name": name},
            )["experiment"]
            return str(exp["experiment_id"])
        except NotFoundError:
            if not create:
                return None
        made = self._call(
            "POST", "experiments/create", f"a new experiment {name!r}", json={"name": name}
        )
        return str(made["experiment_id"])

    def search_runs(self, experiment_id: str, filter_string: str) -> list[dict[str, Any]]:
        body = self._call(
            "POST",
            "runs/search",
            "a run search",
            json={"experiment_ids": [experiment_id], "filter": filter_string, "max_results": 10},
        )
        runs: list[dict[str, Any]] = body.get("runs", [])
        return runs

    def create_run(
        self, experiment_id: str, *, name: str, tags: dict[str, str], start_ms: int
    ) -> str:
        run = self._call(
            "POST",
            "runs/create",
            "a new run",
            json={
                "experiment_id": experiment_id,
                "run_name": name,
                "start_time": start_ms,
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
            },
        )["run"]
        return str(run["info"]["run_id"])

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[dict[str, Any]] = (),
        tags: dict[str, str] | None = None,
    ) -> None:
        """Metrics (``key``, ``value``, ``timestamp`` ms, ``step``) and tags of a run; MLflow
        takes at most 1,000 metrics a call, so longer lists go in several."""
        tag_list = [{"key": k, "value": v} for k, v in (tags or {}).items()]
        for i in range(0, max(len(metrics), 1), 1000):
            chunk = list(metrics[i : i + 1000])
            last = i + 1000 >= len(metrics)
            if not chunk and not (last and tag_list):
                continue
            self._call(
                "POST",
                "runs/log-batch",
                f"the metrics of run {run_id}",
                json={"run_id": run_id, "metrics": chunk, "tags": tag_list if last else []},
            )

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._call(
            "POST",
            "model-versions/set-tag",
            f"a tag of model version {name}/{version}",
            json={"name": name, "version": version, "key": key, "value": value},
        )

    def artifact(self, uri: str) -> bytes:
        """An artifact's bytes by its ``mlflow-artifacts:`` URI (served by the tracking server's
        artifact proxy, ``mlflow server`` with ``--serve-artifacts``, its default)."""
        parts = urlsplit(uri)
        if parts.scheme in ("", "file"):  # a server writing to a local artifact root
            return _local_artifact(uri, unquote(parts.path))
        if parts.scheme != "mlflow-artifacts":
            raise MlwardenError(
                expected(
                    "artifact URI",
                    uri,
                    "be an mlflow-artifacts: URI (proxied by the tracking server) or a local "
                    "path; save the file and pass it to mlwarden instead",
                    parts.scheme,
                )
            )
        path = quote(parts.path.lstrip("/"))
        try:
            with self._http.stream("GET", f"{ARTIFACTS}/{path}") as r:
                if r.status_code == 404:
                    raise NotFoundError(f"MLflow has no artifact {uri!r} (HTTP 404).")
                if r.status_code in (401, 403):
                    raise AuthError(f"MLflow refused the artifact {uri!r} (HTTP {r.status_code}).")
                if r.status_code >= 400:
                    raise MlwardenError(
                        f"MLflow refused the artifact {uri!r} (HTTP {r.status_code})."
                    )
                chunks, size = [], 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > MAX_ARTIFACT_BYTES:
                        raise MlwardenError(
                            f"The artifact {uri!r} is over {MAX_ARTIFACT_BYTES >> 20} MiB; save "
                            "it and pass it to mlwarden as a file instead."
                        )
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise TransportError(
                f"Cannot read the artifact {uri!r} from {self.tracking_uri} ({type(exc).__name__})."
            ) from exc


def _local_artifact(uri: str, path: str) -> bytes:
    """An artifact under a local artifact root (``mlflow server --default-artifact-root DIR``
    without the proxy): readable where the tracking server's disk is."""
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(
            f"The artifact {uri!r} is a local path that is not here; run mlwarden where the "
            "tracking server's artifact store is, or serve artifacts through the tracking "
            "server (mlflow server --serve-artifacts --artifacts-destination DIR)."
        )
    if p.stat().st_size > MAX_ARTIFACT_BYTES:
        raise MlwardenError(f"The artifact {uri!r} is over {MAX_ARTIFACT_BYTES >> 20} MiB.")
    return p.read_bytes()
