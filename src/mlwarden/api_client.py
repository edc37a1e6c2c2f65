"""One HTTP client of the server API for the programs that wait on answers (CLI, evaluations).

Unlike the tracing calls, its requests raise -- as :mod:`mlwarden.errors`, never an httpx or JSON
error: :class:`~mlwarden.errors.ValidationError` (a 422, naming the field), ``AuthError`` (401),
``ForbiddenError`` (403), ``NotFoundError`` (404), ``ConflictError`` (409), ``TransportError``
(server unreachable), ``MlwardenError`` for anything else. A 207 (some rows refused) is an answer,
not an error: its body says which.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar, Self

from mlwarden.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    MlwardenError,
    NotFoundError,
    TransportError,
    ValidationError,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_URL", "ApiClient"]

DEFAULT_URL = "http://127.0.0.1:8000"
_ERRORS: dict[int, type[MlwardenError]] = {401: AuthError, 403: ForbiddenError,
                                           404: NotFoundError, 409: ConflictError,
                                           422: ValidationError}  # fmt: skip


class ApiClient:
    """A client of the server API (``url``: default ``$MLWARDEN_URL`` or
    ``http://127.0.0.1:8000``; ``api_key``: default ``$MLWARDEN_API_KEY``)."""

    #: said after "Cannot reach the mlwarden server at URL" (a subclass says what helps its users)
    unreachable_hint: ClassVar[str] = ""

    def __init__(
        self, url: str | None = None, *, api_key: str | None = None, timeout: float = 60.0
    ) -> None:
        self.url = (url or os.environ.get("MLWARDEN_URL") or DEFAULT_URL).rstrip("/")
        self.api_key = api_key or os.environ.get("MLWARDEN_API_KEY")
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        import httpx  # here: every CLI command imports this module, few talk to a server

        self._http: httpx.Client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call: its JSON body (None when there is none); errors as the module says."""
        import httpx

        try:
            r = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            hint = f" {self.unreachable_hint}" if self.unreachable_hint else ""
            raise TransportError(
                f"Cannot reach the mlwarden server at {self.url} ({type(exc).__name__}).{hint}"
            ) from exc
        if r.status_code >= 400:
            try:
                message = r.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = r.text[:300]
            raise _ERRORS.get(r.status_code, MlwardenError)(f"{message} (HTTP {r.status_code})")
        if r.status_code == 204 or not r.content:
            return None
        return r.json()
