"""Map mlwarden errors to HTTP answers with one JSON shape.

Every error reply is ``{"error": {"type": ..., "message": ..., "errors": [...]}}``
where ``errors`` lists ``{"index", "field", "reason"}`` items when there are several.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from mlwarden.errors import (
    AuthError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    MlwardenError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    RequestTimeoutError,
    StorageError,
    ValidationError,
)

__all__ = ["JSONReply", "error_body", "install_error_handlers", "json_reply", "status_of"]


class JSONReply(Response):
    """A JSON response serialised with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def json_reply(
    content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> JSONReply:
    return JSONReply(content, status_code=status_code, headers=headers)


STATUS: list[tuple[type[MlwardenError], int]] = [
    (ValidationError, 422),
    (NotFoundError, 404),
    (ConflictError, 409),
    (ForbiddenError, 403),
    (AuthError, 401),
    (PayloadTooLargeError, 413),
    (RequestTimeoutError, 408),
    (RateLimitError, 429),
    (ConfigError, 400),
    (StorageError, 503),
]


def status_of(exc: MlwardenError) -> int:
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def error_body(
    kind: str, message: str, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "message": message}
    if errors:
        body["errors"] = errors
    return {"error": body}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MlwardenError)
    async def _mlwarden(request: Request, exc: MlwardenError) -> JSONReply:
        errors = None
        if isinstance(exc, ValidationError) and exc.errors:
            errors = [{"index": e.index, "field": e.field, "reason": e.reason} for e in exc.errors]
        headers = {"WWW-Authenticate": "Bearer"} if status_of(exc) == 401 else None
        if isinstance(exc, RequestTimeoutError):  # the rest of the body is not worth waiting for
            headers = {"Connection": "close"}
        if isinstance(exc, RateLimitError):
            headers = {"Retry-After": str(exc.retry_after)}
        return json_reply(
            error_body(type(exc).__name__, str(exc), errors),
            status_code=status_of(exc),
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> JSONReply:
        errors = []
        for e in exc.errors():
            loc = [str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path")]
            errors.append({"index": None, "field": ".".join(loc), "reason": e.get("msg", "")})
        msg = "; ".join(f"{e['field'] or 'body'}: {e['reason']}" for e in errors[:5])
        return json_reply(error_body("ValidationError", msg, errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONReply:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names the first matching route's methods only
            headers["Allow"] = ", ".join(allowed_methods(request.app.routes, request.url.path))
        return json_reply(
            error_body("HTTPError", str(exc.detail)),
            status_code=exc.status_code,
            headers=headers or None,
        )


def _routes(routes: Iterable[Any]) -> Iterator[BaseRoute]:
    """Every route, through included routers (FastAPI >= 0.165 wraps them)."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            yield r


def allowed_methods(routes: Iterable[Any], path: str) -> list[str]:
    """The methods every route matching ``path`` answers (for a 405's ``Allow``)."""
    methods: set[str] = set()
    for r in _routes(routes):
        regex = getattr(r, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(r, "methods", None) or ())
    return sorted(methods)
