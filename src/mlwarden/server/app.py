"""The FastAPI application: ingest, query API, health; the store opened for its lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles

from mlwarden._version import __version__
from mlwarden.incidents.alerting import Alerting
from mlwarden.server import (
    metrics,
    routes_alerting,
    routes_incidents,
    routes_ingest,
    routes_llm,
    routes_models,
    routes_monitors,
    routes_otlp,
    routes_query,
    routes_security,
    ui,
)
from mlwarden.server.access_log import AccessLogMiddleware
from mlwarden.server.api_models import HealthOut
from mlwarden.server.errors import install_error_handlers
from mlwarden.server.ratelimit import rate_limit
from mlwarden.server.security import Security
from mlwarden.server.settings import ServerSettings
from mlwarden.store import KeyStore, Store, open_store

__all__ = ["create_app"]

log = logging.getLogger("mlwarden.server")
T = TypeVar("T")


class StoreJobs:
    """Background work on the store (scheduler, retention): one job at a time, in a thread.

    A thread cannot be cancelled, so shutdown sets ``stopping``, which the scheduler reads
    between models, and waits for the running job before the store closes (a job that
    outlived the store failed on a closed connection)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def _run(self, fn: Callable[[], T]) -> T | None:
        with self._lock:
            return None if self.stopping.is_set() else fn()

    async def run(self, fn: Callable[[], T]) -> T | None:
        """``fn()`` in a worker thread, or nothing once shutdown began."""
        return await asyncio.to_thread(self._run, fn)

    def stop(self) -> None:
        """No new jobs; returns when the running one (if any) has finished."""
        self.stopping.set()
        with self._lock:
            pass


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
        app.state.store = store or open_store(
            settings.data_dir,
            commit_interval=settings.commit_interval_ms / 1000.0,
            retention_days=settings.retention_days,
        )
        # notifications to channels and automated actions, in the background
        app.state.dispatcher = Alerting(app.state.store)
        app.state.jobs = StoreJobs()
        # the first click should not pay for imports, cold caches or building roll-ups
        await asyncio.to_thread(ui.prepare, app.state.store)
        warm_stop = threading.Event()
        warming = threading.Thread(
            target=ui.warm, args=(app.state.store, warm_stop), name="mlwarden-ui-warm", daemon=True
        )
        warming.start()
        app.state.security.start()  # the access log's writer
        tasks = [asyncio.create_task(_scheduler_loop(app, settings.evaluate_every_s))]
        if settings.retention_days:
            tasks.append(asyncio.create_task(_retention_loop(app)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.to_thread(app.state.jobs.stop)
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
        dependencies=[Depends(rate_limit)],  # per key / address and route class: 429
    )
    app.state.settings = settings
    app.state.keys = KeyStore(settings.keys_path) if settings.keys_path else None
    app.state.ingest_counter = IngestCounter()
    app.state.security = Security(settings, keys=app.state.keys)
    install_error_handlers(app)
    app.add_middleware(AccessLogMiddleware, access=app.state.security.access)  # outermost
    app.include_router(routes_models.router)
    app.include_router(routes_ingest.router)
    app.include_router(routes_query.router)
    app.include_router(routes_monitors.router)
    app.include_router(routes_otlp.router)
    app.include_router(routes_llm.router)
    app.include_router(routes_incidents.router)
    app.include_router(routes_alerting.router)
    app.include_router(routes_security.router)
    app.include_router(metrics.router)  # Prometheus /metrics
    app.include_router(ui.router)  # the web UI under /ui (and / redirecting to it)
    app.mount("/ui/static", StaticFiles(directory=ui.STATIC_DIR), name="ui-static")
    app.state.on_results = app.state.security.watch_results(routes_incidents.results_hook(app))

    @app.get("/v1/health", response_model=HealthOut, tags=["health"])
    def health(request: Request) -> HealthOut:
        """Liveness and a few numbers; needs no API key."""
        s: Store = request.app.state.store
        writer: Any = getattr(s, "_writer", None)
        return HealthOut(
            status="ok",
            version=__version__,
            engine=s.kind,
            models=len(s.list_models()),
            rows_committed=getattr(writer, "rows_", 0),
            commits=getattr(writer, "commits_", 0),
        )

    return app


async def _scheduler_loop(app: FastAPI, every: float) -> None:
    """Evaluate monitors of every model as windows close and as late labels arrive."""
    from mlwarden.monitors.service import run_due

    if every <= 0:
        return
    jobs: StoreJobs = app.state.jobs
    due = functools.partial(
        run_due, app.state.store, on_results=app.state.on_results, stop=jobs.stopping.is_set
    )
    while True:
        await asyncio.sleep(every)
        try:
            n = await jobs.run(due)
            if n:
                log.info("scheduler: wrote %d monitor results", n)
        except Exception:  # noqa: BLE001 - keep serving; the next round retries
            log.exception("monitor evaluation failed")


async def _retention_loop(app: FastAPI, every: float = 3600.0) -> None:
    while True:
        try:
            n = await app.state.jobs.run(app.state.store.apply_retention)
            if n:
                log.info("retention: deleted %d raw events", n)
        except Exception:  # noqa: BLE001 - keep serving; the next round retries
            log.exception("retention failed")
        await asyncio.sleep(every)
