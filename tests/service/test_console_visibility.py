"""Visibility in the console (SQLite and PostgreSQL): the choice on the propose form, and
partners drafts hidden from outsiders as the API hides them."""

from __future__ import annotations

import re

from tests.service.conftest import World, browser
from tests.service.test_console import proposal_form


def checked(html: str, value: str) -> bool:
    match = re.search(
        rf'<input type="radio" id="visibility-{value}" name="visibility" value="{value}"([^>]*)>',
        html,
    )
    assert match, html[:3000]
    return "checked" in match.group(1)


def test_the_propose_form_offers_the_visibility_network_first(world: World) -> None:
    html = browser(world, world.partner()).get("/console/initiatives/new").get_data(as_text=True)
    assert checked(html, "network") and not checked(html, "partners")


def test_a_partners_draft_proposed_in_the_console_is_hidden_from_outsiders(
    world: World,
) -> None:
    lead_account, outsider_account = world.partner(), world.partner(country="FR")
    auditor_account = world.account(world.organisation(type_="other"), "auditor")
    lead = browser(world, lead_account)
    title = "Closed-door planning of a youth exchange"
    response = lead.post(
        "/console/initiatives/new", proposal_form(visibility="partners", **{"title.en": title})
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    path = response.headers["Location"].split("?")[0]
    initiative_id = path.rsplit("/", 1)[1]
    page = lead.get(path).get_data(as_text=True)
    assert title in page and "Partners only until submitted" in page
    body = world.admin.get(f"/api/v1/initiatives/{initiative_id}").json
    assert body["visibility"] == "partners"
    world.project()

    outsider = browser(world, outsider_account)
    for hidden in (path, f"{path}/edit", f"{path}/amend", f"{path}?version=1"):
        response = outsider.get(hidden)
        assert response.status_code == 404, hidden
        assert title not in response.get_data(as_text=True)
    for listing in ("/console/initiatives", "/console/initiatives?q=closed-door", "/console/"):
        assert title not in outsider.get(listing).get_data(as_text=True), listing
    auditor = browser(world, auditor_account)
    assert title in auditor.get("/console/initiatives?q=closed-door").get_data(as_text=True)
    assert title in lead.get("/console/initiatives?q=closed-door").get_data(as_text=True)


def test_a_refused_proposal_keeps_the_visibility_chosen(world: World) -> None:
    lead = browser(world, world.partner())
    response = lead.post(
        "/console/initiatives/new", proposal_form(visibility="partners", countries="ZZ")
    )
    assert response.status_code == 422
    assert checked(response.get_data(as_text=True), "partners")
    response = lead.post("/console/initiatives/new", proposal_form(visibility="secret"))
    assert response.status_code == 422
    assert "Must be one of: network, partners." in response.get_data(as_text=True)
