"""The ``mlwarden`` command line."""

from __future__ import annotations

import gc
import os
import sys

# One BLAS thread unless the user says otherwise (read when numpy loads, which is later):
# the monitors' linear algebra is many small matrices (a batch of 30 x 30 eigen-problems
# per null replicate), which OpenBLAS's threads make ~15x slower on a busy 2-core machine
# (4.9 s against 0.28 s for the set-up's 1,024 of them) and no faster on an idle one.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mlwarden._version import __version__
from mlwarden.cli.alerting import alerting_app
from mlwarden.cli.annotate import annotate
from mlwarden.cli.evals import evals_app
from mlwarden.cli.incidents import incidents_app
from mlwarden.cli.migrate import migrate
from mlwarden.cli.monitors import monitors_app
from mlwarden.cli.options import ApiKey, Url
from mlwarden.cli.slos import probes, slos
from mlwarden.cli.window_reference import reference_from_window
from mlwarden.errors import MlwardenError, StoreOpenError

app = typer.Typer(
    name="mlwarden",
    help="Self-hosted observability for ML and LLM systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(
    help="Manage API keys (stored hashed in DATA_DIR/keys.json).", no_args_is_help=True
)
models_app = typer.Typer(
    help="List, inspect and register models on a running server.", no_args_is_help=True
)
models_app.command("reference-from-window")(reference_from_window)
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.add_typer(monitors_app, name="monitors")
app.add_typer(incidents_app, name="incidents")
app.add_typer(alerting_app, name="alerting")
app.command("slos")(slos)
app.command("probes")(probes)
app.command("annotate")(annotate)
app.command("migrate")(migrate)
app.add_typer(evals_app, name="evals")
# piped output (logs, CI) gets wide lines instead of tables wrapped at 80 columns
out = Console(width=None if sys.stdout.isatty() else 160)
# errors are never hard-wrapped: a log line holds the whole message, path and all
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160, soft_wrap=True)

DataDir = Annotated[
    Path, typer.Option("--data-dir", "-d", help="Where the database and keys live.")
]


