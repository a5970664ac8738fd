"""Console pages: log in (username + password) and log out.

A failed login says only "unknown username or wrong password", whatever went wrong;
a locked account says that it is locked and until when. The login form carries a
double-submit CSRF token (cookie and hidden field); logging out needs the session's.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from tether.server._users import MAX_PASSWORD, AccountLocked, LoginFailed
from tether.server.console._session import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfChecked,
    clear_session_cookie,
    login_csrf,
    same_token,
    set_login_csrf_cookie,
    set_session_cookie,
    users,
)
from tether.server.console._web import redirect, render

__all__ = ["router", "safe_next"]

router = APIRouter(prefix="/console", include_in_schema=False)

HOME = "/console/"


def safe_next(target: str | None) -> str:
    """Where to go after login: a console path only (no open redirect).

    Example:
        >>> safe_next("/console/approvals?state=open"), safe_next("//evil.example/console")
        ('/console/approvals?state=open', '/console/')
        >>> safe_next("https://evil.example/"), safe_next("/console/login")
        ('/console/', '/console/')
    """
    if (
        not target
        or not target.startswith("/console/")
        or target.startswith("/console/login")
        or "\\" in target
        or "/.." in target
        or any(ord(c) < 32 for c in target)
    ):
        return HOME
    return target


def _insecure(request: Request) -> bool:
    """True when the browser will drop the Secure session cookie: plain HTTP to a
    host other than the loopback (browsers treat localhost as secure)."""
    if request.url.scheme == "https":
        return False
    host = (request.url.hostname or "").strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def _login_page(
    request: Request, next_: str, *, error: str | None = None, username: str = "", status: int
) -> HTMLResponse:
    token = login_csrf(request)
    request.state.login_csrf = token
    response = render(
        request, "login.html", None, next=next_, error=error, username=username,
        insecure=_insecure(request),
    )  # fmt: skip
    set_login_csrf_cookie(response, token)
    response.status_code = status
    return response


@router.get("/login")
def login_form(request: Request, next: Annotated[str, Query(max_length=2000)] = HOME) -> Response:
    """The login form (or, with a live session, straight on to ``next``)."""
    secret = request.cookies.get(SESSION_COOKIE, "")
    if secret and users(request).session(secret) is not None:
        return redirect(safe_next(next))
    return _login_page(request, safe_next(next), status=200)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=MAX_PASSWORD + 1)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    """Check the credentials; on success start a session and go to ``next``."""
    target = safe_next(next)
    name = username.strip().lower()
    if not same_token(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        error = "The login form expired or was not sent by this site; please log in again."
        return _login_page(request, target, error=error, username=name, status=403)
    try:
        secret = users(request).login(name, password)
    except AccountLocked as exc:
        return _login_page(request, target, error=str(exc), username=name, status=423)
    except LoginFailed as exc:
        return _login_page(request, target, error=str(exc).capitalize() + ".", username=name,
                           status=401)  # fmt: skip
    response = redirect(target)
    set_session_cookie(response, secret)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console", secure=True, httponly=True,
                           samesite="strict")  # fmt: skip
    return response


@router.post("/logout")
def logout(request: Request, _: CsrfChecked) -> Response:
    """End the session (server-side: the cookie is worthless from now on)."""
    users(request).logout(request.cookies.get(SESSION_COOKIE, ""))
    response = redirect("/console/login", flash="You are logged out.")
    clear_session_cookie(response)
    return response
