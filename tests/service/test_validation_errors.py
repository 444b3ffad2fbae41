"""One 422 names every invalid field of a request, whether the schema or the domain refuses
it: a client fixes its document once, not once per field."""

from __future__ import annotations

import uuid
import weakref
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.service.conftest import Client, World, browser, proposal
from tests.service.conftest import problem as problem_of


def errors_of(response: Any) -> dict[str, Any]:
    return dict(problem_of(response, 422)["errors"])


def test_a_proposal_names_schema_and_domain_errors_together(world: World) -> None:
    lead = world.partner()
    body = proposal(title="not a map", themes=["nope"], countries=["ITA"])
    errors = errors_of(lead.post("/api/v1/initiatives", body))
    assert set(errors) == {"title", "themes", "countries"}
    assert errors["themes"] == ["Unknown theme 'nope'."]
    assert errors["countries"] == ["Unknown country 'ITA'."]


def command_errors(
    world: World, method: str, suffix: str, body: dict[str, Any], by: Client | None = None
) -> dict[str, Any]:
    """The 422's errors of a command on a new proposal, by its lead unless `by` someone."""
    lead = world.partner()
    initiative = world.propose(lead)
    response = (by or lead).request(
        method, f"/api/v1/initiatives/{initiative['id']}{suffix}", body, version=1
    )
    return errors_of(response)


def test_a_co_edit_names_schema_and_domain_errors_together(world: World) -> None:
    edit = {"title": 5, "countries": ["ITA"], "original_language": "zz"}
    errors = command_errors(world, "PATCH", "", edit)
    assert set(errors) == {"title", "countries", "original_language"}


def test_a_co_edit_names_its_base_version_and_its_fields_together(world: World) -> None:
    edit = {"countries": ["ITA"], "themes": ["nope"], "base_version": 9}
    errors = command_errors(world, "PATCH", "", edit)
    assert set(errors) == {"countries", "themes", "base_version"}
    assert errors["base_version"] == ["Must be a version of this initiative (1 to 1)."]


def test_an_amendment_names_its_changes_and_rationale_together(world: World) -> None:
    amendment = {"changes": {"title": 5, "themes": ["nope"]}, "rationale": "   ", "base_version": 1}
    errors = command_errors(world, "POST", "/amendments", amendment)
    assert set(errors) == {"changes", "rationale"}
    assert set(errors["changes"]) == {"title", "themes"}
    assert errors["rationale"] == ["Must not be empty."]


def test_a_report_names_schema_and_domain_errors_together(world: World) -> None:
    report = {
        "period_start": "2027-02-01",
        "period_end": "2027-01-01",
        "participants": "many",
        "activities": 3,
        "narrative": {"xx": "What happened"},
        "evidence_urls": ["ftp://example.org/photos"],
    }
    errors = command_errors(world, "POST", "/reports", report)
    assert set(errors) == {"period_end", "participants", "narrative", "evidence_urls"}


def test_a_review_names_its_decision_and_rationale_together(world: World) -> None:
    review = {"decision": "maybe", "rationale": "  "}
    errors = command_errors(world, "POST", "/reviews", review, by=world.reviewer())
    assert set(errors) == {"decision", "rationale"}
    assert errors["rationale"] == ["A rationale is required."]


def test_an_organisation_names_every_invalid_field(world: World) -> None:
    errors = errors_of(
        world.admin.post("/api/v1/organisations", {"name": " ", "type": "club", "country": "ZZ"})
    )
    assert set(errors) == {"name", "type", "country"}


def test_an_account_names_every_invalid_field(world: World) -> None:
    account = {
        "email": "not an address",
        "name": "   ",
        "password": "short",
        "organisation_id": world.organisation(),
        "roles": ["king"],
    }
    errors = errors_of(world.admin.post("/api/v1/users", account))
    assert set(errors) == {"email", "name", "password", "roles"}
    unknown = {**account, "organisation_id": str(uuid.uuid4())}
    errors = errors_of(world.admin.post("/api/v1/users", unknown))
    assert set(errors) == {"email", "name", "password", "roles", "organisation_id"}
    assert errors["organisation_id"] == ["No such organisation."]
    only = {**unknown, "email": "x@twinning.test", "name": "X", "password": "p" * 12}
    assert errors_of(world.admin.post("/api/v1/users", {**only, "roles": []})) == {
        "organisation_id": ["No such organisation."]
    }


_leads: weakref.WeakKeyDictionary[World, Client] = weakref.WeakKeyDictionary()


def lead_of(world: World) -> Client:
    """One partner per world, whatever the number of examples (logins are rate limited)."""
    if world not in _leads:
        _leads[world] = world.partner()
    return _leads[world]


# Each field of a proposal with ways to break it, refused by the schema (a wrong type, a value
# outside the vocabulary) or by the domain (an unknown code, a rule on the value).
BROKEN: dict[str, list[Any]] = {
    "title": ["not a map", {"en": 7}, {"xx": "Title"}, {"en": "x" * 201}],
    "summary": [["a list"], {"en": "   "}, {}],
    "description": [3, {"en": "x" * 20_001}],
    "original_language": [42, "zz"],
    "themes": ["youth", [], ["nope"], ["youth", "youth"]],
    "level": ["galactic", None],
    "countries": [{"IT": 1}, ["ITA"], []],
    "target_groups": ["not a list", [""]],
    "expected_participants": [-1, "12", True, 10**12],
    "start_date": [20270101, "2026-02-30", "28/11/2026"],
    "end_date": [[], "2027-13-01"],
}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    broken=st.dictionaries(
        st.sampled_from(sorted(BROKEN)),
        st.none(),
        min_size=1,
    ).flatmap(
        lambda names: st.fixed_dictionaries({name: st.sampled_from(BROKEN[name]) for name in names})
    )
)
def test_any_set_of_broken_fields_is_named_exactly(world: World, broken: dict[str, Any]) -> None:
    errors = errors_of(lead_of(world).post("/api/v1/initiatives", proposal(**broken)))
    assert set(errors) == set(broken), (broken, errors)


def test_the_console_form_shows_schema_and_domain_errors_together(world: World) -> None:
    """The console loads its forms with the API's schemas: the same one pass."""
    person = browser(world, world.partner())
    form = {
        "title.en": "Green corridors",
        "summary.en": "Youth groups plant green corridors.",
        "original_language": "en",
        "level": "galactic",
        "countries": "ZZ",
        "themes_present": "1",
        "themes": ["environment"],
    }
    response = person.post("/console/initiatives/new", form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="level-error"' in html
    assert 'id="countries-error"' in html
