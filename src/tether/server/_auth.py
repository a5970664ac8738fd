"""Authentication (API tokens) and authorisation (roles, system scope) as dependencies.

A handler names the roles it admits with :func:`allow`; the dependency reads
``Authorization: Bearer <secret>``, verifies the token (401 when missing, unknown,
expired or revoked) and checks its role (403). System scope is checked in the handler,
once it knows the system, with :func:`check_scope`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tether.core import Tether
from tether.server._errors import Forbidden, Unauthenticated
from tether.server._tokens import Principal, Tokens

__all__ = ["allow", "check_scope", "get_tether", "principal"]

_bearer = HTTPBearer(auto_error=False, description="an API token: tether token create")


def get_tether(request: Request) -> Tether:
    """The tether the app was created over."""
    t: Tether = request.app.state.tether
    return t


def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The principal of the request's bearer token.

    Raises:
        Unauthenticated: no bearer token, or one that does not verify.
    """
    if credentials is None:
        raise Unauthenticated("this endpoint needs an API token: Authorization: Bearer <token>")
    tokens: Tokens = request.app.state.tokens
    found = tokens.verify(credentials.credentials)
    if found is None:
        raise Unauthenticated("the token is unknown, expired or revoked")
    return found


def allow(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency admitting tokens whose role is one of ``roles``.

    Example:
        >>> p = Principal("tok_1", "user:ann", "auditor")
        >>> allow("auditor", "admin")(p).actor
        'user:ann'
    """

    def dependency(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role not in roles:
            raise Forbidden(
                f"role {who.role!r} may not do this; it needs one of: {', '.join(roles)}"
            )
        return who

    return dependency


def check_scope(who: Principal, system: str | None) -> None:
    """Refuse a token scoped to other systems (``system`` None: not system-specific,
    which only an unscoped token covers).

    Raises:
        Forbidden: the token's systems do not include ``system``.
    """
    if who.systems is None:
        return
    if system is None or not who.covers(system):
        target = "this resource" if system is None else f"system {system!r}"
        raise Forbidden(f"the token is scoped to {', '.join(who.systems)}, not {target}")
