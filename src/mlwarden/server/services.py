"""The server's services, built once by :func:`mlwarden.server.app.create_app` (its one
composition root) and handed to routes as a typed dependency.

A route takes ``sv: Svc`` and reads ``sv.store``, ``sv.settings``, ... instead of the untyped
``request.app.state``; a helper called with the request uses :func:`services`. The app keeps
the object on ``app.state.services``, the one place it is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

if TYPE_CHECKING:  # the services import the routes' helpers: names only, for the types
    from mlwarden.evals.jobs import EvalJobs
    from mlwarden.incidents.alerting import Alerting
    from mlwarden.monitors.leadership import Leadership
    from mlwarden.monitors.scheduler import StoreJobs
    from mlwarden.server.counters import IngestCounter
    from mlwarden.server.ingest_pool import IngestPool
    from mlwarden.server.price_overrides import PriceOverrides
    from mlwarden.server.prices import Prices
    from mlwarden.server.security import OnResults, Security
    from mlwarden.server.sessions import SessionStore
    from mlwarden.server.settings import ServerSettings
    from mlwarden.stats.pii_redaction import Redactor
    from mlwarden.store.base import Store
    from mlwarden.store.keys import KeyStore

__all__ = ["Services", "Svc", "services"]


@dataclass(frozen=True, kw_only=True)
class Services:
    """Everything a request may need, typed; made once per app when its store is open."""

    settings: ServerSettings
    store: Store
    keys: KeyStore | None  # None: no key store configured (keyless server)
    sessions: SessionStore  # UI log-in sessions
    security: Security  # access, audit and security-event logs; rate limits
    redactor: Redactor  # personal data in ingested texts
    prices: Prices  # price tables (shared, per project with its overrides)
    ingest_counter: IngestCounter
    jobs: StoreJobs  # the scheduler's and the routes' store jobs, serialised
    evals: EvalJobs  # experiment runs, in their own worker thread
    dispatcher: Alerting  # notifications and automated actions
    on_results: OnResults  # what runs after monitors store results (incidents, events)
    leadership: Leadership  # whether this server runs the once-per-deployment jobs (the lease)
    ingest_pool: IngestPool  # OTLP decoding in worker processes (--ingest-workers; 0: threads)

    @property
    def price_overrides(self) -> PriceOverrides:
        """The prices set through the API (per project)."""
        return self.prices.overrides


def services(conn: HTTPConnection) -> Services:
    """The app's services (a FastAPI dependency; helpers given the request call it too)."""
    found: Services = conn.app.state.services
    return found


Svc = Annotated[Services, Depends(services)]
