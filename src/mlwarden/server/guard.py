"""What every request passes before a route sees it: Host, Origin and content type checks,
and the security headers of every reply.

* **Host** (DNS rebinding): a page on ``attacker.example`` whose name is made to resolve to
  127.0.0.1 reaches a loopback server with ``Host: attacker.example``. A loopback server, or
  one told its names (``--public-url``, ``--allowed-host``), answers only the names it is
  reached by; a server bound to other addresses with no names configured needs keys anyway.
* **Origin** (cross-site requests): browsers send ``Origin`` with every cross-origin write,
  ``no-cors`` ones included. A write (POST, PUT, PATCH, DELETE) whose ``Origin`` is not this
  server's (the public URL's origin, or the request's own validated host) is refused.
* **Content type**: writes to ``/v1`` may not use the three types a page can send without a
  CORS preflight (``text/plain``, form encodings): JSON, Arrow, protobuf, YAML, CSV or
  Parquet say what the body is.
* **Headers**: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: same-origin`` everywhere, and a Content-Security-Policy on HTML.

A pure ASGI middleware: it reads nothing of the body and adds no buffering.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from mlwarden.server.errors import error_body
from mlwarden.server.settings import ServerSettings, is_loopback

__all__ = ["CSP", "RequestGuard"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The UI's pages: scripts, styles and images from this server only, no framing, no plugins.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Content types a cross-site page can send without a preflight (the CORS "simple" ones).
_SIMPLE_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
#: Routes that refuse other content types themselves, in their protocol's reply shape (the
#: OTLP receiver answers OTLP exporters with an OTLP status).
_OWN_TYPE_CHECK = frozenset({"/v1/traces", "/v1/logs", "/v1/metrics"})
_BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def _hostname(netloc: str) -> str:
    """``'[::1]:8000'`` -> ``'::1'``, ``'Example.com:80'`` -> ``'example.com'``."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1:].partition("]")[0]
    return netloc.rpartition(":")[0] if netloc.count(":") == 1 else netloc


def _is_loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RequestGuard:
    """Host / Origin / content-type checks and security headers (see the module docs)."""

    def __init__(self, app: ASGIApp, *, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings
        names = {h.strip().lower() for h in settings.allowed_hosts if h.strip()}
        self.public_origin: str | None = None
        if settings.public_url:
            parts = urlsplit(settings.public_url)
            names.add(_hostname(parts.netloc))
            self.public_origin = f"{parts.scheme}://{parts.netloc}".lower()
        self.names = frozenset(names)
        #: Check Host only where it means something: a loopback bind (browsers on this machine
        #: are the only clients, and rebinding is the attack) or names the operator gave.
        self.check_host = bool(names) or is_loopback(settings.host)

    def host_allowed(self, host: str) -> bool:
        name = _hostname(host)
        if name in self.names:
            return True
        return is_loopback(self.settings.host) and _is_loopback_name(name)

    def origin_allowed(self, origin: str, host: str) -> bool:
        if origin == "null":
            return False
        origin = origin.rstrip("/").lower()
        if self.public_origin is not None and origin == self.public_origin:
            return True
        parts = urlsplit(origin)
        return bool(parts.netloc) and parts.netloc == host.lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        method = scope["method"]
        path: str = scope["path"]
        refusal: tuple[int, str] | None = None
        if self.check_host and not self.host_allowed(host):
            refusal = (
                421,
                f"This server does not answer to the host {host!r}. If people reach it by that "
                "name, start it with --public-url or --allowed-host naming it.",
            )
        elif method in _UNSAFE:
            origin = headers.get("origin")
            if origin is not None and not self.origin_allowed(origin, host):
                refusal = (403, f"Requests from the origin {origin!r} are not allowed here.")
            elif origin is None and headers.get("sec-fetch-site") == "cross-site":
                refusal = (403, "Cross-site requests are not allowed here.")
            elif (
                path.startswith("/v1/")
                and path not in _OWN_TYPE_CHECK
                and self._simple_type(headers.get("content-type"))
            ):
                refusal = (
                    415,
                    "The body's content type must say what it is (application/json, Arrow, "
                    "protobuf, YAML, CSV or Parquet); text/plain and form encodings are refused "
                    "so that other web sites cannot write here.",
                )
        if refusal is not None:
            await self._refuse(send, *refusal)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = list(message.get("headers", []))
                present = {k.lower() for k, _ in out}
                out.extend(h for h in _BASE_HEADERS if h[0] not in present)
                ctype = next((v for k, v in out if k.lower() == b"content-type"), b"")
                if ctype.startswith(b"text/html") and b"content-security-policy" not in present:
                    out.append((b"content-security-policy", CSP.encode()))
                message["headers"] = out
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _simple_type(content_type: str | None) -> bool:
        if not content_type:
            return False
        return content_type.split(";")[0].strip().lower() in _SIMPLE_TYPES

    @staticmethod
    async def _refuse(send: Send, status: int, message: str) -> None:
        kind = {421: "MisdirectedRequest", 403: "ForbiddenError", 415: "UnsupportedMediaType"}
        body = orjson.dumps(error_body(kind[status], message))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *_BASE_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
