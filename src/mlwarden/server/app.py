"""The FastAPI application: ingest, query API, health; the store opened for its lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles

from mlwarden._version import __version__
from mlwarden.errors import AuthError
from mlwarden.evals.jobs import EvalJobs
from mlwarden.incidents.alerting import Alerting
from mlwarden.monitors.judging import JudgeJob
from mlwarden.monitors.leadership import Leadership
from mlwarden.monitors.scheduler import StoreJobs, retention_loop, scheduler_loop
from mlwarden.monitors.synthetic import ProbeJob
from mlwarden.server import (
    docs,
    metrics,
    openapi,
    routes_alerting,
    routes_annotations,
    routes_blindspots,
    routes_champion,
    routes_decision,
    routes_evals,
    routes_feature,
    routes_incidents,
    routes_ingest,
    routes_llm,
    routes_llm_views,
    routes_models,
    routes_monitors,
    routes_otlp,
    routes_otlp_signals,
    routes_prices,
    routes_query,
    routes_samples,
    routes_scores,
    routes_search,
    routes_security,
    routes_slos,
    routes_windows,
    ui,
)
from mlwarden.server.access_log import AccessLogMiddleware
from mlwarden.server.api_models import HealthOut
from mlwarden.server.auth import api_principal
from mlwarden.server.counters import IngestCounter
from mlwarden.server.errors import install_error_handlers
from mlwarden.server.guard import RequestGuard
from mlwarden.server.ingest_pool import IngestPool
from mlwarden.server.params import clean_params
from mlwarden.server.price_overrides import FILE_NAME, PriceOverrides
from mlwarden.server.prices import Prices
from mlwarden.server.ratelimit import rate_limit
from mlwarden.server.security import Security
from mlwarden.server.services import Services, Svc
from mlwarden.server.sessions import SessionStore
from mlwarden.server.settings import ServerSettings
from mlwarden.server.storage import open_server_store
from mlwarden.stats.pii_redaction import Redactor
from mlwarden.store import KeyStore, Store
from mlwarden.store.keys import Scope

__all__ = ["create_app"]

log = logging.getLogger("mlwarden.server")


def create_app(settings: ServerSettings | None = None, *, store: Store | None = None) -> FastAPI:
    """Build the app. The store is opened at start-up (or the given one is used) and closed at
    shutdown, after every acknowledged write is committed."""
    settings = (settings or ServerSettings()).validate()
    own_store = store is None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = store or open_server_store(settings)
        # notifications to channels and automated actions, in the background
        dispatcher = Alerting(opened, **settings.alerting_options())
        hook = routes_incidents.results_hook(
            opened, dispatcher=dispatcher, public_url=settings.public_url
        )
        # several servers on one database: the work below that must run once per deployment
        # runs on the holder of the store's lease only (DuckDB's server always holds it)
        leading = Leadership.of(opened)
        sv = Services(
            settings=settings,
            store=opened,
            keys=keys,
            sessions=sessions,
            security=security,
            redactor=redactor,
            prices=prices,
            ingest_counter=IngestCounter(),
            jobs=StoreJobs(),
            evals=EvalJobs(),  # experiment runs, in their own worker thread
            dispatcher=dispatcher,
            on_results=security.watch_results(hook),
            leadership=leading,
            ingest_pool=ingest_pool,
        )
        app.state.services = sv  # the one place it is kept: routes take it by dependency
        await asyncio.to_thread(sv.store.interrupt_runs)  # left by a previous process
        # calls out to the network (an LLM judge) on a thread of their own, not the scheduler's
        judge = JudgeJob(
            sv.store,
            jobs=sv.jobs,
            every=settings.evaluate_every_s,
            on_results=sv.on_results,
            leading=leading,
        ).start()
        # synthetic probes and SLO burn rates, on a thread of their own as well
        probes = ProbeJob(
            sv.store,
            jobs=sv.jobs,
            policy=settings.alerting_policy,
            every=settings.evaluate_every_s,
            on_results=sv.on_results,
            leading=leading,
        ).start()
        # the first click should not pay for imports, cold caches or building roll-ups
        await asyncio.to_thread(ui.prepare, sv.store)
        warm_stop = threading.Event()
        warming = threading.Thread(
            target=ui.warm, args=(sv.store, warm_stop), name="mlwarden-ui-warm", daemon=True
        )
        warming.start()
        sv.security.start()  # the access log's writer
        await asyncio.to_thread(sv.ingest_pool.start)  # OTLP decoding processes
        grpc_receiver = None
        if settings.otlp_grpc_port is not None:  # OTLP/gRPC beside HTTP, same store and keys
            from mlwarden.server.otlp_grpc import OtlpGrpcReceiver

            grpc_receiver = OtlpGrpcReceiver(
                sv,
                host=settings.host,
                port=settings.otlp_grpc_port,
                max_message_bytes=settings.max_body_bytes,
            ).start()
        pusher = None
        if settings.otlp_metrics_endpoint is not None:  # OTLP metrics out, beside /metrics
            from mlwarden.server.otlp_push import OtlpMetricsPusher

            pusher = OtlpMetricsPusher(
                sv,
                endpoint=settings.otlp_metrics_endpoint,
                interval_s=settings.otlp_metrics_interval_s,
                headers=dict(settings.otlp_metrics_headers),
            ).start()
        mlflow_job = None
        if settings.mlflow_tracking_uri is not None:  # results back to MLflow's registry
            from mlwarden.server.mlflow_sync import MlflowSync

            mlflow_job = MlflowSync(
                sv.store,
                tracking_uri=settings.mlflow_tracking_uri,
                token=settings.mlflow_token,
                every=settings.mlflow_sync_every_s,
                base_url=settings.public_url or f"http://{settings.host}:{settings.port}",
                leading=leading,
            ).start()
        scheduler = scheduler_loop(
            sv.store,
            sv.jobs,
            every=settings.evaluate_every_s,
            leading=leading,
            on_results=sv.on_results,
        )
        tasks = [asyncio.create_task(scheduler)]
        if settings.retention_days:
            retention = retention_loop(sv.store, sv.jobs, leading=leading)
            tasks.append(asyncio.create_task(retention))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if grpc_receiver is not None:
                await asyncio.to_thread(grpc_receiver.stop)
            await asyncio.to_thread(sv.ingest_pool.stop)
            if pusher is not None:  # one last push, before the store closes
                await asyncio.to_thread(pusher.stop)
            await asyncio.to_thread(judge.stop)
            await asyncio.to_thread(probes.stop)
            if mlflow_job is not None:
                await asyncio.to_thread(mlflow_job.stop)
            await asyncio.to_thread(sv.jobs.stop)
            await asyncio.to_thread(sv.evals.stop)
            warm_stop.set()
            await asyncio.to_thread(warming.join, 60)
            await asyncio.to_thread(sv.dispatcher.close)
            await asyncio.to_thread(sv.security.close)
            if own_store:
                sv.store.close()

    app = FastAPI(
        title="mlwarden",
        version=__version__,
        description="Self-hosted observability for ML and LLM systems: ingest, query, monitors.",
        lifespan=lifespan,
        docs_url=None,  # served from the package below: the product runs air-gapped
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
        # every route: no control characters in query or path parameters
        dependencies=[
            Depends(clean_params),
            Depends(rate_limit),
        ],  # rate: per key / address and route class: 429
    )
    # made before start-up: the middleware's access log needs the security logs
    keys = KeyStore(settings.keys_path) if settings.keys_path else None
    sessions = SessionStore(ttl_s=settings.session_hours * 3600)
    prices = Prices(
        PriceOverrides(settings.data_dir / FILE_NAME if settings.data_dir is not None else None)
    )
    redactor = Redactor(settings.redact_pii, key=_redaction_key(settings))
    ingest_pool = IngestPool(workers=settings.ingest_workers)
    app.add_middleware(RequestGuard, settings=settings)
    docs.install(app)
    openapi.install(app)
    security = Security(settings, keys=keys)
    install_error_handlers(app)
    app.add_middleware(AccessLogMiddleware, access=security.access)  # outermost
    app.include_router(routes_models.router)
    app.include_router(routes_ingest.router)
    app.include_router(routes_decision.router)
    app.include_router(routes_champion.router)
    app.include_router(routes_blindspots.router)
    app.include_router(routes_samples.router)
    app.include_router(routes_feature.router)
    app.include_router(routes_query.router)  # after routes_feature: .../columns/{name:path}
    app.include_router(routes_monitors.router)
    app.include_router(routes_otlp.router)
    app.include_router(routes_otlp_signals.router)
    app.include_router(routes_llm.router)
    app.include_router(routes_scores.router)
    app.include_router(routes_llm_views.router)
    app.include_router(routes_prices.router)
    app.include_router(routes_evals.router)
    app.include_router(routes_incidents.router)
    app.include_router(routes_alerting.router)
    app.include_router(routes_annotations.router)
    app.include_router(routes_security.router)
    app.include_router(routes_slos.router)
    app.include_router(routes_windows.router)
    app.include_router(routes_search.router)
    app.include_router(metrics.router)  # Prometheus /metrics
    app.include_router(ui.router)  # the web UI under /ui (and / redirecting to it)
    app.mount("/ui/static", StaticFiles(directory=ui.STATIC_DIR), name="ui-static")

    @app.get("/v1/health", response_model=HealthOut, tags=["health"])
    def health(request: Request, sv: Svc) -> HealthOut:
        """Liveness and start-up warnings (e.g. acknowledged data found missing); needs no API
        key. The numbers (the caller's project's models, rows and commits since start) only
        for a caller with the ``read`` scope."""
        s = sv.store
        out = HealthOut(
            status="ok",
            version=__version__,
            engine=s.kind,
            scheduler=sv.leadership.role,
            warnings=s.warnings(),
        )
        try:
            principal = api_principal(request)
        except AuthError:
            return out
        if Scope.READ not in principal.scopes:
            return out
        rows, commits = s.write_stats()
        return out.model_copy(
            update={
                "models": len(s.list_models(principal.project)),
                "rows_committed": rows,
                "commits": commits,
            }
        )

    return app


def _redaction_key(settings: ServerSettings) -> bytes:
    """The key of hashed personal data: made once per data directory (0600), so the same
    value hashes the same across restarts and nowhere else."""
    if settings.redact_pii != "hash":
        return b""
    path = settings.redaction_key_path
    if path is None:
        return secrets.token_bytes(32)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            key = secrets.token_bytes(32)
            f.write(key)
        return key
