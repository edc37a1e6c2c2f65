"""What every UI page shares: the HTML route class, templates, the browser's project, forms.

Pages are server-rendered Jinja2. Errors become HTML pages (not the API's JSON), a browser
without a required key is sent to the login page, and form posts must come from this server
(an ``Origin``/``Referer`` check: a page on another site cannot make a browser acknowledge an
incident here).

Browsers cannot send the API's ``Authorization`` header, so the UI also accepts the API key in
an HttpOnly, SameSite=Strict cookie set by ``/ui/login``. On a loopback server without keys
the project is ``default``, as for the API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from mlwarden._version import __version__
from mlwarden.errors import AuthError, MlwardenError, ValidationError
from mlwarden.server.auth import DEFAULT_PROJECT
from mlwarden.server.errors import status_of
from mlwarden.server.ui import format as fmt

__all__ = [
    "COOKIE",
    "HTMLRoute",
    "LoginRequired",
    "STATIC_DIR",
    "form_data",
    "render",
    "ui_project",
]

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
COOKIE = "mlwarden_key"
log = logging.getLogger("mlwarden.server.ui")

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["version"] = __version__
templates.env.filters.update(fmt.FILTERS)


class LoginRequired(MlwardenError):
    """A page needs an API key and the browser has none (or a bad one)."""


def ui_project(request: Request) -> str:
    """The project of the browser: an API key in a header or the login cookie, else 'default'
    when the server does not require keys (FastAPI dependency of every page)."""
    state = request.app.state
    keys = state.keys
    required = state.settings.require_keys or (keys is not None and keys.any_active())
    header = request.headers.get("authorization", "")
    key = (
        header[7:].strip()
        if header.lower().startswith("bearer ")
        else request.headers.get("x-api-key") or request.cookies.get(COOKIE)
    )
    if key and keys is not None:
        try:
            return str(keys.authenticate(key))
        except AuthError as exc:
            if required:
                raise LoginRequired(str(exc)) from exc
            return DEFAULT_PROJECT
    if required:
        raise LoginRequired("This server requires an API key.")
    return DEFAULT_PROJECT


def render(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """Render a page template; ``request`` and ``project`` are always in the context."""
    return templates.TemplateResponse(
        request, name, {"request": request, **context}, status_code=status_code
    )


async def form_data(request: Request) -> dict[str, str]:
    """An urlencoded form post from this server's own pages (first value of each field)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise AuthError("Forms must be posted from this server's own pages.")
    if not origin:
        raise AuthError("Forms must be posted from a browser page of this server.")
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


class HTMLRoute(APIRoute):
    """A route whose errors are HTML pages and whose missing key leads to the login page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/ui/login?next={quote(target, safe='')}", 303)
            except MlwardenError as exc:
                code = status_of(exc)
                if code >= 500:
                    log.exception("UI page %s failed", request.url.path)
                return render(
                    request,
                    "error.html",
                    {"code": code, "message": str(exc), "title": _title(code)},
                    status_code=code,
                )

        return route


def _title(code: int) -> str:
    return {
        400: "Bad request",
        401: "Not allowed",
        404: "Not found",
        409: "Conflict",
        422: "Invalid input",
    }.get(code, "Something went wrong")


def positive_int(value: str | None, name: str, default: int) -> int:
    """A page number or size from the query string."""
    if value in (None, ""):
        return default
    try:
        n = int(str(value))
    except ValueError:
        n = 0
    if n < 1:
        raise ValidationError(
            f"The '{name}' parameter must be an integer >= 1. Got {value!r} instead."
        )
    return n
