"""Domain errors carry what the service puts in a problem document: a slug for its type, the
detail, and the members each kind adds."""

from __future__ import annotations

import pytest

from domain.errors import (
    ConflictOfInterest,
    DomainError,
    DuplicateEmail,
    EditConflict,
    FieldConflict,
    FourEyes,
    InvalidFields,
    InvalidTransition,
    NotFound,
    NotPermitted,
    PreconditionRequired,
    RequirementsNotMet,
    StaleVersion,
    StateConflict,
)


@pytest.mark.parametrize(
    ("error", "slug"),
    [
        (NotFound, "not-found"),
        (NotPermitted, "forbidden"),
        (ConflictOfInterest, "conflict-of-interest"),
        (FourEyes, "four-eyes"),
        (RequirementsNotMet, "requirements-not-met"),
        (StateConflict, "conflict"),
        (PreconditionRequired, "precondition-required"),
        (DuplicateEmail, "duplicate-email"),
    ],
)
def test_a_plain_error_carries_its_slug_and_detail_only(
    error: type[DomainError], slug: str
) -> None:
    raised = error("What went wrong.")
    assert raised.slug == slug
    assert raised.detail == str(raised) == "What went wrong."
    assert raised.extra() == {}


def test_conflicts_of_interest_and_four_eyes_are_refusals() -> None:
    assert issubclass(ConflictOfInterest, NotPermitted) and issubclass(FourEyes, NotPermitted)


def test_an_invalid_transition_names_the_state_and_what_is_allowed() -> None:
    raised = InvalidTransition("Cannot submit.", state="approved", allowed_actions=["withdraw"])
    assert (raised.slug, raised.detail) == ("invalid-transition", "Cannot submit.")
    assert raised.extra() == {"state": "approved", "allowed_actions": ["withdraw"]}


def test_invalid_fields_are_keyed_by_field_with_a_default_detail() -> None:
    raised = InvalidFields({"title": ["Too long."]})
    assert (raised.slug, raised.detail) == ("validation-error", "Some fields are invalid.")
    assert raised.extra() == {"errors": {"title": ["Too long."]}}
    assert InvalidFields({}, "Other words.").detail == "Other words."


def test_a_stale_version_names_the_current_one() -> None:
    raised = StaleVersion("You read version 3.", 5)
    assert (raised.slug, raised.detail) == ("stale-version", "You read version 3.")
    assert raised.extra() == {"current_version": 5}


def test_an_edit_conflict_lists_each_field_with_both_values() -> None:
    conflict = FieldConflict("title", {"en": "Mine"}, {"en": "Theirs"}, "account-2", 4)
    raised = EditConflict("Changed by someone else since version 2: title.", [conflict])
    assert raised.slug == "edit-conflict"
    assert raised.detail == "Changed by someone else since version 2: title."
    assert raised.extra() == {
        "conflicts": [
            {
                "field": "title",
                "yours": {"en": "Mine"},
                "theirs": {"en": "Theirs"},
                "changed_by": "account-2",
                "changed_in_version": 4,
            }
        ]
    }
