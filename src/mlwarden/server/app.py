"""The FastAPI application: ingest, query API, health; the store opened for its lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles

from mlwarden._version import __version__
from mlwarden.errors import AuthError
from mlwarden.evals.jobs import EvalJobs
from mlwarden.incidents.alerting import Alerting
from mlwarden.monitors.judging import JudgeJob
from mlwarden.monitors.scheduler import StoreJobs, scheduler_loop
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
from mlwarden.server.errors import install_error_handlers
from mlwarden.server.guard import RequestGuard
from mlwarden.server.ingest_pool import IngestPool
from mlwarden.server.params import clean_params
from mlwarden.server.price_overrides import FILE_NAME, PriceOverrides
from mlwarden.server.ratelimit import rate_limit
from mlwarden.server.security import Security
from mlwarden.server.sessions import SessionStore
from mlwarden.server.settings import ServerSettings
from mlwarden.server.storage import open_server_store
from mlwarden.stats.pii_redaction import Redactor
from mlwarden.store import KeyStore, Store
from mlwarden.store.keys import Scope

__all__ = ["create_app"]

log = logging.getLogger("mlwarden.server")


class IngestCounter:
    """Rows accepted and rejected since start, per project, model and kind (for /metrics)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], list[int]] = {}

    def __call__(self, project: str, model: str, kind: str, accepted: int, rejected: int) -> None:
        with self._lock:
            c = self._counts.setdefault((project, model, kind), [0, 0])
            c[0] += accepted
            c[1] += rejected

    def snapshot(self, project: str) -> list[tuple[str, str, int, int]]:
        """``(model, kind, accepted, rejected)`` of one project, sorted."""
        with self._lock:
            rows = [(m, k, c[0], c[1]) for (p, m, k), c in self._counts.items() if p == project]
        return sorted(rows)


