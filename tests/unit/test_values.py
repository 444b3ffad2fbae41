"""The field rules of an initiative, checked on their own: each message is what a client reads
under `errors` in a 422, so the tests pin the words as well as the verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from domain.values import (
    COUNT_MAX,
    COUNT_PROBLEM,
    LIST_MAX,
    Caller,
    Role,
    approval_steps,
    field_errors,
    is_count,
    is_http_url,
    is_iso_date,
    multilingual_errors,
    system_actor,
    whole_errors,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, True),
        (1, True),
        (COUNT_MAX, True),
        (COUNT_MAX + 1, False),
        (-1, False),
        (True, False),  # a bool is an int to Python, not a count of people
        (False, False),
        (1.0, False),
        ("3", False),
        (None, False),
    ],
)
def test_a_count_is_a_whole_number_from_zero_to_the_maximum(value: Any, expected: bool) -> None:
    assert is_count(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2027-02-28", True),
        ("2028-02-29", True),
        ("2027-02-29", False),  # the shape is right, the day does not exist
        ("2027-13-01", False),
        ("2027-1-01", False),
        ("27-01-01", False),
        ("2027-01-01T00:00", False),
        (" 2027-01-01", False),
        ("", False),
        (20270101, False),
        (None, False),
    ],
)
def test_an_iso_date_is_a_real_day_written_yyyy_mm_dd(value: Any, expected: bool) -> None:
    assert is_iso_date(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://example.org", True),
        ("https://example.org/a?b=c#d", True),
        ("HTTPS://EXAMPLE.ORG", True),
        ("https://" + "a" * 1992, True),  # 2,000 characters
        ("https://" + "a" * 1993, False),
        ("ftp://example.org", False),
        ("javascript:alert(1)", False),
        ("https://", False),
        ("https:// example.org", False),
        ("https://exa mple.org", False),
        ("https://.example.org", False),
        ("example.org", False),
        (None, False),
        (["https://example.org"], False),
    ],
)
def test_an_evidence_url_is_http_or_https(value: Any, expected: bool) -> None:
    assert is_http_url(value) is expected


def test_a_european_initiative_goes_through_national_then_network_review() -> None:
    assert approval_steps("european") == ["national_review", "network_review"]
    assert approval_steps("national") == ["national_review"]


def test_the_system_acts_as_itself_and_a_caller_acts_in_one_of_its_roles() -> None:
    system = system_actor("req-1")
    assert (system.account_id, system.organisation_id, system.role) == ("system",) * 3
    assert system.request_id == "req-1"
    assert system.as_dict() == {
        "account_id": "system",
        "organisation_id": "system",
        "role": "system",
        "request_id": "req-1",
    }
    caller = Caller("a", "o", frozenset({"partner", "reviewer"}), "req-2")
    assert caller.has(Role.REVIEWER) and not caller.has(Role.ADMIN)
    acting = caller.acting_as(Role.REVIEWER)
    assert (acting.account_id, acting.organisation_id, acting.role) == ("a", "o", "reviewer")
    assert acting.request_id == "req-2"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("title", {"en": "Green", "fr": "Vert"}, []),
        ("title", "Green", ["Must be a map of language codes to text."]),
        ("title", ["en"], ["Must be a map of language codes to text."]),
        ("title", {"xx": "Green"}, ["Unknown language code 'xx' (ISO 639-1 expected)."]),
        ("title", {"eng": "Green"}, ["Unknown language code 'eng' (ISO 639-1 expected)."]),
        ("title", {"en": 5}, ["Text in 'en' must be a string."]),
        ("title", {"en": " \n"}, ["Text in 'en' must not be empty."]),
        ("title", {"en": "x" * 200}, []),
        ("title", {"en": "x" * 201}, ["Text in 'en' is longer than 200 characters."]),
        ("summary", {"en": "x" * 2000}, []),
        ("summary", {"en": "x" * 2001}, ["Text in 'en' is longer than 2000 characters."]),
        ("narrative", {"en": "x" * 20001}, ["Text in 'en' is longer than 20000 characters."]),
        ("other", {"en": "x" * 30000}, []),  # no limit named for it
        (
            "title",
            {"xx": "A", "en": "", "fr": None},
            [
                "Unknown language code 'xx' (ISO 639-1 expected).",
                "Text in 'en' must not be empty.",
                "Text in 'fr' must be a string.",
            ],
        ),
    ],
)
def test_multilingual_text_maps_known_languages_to_bounded_text(
    name: str, value: Any, expected: list[str]
) -> None:
    assert multilingual_errors(name, value) == expected


GOOD: dict[str, Any] = {
    "title": {"en": "Green squares"},
    "summary": {"en": "Planting."},
    "description": {},
    "original_language": "en",
    "themes": ["environment", "youth"],
    "level": "european",
    "countries": ["FR", "XK"],
    "target_groups": ["young people", "x" * 200],
    "expected_participants": 40,
    "start_date": "2027-01-01",
    "end_date": None,
}


def test_valid_fields_have_no_errors() -> None:
    assert field_errors(GOOD) == {}
    assert whole_errors(GOOD) == {}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("colour", "green", ["Unknown field."]),
        ("title", {}, ["At least one language is required."]),
        ("summary", {}, ["At least one language is required."]),
        ("description", "text", ["Must be a map of language codes to text."]),
        ("title", {"en": ""}, ["Text in 'en' must not be empty."]),
        ("original_language", "xx", ["Unknown language code (ISO 639-1)."]),
        ("original_language", None, ["Unknown language code (ISO 639-1)."]),
        ("themes", [], ["At least one is required."]),
        ("themes", "youth", ["Must be a list."]),
        ("themes", ["youth", "knitting"], ["Unknown theme 'knitting'."]),
        ("themes", ["youth", "youth"], ["Items must not repeat."]),
        ("level", "regional", ["Must be one of national, european."]),
        ("countries", [], ["At least one is required."]),
        ("countries", ["FR", "ITA", "fr"], ["Unknown country 'ITA'.", "Unknown country 'fr'."]),
        ("countries", ["FR", "FR"], ["Items must not repeat."]),
        ("countries", ["FR"] * (LIST_MAX + 1), [f"At most {LIST_MAX} items."]),
        ("target_groups", ["  "], ["Unknown target group '  '."]),
        ("target_groups", ["x" * 201], ["Unknown target group '" + "x" * 201 + "'."]),
        ("target_groups", [3], ["Unknown target group 3."]),
        ("target_groups", ["a", "a"], ["Items must not repeat."]),
        ("target_groups", {"a": 1}, ["Must be a list."]),
        ("expected_participants", -1, [COUNT_PROBLEM]),
        ("expected_participants", "12", [COUNT_PROBLEM]),
        ("start_date", "2027-02-30", ["Must be an ISO date."]),
        ("end_date", "tomorrow", ["Must be an ISO date."]),
    ],
)
def test_each_field_names_what_is_wrong_with_it(name: str, value: Any, expected: list[str]) -> None:
    assert field_errors({**GOOD, name: value}) == {name: expected}


def test_a_list_of_exactly_the_maximum_is_accepted() -> None:
    many = [f"group {i}" for i in range(LIST_MAX)]
    assert field_errors({"target_groups": many}) == {}
    assert field_errors({"target_groups": [*many, "one more"]}) == {
        "target_groups": [f"At most {LIST_MAX} items."]
    }


def test_every_wrong_field_is_named_at_once() -> None:
    errors = field_errors({"themes": ["nope"], "countries": ["ITA"], "level": "x", "odd": 1})
    assert set(errors) == {"themes", "countries", "level", "odd"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"original_language": "fr"},
            {
                "title": ["Must have text in the original language 'fr'."],
                "summary": ["Must have text in the original language 'fr'."],
            },
        ),
        ({"summary": {"fr": "x"}}, {"summary": ["Must have text in the original language 'en'."]}),
        (
            {"start_date": "2027-02-01", "end_date": "2027-01-31"},
            {"end_date": ["Must not be before start_date."]},
        ),
        ({"start_date": "2027-02-01", "end_date": "2027-02-01"}, {}),
        ({"start_date": None, "end_date": "2027-01-31"}, {}),
        ({"start_date": "2027-02-01", "end_date": None}, {}),
    ],
)
def test_fields_that_depend_on_each_other_are_checked_together(
    fields: dict[str, Any], expected: dict[str, list[str]]
) -> None:
    assert whole_errors({**GOOD, **fields}) == expected


def test_fields_not_given_are_not_checked_together() -> None:
    assert whole_errors({"original_language": "fr"}) == {}
    assert whole_errors({"title": {"en": "x"}}) == {}
