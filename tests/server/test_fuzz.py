"""Schemathesis against ``/openapi.json`` in-process, as an admin: no request, however
malformed, gets a 5xx, and every response (errors too) has a documented status and
matches its documented schema.

Bounded: ``MAX_EXAMPLES`` per operation, derandomized (the same requests every run).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tether import Tether
from tether.server import Tokens, create_app

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> str | None:
    """Run one operation's examples; the failure (with its reproduction) or None."""

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, headers=headers))
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # negative mode, with no parameter to make invalid
        return None
    except (Exception, BaseExceptionGroup) as exc:  # report every operation's failure
        return f"{operation.label} ({mode.value}): {exc}"
    return None


def test_no_server_errors_and_every_response_is_documented(gov: Tether) -> None:
    secret = Tokens(gov).create("user:root", "admin", by="user:root")[1]
    headers = {"Authorization": f"Bearer {secret}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(gov))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    failures = [
        failure
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if (failure := _fuzz(operation, mode, headers)) is not None
    ]
    assert not failures, "\n\n".join(failures)
