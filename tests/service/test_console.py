"""The web console over the real application and read views (SQLite and PostgreSQL): sign-in,
CSRF, and every partner and reviewer form through a whole lifecycle."""

from __future__ import annotations

import re
from typing import Any

from tests.service.conftest import PASSWORD, Browser, World, browser, ok


def version_of(page: Any) -> int:
    """The version the page's forms carry (the If-Match of the console)."""
    match = re.search(r'name="version" value="(\d+)"', page.get_data(as_text=True))
    assert match, page.get_data(as_text=True)[:2000]
    return int(match.group(1))


def initiative_id_of(response: Any) -> str:
    location = response.headers["Location"]
    match = re.search(r"/console/initiatives/([0-9a-f-]{36})", location)
    assert match, location
    return match.group(1)


def follow(person: Browser, response: Any, status: int = 303) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)[:3000]
    return person.get(response.headers["Location"])


def proposal_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "title.en": "Green corridors between twinned towns",
        "summary.en": "Youth groups map and plant green corridors.",
        "original_language": "en",
        "level": "national",
        "countries": "IT, RS",
        "themes_present": "1",
        "themes": ["environment", "youth"],
        "expected_participants": "120",
    }
    form.update(overrides)
    return form


# ------------------------------------------------------------------------ sign in, CSRF
def test_signed_out_pages_redirect_to_the_login_page(world: World) -> None:
    anonymous = Browser(world.app)
    for path in ("/console/", "/console/initiatives", "/console/initiatives/new"):
        response = anonymous.get(path)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/console/login?next=")


