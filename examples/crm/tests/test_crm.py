"""The CRM project, end to end through chatgate's testing kit: its agents, its table, its toolset and
its API, for users who must never see each other's contacts, interactions, files or invoices."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from chatgate.testing import ChatgateApp, ModelRequest, ScriptedModelServer, assert_isolated, tool_call
from tests.crm_testing import ALICE_BILLING_TOKEN

User = Callable[[str], str]


def outputs(answer: dict[str, Any]) -> list[Any]:
    """The turn's tool outputs (the scripted model answers with them, as a JSON list)."""
    return [_parse(text) for text in json.loads(answer["response"])]


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # an error message for the model


def test_no_tool_leaks_across_users(crm: ChatgateApp) -> None:
    # Every served tool, driven by its schema and annotations: the contacts table, the crm_* tools, the
    # files the export writes. The billing tools reach the stand-in, whose answers key on each user's
    # token: covered by the last test instead.
    report = assert_isolated(crm, exclude=["api_billing_*", "crm_open_invoices"])
    written = {call[0] for call, succeeded in report.writes if succeeded}
    assert {"contacts_create", "crm_export_contacts"} <= written
    # Blind spots of generated calls, covered by the next two tests: an interaction needs a real
    # contact id, and the export (which has no text of its own) runs before the contacts exist.
    assert set(report.unobserved_writes) <= {"crm_log_interaction", "crm_export_contacts"}


def test_interactions_stay_with_their_owner(crm: ChatgateApp, user: User) -> None:
    alice, bob = user("alice"), user("bob")
    ada = crm.call_tool(alice, "contacts_create", name="Ada Lovelace", email="ada@example.com").json()["id"]
    logged = crm.call_tool(alice, "crm_log_interaction", contact_id=ada, kind="call", summary="The engine")
    assert logged.ok, logged.text

    for name, arguments in [
        ("contacts_get", {"id": ada}),
        ("crm_contact_history", {"contact_id": ada}),
        ("crm_log_interaction", {"contact_id": ada, "kind": "note", "summary": "planted by bob"}),
    ]:
        result = crm.call_tool(bob, name, **arguments)
        assert not result.ok and "not found" in result.text, (name, result.text)
    assert crm.call_tool(bob, "crm_find_contacts", query="Ada").json() == {"contacts": []}

    history = crm.call_tool(alice, "crm_contact_history", contact_id=ada).json()
    assert [entry["summary"] for entry in history["interactions"]] == ["The engine"]


def test_exports_are_written_to_the_users_own_files(crm: ChatgateApp, user: User) -> None:
    alice, bob = user("alice"), user("bob")
    crm.call_tool(alice, "contacts_create", name="Ada Lovelace", email="ada@example.com")
    assert crm.call_tool(alice, "crm_export_contacts").json() == {
        "path": "exports/contacts.csv",
        "contacts": 1,
    }

    bobs_view = crm.call_tool(bob, "files_read", path="exports/contacts.csv")
    assert not bobs_view.ok and "Ada" not in bobs_view.text
    assert crm.call_tool(bob, "crm_export_contacts").json()["contacts"] == 0
    assert (
        "Ada Lovelace,ada@example.com" in crm.call_tool(alice, "files_read", path="exports/contacts.csv").text
    )


def test_the_catalog_is_the_agents_allowlists(crm: ChatgateApp, user: User) -> None:
    names = {tool["name"] for tool in crm.tools(user("alice"))}
    assert {
        "crm_find_contacts",
        "crm_log_interaction",
        "contacts_create",
        "api_billing_listInvoices",
    } <= names
    assert {"files_read", "files_list", "whoami"} <= names
    assert not {"records_list", "tasks_list", "files_write", "files_delete"} & names


def test_the_assistant_is_told_who_it_works_for_but_not_their_id(
    crm: ChatgateApp, scripted_model: ScriptedModelServer, user: User
) -> None:
    alice = user("alice")
    response = httpx.post(
        f"{crm.url}/api/agents/chat",
        json={"message": "hello"},
        headers=crm.headers(alice, name="Alice Example", email="alice@example.com"),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["agent_used"] == "crm_assistant"
    request = ModelRequest(scripted_model.requests[0])
    assert request.instructions.startswith("You are the CRM assistant of Alice Example (alice@example.com).")
    assert alice not in json.dumps(request.body)
    assert request.body["temperature"] == 0.2
    assert "crm_find_contacts" in request.tool_names and "api_billing_listInvoices" not in request.tool_names


def test_billing_calls_carry_only_the_callers_own_token(
    crm: ChatgateApp, scripted_model: ScriptedModelServer, user: User
) -> None:
    alice, bob = user("alice"), user("bob")
    crm.connect_credential(alice, "billing", ALICE_BILLING_TOKEN)

    scripted_model.steps(
        tool_call("transfer_to_billing"), tool_call("api_billing_listInvoices", status="open")
    )
    answer = crm.chat(alice, "what do I owe?")
    assert answer["agent_used"] == "billing"
    assert outputs(answer)[1]["body"]["invoices"][0]["id"] == "INV-1"
    billing_request = ModelRequest(scripted_model.requests[1])
    assert billing_request.tool_names and all(
        name.startswith(("api_billing_", "transfer_to_")) for name in billing_request.tool_names
    )

    assert crm.call_tool(alice, "crm_open_invoices").json() == {"open_invoices": 1, "total": 120.0}
    refused = crm.call_tool(bob, "crm_open_invoices")
    assert not refused.ok and "you have not connected the billing API yet" in refused.text