def create_app(settings: ServerSettings | None = None, *, store: Store | None = None) -> FastAPI:
    """Build the app. The store is opened at start-up (or the given one is used) and closed at
    shutdown, after every acknowledged write is committed."""
    settings = (settings or ServerSettings()).validate()
    own_store = store is None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = store or open_server_store(settings)
        # notifications to channels and automated actions, in the background
        app.state.dispatcher = Alerting(app.state.store, **settings.alerting_options())
        app.state.jobs = StoreJobs()
        app.state.evals = EvalJobs()  # experiment runs, in their own worker thread
        await asyncio.to_thread(app.state.store.interrupt_runs)  # left by a previous process
        # calls out to the network (an LLM judge) on a thread of their own, not the scheduler's
        judge = JudgeJob(
            app.state.store,
            jobs=app.state.jobs,
            every=settings.evaluate_every_s,
            on_results=app.state.on_results,
        ).start()
        # synthetic probes and SLO burn rates, on a thread of their own as well
        probes = ProbeJob(
            app.state.store,
            jobs=app.state.jobs,
            policy=settings.alerting_policy,
            every=settings.evaluate_every_s,
            on_results=app.state.on_results,
        ).start()
        # the first click should not pay for imports, cold caches or building roll-ups
        await asyncio.to_thread(ui.prepare, app.state.store)
        warm_stop = threading.Event()
        warming = threading.Thread(
            target=ui.warm, args=(app.state.store, warm_stop), name="mlwarden-ui-warm", daemon=True
        )
        warming.start()
        app.state.security.start()  # the access log's writer
        await asyncio.to_thread(app.state.ingest_pool.start)  # OTLP decoding processes
        grpc_receiver = None
        if settings.otlp_grpc_port is not None:  # OTLP/gRPC beside HTTP, same store and keys
            from mlwarden.server.otlp_grpc import OtlpGrpcReceiver

            grpc_receiver = OtlpGrpcReceiver(
                app.state,
                host=settings.host,
                port=settings.otlp_grpc_port,
                max_message_bytes=settings.max_body_bytes,
            ).start()
        pusher = None
        if settings.otlp_metrics_endpoint is not None:  # OTLP metrics out, beside /metrics
            from mlwarden.server.otlp_push import OtlpMetricsPusher

            pusher = OtlpMetricsPusher(
                app.state,
                endpoint=settings.otlp_metrics_endpoint,
                interval_s=settings.otlp_metrics_interval_s,
                headers=dict(settings.otlp_metrics_headers),
            ).start()
        mlflow_job = None
        if settings.mlflow_tracking_uri is not None:  # results back to MLflow's registry
            from mlwarden.server.mlflow_sync import MlflowSync

            mlflow_job = MlflowSync(
                app.state.store,
                tracking_uri=settings.mlflow_tracking_uri,
                token=settings.mlflow_token,
                every=settings.mlflow_sync_every_s,
                base_url=settings.public_url or f"http://{settings.host}:{settings.port}",
            ).start()
        scheduler = scheduler_loop(
            app.state.store,
            app.state.jobs,
            every=settings.evaluate_every_s,
            on_results=app.state.on_results,
        )
        tasks = [asyncio.create_task(scheduler)]
        if settings.retention_days:
            tasks.append(asyncio.create_task(_retention_loop(app)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if grpc_receiver is not None:
                await asyncio.to_thread(grpc_receiver.stop)
            await asyncio.to_thread(app.state.ingest_pool.stop)
            if pusher is not None:  # one last push, before the store closes
                await asyncio.to_thread(pusher.stop)
            await asyncio.to_thread(judge.stop)
            await asyncio.to_thread(probes.stop)
            if mlflow_job is not None:
                await asyncio.to_thread(mlflow_job.stop)
            await asyncio.to_thread(app.state.jobs.stop)
            await asyncio.to_thread(app.state.evals.stop)
            warm_stop.set()
            await asyncio.to_thread(warming.join, 60)
            await asyncio.to_thread(app.state.dispatcher.close)
            await asyncio.to_thread(app.state.security.close)
            if own_store:
                app.state.store.close()

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
    app.state.settings = settings
    app.state.keys = KeyStore(settings.keys_path) if settings.keys_path else None
    app.state.sessions = SessionStore(ttl_s=settings.session_hours * 3600)
    app.state.price_overrides = PriceOverrides(
        settings.data_dir / FILE_NAME if settings.data_dir is not None else None
    )
    app.state.redactor = Redactor(settings.redact_pii, key=_redaction_key(settings))
    app.state.ingest_pool = IngestPool(workers=settings.ingest_workers)
    app.add_middleware(RequestGuard, settings=settings)
    docs.install(app)
    openapi.install(app)
    app.state.ingest_counter = IngestCounter()
    app.state.security = Security(settings, keys=app.state.keys)
    install_error_handlers(app)
    app.add_middleware(AccessLogMiddleware, access=app.state.security.access)  # outermost
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
    app.state.on_results = app.state.security.watch_results(routes_incidents.results_hook(app))

    @app.get("/v1/health", response_model=HealthOut, tags=["health"])
    def health(request: Request) -> HealthOut:
        """Liveness and start-up warnings (e.g. acknowledged data found missing); needs no API
        key. The numbers (the caller's project's models, rows and commits since start) only
        for a caller with the ``read`` scope."""
        s: Store = request.app.state.store
        out = HealthOut(status="ok", version=__version__, engine=s.kind, warnings=s.warnings())
        try:
            principal = api_principal(request)
        except AuthError:
            return out
        if Scope.READ not in principal.scopes:
            return out
        writer: Any = getattr(s, "_writer", None)
        return out.model_copy(
            update={
                "models": len(s.list_models(principal.project)),
                "rows_committed": getattr(writer, "rows_", 0),
                "commits": getattr(writer, "commits_", 0),
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


async def _retention_loop(app: FastAPI, every: float = 3600.0) -> None:
    while True:
        try:
            n = await app.state.jobs.run(app.state.store.apply_retention)
            if n:
                log.info("retention: deleted %d raw events", n)
        except Exception:  # noqa: BLE001 - keep serving; the next round retries
            log.exception("retention failed")
        await asyncio.sleep(every)
