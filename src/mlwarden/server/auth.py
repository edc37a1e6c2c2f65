"""Who a request acts for and what it may do: API keys and their scopes.

Every route declares the one scope it needs with one of the dependencies below
(:data:`Ingest`, :data:`Read`, :data:`Operate`, :data:`Admin`); a test walks the app's routes
and fails on any route without one. Keys are sent as ``Authorization: Bearer <key>`` or
``X-API-Key: <key>``; the UI sends a session cookie instead (:mod:`mlwarden.server.sessions`).

Keys are required when the server is reachable from other machines (a non-loopback bind
without ``--insecure``), when told to (``--require-keys``), or as soon as any key exists. The
first two hold whatever happens to the key file: a server bound off loopback never serves
without a valid key (fail closed). A keyless loopback server acts for project ``default``
with every scope.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from mlwarden.errors import AuthError, ForbiddenError
from mlwarden.server.services import Services, services
from mlwarden.store.keys import KeyStore, Scope

__all__ = [
    "DEFAULT_PROJECT",
    "Admin",
    "Ingest",
    "Operate",
    "Principal",
    "Read",
    "api_principal",
    "keys_required",
    "presented_key",
    "principal_for_key",
    "principal_of",
    "require",
    "scoped",
]

DEFAULT_PROJECT = "default"


@dataclass(frozen=True)
class Principal:
    """The caller of one request: its key (None on a keyless server), project and scopes."""

    key_id: str | None
    project: str
    scopes: frozenset[Scope]

    def check(self, scope: Scope) -> None:
        if scope not in self.scopes:
            held = ", ".join(sorted(s.value for s in self.scopes)) or "none"
            raise ForbiddenError(
                f"The API key {self.key_id!r} may not do this: it needs the '{scope.value}' "
                f"scope and holds {held}. Create a key with it: 'mlwarden keys create "
                f"--project {self.project} --scope {scope.value}'."
            )


KEYLESS = Principal(None, DEFAULT_PROJECT, frozenset(Scope))


def keys_required(request: Request) -> bool:
    """Whether this request must carry a valid key (or UI session)."""
    return _keys_required(services(request))


def _keys_required(state: Services) -> bool:
    keys: KeyStore | None = state.keys
    return bool(state.settings.keys_required or (keys is not None and keys.any_active()))


def presented_key(request: Request) -> str | None:
    """The API key in the request's headers, if any."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


def principal_of(request: Request, key: str | None) -> Principal:
    """Authenticate ``key`` (None: no key presented) for this request; raise
    :class:`AuthError` when a key is needed and missing or invalid. The result is kept on
    ``request.state.principal`` for the access log."""
    principal = principal_for_key(services(request), key)
    request.state.principal = principal
    return principal


def principal_for_key(state: Services, key: str | None) -> Principal:
    """Authenticate ``key`` (None: no key presented) against the app's ``state`` (its
    settings and key store), for any transport (HTTP, gRPC); raise :class:`AuthError` when a
    key is needed and missing or invalid."""
    keys: KeyStore | None = state.keys
    if key is None:
        if _keys_required(state):
            raise AuthError(
                "This server requires an API key: send 'Authorization: Bearer <key>' "
                "(create one with 'mlwarden keys create --project NAME --scope SCOPE')."
            )
        principal = KEYLESS
    else:
        if keys is None:
            raise AuthError("This server has no key store, so no API key is valid here.")
        k = keys.authenticate(key)
        principal = Principal(k.key_id, k.project, k.granted())
    return principal


def scoped(
    scope: Scope, resolve: Callable[[Request], Principal], *, name: str
) -> Callable[[Request], str]:
    """A FastAPI dependency: the project of the caller ``resolve`` finds, which must hold
    ``scope``. The scope is kept on the dependency (``.scope``), where the route audit test
    reads it."""

    def dependency(request: Request) -> str:
        principal = resolve(request)
        principal.check(scope)
        return principal.project

    dependency.__name__ = f"{name}_{scope.value}"
    dependency.scope = scope  # type: ignore[attr-defined]
    return dependency


def api_principal(request: Request) -> Principal:
    """The caller of an API request: the key in its headers, or none."""
    return principal_of(request, presented_key(request))


def require(scope: Scope) -> Callable[[Request], str]:
    """A FastAPI dependency: the project of an API caller holding ``scope``."""
    return scoped(scope, api_principal, name="require")


#: Write events, actuals and traces, and register a new model (what an SDK does).
Ingest = Annotated[str, Depends(require(Scope.INGEST))]
#: Query the API and read the UI.
Read = Annotated[str, Depends(require(Scope.READ))]
#: Act on incidents, evaluate now, ping channels.
Operate = Annotated[str, Depends(require(Scope.OPERATE))]
#: Change specs, monitors, references, versions and alerting.
Admin = Annotated[str, Depends(require(Scope.ADMIN))]