@app.command()
def version() -> None:
    """Print the version."""
    out.print(f"mlwarden {__version__}")


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind; non-loopback needs API keys.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port to listen on.", envvar="MLWARDEN_PORT", show_envvar=True)
    ] = 8000,
    data_dir: DataDir = Path("mlwarden-data"),
    store: Annotated[
        str | None,
        typer.Option(
            help="Keep the store in this PostgreSQL database (postgresql://user@host/db) "
            "instead of a DuckDB file in DATA_DIR (docs/storage.md).",
            envvar="MLWARDEN_STORE",
            show_envvar=True,
        ),
    ] = None,
    events: Annotated[
        str | None,
        typer.Option(
            help="Keep events and labels in ClickHouse: chdb:///path (in this process) or "
            "clickhouse://user:password@host:8123/db; the rest stays in the store "
            "(docs/storage.md).",
            envvar="MLWARDEN_EVENTS",
            show_envvar=True,
        ),
    ] = None,
    insecure: Annotated[
        bool, typer.Option(help="Allow a non-loopback bind without API keys.")
    ] = False,
    require_keys: Annotated[bool, typer.Option(help="Require API keys even on loopback.")] = False,
    commit_interval_ms: Annotated[
        float, typer.Option(help="Group-commit window (ms, <= 200).")
    ] = 50.0,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body (MiB).")] = 64.0,
    max_features: Annotated[
        int, typer.Option(help="Most columns a model may have (features, segments, scores).")
    ] = 1000,
    max_new_features: Annotated[
        int, typer.Option(help="Most new feature names one request may add.")
    ] = 100,
    max_cells: Annotated[
        int, typer.Option(help="Most rows x columns in one ingest request.")
    ] = 25_000_000,
    retention_days: Annotated[
        float | None, typer.Option(help="Delete raw events older than this.")
    ] = None,
    evaluate_every: Annotated[
        float,
        typer.Option(help="Seconds between scheduler runs (closed windows, late labels); 0: off."),
    ] = 60.0,
    public_url: Annotated[
        str | None,
        typer.Option(help="URL people reach this server at; notifications link to incidents."),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="A host name people reach this server by (repeatable); requests naming "
            "another host are refused (DNS rebinding)."
        ),
    ] = None,
    session_hours: Annotated[float, typer.Option(help="How long a UI login lasts (hours).")] = 12.0,
    redact_pii: Annotated[
        str,
        typer.Option(
            help="Personal data in LLM span text and text features, before it is stored: "
            "off, mask ([email]), hash ([email:5d41402abc], keyed) or drop (the whole text)."
        ),
    ] = "off",
    actions_file: Annotated[
        Path | None,
        typer.Option(help="YAML file of per-project actions; the only place for commands."),
    ] = None,
    alerting_env: Annotated[
        list[str] | None,
        typer.Option(help="Variable ${NAME} may expand in alerting configs (repeatable)."),
    ] = None,
    alerting_allow_host: Annotated[
        list[str] | None,
        typer.Option(help="Non-public host or CIDR alerting may reach (repeatable)."),
    ] = None,
    checkpoint_after: Annotated[
        float, typer.Option(help="Fold the WAL into the database after this many s; 0: by size.")
    ] = 5.0,
    body_timeout: Annotated[
        float, typer.Option(help="Longest a request body may take to arrive (s).")
    ] = 60.0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    rate_limit_ingest: Annotated[
        float, typer.Option(help="Ingest requests/s per API key or address; 0: no limit.")
    ] = 1000.0,
    rate_limit_read: Annotated[float, typer.Option(help="Read requests/s per caller.")] = 500.0,
    rate_limit_admin: Annotated[float, typer.Option(help="Admin requests/s per caller.")] = 100.0,
    rate_limit_burst_s: Annotated[
        float, typer.Option(help="Seconds of requests a caller may send at once.")
    ] = 10.0,
    access_log_retention_days: Annotated[
        float, typer.Option(help="Days of access log kept.")
    ] = 30.0,
    syslog_address: Annotated[
        str | None, typer.Option(help="Send security events to syslog: host:port or a socket.")
    ] = None,
    otlp_grpc_port: Annotated[
        int | None,
        typer.Option(help="Also receive OTLP over gRPC on this port (4317 usual); off if unset."),
    ] = None,
    ingest_workers: Annotated[
        int,
        typer.Option(
            help="Worker processes that decode and check OTLP trace exports (use the other "
            "cores: ~one core a process); 0 does it in the server's process."
        ),
    ] = 0,
    otlp_metrics_endpoint: Annotated[
        str | None,
        typer.Option(
            help="Push the /metrics state over OTLP/HTTP to this collector base URL "
            "(e.g. http://collector:4318); off if unset."
        ),
    ] = None,
    otlp_metrics_interval: Annotated[
        float, typer.Option(help="Seconds between two OTLP metrics pushes.")
    ] = 60.0,
    otlp_metrics_header: Annotated[
        list[str] | None,
        typer.Option(help="A header of each OTLP metrics push, NAME=VALUE (repeatable)."),
    ] = None,
    mlflow_tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow tracking server that models registered from it get their monitor "
            "results (metrics) and incident status (tags) back on; off if unset.",
            envvar="MLWARDEN_MLFLOW_TRACKING_URI",
            show_envvar=True,
        ),
    ] = None,
    mlflow_token: Annotated[
        str | None,
        typer.Option(
            help="Token of that MLflow server (Authorization: Bearer).",
            envvar="MLWARDEN_MLFLOW_TOKEN",
            show_envvar=True,
            show_default=False,
        ),
    ] = None,
    mlflow_sync_every: Annotated[
        float, typer.Option(help="Seconds between two passes of the MLflow job.")
    ] = 60.0,
) -> None:
    """Run the server (ingest, query API, UI) on a DuckDB file in DATA_DIR.

    Exits with 4 when the database cannot be opened (damaged, read-only disk, permissions)."""
    from mlwarden.errors import expected
    from mlwarden.server.run import serve as run
    from mlwarden.server.settings import ServerSettings
    from mlwarden.store.ch_connection import is_events_url

    _check_store_url(store)
    if events is not None and not is_events_url(events):
        err.print(
            expected("option", "--events", "be a chdb:// or clickhouse:// URL", events),
            style="red",
        )
        raise typer.Exit(2)
    settings = ServerSettings(
        data_dir=data_dir,
        store_url=store,
        events_url=events,
        host=host,
        port=port,
        insecure=insecure,
        require_keys=require_keys,
        commit_interval_ms=commit_interval_ms,
        max_body_mb=max_body_mb,
        max_features=max_features,
        max_new_features=max_new_features,
        max_cells=max_cells,
        retention_days=retention_days,
        evaluate_every_s=evaluate_every,
        public_url=public_url,
        allowed_hosts=tuple(allowed_host or ()),
        session_hours=session_hours,
        redact_pii=redact_pii,
        actions_file=actions_file,
        alerting_env=tuple(alerting_env or ()),
        alerting_allow_hosts=tuple(alerting_allow_host or ()),
        checkpoint_after_s=checkpoint_after,
        body_timeout_s=body_timeout,
        rate_limit_ingest_per_s=rate_limit_ingest,
        rate_limit_read_per_s=rate_limit_read,
        rate_limit_admin_per_s=rate_limit_admin,
        rate_limit_burst_s=rate_limit_burst_s,
        access_log_retention_days=access_log_retention_days,
        syslog_address=syslog_address,
        otlp_grpc_port=otlp_grpc_port,
        ingest_workers=ingest_workers,
        otlp_metrics_endpoint=otlp_metrics_endpoint,
        otlp_metrics_interval_s=otlp_metrics_interval,
        otlp_metrics_headers=_headers(otlp_metrics_header or [], "--otlp-metrics-header"),
        mlflow_tracking_uri=mlflow_tracking_uri,
        mlflow_token=mlflow_token,
        mlflow_sync_every_s=mlflow_sync_every,
    )
    where = data_dir.resolve() if store is None else _password_hidden(store)
    if events is not None:
        where = f"{where} (events: {_password_hidden(events)})"
    err.print(f"mlwarden {__version__} serving {where} on http://{host}:{port}")
    run(settings, log_level=log_level)