def test_login_sets_a_safe_cookie_and_logout_revokes_the_token(world: World) -> None:
    partner = world.partner()
    person = Browser(world.app)
    person.get("/console/login")
    wrong = person.post("/console/login", {"email": partner.account["email"], "password": "not it"})
    assert wrong.status_code == 401
    assert "Wrong email or password" in wrong.get_data(as_text=True)
    response = person.post(
        "/console/login",
        {"email": partner.account["email"], "password": PASSWORD, "next": "/console/initiatives"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/initiatives"
    cookie = next(
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("twinning_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    home = person.get("/console/")
    assert home.status_code == 200
    assert home.headers["Cache-Control"] == "no-store"
    token = person.http.get_cookie("twinning_session", path="/console").value
    # The session token is an ordinary API token: the same revocation list.
    assert (
        world.http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    out = person.post("/console/logout")
    assert out.status_code == 303
    assert (
        world.http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    assert person.get("/console/").status_code == 303


def test_an_open_redirect_after_login_is_refused(world: World) -> None:
    partner = world.partner()
    person = Browser(world.app)
    person.get("/console/login")
    response = person.post(
        "/console/login",
        {"email": partner.account["email"], "password": PASSWORD, "next": "//evil.example/x"},
    )
    assert response.headers["Location"] == "/console/"


def test_the_secure_flag_is_set_off_loopback(world: World) -> None:
    partner = world.partner()
    person = Browser(world.app)
    person.get("/console/login", base_url="http://twinning.example.org")
    response = person.post(
        "/console/login",
        {"email": partner.account["email"], "password": PASSWORD},
        base_url="http://twinning.example.org",
    )
    cookie = next(
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("twinning_session=")
    )
    assert "Secure" in cookie


def test_forms_without_the_csrf_token_or_from_another_origin_are_refused(world: World) -> None:
    lead = world.partner()
    person = browser(world, lead)
    response = person.http.post("/console/initiatives/new", data=proposal_form())
    assert response.status_code == 400
    assert "text/html" in response.content_type
    response = person.http.post(
        "/console/initiatives/new",
        data={**proposal_form(), "csrf_token": "forged"},
    )
    assert response.status_code == 400
    response = person.post(
        "/console/initiatives/new", proposal_form(), headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 400
    # A login form posted without the token of its page is refused too (login CSRF).
    fresh = Browser(world.app)
    response = fresh.http.post(
        "/console/login", data={"email": lead.account["email"], "password": PASSWORD}
    )
    assert response.status_code == 400
    # Nothing was proposed.
    world.project()
    assert world.admin.get("/api/v1/initiatives").json["items"] == []


def test_pages_have_a_content_security_policy_and_no_inline_script(world: World) -> None:
    person = browser(world, world.partner())
    for path in ("/console/", "/console/initiatives", "/console/initiatives/new"):
        response = person.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        html = response.get_data(as_text=True)
        assert "<script>" not in html and "style=" not in html, path


# ------------------------------------------------------------------------ the lifecycle
def test_a_whole_lifecycle_through_the_console(world: World) -> None:
    lead_account = world.partner()
    partner_account = world.partner(country="RS")
    reviewer_account = world.reviewer()
    lead = browser(world, lead_account)
    partner = browser(world, partner_account)
    reviewer = browser(world, reviewer_account)

    # Propose.
    response = lead.post("/console/initiatives/new", proposal_form())
    initiative_id = initiative_id_of(response)
    page = follow(lead, response)
    html = page.get_data(as_text=True)
    assert "Green corridors between twinned towns" in html
    assert "Your initiative is proposed." in html
    path = f"/console/initiatives/{initiative_id}"

    # Invite the partner's organisation; the partner sees it in the inbox and joins.
    page = follow(
        lead,
        lead.post(
            f"{path}/do/invite_partner",
            {"version": version_of(page), "organisation_id": partner_account.organisation_id},
        ),
    )
    world.project()  # the projector's work (a process of its own in the service)
    inbox = partner.get("/console/").get_data(as_text=True)
    assert "Invitation" in inbox and "Green corridors" in inbox
    page = partner.get(path)
    page = follow(partner, partner.post(f"{path}/do/join", {"version": version_of(page)}))
    assert "Your organisation has joined." in page.get_data(as_text=True)
    page = follow(lead, lead.post(f"{path}/do/start_co_design", {"version": version_of(page)}))

    # Co-editing: both edit from the same version; disjoint fields merge, the same field
    # conflicts and shows both values.
    base = version_of(lead.get(f"{path}/edit"))
    edit = {**proposal_form(), "version": base}
    follow(partner, partner.post(f"{path}/edit", {**edit, "summary.en": "Partner's summary."}))
    conflict = lead.post(f"{path}/edit", {**edit, "summary.en": "Lead's summary."})
    assert conflict.status_code == 409
    html = conflict.get_data(as_text=True)
    assert "Partner&#39;s summary." in html and "Lead&#39;s summary." in html
    assert 'name="choose.summary"' in html
    # The lead keeps the partner's summary and changes the title instead.
    page = follow(
        lead,
        lead.post(
            f"{path}/edit",
            {
                **edit,
                "version": version_of(conflict),
                "summary.en": "Lead's summary.",
                "choose.summary": "theirs",
                "title.en": "Green corridors, planted together",
            },
        ),
    )
    shown = ok(lead_api_get(world, lead_account, initiative_id))
    assert shown["summary"] == {"en": "Partner's summary."}
    assert shown["title"] == {"en": "Green corridors, planted together"}

    # Side-by-side translation, then the original changes: the translation turns stale.
    follow(
        partner,
        partner.post(
            f"{path}/edit",
            {
                **proposal_form(),
                "version": shown["version"],
                "title.en": shown["title"]["en"],
                "summary.en": shown["summary"]["en"],
                "summary.fr": "Résumé du partenaire.",
            },
        ),
    )
    version = version_of(lead.get(path))
    follow(
        lead,
        lead.post(
            f"{path}/edit",
            {
                **proposal_form(),
                "version": version,
                "title.en": shown["title"]["en"],
                "summary.en": "A newer summary.",
                "summary.fr": "Résumé du partenaire.",
            },
        ),
    )
    assert "stale translation" in lead.get(path).get_data(as_text=True)
    edit_form = lead.get(f"{path}/edit").get_data(as_text=True)
    assert edit_form.count("stale translation") == 1  # French summary, beside its input

    # An amendment, proposed by the partner and accepted by the lead.
    form = partner.get(f"{path}/amend")
    response = partner.post(
        f"{path}/amend",
        {
            **proposal_form(),
            "version": version_of(form),
            "title.en": "Green corridors for every twinned town",
            "summary.en": "A newer summary.",
            "summary.fr": "Résumé du partenaire.",
            "rationale": "Broader scope.",
        },
    )
    page = follow(partner, response)
    html = lead.get(path).get_data(as_text=True)
    amendment_id = re.search(r'name="amendment_id" value="([0-9a-f-]{36})"', html)
    assert amendment_id, html
    page = follow(
        lead,
        lead.post(
            f"{path}/do/accept_amendment",
            {"version": version_of(lead.get(path)), "amendment_id": amendment_id.group(1)},
        ),
    )
    assert "Green corridors for every twinned town" in page.get_data(as_text=True)

    # Submit; the reviewer finds it in the queue, and must give a rationale.
    page = follow(lead, lead.post(f"{path}/do/submit", {"version": version_of(page)}))
    world.project()
    queue = reviewer.get("/console/review").get_data(as_text=True)
    assert "Green corridors for every twinned town" in queue
    review = reviewer.get(f"/console/review/{initiative_id}")
    assert "first round" in review.get_data(as_text=True)
    refused = reviewer.post(
        f"/console/review/{initiative_id}",
        {"version": version_of(review), "decision": "approve", "rationale": "  "},
    )
    assert refused.status_code == 422
    page = follow(
        reviewer,
        reviewer.post(
            f"/console/review/{initiative_id}",
            {
                "version": version_of(review),
                "decision": "request_changes",
                "rationale": "Add a budget.",
            },
        ),
    )
    # Second round: the reviewer sees what changed since the first.
    page = lead.get(path)
    follow(
        lead,
        lead.post(
            f"{path}/edit",
            {
                **proposal_form(),
                "version": version_of(page),
                "title.en": "Green corridors for every twinned town",
                "summary.en": "A newer summary, with a budget.",
                "summary.fr": "Résumé du partenaire.",
            },
        ),
    )
    page = follow(lead, lead.post(f"{path}/do/submit", {"version": version_of(lead.get(path))}))
    review = reviewer.get(f"/console/review/{initiative_id}")
    html = review.get_data(as_text=True)
    assert "A newer summary, with a budget." in html and "Changes since the previous round" in html
    assert "first round" not in html
    page = follow(
        reviewer,
        reviewer.post(
            f"/console/review/{initiative_id}",
            {"version": version_of(review), "decision": "approve", "rationale": "Sound plan."},
        ),
    )
    assert "Sound plan." in page.get_data(as_text=True)

    # Follow-up, report, complete; the reviewer recognises it as good practice.
    page = follow(
        lead, lead.post(f"{path}/do/start_follow_up", {"version": version_of(lead.get(path))})
    )
    report = {
        "version": version_of(partner.get(path)),
        "period_start": "2026-01-01",
        "period_end": "2026-06-30",
        "participants": "140",
        "activities": "6",
        "narrative.en": "Six planting days.",
        "evidence_urls": "https://example.org/photos\njavascript:alert(1)",
    }
    refused = partner.post(f"{path}/do/report", report)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "evidence_urls" in html and "Six planting days." in html  # kept for a retry
    report["evidence_urls"] = "https://example.org/photos"
    page = follow(partner, partner.post(f"{path}/do/report", report))
    html = page.get_data(as_text=True)
    assert "Six planting days." in html
    assert 'href="https://example.org/photos"' in html
    page = follow(
        lead,
        lead.post(
            f"{path}/do/complete",
            {"version": version_of(lead.get(path)), "outcomes.en": "Four corridors planted."},
        ),
    )
    page = follow(
        reviewer,
        reviewer.post(
            f"{path}/do/recognise_good_practice",
            {"version": version_of(reviewer.get(path)), "rationale": "Replicable."},
        ),
    )
    final = ok(lead_api_get(world, lead_account, initiative_id))
    assert final["state"] == "completed" and final["good_practice"] is True
    assert final["outcomes"] == {"en": "Four corridors planted."}
    # The lifecycle timeline: every state before the current one entered, with its date
    # (from the audit view, hence after the projector's catch-up).
    world.project()
    html = lead.get(path).get_data(as_text=True)
    assert html.count('<li class="reached"') == 5  # proposal to follow-up; completed is current
    assert '<li class="current" aria-current="step">' in html


def lead_api_get(world: World, account: Any, initiative_id: str) -> Any:
    return account.get(f"/api/v1/initiatives/{initiative_id}")


# ------------------------------------------------------------------------ refusals
def test_refused_commands_show_why_on_the_page_without_losing_input(world: World) -> None:
    lead_account = world.partner()
    outsider = browser(world, world.partner(country="FR"))
    lead = browser(world, lead_account)
    response = lead.post("/console/initiatives/new", proposal_form(countries="ZZ"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Green corridors between twinned towns" in html  # what was typed stays
    assert 'class="field-error"' in html
    response = lead.post("/console/initiatives/new", proposal_form())
    path = f"/console/initiatives/{initiative_id_of(response)}"
    # An outsider may not withdraw: a 403 page that says why, not a 500.
    refused = outsider.post(f"{path}/do/withdraw", {"version": "1", "reason": "No."})
    assert refused.status_code == 403
    assert "Not allowed" in refused.get_data(as_text=True)
    # A stale version: 412 and the page again.
    lead.post(f"{path}/do/start_co_design", {"version": "1"})
    stale = lead.post(f"{path}/do/withdraw", {"version": "1", "reason": "Changed our mind."})
    assert stale.status_code == 412
    assert "Changed our mind." in stale.get_data(as_text=True)
    # Unknown initiative and unknown action: 404 pages.
    assert lead.get("/console/initiatives/00000000-0000-0000-0000-000000000000").status_code == 404
    assert lead.post(f"{path}/do/nonsense", {"version": "2"}).status_code == 404
    # Control characters are refused as the API refuses them.
    bad = lead.post("/console/initiatives/new", proposal_form(**{"title.en": "A\x00B"}))
    assert bad.status_code == 422


def test_the_list_filters_and_searches_like_the_api(world: World) -> None:
    lead = world.partner()
    world.propose(lead, title={"en": "Heritage walks"}, themes=["culture_heritage"])
    world.propose(lead, title={"en": "Youth radio"}, themes=["youth"])
    world.project()
    person = browser(world, lead)
    html = person.get("/console/initiatives?q=radio").get_data(as_text=True)
    assert "Youth radio" in html and "Heritage walks" not in html
    html = person.get("/console/initiatives?theme=culture_heritage").get_data(as_text=True)
    assert "Heritage walks" in html and "Youth radio" not in html
    partial = person.get("/console/initiatives?q=walks", headers={"HX-Request": "true"})
    assert "<html" not in partial.get_data(as_text=True)
    assert "Heritage walks" in partial.get_data(as_text=True)
    invalid = person.get("/console/initiatives?state=nonsense")
    assert invalid.status_code == 422


def test_the_console_speaks_french(world: World) -> None:
    person = browser(world, world.partner())
    html = person.get("/console/initiatives?lang=fr").get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert "Initiatives" in html and "Rechercher" in html
    # The choice is remembered.
    assert "Rechercher" in person.get("/console/initiatives").get_data(as_text=True)
    anonymous = Browser(world.app)
    page = anonymous.get("/console/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert "Se connecter" in page.get_data(as_text=True)


def test_the_domain_messages_translated_are_those_the_domain_gives() -> None:
    """The console translates the domain's fixed refusals: each must still be one."""
    import ast
    from pathlib import Path

    from service.console import DOMAIN_MESSAGES

    texts = set()
    for source in Path("domain").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                texts.add(node.value)
    for message in DOMAIN_MESSAGES:
        assert message._args[0] in texts, message._args[0]


def test_refusals_read_in_french(world: World) -> None:
    lead = browser(world, world.partner())
    response = lead.post("/console/initiatives/new", proposal_form())
    path = f"/console/initiatives/{initiative_id_of(response)}"
    lead.post(f"{path}/do/start_co_design", {"version": "1"})
    lead.get("/console/?lang=fr")
    stale = lead.post(f"{path}/do/withdraw", {"version": "1", "reason": "Plus tard."})
    assert stale.status_code == 412
    assert "version 2" in stale.get_data(as_text=True)
    assert "Someone changed" not in stale.get_data(as_text=True)
    early = lead.post(f"{path}/do/submit", {"version": "2"})
    assert early.status_code == 409
    html = early.get_data(as_text=True)
    assert "At least one partner organisation must have joined." not in html
