"""The web console in a real browser: headless Chromium (Debian's package) driven by
Playwright against the real `twinning serve` (gunicorn and the projector), on SQLite and
PostgreSQL.

Three people take an initiative through its whole life (a lead partner, a second partner, a
reviewer) and an auditor checks it; axe-core checks the main pages for critical
accessibility violations; a phone-sized screen and a browser without JavaScript are tried.
With TWINNING_SCREENSHOTS=<dir> (`make screenshots`) the main pages are saved as PNG files.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI
from tests.e2e.test_serve import ADMIN, PASSWORD, Server, call
from tests.e2e.test_serve import server as server  # the same real service, on both databases

# Chromium is heavy: never beside the database-restart test, which times a recovery.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("timed-recovery")]

CHROMIUM = os.environ.get("TWINNING_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = os.environ.get("TWINNING_SCREENSHOTS", "")


def require_browser() -> Any:
    """Playwright's sync API with Debian's Chromium; a skip (or, in CI, a failure) without."""
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "Playwright for Python is not installed (make install)"
    if problem is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        problem = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if problem is not None:
        if IN_CI:
            pytest.fail(f"{problem}: with CI=true the browser tests must run")
        pytest.skip(problem)
    return sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_playwright = require_browser()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


def account(server: Server, admin: str, email: str, name: str, role: str, org: str) -> None:
    status, _, body = call(
        server.base,
        "POST",
        "/api/v1/users",
        {
            "email": email,
            "name": name,
            "password": PASSWORD,
            "organisation_id": org,
            "roles": [role],
        },
        admin,
    )
    assert status == 201, body


def organisation(server: Server, admin: str, name: str, type_: str, country: str) -> str:
    status, _, body = call(
        server.base,
        "POST",
        "/api/v1/organisations",
        {"name": name, "type": type_, "country": country},
        admin,
    )
    assert status == 201, body
    return str(body["id"])


class Person:
    """One person at their own browser (own cookies)."""

    def __init__(self, browser: Any, server: Server, email: str, **context: Any) -> None:
        self.context = browser.new_context(base_url=server.base, locale="en-GB", **context)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.email = email
        # Script errors and refused resources (a Content-Security-Policy violation, say).
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def sign_in(self) -> None:
        page = self.page
        page.goto("/console/login")
        page.get_by_label("Email").fill(self.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r".*/console/$"))

    def shot(self, name: str) -> None:
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def critical_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in results.response["violations"]
        if v.get("impact") == "critical"
    ]


def test_three_people_and_an_auditor_through_a_whole_lifecycle(
    browser: Any, server: Server
) -> None:
    admin = server.login(ADMIN)
    lead_org = organisation(server, admin, "Comune di Bologna", "local_authority", "IT")
    partner_org = organisation(server, admin, "Grad Novi Sad", "local_authority", "RS")
    board = organisation(server, admin, "European Twinning Review Board", "other", "BE")
    account(server, admin, "giulia@bologna.test", "Giulia Rossi", "partner", lead_org)
    account(server, admin, "milan@novisad.test", "Milan Petrović", "partner", partner_org)
    account(server, admin, "ana@board.test", "Ana Reviewer", "reviewer", board)
    account(server, admin, "olaf@board.test", "Olaf Auditor", "auditor", board)
    lead = Person(browser, server, "giulia@bologna.test")
    partner = Person(browser, server, "milan@novisad.test")
    reviewer = Person(browser, server, "ana@board.test")
    auditor = Person(browser, server, "olaf@board.test")
    problems: dict[str, list[str]] = {}

    def check(person: Person, name: str) -> None:
        found = critical_violations(person.page)
        if found:
            problems[name] = found
        person.shot(name)

    try:
        # The lead proposes, in English with a French title side by side.
        lead.sign_in()
        check(lead, "inbox")
        page = lead.page
        page.get_by_role("link", name="Propose", exact=True).click()
        page.get_by_label("English (original)").first.fill("Green corridors between towns")
        page.locator("#summary-en").fill("Young people map and plant green corridors.")
        page.get_by_label("Countries (codes, comma separated)").fill("IT, RS")
        page.get_by_label("Environment and climate").check()
        check(lead, "propose")
        page.get_by_role("button", name="Propose", exact=True).click()
        page.get_by_text("Your initiative is proposed.").wait_for()
        initiative_url = page.url.split("?")[0]
        # Invite the partner organisation.
        page.get_by_label("Invite an organisation").select_option(label="Grad Novi Sad (Serbia)")
        page.get_by_role("button", name="Invite", exact=True).click()
        page.get_by_text("The organisation is invited.").wait_for()

        # The second partner finds the invitation in the inbox and joins.
        partner.sign_in()
        partner.page.get_by_role("link", name="Green corridors between towns").click()
        partner.page.get_by_role("button", name="Join as a partner").click()
        partner.page.get_by_text("Your organisation has joined.").wait_for()

        # The lead opens co-design; the partner co-edits the summary.
        page.goto(initiative_url)
        page.get_by_role("button", name="Open co-design").click()
        page.get_by_text("Co-design is open.").wait_for()
        partner.page.goto(initiative_url)
        partner.page.get_by_role("link", name="Co-edit").click()
        partner.page.locator("#summary-en").fill("Young people from both towns plant corridors.")
        partner.page.get_by_role("button", name="Save changes").click()
        partner.page.get_by_text("Your changes are saved.").wait_for()
        check(partner, "initiative")

        # The lead submits; the reviewer approves from the queue with a rationale.
        page.goto(initiative_url)
        page.get_by_role("button", name="Submit for review").click()
        page.get_by_text("The initiative is submitted for review.").wait_for()
        reviewer.sign_in()
        reviewer.page.get_by_role("link", name="Review queue").click()
        check(reviewer, "review-queue")
        reviewer.page.get_by_role("link", name="Green corridors between towns").click()
        reviewer.page.get_by_label("Approve").check()
        reviewer.page.get_by_label(re.compile("Rationale")).fill("A sound, well-partnered plan.")
        check(reviewer, "review")
        reviewer.page.get_by_role("button", name="Record my decision").click()
        reviewer.page.get_by_text("Your review is recorded.").wait_for()

        # Follow-up, a report by the partner, completion by the lead.
        page.goto(initiative_url)
        page.get_by_role("button", name="Start the follow-up").click()
        page.get_by_text("Follow-up has started.").wait_for()
        partner.page.goto(initiative_url)
        partner.page.get_by_label("From").fill("2026-01-01")
        partner.page.get_by_label("To", exact=True).fill("2026-06-30")
        partner.page.get_by_label("Participants").fill("140")
        partner.page.get_by_label("Activities").fill("6")
        partner.page.get_by_label(re.compile("What happened")).first.fill("Six planting days.")
        partner.page.get_by_role("button", name="Record the report").click()
        partner.page.get_by_text("Your report is recorded.").wait_for()
        page.goto(initiative_url)
        page.get_by_label(re.compile("Outcomes")).first.fill("Four corridors planted.")
        page.get_by_role("button", name="Complete the initiative").click()
        page.get_by_text("The initiative is completed.").wait_for()
        assert page.locator(".lifecycle li.current").inner_text().startswith("Completed")
        check(lead, "completed")

        # The auditor: the timeline names who did what, for which organisation, and why;
        # the chain verifies.
        auditor.sign_in()
        auditor.page.goto(initiative_url)
        auditor.page.get_by_role("link", name="Timeline of every decision").click()
        timeline = auditor.page.locator("main").inner_text()
        assert "Ana Reviewer" in timeline and "A sound, well-partnered plan." in timeline
        assert "Comune di Bologna" in timeline
        check(auditor, "timeline")
        auditor.page.get_by_role("link", name="Audit", exact=True).click()
        check(auditor, "audit-entries")
        auditor.page.goto("/console/audit/integrity")
        auditor.page.get_by_role("button", name=re.compile("Verify")).click()
        auditor.page.locator(".verdict-ok").wait_for()
        check(auditor, "integrity")
        auditor.page.goto("/console/impact")
        check(auditor, "impact")

        # Phone-sized screen: the list fits the width; French on the way.
        phone = Person(
            browser, server, "milan@novisad.test", viewport={"width": 390, "height": 844}
        )
        phone.sign_in()
        phone.page.goto("/console/initiatives?lang=fr")
        assert phone.page.locator("h1").inner_text() == "Initiatives"
        assert phone.page.get_by_label("Rechercher").is_visible()
        check(phone, "phone-list-fr")
        for path in ("/console/initiatives", initiative_url, "/console/impact"):
            phone.page.goto(path)
            overflow = phone.page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 1, f"{path} is {overflow}px wider than a phone screen"
        phone.close()

        # Without JavaScript the pages read the same (server-rendered).
        nojs = Person(browser, server, "olaf@board.test", java_script_enabled=False)
        nojs.sign_in()
        nojs.page.goto(initiative_url)
        assert "Four corridors planted." in nojs.page.locator("main").inner_text()
        nojs.page.goto("/console/good-practices")
        assert nojs.page.locator("h1").is_visible()  # (axe needs JavaScript: not here)
        nojs.close()
    finally:
        for person in (lead, partner, reviewer, auditor):
            person.close()
    assert not problems, problems
    errors = {p.email: p.errors for p in (lead, partner, reviewer, auditor) if p.errors}
    assert not errors, errors