def _headers(items: list[str], option: str) -> tuple[tuple[str, str], ...]:
    """``NAME=VALUE`` options as header pairs; a clear error for anything else."""
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value:
            raise typer.BadParameter(
                f"must look like NAME=VALUE (e.g. DD-API-KEY=...). Got {item!r} instead.",
                param_hint=option,
            )
        out.append((name.strip(), value))
    return tuple(out)


@keys_app.command("create")
def keys_create(
    project: Annotated[str, typer.Option("--project", "-p", help="Project the key acts for.")],
    data_dir: DataDir = Path("mlwarden-data"),
    description: Annotated[str, typer.Option(help="What the key is for.")] = "",
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="What the key may do (repeatable): ingest (SDKs: write events, actuals, "
            "traces; the default), read (API, UI, /metrics), operate (read + act on "
            "incidents), admin (everything: specs, monitors, alerting)."
        ),
    ] = None,
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    from mlwarden.store import KeyStore

    key = KeyStore(data_dir / "keys.json").create(
        project, description=description, scopes=scope or ["ingest"]
    )
    made = KeyStore(data_dir / "keys.json").authenticate(key)
    granted = made.scopes
    _audit_key(data_dir, "key.create", made.key_id, None, _key_view(made))
    err.print(
        f"Created a key for project {project!r} with scope {', '.join(granted)}. "
        "Store it now: it is not shown again."
    )
    print(key)


@keys_app.command("list")
def keys_list(data_dir: DataDir = Path("mlwarden-data")) -> None:
    """List keys (ids and projects, never the secrets)."""
    from mlwarden.store import KeyStore

    table = Table("id", "project", "scopes", "created", "revoked", "description")
    for k in KeyStore(data_dir / "keys.json").list():
        table.add_row(
            k.key_id,
            k.project,
            ", ".join(k.scopes),
            k.created_at,
            k.revoked_at or "",
            k.description,
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = Path("mlwarden-data")) -> None:
    """Revoke a key by id; requests with it fail from now on."""
    from mlwarden.store import KeyStore

    store = KeyStore(data_dir / "keys.json")
    before = next((k for k in store.list() if k.key_id == key_id), None)
    store.revoke(key_id)
    after = next((k for k in store.list() if k.key_id == key_id), None)
    _audit_key(
        data_dir,
        "key.revoke",
        key_id,
        before and _key_view(before),
        after and _key_view(after),
    )
    err.print(f"Revoked key {key_id}.")


def _key_view(k: Any) -> dict[str, Any]:
    """What the audit log keeps of a key: never its hash."""
    return {
        "project": k.project,
        "scopes": list(k.scopes),
        "description": k.description,
        "created_at": k.created_at,
        "revoked_at": k.revoked_at,
    }


def _password_hidden(url: str) -> str:
    """A store URL as logs may show it: any password replaced."""
    head, sep, tail = url.rpartition("@")
    if not sep or ":" not in head.split("://", 1)[-1]:
        return url
    scheme, _, user = head.partition("://")
    return f"{scheme}://{user.split(':')[0]}:***@{tail}"


def _audit_key(data_dir: Path, action: str, key_id: str, before: Any, after: Any) -> None:
    """Key changes are made here, on the key file, not through the API: the CLI appends them to
    the server's audit log itself (the same append-only file, O_APPEND + fsync)."""
    import getpass
    from datetime import UTC, datetime

    from mlwarden.store.security_log import JsonLinesLog, security_root

    entry = {
        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "action": action,
        "target": key_id,
        "project": (after or before or {}).get("project"),
        "key_id": None,
        "client": f"cli:{getpass.getuser()}",
        "user_agent": "mlwarden-cli",
        "before": before,
        "after": after,
    }
    JsonLinesLog(security_root(data_dir), "audit").append([entry])


@models_app.command("list")
def models_list(url: Url = None, api_key: ApiKey = None) -> None:
    """List the models of your project."""
    from mlwarden.cli.client import ApiClient

    with ApiClient(url, api_key=api_key) as c:
        models = c.request("GET", "/v1/models")
    table = Table("model", "task", "features", "updated")
    for m in models:
        table.add_row(
            m["name"], m["spec"]["task"], str(len(m["spec"]["features"])), m["updated_at"]
        )
    out.print(table)


@models_app.command("inspect")
def models_inspect(name: str, url: Url = None, api_key: ApiKey = None) -> None:
    """Show a model's spec, versions and traffic."""
    from mlwarden.cli.client import ApiClient

    with ApiClient(url, api_key=api_key) as c:
        m = c.request("GET", f"/v1/models/{name}")
        versions = c.request("GET", f"/v1/models/{name}/versions")
        counts = c.request("GET", f"/v1/models/{name}/counts", params={"window": "day"})
    spec = m["spec"]
    out.print(f"[bold]{spec['name']}[/bold]  task={spec['task']}  classes={spec['classes']}")
    table = Table("feature", "kind")
    for f in spec["features"]:
        table.add_row(f["name"], f["kind"])
    out.print(table)
    out.print("versions: " + (", ".join(v["version"] for v in versions) or "none"))
    total = sum(r["events"] for r in counts)
    labelled = sum(r["labelled"] for r in counts)
    out.print(
        f"events: {total:,}  labelled: {labelled:,}  days with traffic: {len({r['window_start'] for r in counts})}"
    )


