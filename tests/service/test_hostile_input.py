"""Hostile input: oversize bodies, deep nesting, invalid UTF-8, control characters, huge arrays
and numbers, injection strings, odd ids in paths, unknown fields: every one a 4xx problem
document, never a 500, and nothing that could poison a read view. Legitimate text in any
script is stored and returned exactly, and projected."""

from __future__ import annotations

from typing import Any

import pytest

from tests import reliability
from tests.service.conftest import World, ok, problem, proposal

SCRIPTS = {
    "en": "Twinning: Reggio Emilia & Tbilisi — “quotes”, ‘apostrophes’, 50 % more",
    "ar": "توأمة المدن: تبادل الشباب",
    "zh": "城市结对：青年交流",
    "ka": "ქალაქების დაძმობილება",
    "hy": "Քաղաքների քույրություն",
    "sr": "Братимљење градова",
    "el": "Αδελφοποίηση πόλεων",
    "hi": "नगर जुड़वां कार्यक्रम",
    "de": "Städtepartnerschaft: Jugendaustausch 👩🏽‍🤝‍👨🏻 e\u0301",  # emoji ZWJ, combining mark
}
INJECTIONS = [
    "'; DROP TABLE twinning_events; --",
    '" OR 1=1 --',
    "<script>alert(1)</script>",
    "${jndi:ldap://example.org/a}",
    "{{7*7}}",
    "../../../../etc/passwd",
    "%00%0d%0a",
    "\\u0000 written out, not a NUL",
]


def test_legitimate_text_in_any_script_is_kept_exactly(world: World) -> None:
    lead = world.partner()
    title = {lang: text[:200] for lang, text in SCRIPTS.items()}
    made = world.propose(
        lead, title=title, summary={"en": " | ".join(INJECTIONS)}, target_groups=INJECTIONS
    )
    assert made["title"] == title
    assert made["summary"] == {"en": " | ".join(INJECTIONS)}
    assert made["target_groups"] == INJECTIONS
    assert ok(lead.get(f"/api/v1/initiatives/{made['id']}"))["title"] == title
    world.project()  # no text poisons the projector
    for lang, text in SCRIPTS.items():
        word = text.split()[-1]
        found = ok(lead.get("/api/v1/initiatives", query_string={"q": word}))["items"]
        assert made["id"] in [item["id"] for item in found], (lang, word)
    for injection in INJECTIONS:
        listed = lead.get("/api/v1/initiatives", query_string={"q": injection})
        assert listed.status_code == 200
    reliability.record(__name__, len(SCRIPTS) + 2 * len(INJECTIONS))


BAD_BODIES: list[tuple[str, bytes, str, int]] = [
    ("oversize", b'{"title": "' + b"x" * (1024 * 1024 + 10) + b'"}', "application/json", 413),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
    ("invalid UTF-8", b'{"title": {"en": "\xff\xfe"}}', "application/json", 400),
    ("truncated", b'{"title": ', "application/json", 400),
    ("not JSON type", b"title=x", "application/x-www-form-urlencoded", 415),
    ("XML", b"<initiative/>", "application/xml", 415),
    ("JSON array", b"[1, 2, 3]", "application/json", 422),
    ("JSON string", b'"just a string"', "application/json", 422),
    ("NaN", b'{"expected_participants": NaN}', "application/json", 422),
    ("NUL in text", b'{"title": {"en": "a\\u0000b"}}', "application/json", 422),
    ("bell in text", b'{"title": {"en": "ring \\u0007"}}', "application/json", 422),
    ("lone surrogate", b'{"title": {"en": "\\ud800"}}', "application/json", 422),
    ("NUL in a key", b'{"title": {"e\\u0000n": "x"}}', "application/json", 422),
    ("huge number", b'{"expected_participants": 1' + b"0" * 40 + b"}", "application/json", 422),
    ("unknown field", b'{"title": {"en": "T"}, "admin": true}', "application/json", 422),
]


