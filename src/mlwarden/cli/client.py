"""A thin HTTP client of the server API for the CLI (errors become one clear line)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mlwarden.errors import AuthError, MlwardenError, NotFoundError, TransportError, ValidationError

if TYPE_CHECKING:
    import httpx

__all__ = ["ApiClient", "DEFAULT_URL"]

DEFAULT_URL = "http://127.0.0.1:8000"


class ApiClient:
    def __init__(
        self, url: str | None = None, *, api_key: str | None = None, timeout: float = 60.0
    ) -> None:
        self.url = (url or os.environ.get("MLWARDEN_URL") or DEFAULT_URL).rstrip("/")
        self.api_key = api_key or os.environ.get("MLWARDEN_API_KEY")
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        import httpx  # here: every CLI command imports this module, few talk to a server

        self._http: httpx.Client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            r = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise TransportError(
                f"Cannot reach the mlwarden server at {self.url} ({type(exc).__name__}). "
                "Start it with 'mlwarden serve' or pass --url."
            ) from exc
        if r.status_code >= 400 and r.status_code != 207:
            try:
                message = r.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = r.text[:300]
            cls: type[MlwardenError] = {
                401: AuthError,
                404: NotFoundError,
                422: ValidationError,
            }.get(r.status_code, MlwardenError)
            raise cls(f"{message} (HTTP {r.status_code})")
        if r.status_code == 204 or not r.content:
            return None
        return r.json()
