"""Console sessions: login with username + password (argon2id), a session cookie, CSRF.

CONTRACT (page modules rely on it):

``CurrentUser = Annotated[Principal, Depends(console_user)]``
    The logged-in user as a :class:`~tether.server.Principal` (``actor``, ``role``,
    ``systems`` scope). Without a valid session, the request is answered with a redirect
    (303) to ``/console/login?next=<path>``.
``CsrfChecked = Annotated[None, Depends(check_csrf)]``
    For every POST handler of the console: the form field ``csrf_token`` must equal the
    session's token (403 otherwise). It implies a valid session.
``require(user, *roles)``
    Raises :class:`tether.server._errors.Forbidden` (rendered as a 403 page under
    ``/console``) unless ``user.role`` is one of ``roles``.
``check_system(user, system)``
    Raises Forbidden unless the user's scope covers ``system``.

The session cookie (:data:`SESSION_COOKIE`) is ``HttpOnly``, ``SameSite=Strict``,
``Secure`` and limited to ``Path=/console``; its value is a random secret of which the
database keeps only the SHA-256 (see :mod:`tether.server._users`). The login form,
before any session exists, is protected by a double-submit token: a random value in the
cookie :data:`LOGIN_CSRF_COOKIE` that the form must echo.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request, Response

from tether.server._errors import Forbidden, Unauthenticated
from tether.server._tokens import Principal
from tether.server._users import IDLE_TIMEOUT, SESSION_LIFETIME, Session, Users

__all__ = [
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "CsrfChecked",
    "CurrentUser",
    "LoginRequired",
    "check_csrf",
    "check_system",
    "clear_session_cookie",
    "console_user",
    "login_csrf",
    "require",
    "same_token",
    "set_login_csrf_cookie",
    "set_session_cookie",
    "users",
]

SESSION_COOKIE = "tether_session"
LOGIN_CSRF_COOKIE = "tether_login_csrf"
COOKIE_PATH = "/console"


class LoginRequired(Unauthenticated):
    """No live console session: the console answers with a redirect to its login page."""


def users(request: Request) -> Users:
    """The app's :class:`~tether.server._users.Users` (made at first use)."""
    found: Users | None = getattr(request.app.state, "users", None)
    if found is None:
        found = Users(request.app.state.tether)
        request.app.state.users = found
    return found


def console_user(request: Request) -> Principal:
    """The logged-in user of the request's session cookie.

    Raises:
        LoginRequired: no cookie, or a session that ended (logout, idle, too old,
            user disabled).
    """
    secret = request.cookies.get(SESSION_COOKIE, "")
    session = users(request).session(secret) if secret else None
    if session is None:
        raise LoginRequired("log in to use the console")
    request.state.console_session = session
    request.state.console_user = session.principal
    return session.principal


CurrentUser = Annotated[Principal, Depends(console_user)]


async def check_csrf(request: Request, user: CurrentUser) -> None:
    """Refuse a console POST whose form does not carry the session's CSRF token.

    Raises:
        Forbidden: the ``csrf_token`` field is missing or wrong.
    """
    session: Session = request.state.console_session
    form = await request.form()
    if not same_token(form.get("csrf_token"), session.csrf):
        raise Forbidden(
            "the form's security token is missing or out of date; reload the page and "
            "submit the form again"
        )


CsrfChecked = Annotated[None, Depends(check_csrf)]


def require(user: Principal, *roles: str) -> None:
    """Refuse a user whose role is not one of ``roles``.

    Raises:
        Forbidden: the user's role is not admitted.

    Example:
        >>> require(Principal("user/ann", "user:ann", "auditor"), "auditor", "admin")
    """
    if user.role not in roles:
        raise Forbidden(
            f"your role {user.role!r} may not do this; it needs one of: {', '.join(roles)}"
        )


def check_system(user: Principal, system: str) -> None:
    """Refuse a user whose system scope does not include ``system``.

    Raises:
        Forbidden: the user is scoped to other systems.
    """
    if not user.covers(system):
        scope = ", ".join(user.systems or ())
        raise Forbidden(f"your account is limited to {scope}, not system {system!r}")


def set_session_cookie(response: Response, secret: str) -> None:
    """Give the browser its session cookie (it outlives no session)."""
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=int(SESSION_LIFETIME.total_seconds()),
        path=COOKIE_PATH, secure=True, httponly=True, samesite="strict",
    )  # fmt: skip


def clear_session_cookie(response: Response) -> None:
    """Make the browser forget its session cookie."""
    response.delete_cookie(
        SESSION_COOKIE, path=COOKIE_PATH, secure=True, httponly=True, samesite="strict"
    )


def login_csrf(request: Request, response: Response | None = None) -> str:
    """The login form's CSRF token: the one in the request's cookie, or a new one
    (then set on ``response``)."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if 20 <= len(token) <= 100:
        return token
    token = secrets.token_urlsafe(32)
    if response is not None:
        set_login_csrf_cookie(response, token)
    return token


def set_login_csrf_cookie(response: Response, token: str) -> None:
    """Store the login form's CSRF token in its cookie (good for an idle period)."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, max_age=int(IDLE_TIMEOUT.total_seconds()),
        path=COOKIE_PATH, secure=True, httponly=True, samesite="strict",
    )  # fmt: skip


def same_token(sent: object, expected: str) -> bool:
    """Constant-time comparison of a submitted token with the expected one."""
    return (
        isinstance(sent, str)
        and bool(expected)
        and hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))
    )
