"""Contact search: a substring match in Chatwoot, re-checked for equality by the client."""

from __future__ import annotations

from tests.chatwoot_sim.support import SimulatorProcess
from ticket_service.chatwoot import ChatwootClient


async def test_find_by_phone_encodes_plus_and_rechecks_equality(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    seeded = sim.control.seed(
        contacts=[
            {"name": "Longer", "phone_number": "+141555501234"},
            {"name": "Exact", "phone_number": "+14155550123"},
        ],
        webhooks=False,
    )
    exact_id = seeded.contact_ids[1]

    found = await chatwoot.find_contact_by_phone("+14155550123")

    assert found is not None
    assert (found.id, found.name) == (exact_id, "Exact")
    [call] = sim.control.calls()
    # A raw `+` would reach Chatwoot as a space and match nothing.
    assert "q=%2B14155550123" in call.query_string
    assert call.query["q"] == "+14155550123"
    assert await chatwoot.find_contact_by_phone("+1415555012") is None


async def test_find_by_email_ignores_case_and_substring_matches(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    sim.control.seed(
        contacts=[
            {"name": "Also Ada", "email": "ada@example.com.au"},
            {"name": "Ada", "email": "ada@example.com"},
        ],
        webhooks=False,
    )

    found = await chatwoot.find_contact_by_email("ADA@example.com")

    assert found is not None
    assert found.name == "Ada"
    assert await chatwoot.find_contact_by_email("da@example.com") is None


async def test_the_exact_match_on_a_later_page_is_found(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    # 15 contacts a page; the substring matches 16, the exact one comes last.
    near = [{"name": f"n{i}", "email": f"x{i}a@b.co"} for i in range(15)]
    sim.control.seed(contacts=[*near, {"name": "Exact", "email": "a@b.co"}], webhooks=False)

    page = await chatwoot.search_contacts("a@b.co")
    assert len(page.contacts) == 15
    assert page.has_more is True
    found = await chatwoot.find_contact_by_email("a@b.co")

    assert found is not None
    assert found.name == "Exact"
    assert [c.query.get("page") for c in sim.control.calls()] == ["1", "1", "2"]
