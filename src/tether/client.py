"""A Python client for the tether HTTP API (``tether serve``), with the SDK's errors.

The server's ``{"error": {"type", "message", "hint"}}`` becomes the exception class of
that name, so ``except ActionDenied`` or ``except NotFound`` reads the same whether
the code calls a :class:`tether.Tether` or a server. The client speaks through
``httpx2`` (what ``fastapi.testclient`` uses, a core dependency of tether); pass
``transport`` to call an app in-process or to mock the server in tests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx2

from tether import errors
from tether.errors import PolicyError, RateLimited, TetherError

__all__ = ["Client"]

# Errors only the server raises; their classes live in tether.server._errors, which
# imports FastAPI: loaded only when such an error arrives.
_SERVER_TYPES = ("Forbidden", "MalformedBody", "PayloadTooLarge", "Unauthenticated")


class Client:
    """The HTTP API v1 as methods (decisions, approvals, breakers, systems and models,
    monitoring, ledger, policies), as the token's actor.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8765``.
        token: an API token (``tether token create``); the actor is always the token's.
        timeout: seconds for each request.
        transport: an ``httpx2`` transport (tests, in-process apps); default: the network.

    Raises:
        TetherError: (from every method) the server's error, as the class it names
            (``NotFound``, ``ActionDenied``, ``InvalidInput``, ...); ``httpx2``'s
            transport errors (connection refused, timeouts) are not wrapped.

    Example:
        >>> import httpx2
        >>> def server(request):
        ...     if request.url.path == "/healthz":
        ...         return httpx2.Response(200, json={"status": "ok"})
        ...     return httpx2.Response(404, json={"error": {"type": "NotFound",
        ...         "message": "decision 'dec_x' does not exist", "hint": "check the id"}})
        >>> with Client("http://tether", "TOKEN", transport=httpx2.MockTransport(server)) as c:
        ...     c.health()
        ...     try:
        ...         c.decision("dec_x")
        ...     except errors.NotFound as exc:
        ...         print(exc)
        {'status': 'ok'}
        decision 'dec_x' does not exist
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        self._http = httpx2.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    # -- decisions ----------------------------------------------------------------------

    def decide(
        self,
        system: str,
        action: str,
        inputs: Any = None,
        context: Mapping[str, Any] | None = None,
        approval_id: str | None = None,
        wait: float = 0.0,
    ) -> dict[str, Any]:
        """Ask whether the token's actor may do ``action`` on ``system``; the decision
        is recorded. A denial is a decision too: read ``allowed`` and ``outcome``.
        ``wait`` (seconds, at most 60): when an approval is needed, let the server wait
        that long for it and answer the final decision (keep the client's ``timeout``
        above it)."""
        body: dict[str, Any] = {"system": system, "action": action}
        if inputs is not None:
            body["inputs"] = inputs
        if context is not None:
            body["context"] = dict(context)
        if approval_id is not None:
            body["approval_id"] = approval_id
        params = {"wait": wait} if wait else None
        return self._call("POST", "/v1/decisions", json=body, params=params)

    def decision(self, decision_id: str) -> dict[str, Any]:
        """The recorded decision (``record`` is None once erased)."""
        return self._call("GET", f"/v1/decisions/{_seg(decision_id)}")

    def feed(
        self,
        *,
        system: str | None = None,
        actor: str | None = None,
        outcome: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Recorded decisions, newest first, filtered (times: ISO-8601 with an offset)."""
        filters = {"system": system, "actor": actor, "outcome": outcome, "since": since,
                   "until": until}  # fmt: skip
        params = {k: v for k, v in filters.items() if v is not None}
        return self._call("GET", "/v1/decisions", params={**params, **_page(limit, cursor)})

    def record_outcome(
        self, decision_id: str, output: Any = None, error: str | None = None
    ) -> dict[str, Any]:
        """The outcome of an allowed action the client ran itself (the token's actor
        must be the decision's)."""
        body: dict[str, Any] = {"output": output}
        if error is not None:
            body["error"] = error
        return self._call("POST", f"/v1/decisions/{_seg(decision_id)}/outcome", json=body)

    def add_feedback(self, labels: Mapping[str, Any]) -> dict[str, Any]:
        """Ground truth for recorded decisions: ``{decision_id: label}``."""
        body = {"labels": [{"decision_id": d, "label": v} for d, v in labels.items()]}
        return self._call("POST", "/v1/feedback", json=body)

    # -- approvals ----------------------------------------------------------------------

    def approvals(
        self, limit: int = 50, cursor: str | None = None, *, mine: bool = False
    ) -> dict[str, Any]:
        """A page of open approvals: ``{"items": [...], "next": cursor or None}``;
        ``mine``: only those the token's actor may vote on (its inbox)."""
        params = {**_page(limit, cursor), **({"mine": "true"} if mine else {})}
        return self._call("GET", "/v1/approvals", params=params)

    def approval(self, approval_id: str) -> dict[str, Any]:
        """One approval with its votes (poll it after ``require_approval``)."""
        return self._call("GET", f"/v1/approvals/{_seg(approval_id)}")

    def approve(self, approval_id: str, comment: str = "") -> dict[str, Any]:
        """Vote to approve as the token's actor (no self-approval)."""
        path = f"/v1/approvals/{_seg(approval_id)}/approve"
        return self._call("POST", path, json={"comment": comment})

    def reject(self, approval_id: str, comment: str) -> dict[str, Any]:
        """Reject as the token's actor; ``comment`` says why (required)."""
        path = f"/v1/approvals/{_seg(approval_id)}/reject"
        return self._call("POST", path, json={"comment": comment})

    def override(
        self, approval_id: str, justification: str, *, approve: bool = True
    ) -> dict[str, Any]:
        """Override the approval process (approve, or ``approve=False`` to reject),
        with a written justification (the actor needs the registry's override role)."""
        path = f"/v1/approvals/{_seg(approval_id)}/override"
        return self._call("POST", path, json={"justification": justification, "approve": approve})

    # -- systems, models, monitoring ------------------------------------------------------

    def systems(self, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        """A page of the inventory (the token's systems)."""
        return self._call("GET", "/v1/systems", params=_page(limit, cursor))

    def versions(self, system: str, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        """A page of a system's registered model versions, oldest first."""
        return self._call("GET", f"/v1/systems/{_seg(system)}/versions",
                          params=_page(limit, cursor))  # fmt: skip

    def version(self, system: str, number: int) -> dict[str, Any]:
        """One registered model version."""
        return self._call("GET", f"/v1/systems/{_seg(system)}/versions/{int(number)}")

    def alias_history(
        self, system: str, alias: str = "champion", limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """A page of every move of an alias."""
        path = f"/v1/systems/{_seg(system)}/aliases/{_seg(alias)}/history"
        return self._call("GET", path, params=_page(limit, cursor))

    def gates(self, system: str) -> dict[str, Any]:
        """The system's current gate set (``current`` is None when it has none)."""
        return self._call("GET", f"/v1/systems/{_seg(system)}/gates")

    def gate_versions(
        self, system: str, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """A page of every version of the system's gate set."""
        return self._call("GET", f"/v1/systems/{_seg(system)}/gates/versions",
                          params=_page(limit, cursor))  # fmt: skip

    def promote(
        self,
        system: str,
        version: int,
        reason: str,
        *,
        alias: str = "champion",
        approval_id: str | None = None,
        override_by: str | None = None,
        justification: str | None = None,
    ) -> dict[str, Any]:
        """Move an alias to ``version`` through the gates and policy."""
        body: dict[str, Any] = {"version": version, "reason": reason, "alias": alias}
        extra = {"approval_id": approval_id, "override_by": override_by,
                 "justification": justification}  # fmt: skip
        body.update({k: v for k, v in extra.items() if v is not None})
        return self._call("POST", f"/v1/systems/{_seg(system)}/promote", json=body)

    def rollback(
        self, system: str, reason: str, *, alias: str = "champion", approval_id: str | None = None
    ) -> dict[str, Any]:
        """Move an alias back to its last healthy version."""
        body: dict[str, Any] = {"reason": reason, "alias": alias}
        if approval_id is not None:
            body["approval_id"] = approval_id
        return self._call("POST", f"/v1/systems/{_seg(system)}/rollback", json=body)

    def signals(
        self, system: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """A page of active signals, newest first (of ``system``, or of every system)."""
        params = {**_page(limit, cursor), **({"system": system} if system else {})}
        return self._call("GET", "/v1/signals", params=params)

    def checks(self, system: str, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        """A page of a system's recorded monitoring checks, newest first."""
        return self._call("GET", f"/v1/monitoring/{_seg(system)}/checks",
                          params=_page(limit, cursor))  # fmt: skip

    # -- ledger and policies ------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        """The latest signed checkpoint, the ledger size and the key to check it."""
        return self._call("GET", "/v1/ledger/checkpoint")

    def receipt(self, index: int) -> dict[str, Any]:
        """The offline-verifiable receipt of ledger entry ``index``."""
        return self._call("GET", f"/v1/ledger/receipts/{int(index)}")

    def verify(self) -> dict[str, Any]:
        """Verify the whole ledger now (slow on big ledgers)."""
        return self._call("GET", "/v1/ledger/verify")

    def policy(self) -> dict[str, Any]:
        """The enforced policy (and the shadow candidate, if any)."""
        return self._call("GET", "/v1/policies/current")

    def publish_policy(self, text: str, *, shadow: bool = False) -> dict[str, Any]:
        """Publish a policy (YAML text): enforced, or as the shadow candidate."""
        return self._call("POST", "/v1/policies", json={"text": text, "shadow": shadow})

    def test_policy(self, text: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
        """Run test cases against a policy text; nothing is published."""
        return self._call("POST", "/v1/policies/test", json={"text": text, "cases": cases})

    def replay_policy(
        self, text: str, *, since: str | None = None, until: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """Replay a candidate policy against recorded decisions; nothing is written."""
        body: dict[str, Any] = {"text": text, "limit": limit}
        body.update({k: v for k, v in {"since": since, "until": until}.items() if v})
        return self._call("POST", "/v1/policies/replay", json=body)

    # -- breakers -----------------------------------------------------------------------

    def breakers(self, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        """A page of the breakers that ever tripped."""
        return self._call("GET", "/v1/breakers", params=_page(limit, cursor))

    def trip(self, key: str, reason: str) -> dict[str, Any]:
        """Open a breaker by hand (the kill switch): ``system:S``, ``action:S/A``,
        ``agent:ID``."""
        return self._call("POST", f"/v1/breakers/{_key(key)}/trip", json={"reason": reason})

    def reset(self, key: str, reason: str) -> dict[str, Any]:
        """Close a breaker (people only)."""
        return self._call("POST", f"/v1/breakers/{_key(key)}/reset", json={"reason": reason})

    # -- the server ---------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Liveness: ``{"status": "ok"}`` when the server answers."""
        return self._call("GET", "/healthz")

    def metrics(self) -> str:
        """The Prometheus metrics text (admin, auditor and operator tokens)."""
        response = self._http.get("/metrics")
        if response.is_error:
            raise _error(response)
        return response.text

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise _error(response)
        body: dict[str, Any] = response.json()
        return body


def _seg(value: str) -> str:
    """One path segment: ids never carry a slash, so escape everything."""
    return quote(value, safe="")


def _key(key: str) -> str:
    """A breaker key keeps its ``:`` and ``/`` (the route takes the rest of the path)."""
    return quote(key, safe=":/@")


def _page(limit: int, cursor: str | None) -> dict[str, Any]:
    return {"limit": limit} if cursor is None else {"limit": limit, "cursor": cursor}


def _error(response: httpx2.Response) -> TetherError:
    """The exception the server's error body names (``TetherError`` when unknown)."""
    try:
        found = response.json()["error"]
        kind, message = str(found["type"]), str(found["message"])
        hint = str(found.get("hint") or "")
    except (ValueError, KeyError, TypeError):
        kind, message, hint = "", f"HTTP {response.status_code}: {response.text[:200]}", ""
    exc = _build(_class(kind), message, response)
    request = response.request
    where = f"{request.method} {request.url.path}: HTTP {response.status_code}"
    exc.add_note(f"{where} ({hint})" if hint else where)
    return exc


def _class(kind: str) -> type[TetherError]:
    if kind in errors.__all__:
        cls: type[TetherError] = getattr(errors, kind)
        return cls
    if kind in _SERVER_TYPES:
        from tether.server import _errors

        server_cls: type[TetherError] = getattr(_errors, kind)
        return server_cls
    return TetherError


def _build(cls: type[TetherError], message: str, response: httpx2.Response) -> TetherError:
    if issubclass(cls, PolicyError):
        return cls(message.splitlines() or [message])
    if issubclass(cls, RateLimited):
        return cls(message, None, _retry_after(response.headers.get("Retry-After")))
    return cls(message)


def _retry_after(value: str | None) -> float:
    try:
        seconds = float(value) if value is not None else 0.0
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0
