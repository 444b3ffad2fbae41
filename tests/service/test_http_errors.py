"""HTTP-level errors: every one a problem document with the status API.md fixes."""

from __future__ import annotations

import json

import pytest

from tests.service.conftest import World, ok, problem, proposal

UNKNOWN = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def test_malformed_json_is_400(world: World) -> None:
    lead = world.partner()
    response = lead.post(
        "/api/v1/initiatives", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert "JSON" in problem(response, 400)["detail"]


def test_invalid_utf8_is_400(world: World) -> None:
    lead = world.partner()
    response = lead.post(
        "/api/v1/initiatives",
        data=b'{"title": {"en": "\xff\xfe"}}',
        headers={"Content-Type": "application/json"},
    )
    problem(response, 400)


def test_deeply_nested_json_is_400_not_500(world: World) -> None:
    lead = world.partner()
    response = lead.post(
        "/api/v1/initiatives",
        data="[" * 100_000 + "]" * 100_000,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in (400, 413)
    assert response.mimetype == "application/problem+json"


def test_a_body_over_one_mebibyte_is_413(world: World) -> None:
    lead = world.partner()
    big = json.dumps(proposal(description={"en": "x" * (1024 * 1024)}))
    response = lead.post(
        "/api/v1/initiatives", data=big, headers={"Content-Type": "application/json"}
    )
    problem(response, 413)


def test_a_body_of_another_type_is_415(world: World) -> None:
    lead = world.partner()
    response = lead.post(
        "/api/v1/initiatives", data="title=x", headers={"Content-Type": "text/plain"}
    )
    problem(response, 415)


def test_a_command_without_fields_accepts_an_empty_body_with_no_type(world: World) -> None:
    lead = world.partner()
    body = world.propose(lead)
    response = lead.post(f"/api/v1/initiatives/{body['id']}/co-design", version=1)
    assert ok(response)["state"] == "co_design"


def test_wrong_types_are_422_keyed_by_field(world: World) -> None:
    lead = world.partner()
    body = problem(
        lead.post(
            "/api/v1/initiatives",
            proposal(title="not a map", expected_participants="many", themes="youth"),
        ),
        422,
    )
    assert {"title", "expected_participants", "themes"} <= set(body["errors"])


def test_domain_rules_are_422_keyed_by_field(world: World) -> None:
    lead = world.partner()
    body = problem(
        lead.post(
            "/api/v1/initiatives",
            proposal(countries=["ZZ"], themes=["astrology"], title={"de": "Nur Deutsch"}),
        ),
        422,
    )
    assert {"countries", "themes", "title"} <= set(body["errors"])


def test_unknown_fields_are_422(world: World) -> None:
    lead = world.partner()
    body = problem(lead.post("/api/v1/initiatives", proposal(budget=1000)), 422)
    assert "budget" in body["errors"]


def test_a_json_array_body_is_422(world: World) -> None:
    lead = world.partner()
    problem(lead.post("/api/v1/initiatives", [1, 2, 3]), 422)


def test_an_unknown_initiative_is_404(world: World) -> None:
    lead = world.partner()
    problem(lead.get(f"/api/v1/initiatives/{UNKNOWN}"), 404)
    problem(lead.post(f"/api/v1/initiatives/{UNKNOWN}/submit", version=1), 404)
    problem(lead.get("/api/v1/initiatives/not-a-uuid"), 404)
    problem(lead.get(f"/api/v1/organisations/{UNKNOWN}"), 404)


def test_an_unknown_path_and_a_wrong_method_are_problems(world: World) -> None:
    lead = world.partner()
    problem(lead.get("/api/v1/nothing-here"), 404)
    response = lead.request("PUT", "/api/v1/themes")
    problem(response, 405)


def test_a_missing_if_match_is_428_and_a_stale_one_412(world: World) -> None:
    lead = world.partner()
    body = world.propose(lead)
    path = f"/api/v1/initiatives/{body['id']}"
    missing = problem(lead.post(f"{path}/co-design"), 428)
    assert missing["detail"] == (
        'This command needs the version you read. Send If-Match: "<version>".'
    )
    missing = problem(lead.patch(path, {"expected_participants": 5}), 428)
    assert missing["detail"] == (
        'Name the version you edited. Send If-Match: "<version>", or "base_version" in the body.'
    )
    stale = problem(lead.post(f"{path}/co-design", version=7), 412)
    assert stale["current_version"] == 1
    problem(lead.post(f"{path}/co-design", headers={"If-Match": "garbage"}), 412)
    assert ok(lead.post(f"{path}/co-design", headers={"If-Match": 'W/"1"'}))["version"] == 2


def test_an_invalid_transition_is_409_with_state_and_allowed_actions(world: World) -> None:
    lead = world.partner()
    body = world.propose(lead)
    conflict = problem(lead.post(f"/api/v1/initiatives/{body['id']}/follow-up", version=1), 409)
    assert conflict["type"].endswith("invalid-transition")
    assert conflict["state"] == "proposal"
    assert "start_co_design" in conflict["allowed_actions"]


def test_a_submission_without_partners_is_requirements_not_met(world: World) -> None:
    lead = world.partner()
    body = world.propose(lead)
    path = f"/api/v1/initiatives/{body['id']}"
    ok(lead.post(f"{path}/co-design", version=1))
    conflict = problem(lead.post(f"{path}/submit", version=2), 409)
    assert conflict["type"].endswith("requirements-not-met")
    assert "partner" in conflict["detail"]


def test_a_european_submission_from_one_country_is_requirements_not_met(world: World) -> None:
    lead = world.partner(country="AL")
    partner = world.partner(country="AL", type_="civil_society")
    body = world.in_co_design(lead, partner, level="european")
    conflict = problem(
        lead.post(f"/api/v1/initiatives/{body['id']}/submit", version=body["version"]), 409
    )
    assert conflict["type"].endswith("requirements-not-met")
    assert "countries" in conflict["detail"]


@pytest.mark.parametrize(
    "path",
    ["/api/v1/users/me", "/api/v1/organisations", f"/api/v1/initiatives/{UNKNOWN}"],
)
def test_anonymous_requests_are_401(world: World, path: str) -> None:
    problem(world.anonymous.get(path), 401)


def test_public_endpoints_need_no_account(world: World) -> None:
    assert ok(world.anonymous.get("/api/v1/themes"))["items"]
    assert ok(world.anonymous.get("/healthz"))["status"] == "ok"
    assert ok(world.anonymous.get("/readyz"))["status"] == "ready"
    assert world.anonymous.get("/api/v1/openapi.json").status_code == 200
    assert world.anonymous.get("/api/docs").status_code == 200
    root = world.anonymous.get("/")
    assert root.status_code in (301, 302) and root.headers["Location"].endswith("/api/docs")


def test_themes_name_the_themes_of_thematic_twinning(world: World) -> None:
    themes = {t["id"]: t["label"] for t in ok(world.anonymous.get("/api/v1/themes"))["items"]}
    for theme in (
        "culture_heritage",
        "youth",
        "environment",
        "local_democracy",
        "social_inclusion",
    ):
        assert theme in themes
        assert themes[theme]["en"] and themes[theme]["fr"]


def test_the_openapi_document_describes_every_route_and_its_errors(world: World) -> None:
    spec = ok(world.anonymous.get("/api/v1/openapi.json"))
    paths = spec["paths"]
    rules = {
        str(rule).replace("<uuid:", "{").replace("<", "{").replace(">", "}")
        for rule in world.app.url_map.iter_rules()
        if str(rule).startswith("/api/v1/") and "openapi" not in str(rule)
    }
    documented = {p for p in paths}
    missing = {r for r in rules if r not in documented}
    assert not missing, missing
    submit = paths["/api/v1/initiatives/{initiative_id}/submit"]["post"]["responses"]
    assert {"200", "401", "403", "404", "409", "412", "428"} <= set(submit)
    assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_the_openapi_document_names_every_query_and_header_parameter(world: World) -> None:
    """Query parameters parsed by a schema and headers read by hand are both documented:
    one must not hide the other."""
    paths = ok(world.anonymous.get("/api/v1/openapi.json"))["paths"]
    checked = 0
    for rule in world.app.url_map.iter_rules():
        view = world.app.view_functions[rule.endpoint]
        get = getattr(getattr(view, "view_class", None), "get", None)
        if not str(rule).startswith("/api/v1/") or get is None:
            continue
        apidoc = getattr(get, "_apidoc", {})
        expected = {header["name"] for header in apidoc.get("headers", [])}
        for parameter in apidoc.get("arguments", {}).get("parameters", []):
            if parameter.get("location") == "query":
                schema = parameter["schema"]
                expected |= {f.data_key or name for name, f in schema.fields.items()}
        path = str(rule).replace("<uuid:", "{").replace("<", "{").replace(">", "}")
        documented = {p["name"] for p in paths[path]["get"].get("parameters", [])}
        assert expected <= documented, (path, expected - documented)
        checked += bool(expected)
    assert checked >= 7  # the lists, the queue, the inbox, the statistics, the audit entries


def test_every_response_carries_a_request_id(world: World) -> None:
    response = world.anonymous.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    assert len(world.anonymous.get("/healthz").headers["X-Request-Id"]) == 32
