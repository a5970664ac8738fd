"""Authentication (API tokens) and authorisation (roles, system scope) as dependencies.

A handler names the roles it admits with :func:`allow`; the dependency reads
``Authorization: Bearer <secret>``, verifies the token (401 when missing, unknown,
expired or revoked) and checks its role (403). System scope is checked in the handler,
once it knows the system, with :func:`check_scope`.

The dependencies are coroutines, and one :func:`allow` does the whole check: FastAPI
runs a plain ``def`` dependency in its thread pool, and each hop there costs more than
verifying a token (which reads this process's token cache, see ``_tokens.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.base import SecurityBase

from tether.core import Tether
from tether.server._errors import Forbidden, Unauthenticated
from tether.server._tokens import Principal, Tokens

__all__ = ["Allow", "allow", "check_scope", "get_tether", "principal"]

_DESCRIPTION = "an API token: tether token create"
_SCHEME = "HTTPBearer"  # one security scheme in the OpenAPI document, whatever the roles
_bearer = HTTPBearer(auto_error=False, description=_DESCRIPTION, scheme_name=_SCHEME)
_NO_TOKEN = "this endpoint needs an API token: Authorization: Bearer <token>"
_BAD_TOKEN = "the token is unknown, expired or revoked"


async def get_tether(request: Request) -> Tether:
    """The tether the app was created over."""
    t: Tether = request.app.state.tether
    return t


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The principal of the request's bearer token, whatever its role.

    Raises:
        Unauthenticated: no bearer token, or one that does not verify.
    """
    if credentials is None:
        raise Unauthenticated(_NO_TOKEN)
    return _verify(request, credentials.credentials)


class Allow(SecurityBase):
    """The dependency :func:`allow` returns: the bearer token's principal, when its
    role is one of ``roles``. It is its own security scheme (HTTP bearer), so the
    OpenAPI document shows the endpoint needs a token.

    Example:
        >>> p = Principal("tok_1", "user:ann", "auditor")
        >>> Allow(("auditor", "admin")).admit(p).actor
        'user:ann'
    """

    def __init__(self, roles: tuple[str, ...]) -> None:
        self.roles = roles
        self.model = HTTPBearerModel(description=_DESCRIPTION)
        self.scheme_name = _SCHEME

    async def __call__(self, request: Request) -> Principal:
        """Verify the request's bearer token and admit its role.

        Raises:
            Unauthenticated: no bearer token, or one that does not verify.
            Forbidden: the token's role is not one of ``roles``.
        """
        header = request.headers.get("authorization")
        scheme, _, secret = (header or "").partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise Unauthenticated(_NO_TOKEN)
        return self.admit(_verify(request, secret))

    def admit(self, who: Principal) -> Principal:
        """``who``, when its role is one of ``roles``.

        Raises:
            Forbidden: it is not.
        """
        if who.role not in self.roles:
            raise Forbidden(
                f"role {who.role!r} may not do this; it needs one of: {', '.join(self.roles)}"
            )
        return who


def allow(*roles: str) -> Allow:
    """A dependency admitting tokens whose role is one of ``roles``.

    Example:
        >>> allow("auditor", "admin").roles
        ('auditor', 'admin')
    """
    return Allow(roles)


def _verify(request: Request, secret: str) -> Principal:
    tokens: Tokens = request.app.state.tokens
    found = tokens.verify(secret)
    if found is None:
        raise Unauthenticated(_BAD_TOKEN)
    return found


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
