"""Which project a request acts for: API keys when required, 'default' otherwise."""

from __future__ import annotations

from fastapi import Request

from mlwarden.errors import AuthError

__all__ = ["DEFAULT_PROJECT", "project_of"]

DEFAULT_PROJECT = "default"


def project_of(request: Request) -> str:
    """FastAPI dependency: the project of the request's API key.

    Keys are required when the server was told to (non-loopback bind, or
    ``--require-keys``) or as soon as any key exists. Send the key as
    ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.
    """
    state = request.app.state
    keys = state.keys
    required = state.settings.require_keys or (keys is not None and keys.any_active())
    header = request.headers.get("authorization", "")
    key = (
        header[7:].strip()
        if header.lower().startswith("bearer ")
        else request.headers.get("x-api-key")
    )
    if not required:
        if key and keys is not None:
            return str(keys.authenticate(key))
        return DEFAULT_PROJECT
    if not key:
        raise AuthError(
            "This server requires an API key: send 'Authorization: Bearer <key>' "
            "(create one with 'mlwarden keys create --project NAME')."
        )
    if keys is None:  # pragma: no cover - settings prevent it
        raise AuthError("This server has no key store.")
    return str(keys.authenticate(key))