@models_app.command("register")
def models_register(
    reference: Annotated[
        Path | None,
        typer.Argument(
            help="Reference data: Parquet, CSV or Arrow file (with --from-mlflow: instead of "
            "the run's logged dataset)."
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", "-n", help="Model name (--from-mlflow: the registered name)."),
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target column.")] = None,
    prediction: Annotated[str | None, typer.Option(help="Prediction column.")] = None,
    score: Annotated[str | None, typer.Option(help="Score column.")] = None,
    segment: Annotated[list[str] | None, typer.Option(help="Segment column (repeatable).")] = None,
    sensitive: Annotated[
        list[str] | None, typer.Option(help="Sensitive attribute (repeatable).")
    ] = None,
    version: Annotated[str | None, typer.Option(help="Version the reference belongs to.")] = None,
    update: Annotated[
        bool,
        typer.Option(
            "--update", help="Apply a spec that differs from the registered one (else refused)."
        ),
    ] = False,
    monitors: Annotated[
        bool,
        typer.Option(
            "--monitors/--no-monitors",
            help="Set the monitors up from this reference (new model, changed spec, or none yet).",
        ),
    ] = True,
    from_mlflow: Annotated[
        str | None,
        typer.Option(
            "--from-mlflow",
            help="Register from MLflow: models:/NAME/VERSION, models:/NAME@ALIAS or "
            "runs:/RUN_ID/PATH (signature: the spec; logged dataset: the reference).",
            show_default=False,
        ),
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow tracking server URL \\[env MLFLOW_TRACKING_URI].",
            envvar="MLFLOW_TRACKING_URI",
            show_envvar=False,
            show_default=False,
        ),
    ] = None,
    mlflow_token: Annotated[
        str | None,
        typer.Option(
            help="MLflow token \\[env MLFLOW_TRACKING_TOKEN].",
            envvar="MLFLOW_TRACKING_TOKEN",
            show_envvar=False,
            show_default=False,
        ),
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="binary, multiclass or regression (default: inferred).")
    ] = None,
    run_url: Annotated[
        str | None,
        typer.Option(help="URL of the experiment run (MLflow, W&B) the version came from."),
    ] = None,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Register a model from its reference data (spec inferred: target, prediction, score and
    features) and upload the reference; the monitors are set up from it. Registering again
    with other options changes the spec only with --update. With --from-mlflow, from MLflow's
    registry: see docs/integrations/mlflow.md."""
    from mlwarden.cli.client import ApiClient

    if from_mlflow is not None:
        _register_from_mlflow(
            from_mlflow,
            tracking_uri=tracking_uri,
            token=mlflow_token,
            name=name,
            version=version,
            reference=reference,
            task=task,
            target=target,
            segments=segment,
            sensitive=sensitive,
            run_url=run_url,
            update=update,
            monitors=monitors,
            url=url,
            api_key=api_key,
        )
        return
    if reference is None or name is None:
        raise MlwardenError(
            "Register a model from a reference file (mlwarden models register FILE --name "
            "NAME) or from MLflow (--from-mlflow models:/NAME/VERSION)."
        )
    if run_url is not None and version is None:
        raise MlwardenError("--run-url links a version to its run: say which with --version.")
    if not reference.exists():
        raise MlwardenError(f"The reference file {str(reference)!r} does not exist.")
    suffix = reference.suffix.lower()
    ctype = {
        ".parquet": "application/vnd.apache.parquet",
        ".pq": "application/vnd.apache.parquet",
        ".csv": "text/csv",
        ".arrow": "application/vnd.apache.arrow.stream",
    }.get(suffix)
    if ctype is None:
        raise MlwardenError(
            f"The reference file must be .parquet, .csv or .arrow. Got {suffix!r} instead."
        )
    params: dict[str, object] = {
        "create": "true",
        "task": task,
        "target": target,
        "prediction": prediction,
        "score": score,
        "segments": segment or [],
        "sensitive": sensitive or [],
        "version": version,
        "update": "true" if update else None,
        "monitors": "true" if monitors else "false",
    }
    with ApiClient(url, api_key=api_key) as c:
        r = c.request(
            "POST",
            f"/v1/models/{name}/reference",
            params={k: v for k, v in params.items() if v is not None},
            content=reference.read_bytes(),
            headers={"content-type": ctype},
        )
    if r.get("created"):
        for note in r.get("notes", []):
            err.print(f"  {note}", highlight=False, markup=False)
        head = f"Registered {name!r}"
    elif r.get("changes"):
        err.print(f"Changed the spec of {name!r}:")
        for line in r["changes"]:
            err.print(f"  {line}", highlight=False, markup=False)
        head = f"Updated {name!r}"
    else:
        head = f"{name!r} is registered already with this spec"
    out.print(f"{head}: reference of {r['rows']:,} rows stored (id {r['id']}).", highlight=False)
    if r.get("monitors") is not None:
        out.print(
            f"Set up {r['monitors']} monitors from it; they evaluate as events arrive "
            f"(mlwarden monitors show {name}).",
            highlight=False,
        )
    if run_url is not None and version is not None:
        with ApiClient(url, api_key=api_key) as c:
            c.request(
                "POST", f"/v1/models/{name}/versions", json=_version_body(c, name, version, run_url)
            )
        out.print(f"Version {version!r} links to its run: {run_url}", highlight=False)


def _version_body(c: Any, name: str, version: str, run_url: str) -> dict[str, Any]:
    """A version's stored fields with its run link set (the rest kept)."""
    have: dict[str, Any] = next(
        (v for v in c.request("GET", f"/v1/models/{name}/versions") if v["version"] == version), {}
    )
    return {
        "version": version,
        "description": have.get("description", ""),
        "metadata": have.get("metadata", {}),
        "aliases": have.get("aliases", []),
        "mlflow": have.get("mlflow"),
        "run_url": run_url,
    }


def _register_from_mlflow(
    uri: str, *, tracking_uri: str | None, url: str | None, api_key: str | None, **kw: Any
) -> None:
    from mlwarden.cli.client import ApiClient
    from mlwarden.cli.mlflow_register import register_from_mlflow

    if not tracking_uri:
        raise MlwardenError(
            "Say where MLflow's tracking server is: --tracking-uri http://HOST:5000 or "
            "MLFLOW_TRACKING_URI."
        )
    with ApiClient(url, api_key=api_key) as c:
        r = register_from_mlflow(c, uri, tracking_uri=tracking_uri, **kw)
    for note in r.notes:
        err.print(f"  {note}", highlight=False, markup=False)
    aliases = f" (aliases: {', '.join(r.aliases)})" if r.aliases else ""
    out.print(
        f"Registered {r.model!r} version {r.version!r}{aliases} from {uri}: reference of "
        f"{r.rows:,} rows stored (id {r.reference_id}).",
        highlight=False,
    )
    if r.run_url:
        out.print(f"Run: {r.run_url}", highlight=False)
    if r.monitors is not None:
        out.print(
            f"Set up {r.monitors} monitors from it; they evaluate as events arrive "
            f"(mlwarden monitors show {r.model}).",
            highlight=False,
        )


@models_app.command("log")
def models_log(
    name: str,
    data: Annotated[
        Path, typer.Argument(help="Scored rows (Parquet, CSV, Arrow), laid out like the reference.")
    ],
    version: Annotated[str | None, typer.Option(help="Model version of these rows.")] = None,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Send a file of scored rows as events of a model (its label column, if any, as labels).
    Rows without a timestamp column are stamped with the time they arrive."""
    from mlwarden.cli.client import ApiClient
    from mlwarden.cli.logfile import log_file, read_file

    table = read_file(data)
    with ApiClient(url, api_key=api_key) as c:
        accepted, labelled = log_file(c, name, table, version=version)
    out.print(
        f"Logged {accepted:,} of {table.num_rows:,} rows as events of {name!r}"
        + (f", {labelled:,} with labels." if labelled else "."),
        highlight=False,
    )


@models_app.command("delete")
def models_delete(
    name: str,
    version: Annotated[
        str | None, typer.Option(help="Delete only this version (its events and references).")
    ] = None,
    reference: Annotated[
        int | None, typer.Option(help="Delete only this reference (by id).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Delete a model with all its data (events, labels, references, monitors, results,
    incidents), or one version or reference of it. Asks first unless --yes."""
    from mlwarden.cli.client import ApiClient

    what = (
        f"version {version!r} of model {name!r} (its events, labels and references)"
        if version is not None
        else f"reference {reference} of model {name!r}"
        if reference is not None
        else f"model {name!r} and all its data (events, labels, references, monitors, "
        "results, incidents)"
    )
    if not yes:
        if not sys.stdin.isatty():
            raise MlwardenError(f"Not deleting {what}: confirm with --yes (no terminal to ask).")
        if not typer.confirm(f"Delete {what}? This cannot be undone.", default=False):
            raise typer.Exit(1)
    with ApiClient(url, api_key=api_key) as c:
        if version is not None:
            r = c.request("DELETE", f"/v1/models/{name}/versions/{version}")
        elif reference is not None:
            r = c.request("DELETE", f"/v1/models/{name}/references/{reference}")
        else:
            r = c.request("DELETE", f"/v1/models/{name}")
    removed = r.get("removed", {}) if isinstance(r, dict) else {}
    detail = ", ".join(f"{n:,} {t}" for t, n in removed.items() if n)
    out.print(f"Deleted {what}" + (f": {detail}." if detail else "."), highlight=False)


@models_app.command("rename")
def models_rename(old: str, new: str, url: Url = None, api_key: ApiKey = None) -> None:
    """Rename a model; its data, monitors and incidents follow it (SDKs must use the new name)."""
    from mlwarden.cli.client import ApiClient

    with ApiClient(url, api_key=api_key) as c:
        c.request("PATCH", f"/v1/models/{old}", json={"name": new})
    out.print(f"Renamed model {old!r} to {new!r}.", highlight=False)


@app.command()
def init(
    reference: Annotated[Path, typer.Argument(help="Reference data: Parquet, CSV or Arrow file.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Model name.")] = "model",
    target: Annotated[str | None, typer.Option(help="Target column.")] = None,
    prediction: Annotated[str | None, typer.Option(help="Prediction column.")] = None,
    score: Annotated[str | None, typer.Option(help="Score column.")] = None,
    segment: Annotated[list[str] | None, typer.Option(help="Segment column (repeatable).")] = None,
    sensitive: Annotated[
        list[str] | None, typer.Option(help="Sensitive attribute (repeatable).")
    ] = None,
    cadence: Annotated[str, typer.Option(help="Window length: 1h, 6h, 1d, 1w.")] = "1h",
    budget: Annotated[str, typer.Option(help="False-alarm budget in words.")] = "1 per 30 days",
    rows_per_window: Annotated[
        int, typer.Option(help="Expected rows per window (for the plan).")
    ] = 1000,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the YAML spec.")
    ] = Path("monitors.yaml"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan, write nothing.")
    ] = False,
) -> None:
    """Set monitors up from a reference file: infer the schema, calibrate every threshold to the
    false-alarm budget, print the plan and write a readable YAML spec."""
    from concurrent.futures import ThreadPoolExecutor

    from mlwarden.tables import arrow_without_pandas, to_arrow

    arrow_without_pandas()  # the reference is a file: no pandas object in this process
    with _one_shot(), err.status("Reading the reference and calibrating thresholds..."):
        # the file is read (Arrow releases the GIL) while the monitors are imported
        with ThreadPoolExecutor(max_workers=1) as pool:
            reading = pool.submit(to_arrow, reference)
            from mlwarden.monitors.service import plan
            from mlwarden.monitors.suite import (
                MonitorSuite,
                auto_monitors,
                parse_cadence,
                slow_windows,
            )
            from mlwarden.schema.infer import infer_spec

            ref = reading.result()
        inf = infer_spec(
            ref,
            name=name,
            target=target,
            prediction=prediction,
            score=score,
            segments=segment or (),
            sensitive=sensitive or (),
        )
        per_day = rows_per_window * (86400 / parse_cadence(cadence).total_seconds())
        suite = MonitorSuite(
            name,
            slow_windows(auto_monitors(inf.spec), rows_per_day=per_day, cadence=cadence),
            cadence=cadence,
            budget=budget,
            segments=list(segment or []),
        ).fit(inf.spec, ref)
        items = plan(suite, rows_per_window=rows_per_window)
    for note in inf.notes:
        err.print(f"  {note}")
    table = Table(
        "monitor",
        "why",
        "threshold",
        "false alerts / month",
        title=(
            f"{len(suite.monitors)} monitors of {name!r} ({inf.spec.task.value}), windows of {cadence}, "
            f"at most {budget} false alert(s), shown for {rows_per_window:,}-row windows"
        ),
    )
    for it in items:
        if "skipped" in it:
            table.add_row(it["monitor"], f"[yellow]skipped:[/yellow] {it['skipped']}", "", "")
            continue
        th = it.get("threshold") or {}
        fa = it.get("expected_false_alerts_per_month")
        level = "set per window"
        if "threshold" in th:
            level = f"{'<' if th.get('direction') == 'below' else '>'} {th['threshold']:.4g}"
        if it.get("reference") is not None:
            level += f"\n(reference {it['reference']:.4g})"
        table.add_row(
            it["monitor"],
            f"{it['why']}\n[dim]{it['how']}[/dim]",
            level,
            f"{fa:.3f}" if fa is not None else "not estimated",
        )
    out.print(table)
    if not dry_run:
        output.write_text(suite.to_yaml())
        err.print(
            f"Wrote {output}; edit it, then apply it to the server with "
            f"'mlwarden monitors apply {name} {output}'.",
            highlight=False,
        )


#: engines a report evaluates its current data on (docs/spark.md)
ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class _Lake:
    """Where a report's current data is: a file read in memory (DuckDB), or a lake table
    evaluated on Spark (``--engine spark --spark-master URL --events PATH``)."""

    engine: str
    master: str
    events: str | None
    actuals: str | None

    def check(self, current: Path | None) -> None:
        if self.engine not in ENGINES:
            raise MlwardenError(
                f"The '--engine' option must be one of {', '.join(ENGINES)}. "
                f"Got {self.engine!r} instead."
            )
        spark = self.engine == "spark"
        if spark and (current is not None or self.events is None):
            raise MlwardenError(
                "With --engine spark the current data is a lake table: pass --events PATH "
                "(a Parquet/Delta directory or a catalog table name), not a CURRENT file."
            )
        if not spark and (current is None or self.events or self.actuals):
            raise MlwardenError(
                "Pass the CURRENT data file (--events and --actuals are for --engine spark)."
            )


def _batch(
    reference: Path,
    current: Path | None,
    target: str | None,
    prediction: str | None,
    score: str | None,
    segment: list[str] | None,
    budget: str,
    sensitive: list[str] | None = None,
    kpi: list[str] | None = None,
    lake: _Lake | None = None,
) -> Any:
    from concurrent.futures import ThreadPoolExecutor

    lake = lake or _Lake("duckdb", "", None, None)
    lake.check(current)
    kpis = _kpis(kpi or [])
    if lake.engine == "spark":
        return _on_spark(
            reference, lake, target, prediction, score, segment, budget, sensitive, kpis
        )
    assert current is not None  # checked above

    from mlwarden.tables import to_arrow

    with err.status(f"Comparing {current.name} with {reference.name}..."):
        # the files are read (Arrow releases the GIL) while the monitors, the statistics and
        # the engine are imported: ~0.6 s of imports that otherwise come first
        with ThreadPoolExecutor(max_workers=2) as pool:
            ref = pool.submit(to_arrow, reference, role="reference")
            cur = pool.submit(to_arrow, current, role="current")
            from mlwarden.reporting import report

            ref_table, cur_table = ref.result(), cur.result()
        return report(
            ref_table,
            cur_table,
            name=reference.stem.replace(" ", "_") or "model",
            target=target,
            prediction=prediction,
            score=score,
            segments=segment or (),
            sensitive=sensitive or (),
            budget=budget,
            kpis=kpis,
        )


def _on_spark(
    reference: Path,
    lake: _Lake,
    target: str | None,
    prediction: str | None,
    score: str | None,
    segment: list[str] | None,
    budget: str,
    sensitive: list[str] | None,
    kpis: dict[str, str],
) -> Any:
    """The report over ``lake.events`` on the Spark master ``lake.master``, each step shown."""
    from mlwarden.reporting.lake import lake_report
    from mlwarden.store.spark_session import spark_session_for

    assert lake.events is not None  # checked by _Lake.check
    app = f"mlwarden report {reference.stem}"
    with (
        err.status(f"Starting a Spark session on {lake.master}...") as status,
        spark_session_for(lake.master, app_name=app) as session,
    ):
        return lake_report(
            reference,
            lake.events,
            session=session,
            actuals=lake.actuals,
            name=reference.stem.replace(" ", "_") or "model",
            target=target,
            prediction=prediction,
            score=score,
            segments=segment or (),
            sensitive=sensitive or (),
            budget=budget,
            kpis=kpis,
            progress=lambda step: status.update(step + "..."),
        )


def _kpis(items: list[str]) -> dict[str, str]:
    """``--kpi NAME=EXPRESSION`` (or ``NAME=package.module:function``) options by name."""
    out: dict[str, str] = {}
    for item in items:
        name, eq, what = item.partition("=")
        if not eq or not name.strip() or not what.strip():
            raise MlwardenError(
                f"The '--kpi' option must look like NAME=EXPRESSION (e.g. "
                f"rev_per_1k='1000 * sum(revenue) / count()'). Got {item!r} instead."
            )
        out[name.strip()] = what.strip()
    return out


def _say_roles(rep: Any) -> None:
    """What the batch run took each column as, and which monitors it could not run: a missing
    target shows here, not only in the JSON's 'skipped'."""
    spec = rep.spec
    roles = ", ".join(
        f"{r}: {getattr(spec, r) or 'none'}" for r in ("target", "prediction", "score")
    )
    err.print(f"{spec.task.value} model; {roles}; {len(spec.features)} features.", highlight=False)
    skipped = rep.suite.skipped
    if skipped:
        err.print(f"{len(skipped)} monitor(s) skipped:", highlight=False)
        for s in skipped[:10]:
            err.print(f"  {s.monitor}: {s.reason}", highlight=False, markup=False)
    if spec.target is None and spec.task.value != "llm":
        err.print("No target column: pass --target COLUMN to judge performance.", highlight=False)


@contextmanager
def _one_shot() -> Iterator[None]:
    """A command that runs once and exits, its memory Arrow and numpy buffers that reference
    counts free. The cyclic collector would only walk the ~200k objects the imports made,
    finding nothing (~0.05 s of a report), and the interpreter's exit would walk them all
    once more (~0.3 s). So the collector is off while the command runs, and what exists when
    it ends is frozen (:func:`gc.freeze`), which the exit's last collection skips."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


Ref = Annotated[Path, typer.Argument(help="Reference data (Parquet, CSV, Arrow).")]
Cur = Annotated[
    Path | None,
    typer.Argument(help="Current data to check against the reference (not with --engine spark)."),
]
EngineOpt = Annotated[
    str,
    typer.Option(
        help="Where the current data is evaluated: duckdb (read in memory) or spark (a lake "
        "table, --events; docs/spark.md)."
    ),
]
MasterOpt = Annotated[
    str, typer.Option("--spark-master", help="Spark master URL: spark://HOST:PORT or local[N].")
]
EventsOpt = Annotated[
    str | None,
    typer.Option(
        "--events",
        help="With --engine spark: the current rows, a Parquet/Delta directory or URL, or a "
        "catalog table name.",
    ),
]
ActualsOpt = Annotated[
    str | None,
    typer.Option(
        "--actuals",
        help="With --engine spark: labels (event_id and the target column) in another table.",
    ),
]
TargetOpt = Annotated[str | None, typer.Option(help="Target column.")]
PredOpt = Annotated[str | None, typer.Option(help="Prediction column.")]
ScoreOpt = Annotated[str | None, typer.Option(help="Score column.")]
SegOpt = Annotated[list[str] | None, typer.Option(help="Segment column (repeatable).")]
BudgetOpt = Annotated[str, typer.Option(help="False failing reports allowed, in words.")]
SensOpt = Annotated[
    list[str] | None,
    typer.Option(help="Sensitive attribute to judge fairness across (repeatable)."),
]
KpiOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="A business KPI, NAME=EXPRESSION or NAME=module:function (repeatable; docs/kpi.md)."
    ),
]


@app.command()
def report(
    reference: Ref,
    current: Cur = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML report path.")] = Path(
        "report.html"
    ),
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the results as JSON.")
    ] = None,
    target: TargetOpt = None,
    prediction: PredOpt = None,
    score: ScoreOpt = None,
    segment: SegOpt = None,
    sensitive: SensOpt = None,
    budget: BudgetOpt = "1 per 100 days",
    kpi: KpiOpt = None,
    engine: EngineOpt = "duckdb",
    spark_master: MasterOpt = "local[*]",
    events: EventsOpt = None,
    actuals: ActualsOpt = None,
) -> None:
    """Batch mode: the same monitors over one window; a self-contained HTML report (and JSON)."""
    lake = _Lake(engine, spark_master, events, actuals)
    with _one_shot():
        rep = _batch(
            reference, current, target, prediction, score, segment, budget, sensitive, kpi, lake
        )
        _say_roles(rep)
        output.write_text(rep.to_html())
        if json_out is not None:
            json_out.write_text(rep.to_json())
        out.print(rep.summary())
        err.print(f"Wrote {output}" + (f" and {json_out}" if json_out else ""))


@app.command()
def check(
    reference: Ref,
    current: Cur = None,
    fail_on: Annotated[str, typer.Option(help="Fail on 'alert' or 'warn'.")] = "alert",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the results as JSON.")
    ] = None,
    target: TargetOpt = None,
    prediction: PredOpt = None,
    score: ScoreOpt = None,
    segment: SegOpt = None,
    sensitive: SensOpt = None,
    budget: BudgetOpt = "1 per 100 days",
    kpi: KpiOpt = None,
    engine: EngineOpt = "duckdb",
    spark_master: MasterOpt = "local[*]",
    events: EventsOpt = None,
    actuals: ActualsOpt = None,
) -> None:
    """CI gate: exit 1 when any monitor is at or above --fail-on, 0 otherwise."""
    if fail_on not in ("alert", "warn"):
        raise MlwardenError(
            f"The '--fail-on' option must be 'alert' or 'warn'. Got {fail_on!r} instead."
        )
    lake = _Lake(engine, spark_master, events, actuals)
    with _one_shot():
        rep = _batch(
            reference, current, target, prediction, score, segment, budget, sensitive, kpi, lake
        )
        _say_roles(rep)
        if json_out is not None:
            json_out.write_text(rep.to_json())
        out.print(rep.summary())
        for r in rep.results:
            if r.segment is None and r.status.value in (
                ("alert",) if fail_on == "alert" else ("alert", "warn")
            ):
                out.print(f"  {r.status.value}: {r.monitor}: {r.reason}")
        failed = rep.failed(fail_on)
    if failed:
        raise typer.Exit(1)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port of the demo server.")] = 8000,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", "-d", help="Keep the data here (default: a temp dir)."),
    ] = None,
    days: Annotated[int, typer.Option(help="Days of simulated traffic.")] = 60,
    events_per_day: Annotated[int, typer.Option(help="Predictions per day.")] = 2000,
    drift_day: Annotated[int, typer.Option(help="Day the drift begins (-1: no drift).")] = 40,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    exit_when_done: Annotated[
        bool, typer.Option("--exit-when-done", help="Stop after feeding (for scripts).")
    ] = False,
    store: Annotated[
        str | None,
        typer.Option(
            help="Run the demo on this PostgreSQL database (postgresql://user@host/db) instead "
            "of the embedded DuckDB file (docs/storage.md).",
        ),
    ] = None,
) -> None:
    """Start a server on the embedded default and feed it a simulated model with drift."""
    from mlwarden.cli.demo import run_demo

    _check_store_url(store)
    run_demo(
        store=store,
        port=port,
        data_dir=data_dir,
        days=days,
        events_per_day=events_per_day,
        drift_day=None if drift_day < 0 else drift_day,
        seed=seed,
        exit_when_done=exit_when_done,
    )


#: exit code when the database cannot be opened (docs/storage.md)
EXIT_STORE = 4


def _check_store_url(store: str | None) -> None:
    """``--store`` of ``serve`` and ``demo``: a postgresql:// URL, else usage error (exit 2)."""
    from mlwarden.errors import expected
    from mlwarden.store import is_store_url

    if store is not None and not is_store_url(store):
        err.print(expected("option", "--store", "be a postgresql:// URL", store), style="red")
        raise typer.Exit(2)


def main(argv: list[str] | None = None) -> int:
    """Entry point: errors are one clear line on stderr, not a traceback (usage errors are
    reported by the CLI framework with the usage line and exit code 2)."""
    try:
        app(args=argv, prog_name="mlwarden")
    except StoreOpenError as exc:  # a distinct code: service managers should not restart-loop
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        return EXIT_STORE
    except MlwardenError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
