"""The web UI: `create_app(..., ui=True)` serves it at `/` (and `/ui`), `steplane dev` does.

Plain HTML, three small scripts and one style sheet from the package
(`adapters/http/static/`): no build step, nothing fetched from elsewhere. The page is a
shell; everything it shows comes from the run API, which the browser calls with the session
cookie that the login page sets (session.py). Without a session the shell and the scripts
answer with the login page, and the run API with 401: no run, event or value is readable
without an API key. Decrypting is the run API's `?decrypt=true`, audited like every decrypt
from outside the host.

Every page is sent with a Content-Security-Policy that allows only this origin's script and
style sheet (no inline script, no eval), so a value shown on a page cannot run as code.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .context import AppContext
from .session import COOKIE, clear_session, session_key, set_session

ASSETS = Path(__file__).resolve().parent / "static"
PUBLIC_ASSETS = {"style.css": "text/css"}
SESSION_ASSETS = {name: "text/javascript" for name in ("app.js", "gantt.js", "stream.js")}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_LOGIN_BODY = 4096


def _root(request: Request) -> str:
    return request.scope.get("root_path") or ""


def _page(name: str, request: Request, status: int = 200, **values: str) -> Response:
    """An HTML file of ASSETS with `{{root}}` and `{{name}}` placeholders filled (escaped)."""
    text = (ASSETS / name).read_text()
    for key, value in {"root": _root(request), **values}.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return HTMLResponse(text, status_code=status, headers=SECURITY_HEADERS)


def routes(ctx: AppContext) -> list[Route]:
    def signed_in(request: Request) -> bool:
        return session_key(request.cookies.get(COOKIE), ctx.api_keys) is not None

    async def shell(request: Request) -> Response:
        if not signed_in(request):
            return RedirectResponse(f"{_root(request)}/ui/login", status_code=303)
        return _page("index.html", request)

    async def login_form(request: Request) -> Response:
        return _page("login.html", request, error="")

    async def login(request: Request) -> Response:
        body = await request.body()
        key = (parse_qs(body[:MAX_LOGIN_BODY].decode("utf-8", "replace")).get("key") or [""])[0]
        if not key.strip() or not ctx.is_api_key(key.strip()):
            message = "That API key is not valid." if key.strip() else "Enter an API key."
            return _page("login.html", request, status=401, error=message)
        response = RedirectResponse(f"{_root(request)}/", status_code=303)
        set_session(response, request, key.strip())
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse(f"{_root(request)}/ui/login", status_code=303)
        clear_session(response, request)
        return response

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        media_type = PUBLIC_ASSETS.get(name) or SESSION_ASSETS.get(name)
        if media_type is None:
            return Response("not found", status_code=404, media_type="text/plain")
        if name in SESSION_ASSETS and not signed_in(request):
            return Response("sign in first", status_code=401, media_type="text/plain")
        return FileResponse(ASSETS / name, media_type=media_type, headers=SECURITY_HEADERS)

    return [
        Route("/", shell, methods=["GET"], name="ui"),
        Route("/ui", shell, methods=["GET"], name="ui_alias"),
        Route("/ui/login", login_form, methods=["GET"], name="ui_login_form"),
        Route("/ui/login", login, methods=["POST"], name="ui_login"),
        Route("/ui/logout", logout, methods=["POST"], name="ui_logout"),
        Route("/ui/assets/{name}", asset, methods=["GET"], name="ui_asset"),
    ]
