"""Console page: circuit breakers and the kill switch (``/console/breakers``).

Every system's breaker (the kill switch of the whole system), every action breaker that
ever tripped, and every agent's breaker, with state, reason and since when. Operators
and admins trip and reset them: each change needs a reason and an explicit
confirmation, goes through the same :class:`~tether.pipeline.Breakers` calls as the API
(``trip``/``reset``, recorded in the ledger with the user's actor) and ends in a
redirect to this page with a message (POST-redirect-GET).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from tether.core import Tether
from tether.errors import InvalidInput
from tether.server._auth import get_tether
from tether.server._tokens import Principal
from tether.server.console._session import CsrfChecked, CurrentUser, require
from tether.server.console._web import redirect, render
from tether.server.routes.breakers import KEY_PATTERN, check_key, covered
from tether.store.breaker_repo import BreakerRow

__all__ = ["READ_ROLES", "WRITE_ROLES", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)

READ_ROLES = ("admin", "owner", "auditor", "operator")
WRITE_ROLES = ("admin", "operator")
_KEY = re.compile(KEY_PATTERN)
_SAFE = ":/@-._"


@dataclass(frozen=True, slots=True)
class BreakerView:
    """One breaker as the page shows it."""

    key: str
    kind: str  # system, action or agent
    name: str  # the system, system/action or agent id
    row: BreakerRow
    stops: str  # what tripping it stops, in words

    @property
    def test_id(self) -> str:
        """The ``data-test`` suffix of its forms: the system name for a system's
        breaker, else the whole key."""
        return self.name if self.kind == "system" else self.key


def _views(t: Tether, user: Principal) -> list[BreakerView]:
    stored = {b.key: b for b in t.breakers.list()}
    keys = {f"system:{s.name}" for s in t.systems.list()}
    keys |= {f"agent:{a.id}" for a in t.actors.list() if a.kind == "agent"}
    keys |= set(stored)
    views = []
    for key in keys:
        if not covered(t, user, key):
            continue
        kind, _, name = key.partition(":")
        row = stored.get(key) or BreakerRow(key, "closed", False, None, "", 0, 0.0)
        views.append(BreakerView(key, kind, name, row, _stops(kind, name)))
    order = {"system": 0, "action": 1, "agent": 2}
    return sorted(views, key=lambda v: (order.get(v.kind, 3), v.name))


def _stops(kind: str, name: str) -> str:
    if kind == "system":
        return f"every action of system {name}"
    if kind == "action":
        system, _, action = name.partition("/")
        return f"action {action} of system {system}"
    return f"every action of agent {name}"


@router.get("/breakers")
def breakers(request: Request, user: CurrentUser, t: Annotated[Tether, Depends(get_tether)]
             ) -> Response:  # fmt: skip
    """Every breaker the user may see; trip and reset forms for operators and admins."""
    require(user, *READ_ROLES)
    return render(
        request, "breakers.html", user, nav="breakers", breakers=_views(t, user),
        can_write=user.role in WRITE_ROLES,
    )  # fmt: skip


Field = Annotated[str, Form(max_length=2000)]


def _change(t: Tether, user: Principal, key: str, reason: str, confirm: str) -> tuple[str, str]:
    require(user, *WRITE_ROLES)
    if not _KEY.fullmatch(key):
        raise InvalidInput(f"breaker {key!r} is not a key like system:S, action:S/A or agent:ID")
    check_key(t, user, key)  # scope and ownership of every system it may belong to
    if not reason.strip():
        raise InvalidInput("give a reason: it is recorded in the ledger with your name")
    if confirm != "yes":
        raise InvalidInput(f"tick the box confirming what changing {key} does, then submit again")
    kind, _, name = key.partition(":")
    return reason.strip(), _stops(kind, name)


@router.post("/breakers/trip")
def trip(
    user: CurrentUser,
    _: CsrfChecked,
    t: Annotated[Tether, Depends(get_tether)],
    key: Field = "",
    reason: Field = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Open a breaker by hand (the kill switch): it stays open until reset."""
    why, stops = _change(t, user, key, reason, confirm)
    t.breakers.trip(key, actor=user.actor, reason=why)
    flash = f"Tripped {key}: {stops} is stopped until someone resets it."
    return redirect(f"/console/breakers#{quote(key, safe=_SAFE)}", flash=flash)


@router.post("/breakers/reset")
def reset(
    user: CurrentUser,
    _: CsrfChecked,
    t: Annotated[Tether, Depends(get_tether)],
    key: Field = "",
    reason: Field = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Close a breaker: the actions it guards run again."""
    why, stops = _change(t, user, key, reason, confirm)
    t.breakers.reset(key, actor=user.actor, reason=why)
    flash = f"Reset {key}: {stops} runs again."
    return redirect(f"/console/breakers#{quote(key, safe=_SAFE)}", flash=flash)