@pytest.mark.parametrize(
    ("label", "body", "content_type", "status"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
def test_bad_bodies_are_refused_with_problems(
    world: World, label: str, body: bytes, content_type: str, status: int
) -> None:
    lead = world.partner()
    made = world.propose(lead)
    for method, path in (
        ("POST", "/api/v1/initiatives"),
        ("PATCH", f"/api/v1/initiatives/{made['id']}"),
        ("POST", f"/api/v1/initiatives/{made['id']}/amendments"),
    ):
        response = lead.request(
            method,
            path,
            data=body,
            headers={"Content-Type": content_type},
            version=made["version"] if method == "PATCH" else None,
        )
        problem(response, status)
    world.project()  # nothing reached the views that they cannot take
    reliability.record(__name__, 3)


BAD_FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("huge array", {"target_groups": [f"g{n}" for n in range(20_000)]}),  # under 1 MiB
    ("huge theme list", {"themes": ["youth"] * 5000}),
    ("huge count", {"expected_participants": 10**12}),
    ("negative count", {"expected_participants": -1}),
    ("count as bool", {"expected_participants": True}),
    ("title too long", {"title": {"en": "x" * 201}}),
    ("unknown language", {"title": {"xx": "T"}}),
    ("country not ISO", {"countries": ["ZZ"]}),
    ("date not ISO", {"start_date": "28/11/2026"}),
    ("impossible date", {"start_date": "2026-02-30"}),
    ("end before start", {"start_date": "2027-02-01", "end_date": "2027-01-01"}),
    ("wrong types", {"title": "not a map", "themes": "youth"}),
]


@pytest.mark.parametrize(("label", "fields"), BAD_FIELDS, ids=[b[0] for b in BAD_FIELDS])
def test_bad_fields_are_422_keyed_by_field(
    world: World, label: str, fields: dict[str, Any]
) -> None:
    lead = world.partner()
    body = problem(lead.post("/api/v1/initiatives", proposal(**fields)), 422)
    assert set(body["errors"]) & set(fields), body
    reliability.record(__name__, 1)


ODD_PATHS = [
    "/api/v1/initiatives/not-a-uuid",
    "/api/v1/initiatives/00000000-0000-0000-0000-000000000000",
    "/api/v1/initiatives/%00",
    "/api/v1/initiatives/..%2F..%2Fetc%2Fpasswd",
    "/api/v1/initiatives/" + "a" * 5000,
    "/api/v1/initiatives/%E2%80%AE",
    "/api/v1/organisations/'%20OR%201=1",
    "/api/v1/users/12345",
    "/api/v1/initiatives/00000000-0000-0000-0000-000000000000/history",
    "/api/v1/nothing-here",
]


@pytest.mark.parametrize("path", ODD_PATHS)
def test_odd_ids_in_paths_are_404_problems(world: World, path: str) -> None:
    auditor = world.account(world.organisation(type_="other"), "auditor")
    problem(auditor.get(path), 404)
    reliability.record(__name__, 1)


ODD_QUERIES = [
    {"limit": "-1"},
    {"limit": "100000000000000000000"},
    {"limit": "ten"},
    {"cursor": "garbage"},
    {"cursor": "x" * 10_000},
    {"state": "nonsense"},
    {"sort": "title; DROP TABLE view_initiatives"},
    {"updated_after": "yesterday"},
    {"q": "nul \x00 byte"},
    {"theme": "\x07"},
]


@pytest.mark.parametrize("query", ODD_QUERIES, ids=[str(list(q))[:40] for q in ODD_QUERIES])
def test_odd_query_parameters_are_422(world: World, query: dict[str, str]) -> None:
    lead = world.partner()
    body = problem(lead.get("/api/v1/initiatives", query_string=query), 422)
    assert set(body["errors"]) == set(query), body
    reliability.record(__name__, 1)


def test_odd_headers_are_refused_cleanly(world: World) -> None:
    lead = world.partner()
    made = world.propose(lead)
    path = f"/api/v1/initiatives/{made['id']}/co-design"
    for if_match in ('"abc"', "*", '"99999999999999999999"', "\x01"):
        response = lead.post(path, headers={"If-Match": if_match})
        assert 400 <= response.status_code < 500, (if_match, response.status_code)
        problem(response, response.status_code)
    for position in ("-1", "abc", "1" * 40):
        response = lead.get("/api/v1/initiatives", headers={"X-Min-Position": position})
        assert 400 <= response.status_code < 500, (position, response.status_code)
    for token in ("x" * 10_000, "\x00", "Bearer"):
        response = world.anonymous.get("/api/v1/users/me", headers={"Authorization": token})
        problem(response, 401)
    reliability.record(__name__, 10)
