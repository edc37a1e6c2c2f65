"""What every UI page shares: the HTML route class, templates, the browser's project, forms.

Pages are server-rendered Jinja2. Errors become HTML pages (not the API's JSON), a browser
without a required key is sent to the login page, and form posts must come from this server
(an ``Origin``/``Referer`` check: a page on another site cannot make a browser acknowledge an
incident here).

Browsers cannot send the API's ``Authorization`` header, so ``/ui/login`` checks an API key
once and opens a server-side session (:mod:`mlwarden.server.sessions`): the HttpOnly,
SameSite=Strict cookie holds a random session id, never the key. Pages need the key's ``read``
scope, incident actions ``operate``, monitor changes ``admin``. Every form carries a token
that must match the browser's token cookie (CSRF). On a loopback server without keys the
project is ``default``, as for the API.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from mlwarden._version import __version__
from mlwarden.errors import AuthError, ForbiddenError, MlwardenError, ValidationError
from mlwarden.server.auth import Principal, keys_required, presented_key, principal_of, scoped
from mlwarden.server.errors import status_of
from mlwarden.server.services import services
from mlwarden.server.sessions import SESSION_COOKIE
from mlwarden.server.ui import format as fmt
from mlwarden.server.ui.units import measure
from mlwarden.store.keys import KeyStore, Scope

__all__ = [
    "CSRF_COOKIE",
    "HTMLRoute",
    "LoginRequired",
    "STATIC_DIR",
    "UIAdmin",
    "UIOperate",
    "UIRead",
    "csrf_token",
    "form_data",
    "render",
    "ui_principal",
    "ui_require",
]

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
CSRF_COOKIE = "mlwarden_csrf"
MAX_FORM_BYTES = 64 * 1024
log = logging.getLogger("mlwarden.server.ui")

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["version"] = __version__
templates.env.globals["timedelta_day"] = timedelta(days=1)  # quick ranges: last 24 h, 7 d, 30 d
templates.env.filters.update(fmt.FILTERS)
templates.env.filters["measure"] = measure


class LoginRequired(MlwardenError):
    """A page needs an API key and the browser has none (or a bad one)."""


def ui_principal(request: Request) -> Principal:
    """The browser's caller: an API key in a header, else the login session's key, else the
    keyless ``default`` project when the server does not require keys."""
    key = presented_key(request)
    if key is not None:
        try:
            return principal_of(request, key)
        except AuthError as exc:
            raise LoginRequired(str(exc)) from exc
    sid = request.cookies.get(SESSION_COOKIE)
    keys: KeyStore | None = services(request).keys
    if sid and keys is not None:
        key_id = services(request).sessions.lookup(sid)
        found = keys.get(key_id) if key_id is not None else None
        if found is not None:
            principal = Principal(found.key_id, found.project, found.granted())
            request.state.principal = principal
            return principal
    if keys_required(request):
        raise LoginRequired("This server requires an API key.")
    return principal_of(request, None)


def ui_require(scope: Scope) -> Callable[[Request], str]:
    """A page dependency: the project of a browser whose key holds ``scope``."""
    return scoped(scope, ui_principal, name="ui_require")


#: Pages that show data.
UIRead = Annotated[str, Depends(ui_require(Scope.READ))]
#: Forms that act on incidents.
UIOperate = Annotated[str, Depends(ui_require(Scope.OPERATE))]
#: Forms that change monitors.
UIAdmin = Annotated[str, Depends(ui_require(Scope.ADMIN))]


def csrf_token(request: Request) -> str:
    """This browser's form token (double-submit: the same value in a SameSite=Strict cookie and
    in every form); made on the first page a browser gets."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) > 100:
        token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(24)
        request.state.new_csrf = token
    return token


def render(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """Render a page template; ``request`` and the form token ``csrf`` are always in the
    context."""
    csrf = csrf_token(request)
    resp = templates.TemplateResponse(
        request, name, {"request": request, "csrf": csrf, **context}, status_code=status_code
    )
    if getattr(request.state, "new_csrf", None):
        resp.set_cookie(
            CSRF_COOKIE,
            csrf,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/ui",
        )
    return resp


async def form_data(request: Request) -> dict[str, str]:
    """An urlencoded form post from this server's own pages (first value of each field).

    The post must come from a page of this server (``Origin`` or ``Referer``; the request
    guard has already refused foreign origins and hosts) and carry the browser's form token."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        raise ForbiddenError("Forms must be posted from a browser page of this server.")
    if urlsplit(origin).netloc != request.headers.get("host", ""):
        public = services(request).settings.public_url
        if not public or urlsplit(origin).netloc != urlsplit(public).netloc:
            raise ForbiddenError("Forms must be posted from this server's own pages.")
    if len(await request.body()) > MAX_FORM_BYTES:
        raise ValidationError(f"A form post must be under {MAX_FORM_BYTES} bytes.")
    body = (await request.body()).decode("utf-8", errors="replace")
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = form.pop("csrf", "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise ForbiddenError(
            "This form has expired or did not come from this server's pages: reload the page "
            "and send it again."
        )
    return form


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
