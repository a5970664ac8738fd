"""The ledger over HTTP: the latest checkpoint, receipts that verify offline, verify."""

from __future__ import annotations

import pytest

from tether.ledger import Checkpoint, Receipt, verify_receipt

from .conftest import ACTORS, Api

READERS = {"admin", "auditor", "owner"}
VERIFIERS = {"admin", "auditor"}


def decide(api: Api) -> dict[str, int | str]:
    body = {"system": "loan-model", "action": "predict", "inputs": {"income": 1.0}}
    result: dict[str, int | str] = api.call("POST", "/v1/decisions", "service", json=body).json()
    return result


@pytest.mark.parametrize("role", tuple(ACTORS))
def test_roles(api: Api, role: str) -> None:
    index = decide(api)["ledger_index"]
    for path, admitted in (
        (f"/v1/ledger/receipts/{index}", READERS),
        ("/v1/ledger/checkpoint", READERS),
        ("/v1/ledger/verify", VERIFIERS),
    ):
        response = api.call("GET", path, role)
        if role in admitted:
            assert response.status_code == 200, (path, response.json())
        else:
            assert (response.status_code, response.json()["error"]["type"]) == (403, "Forbidden")
        assert api.call("GET", path, None).status_code == 401


def test_a_receipt_verifies_offline_and_the_checkpoint_covers_it(api: Api) -> None:
    d = decide(api)
    response = api.call("GET", f"/v1/ledger/receipts/{d['ledger_index']}", "auditor")
    receipt = Receipt.from_json(response.content)
    entry = verify_receipt(receipt, api.t.ledger.verifier)
    assert (entry.index, entry.kind, entry.actor) == (d["ledger_index"], "decision", "svc:scoring")
    size = api.t.ledger.size
    cp = api.call("GET", "/v1/ledger/checkpoint", "owner").json()
    assert cp["size"] >= receipt.tree_size
    assert Checkpoint.open(cp["note"], api.t.ledger.verifier).size == cp["size"]
    assert (cp["ledger_size"], cp["vkey"]) == (size, api.t.ledger.verifier.vkey)
    report = api.call("GET", "/v1/ledger/verify", "auditor").json()
    assert (report["ok"], report["size"], report["problems"]) == (True, size, [])
    assert size == api.t.ledger.size  # reading writes no ledger entry


def test_receipts_follow_the_token_s_systems(api: Api) -> None:
    index = decide(api)["ledger_index"]
    mine = api.token("user:own", "owner", systems=["loan-model"])
    other = api.token("user:own", "owner", systems=["support-bot"])
    assert api.call("GET", f"/v1/ledger/receipts/{index}", mine).status_code == 200
    assert api.call("GET", f"/v1/ledger/receipts/{index}", other).status_code == 403
    assert api.call("GET", "/v1/ledger/receipts/0", mine).status_code == 403  # not a decision
    assert api.call("GET", "/v1/ledger/verify", mine).status_code == 403


def test_bad_indices(api: Api) -> None:
    size = api.t.ledger.size
    missing = api.call("GET", f"/v1/ledger/receipts/{size + 10}", "admin")
    assert (missing.status_code, missing.json()["error"]["type"]) == (404, "NotFound")
    for bad in ("-1", "x", "1;drop"):
        response = api.call("GET", f"/v1/ledger/receipts/{bad}", "admin")
        assert (response.status_code, response.json()["error"]["type"]) == (422, "InvalidInput")
    assert size == api.t.ledger.size
