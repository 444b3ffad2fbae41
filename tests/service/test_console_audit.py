"""The console's auditor pages: audit entries (and CSV), an initiative's timeline and diffs,
the integrity of the record; for auditors and admins only."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from werkzeug.test import TestResponse

from service.api.auditing import CSV_COLUMNS
from tests.service.conftest import PASSWORD, Browser, Client, World, browser, ok
from tests.service.test_audit import EventRows

UNKNOWN = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def person(world: World, name: str, organisation: str, *roles: str) -> Client:
    """An account with a name of its own (the world's helper names everybody alike)."""
    email = f"{name.split()[0].lower()}.{organisation.split()[0].lower()}@twinning.test"
    organisation_id = world.organisation(name=organisation)
    ok(
        world.admin.post(
            "/api/v1/users",
            {
                "email": email,
                "name": name,
                "password": PASSWORD,
                "organisation_id": organisation_id,
                "roles": list(roles),
            },
        ),
        201,
    )
    return world.login(email)


@pytest.fixture
def story(world: World) -> dict[str, Any]:
    """An initiative from proposal to approval: proposed, co-designed, renamed, reviewed."""
    lead = person(world, "Lucia Rossi", "Comune di Lucca", "partner")
    partner = person(world, "Marko Petrovic", "Grad Kraljevo", "partner")
    reviewer = person(world, "Claire Martin", "Agence Nationale", "reviewer")
    auditor = person(world, "Anna Auditor", "Court of Auditors", "auditor")
    body = world.in_co_design(lead, partner)  # versions 1 to 4
    path = f"/api/v1/initiatives/{body['id']}"
    body = ok(partner.patch(path, {"title": {"en": "Renamed heritage walk"}, "base_version": 4}))
    body = ok(lead.post(f"{path}/submit", version=body["version"]))
    body = ok(
        reviewer.post(
            f"{path}/reviews",
            {"decision": "approve", "rationale": "Well argued and feasible."},
            version=body["version"],
        )
    )
    world.project()
    return {
        "lead": lead,
        "partner": partner,
        "reviewer": reviewer,
        "auditor": auditor,
        "initiative": body,
        "console": browser(world, auditor),
    }


def html(response: TestResponse, status: int = 200) -> str:
    text = response.get_data(as_text=True)
    assert response.status_code == status, (response.status_code, text[:2000])
    return text


def table_rows(page: str) -> list[str]:
    """The body rows of the page's (first) table."""
    match = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
    return re.findall(r"<tr>(.*?)</tr>", match.group(1), re.S) if match else []


def positions(page: str) -> list[int]:
    return [int(re.search(r'<th scope="row">(\d+)</th>', row).group(1)) for row in table_rows(page)]  # type: ignore[union-attr]


# ------------------------------------------------------------------------ entries
def test_entries_list_every_event_and_filters_narrow_them(
    world: World, story: dict[str, Any]
) -> None:
    console: Browser = story["console"]
    initiative_id = story["initiative"]["id"]
    page = html(console.get("/console/audit"))
    assert "<h1>Audit entries</h1>" in page and page.count("<h1") == 1
    for label in ("Proposed", "Partner joined", "Edited", "Review recorded"):
        assert f"<td>{label}" in page
    assert "Well argued and feasible." in page
    assert "Lucia Rossi" in page and "Comune di Lucca" in page
    assert f'href="/console/initiatives/{initiative_id}"' in page
    # every input has its label
    for name in ("actor_id", "organisation_id", "initiative_id", "type", "aggregate_type"):
        assert f'<label for="{name}">' in page and f'id="{name}"' in page
    assert '<label for="from">' in page and '<label for="to">' in page
    every = positions(page)
    assert every == sorted(every) and len(every) > 7
    bootstrap = table_rows(page)[0]  # the platform registering its administration
    assert "the platform itself" in bootstrap and "actor_id=system" not in page

    page = html(console.get(f"/console/audit?initiative_id={initiative_id}"))
    assert len(table_rows(page)) == 7
    page = html(console.get(f"/console/audit?initiative_id={initiative_id}&type=ReviewRecorded"))
    [row] = table_rows(page)
    assert "Review recorded" in row and "Claire Martin" in row and "Well argued" in row
    assert "reviewer" in row
    page = html(console.get(f"/console/audit?actor_id={story['partner'].id}"))
    rows = table_rows(page)
    assert len(rows) == 2 and all("Marko Petrovic" in row for row in rows)
    page = html(
        console.get(f"/console/audit?organisation_id={story['lead'].organisation_id}&type=Proposed")
    )
    assert len(table_rows(page)) == 1
    page = html(console.get("/console/audit?aggregate_type=initiative"))
    assert len(table_rows(page)) == 7

    today = datetime.now(UTC).date()
    page = html(console.get(f"/console/audit?from={today}&to={today}"))
    assert positions(page) == every
    page = html(console.get(f"/console/audit?from={today + timedelta(days=1)}"))
    assert table_rows(page) == [] and "No entry matches." in page
    page = html(console.get(f"/console/audit?to={today - timedelta(days=1)}"))
    assert table_rows(page) == []


def test_entries_page_by_cursor_and_show_invalid_filters(
    world: World, story: dict[str, Any]
) -> None:
    console: Browser = story["console"]
    every = positions(html(console.get("/console/audit")))
    first = html(console.get("/console/audit?limit=3"))
    assert positions(first) == every[:3]
    link = re.search(r'rel="next" href="([^"]+)"', first)
    assert link is not None
    second = html(console.get(link.group(1).replace("&amp;", "&")))
    assert positions(second) == every[3:6]
    assert "First page" in second

    page = html(console.get("/console/audit?actor_id=nobody&type=Edited"), 422)
    assert 'class="field-error" id="actor_id-error"' in page and "Not a valid UUID." in page
    assert 'aria-invalid="true" aria-describedby="actor_id-error"' in page
    assert '<option value="Edited" selected>' in page  # the form as it was
    page = html(console.get("/console/audit?from=someday"), 422)
    assert 'id="from-error"' in page
    page = html(console.get("/console/audit?cursor=!!"), 422)
    assert "cursor" in page
    html(console.get("/console/audit?aggregate_type=planet"), 422)


def test_csv_download_is_the_apis_csv_for_the_same_filters(
    world: World, story: dict[str, Any]
) -> None:
    console: Browser = story["console"]
    initiative_id = story["initiative"]["id"]
    page = html(console.get(f"/console/audit?initiative_id={initiative_id}&limit=2"))
    link = re.search(r'href="(/console/audit\.csv[^"]*)"', page)
    assert link is not None and "limit" not in link.group(1) and initiative_id in link.group(1)
    response = console.get(link.group(1).replace("&amp;", "&"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    lines = list(csv.reader(io.StringIO(body)))
    assert lines[0] == CSV_COLUMNS
    assert [line[6] for line in lines[1:]] == [
        "Proposed",
        "PartnerInvited",
        "PartnerJoined",
        "CoDesignStarted",
        "Edited",
        "Submitted",
        "ReviewRecorded",
    ]
    assert lines[-1][CSV_COLUMNS.index("rationale")] == "Well argued and feasible."
    api = story["auditor"].get(
        "/api/v1/audit/entries",
        query_string={"initiative_id": initiative_id},
        headers={"Accept": "text/csv"},
    )
    assert api.get_data(as_text=True) == body

    everything = list(csv.reader(io.StringIO(console.get("/console/audit.csv").get_data(True))))
    assert len(everything) - 1 == len(positions(html(console.get("/console/audit?limit=200"))))
    html(console.get("/console/audit.csv?initiative_id=nope"), 422)


# ------------------------------------------------------------------------ timeline, diff
def test_timeline_shows_who_when_what_and_why(world: World, story: dict[str, Any]) -> None:
    console: Browser = story["console"]
    initiative_id = story["initiative"]["id"]
    page = html(console.get(f"/console/initiatives/{initiative_id}/timeline"))
    assert page.count("<h1") == 1 and "Renamed heritage walk" in page
    timeline = page[page.index('<ol class="timeline">') :]
    steps = re.findall(r'<li id="v(\d+)">', timeline)
    assert steps == [str(v) for v in range(1, 8)]
    for name in ("Lucia Rossi", "Marko Petrovic", "Claire Martin"):
        assert name in timeline
    for organisation in ("Comune di Lucca", "Grad Kraljevo", "Agence Nationale"):
        assert organisation in timeline
    assert "Well argued and feasible." in timeline
    edit = timeline[timeline.index('<li id="v5">') : timeline.index('<li id="v6">')]
    assert "Edited" in edit and "Marko Petrovic" in edit and "(partner)" in edit
    assert "Title (English)" in edit
    assert '<td class="diff-old" lang="en">Youth exchange on shared heritage</td>' in edit
    assert '<td class="diff-new" lang="en">Renamed heritage walk</td>' in edit
    assert f"/console/initiatives/{initiative_id}/diff?from=4&amp;to=5" in edit
    review = timeline[timeline.index('<li id="v7">') :]
    assert "In review" in review and "Approved" in review  # the state, by its label
    html(console.get(f"/console/initiatives/{UNKNOWN}/timeline"), 404)


def test_diff_compares_any_two_versions(world: World, story: dict[str, Any]) -> None:
    console: Browser = story["console"]
    path = f"/console/initiatives/{story['initiative']['id']}/diff"
    page = html(console.get(f"{path}?from=4&to=5"))
    rows = table_rows(page)
    assert len(rows) == 1 and "Title (English)" in rows[0]
    assert '<td class="diff-old" lang="en">Youth exchange on shared heritage</td>' in rows[0]
    assert '<td class="diff-new" lang="en">Renamed heritage walk</td>' in rows[0]
    assert '<label for="from">' in page and '<label for="to">' in page
    assert page.count("<option value=") == 14  # versions 1 to 7, twice

    page = html(console.get(f"{path}?from=1&to=7"))
    shown = " ".join(table_rows(page))
    assert "Renamed heritage walk" in shown and "Proposal" in shown and "Approved" in shown
    assert "Partner: Grad Kraljevo" in shown
    page = html(console.get(f"{path}?from=3&to=3"))
    assert "No field differs" in page

    page = html(console.get(path))  # the latest change by default
    assert '<option value="6" selected>' in page and '<option value="7" selected>' in page

    page = html(console.get(f"{path}?from=0&to=9"), 422)
    assert "Must be a version from 1 to 7." in page and 'id="to-error"' in page
    assert table_rows(page) == []
    page = html(console.get(f"{path}?from=2"), 422)
    assert "Missing data for required field." in page
    html(console.get(f"{path}?from=x&to=2"), 422)
    html(console.get(f"/console/initiatives/{UNKNOWN}/diff?from=1&to=1"), 404)


# ------------------------------------------------------------------------ integrity
@pytest.fixture
def rows(world: World, backend: dict[str, Any]) -> Iterator[EventRows]:
    store = EventRows(world, backend)
    yield store
    store.close()


def test_integrity_shows_the_digest_and_verifies_it(world: World, story: dict[str, Any]) -> None:
    console: Browser = story["console"]
    digest = ok(story["auditor"].get("/api/v1/audit/digest"))
    page = html(console.get("/console/audit/integrity"))
    assert digest["head_hash"] in page and f'"position": {digest["position"]}' in unescape(page)
    assert "<pre" in page and "verdict" not in page
    assert '<label for="position">' in page and '<label for="head_hash">' in page

    query = f"position={digest['position']}&head_hash={digest['head_hash']}"
    page = html(console.get(f"/console/audit/integrity?{query}"))
    assert (
        f'<p class="verdict-ok" role="status">Verified: {digest["position"]} events checked, '
        "the chain is intact.</p>"
    ) in page
    page = html(console.get("/console/audit/integrity?position=&head_hash="))
    assert "verdict-ok" in page  # the chain alone, up to its head

    page = html(console.get(f"/console/audit/integrity?position=3&head_hash={'0' * 64}"))
    assert 'class="verdict-bad"' in page and "Tampering detected at position 3." in page

    page = html(console.get("/console/audit/integrity?head_hash=xyz"), 422)
    assert 'id="head_hash-error"' in page and "verdict" not in page
    page = html(console.get("/console/audit/integrity?position=1000000"), 422)
    assert f"The chain has reached position {digest['position']}." in page


def test_integrity_names_the_first_tampered_position(
    world: World, story: dict[str, Any], rows: EventRows
) -> None:
    console: Browser = story["console"]
    digest = ok(story["auditor"].get("/api/v1/audit/digest"))
    history = ok(story["auditor"].get(f"/api/v1/initiatives/{story['initiative']['id']}/history"))[
        "items"
    ]
    forged = history[2]["position"]  # the partner joining
    rows.change(forged)
    query = f"position={digest['position']}&head_hash={digest['head_hash']}"
    page = html(console.get(f"/console/audit/integrity?{query}"))
    assert (
        f'<p class="verdict-bad" role="alert">Tampering detected at position {forged}.</p>' in page
    )
    assert "verdict-ok" not in page


# ------------------------------------------------------------------------ who may see
def pages_of(story: dict[str, Any]) -> list[str]:
    initiative_id = story["initiative"]["id"]
    return [
        "/console/audit",
        "/console/audit.csv",
        f"/console/initiatives/{initiative_id}/timeline",
        f"/console/initiatives/{initiative_id}/diff?from=1&to=2",
        "/console/audit/integrity",
        "/console/audit/integrity?position=1",
    ]


def test_only_auditors_and_admins_see_the_audit_pages(world: World, story: dict[str, Any]) -> None:
    partner = browser(world, story["partner"])
    reviewer = browser(world, story["reviewer"])
    admin = browser(world, world.admin)
    for path in pages_of(story):
        for outsider in (partner, reviewer):
            page = html(outsider.get(path), 403)
            assert "Not allowed" in page and "Well argued" not in page
        assert admin.get(path).status_code == 200, path
    assert "Audit entries" not in html(partner.get("/console/audit"), 403).split("<main")[0]


def test_signed_out_people_are_sent_to_sign_in(world: World, story: dict[str, Any]) -> None:
    anonymous = browser(world)
    for path in pages_of(story):
        response = anonymous.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"].startswith("/console/login?next="), path
