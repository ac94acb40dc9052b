"""The CRM project, end to end: its agent, its table, its toolset and its API, for two users who
must never see each other's contacts, interactions, files or billing data."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from crm_testing import CrmApp, token_for

User = Callable[[str], str]


def chat(app: CrmApp, user: str, plan: list[tuple[str, dict[str, Any]]], **claims: Any) -> dict[str, Any]:
    """One chat in which the model calls `plan`'s tools in order; returns the answer with `outputs`."""
    app.model.plan = plan
    app.model.calls.clear()
    response = httpx.post(
        f"{app.url}/api/agents/chat",
        json={"message": "go"},
        headers={"Authorization": f"Bearer {token_for(user, **claims)}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body["outputs"] = [_parse(text) for text in json.loads(body["response"])]
    return body


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # an error message for the model


def test_the_catalog_is_the_projects_tools_within_the_agents_allowlists(crm_app: CrmApp, user: User) -> None:
    response = httpx.get(
        f"{crm_app.url}/api/agents/tools", headers={"Authorization": f"Bearer {token_for(user('alice'))}"}
    )
    names = {tool["name"] for tool in response.json()["tools"]}
    assert {
        "crm_find_contacts",
        "crm_log_interaction",
        "contacts_create",
        "api_billing_listInvoices",
    } <= names
    assert {"files_read", "files_list", "whoami"} <= names
    assert not {"records_list", "tasks_list", "files_write", "files_delete"} & names


def test_the_assistant_is_told_who_it_works_for_but_not_their_id(crm_app: CrmApp, user: User) -> None:
    alice = user("alice")
    answer = chat(crm_app, alice, [], name="Alice Example", email="alice@example.com")
    assert answer["agent_used"] == "crm_assistant"
    instructions = crm_app.model.calls[0].system_instructions or ""
    assert instructions.startswith("You are the CRM assistant of Alice Example (alice@example.com).")
    assert alice not in instructions


def _add_contact(app: CrmApp, owner: str) -> str:
    created = chat(app, owner, [("contacts_create", {"name": "Ada Lovelace", "email": "ada@example.com"})])
    contact_id: str = created["outputs"][0]["id"]
    return contact_id


def test_contacts_and_interactions_stay_with_their_owner(crm_app: CrmApp, user: User) -> None:
    alice, bob = user("alice"), user("bob")
    ada = _add_contact(crm_app, alice)
    logged = chat(
        crm_app,
        alice,
        [("crm_log_interaction", {"contact_id": ada, "kind": "call", "summary": "Discussed the engine"})],
    )
    assert logged["outputs"][0]["kind"] == "call"

    seen_by_bob = chat(
        crm_app,
        bob,
        [
            ("crm_find_contacts", {"query": "Ada"}),
            ("contacts_list", {}),
            ("contacts_get", {"id": ada}),
            ("crm_contact_history", {"contact_id": ada}),
            ("crm_log_interaction", {"contact_id": ada, "kind": "note", "summary": "planted by bob"}),
        ],
    )["outputs"]
    assert seen_by_bob[0] == {"contacts": []}
    assert seen_by_bob[1]["total"] == 0
    assert "not found" in str(seen_by_bob[2])
    assert "contact not found" in str(seen_by_bob[3]) and "contact not found" in str(seen_by_bob[4])

    history = chat(crm_app, alice, [("crm_contact_history", {"contact_id": ada})])["outputs"][0]
    assert [entry["summary"] for entry in history["interactions"]] == ["Discussed the engine"]


def test_exports_are_written_to_the_users_own_files(crm_app: CrmApp, user: User) -> None:
    alice, bob = user("alice"), user("bob")
    _add_contact(crm_app, alice)
    exported = chat(crm_app, alice, [("crm_export_contacts", {})])["outputs"][0]
    assert exported == {"path": "exports/contacts.csv", "contacts": 1}

    bobs_view = chat(crm_app, bob, [("files_read", {"path": "exports/contacts.csv"})])["outputs"][0]
    assert "Ada" not in str(bobs_view) and "not found" in str(bobs_view).lower()

    alices_file = chat(crm_app, alice, [("files_read", {"path": "exports/contacts.csv"})])["outputs"][0]
    assert "Ada Lovelace,ada@example.com" in alices_file["content"]


def test_billing_calls_carry_only_the_callers_own_token(crm_app: CrmApp, user: User) -> None:
    alice, bob = user("alice"), user("bob")
    connected = httpx.put(
        f"{crm_app.url}/api/credentials/billing",
        json={"token": "alice-billing-token"},
        headers={"Authorization": f"Bearer {token_for(alice)}"},
    )
    assert connected.status_code == 204

    handed_off = chat(
        crm_app, alice, [("transfer_to_billing", {}), ("api_billing_listInvoices", {"status": "open"})]
    )
    assert handed_off["agent_used"] == "billing"
    assert handed_off["outputs"][1]["body"]["invoices"][0]["id"] == "INV-1"
    assert chat(crm_app, alice, [("crm_open_invoices", {})])["outputs"][0] == {
        "open_invoices": 1,
        "total": 120.0,
    }

    refused = chat(crm_app, bob, [("crm_open_invoices", {})])["outputs"][0]
    assert "you have not connected the billing API yet" in str(refused)
