"""What each command of an initiative checks in the data it is given, in the words a client
reads (a 409, 404 or a 422's `errors`), and what its event records: the text given and who
acted, as the history and the audit show them."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import (
    ConflictOfInterest,
    EditConflict,
    FourEyes,
    InvalidFields,
    InvalidTransition,
    NotFound,
    NotPermitted,
    RequirementsNotMet,
    StateConflict,
)
from domain.initiative import Initiative, report_errors
from domain.values import COUNT_PROBLEM, Actor, Role
from tests.unit.test_initiative_rules import AT, Story, fields, person

REPORT: dict[str, Any] = {
    "period_start": "2027-03-01",
    "period_end": "2027-03-31",
    "participants": 12,
    "activities": 2,
    "narrative": {"en": "Two workshops."},
}


def last_event(initiative: Initiative) -> Any:
    return initiative.collect_events()[-1]


def acting(story_person: Any, role: Role = Role.PARTNER) -> Actor:
    return story_person.acting_as(role)


def in_follow_up(story: Story) -> Initiative:
    initiative = story.to_review()
    initiative.review(story.reviewer, "approve", "Fine.", at=AT)
    initiative.start_follow_up(story.lead)
    return initiative


@pytest.mark.parametrize(
    ("changes", "rationale", "expected"),
    [
        ({}, "Why.", {"changes": ["At least one field must change."]}),
        ("title", "Why.", {"changes": ["At least one field must change."]}),
        ({"colour": "red"}, "Why.", {"changes": {"colour": ["Unknown field."]}}),
        ({"level": "national"}, "  ", {"rationale": ["Must not be empty."]}),
        (
            {},
            "",
            {"changes": ["At least one field must change."], "rationale": ["Must not be empty."]},
        ),
    ],
)
def test_an_amendment_needs_changes_and_a_rationale(
    changes: Any, rationale: str, expected: dict[str, Any]
) -> None:
    story = Story()
    with pytest.raises(InvalidFields) as refused:
        story.initiative.propose_amendment(
            story.outsider, changes, rationale, story.initiative.version
        )
    assert refused.value.errors == expected


def test_an_amendment_records_its_text_author_and_rationale() -> None:
    story = Story()
    initiative = story.initiative
    initiative.collect_events()
    amendment_id = initiative.propose_amendment(
        story.outsider, {"level": "european"}, "Wider reach.", 2
    )
    event = last_event(initiative)
    assert (event.amendment_id, event.changes, event.rationale, event.base_version) == (
        amendment_id,
        {"level": "european"},
        "Wider reach.",
        2,
    )
    assert event.actor == acting(story.outsider)
    [amendment] = initiative.amendments
    assert amendment["rationale"] == "Wider reach." and amendment["status"] == "pending"


def test_unknown_and_decided_amendments_are_named_as_such() -> None:
    story = Story()
    initiative = story.initiative
    with pytest.raises(NotFound) as unknown:
        initiative.reject_amendment(story.lead, "a-1", "No.")
    assert unknown.value.detail == "No amendment a-1 on this initiative."
    amendment_id = initiative.propose_amendment(story.outsider, {"level": "european"}, "Why.", 4)
    with pytest.raises(InvalidFields) as empty:
        initiative.reject_amendment(story.lead, amendment_id, " ")
    assert empty.value.errors == {"reason": ["Must not be empty."]}
    initiative.collect_events()
    initiative.reject_amendment(story.partner, amendment_id, "Out of scope.")
    event = last_event(initiative)
    assert (event.reason, event.actor) == ("Out of scope.", acting(story.partner))
    with pytest.raises(StateConflict) as decided:
        initiative.reject_amendment(story.lead, amendment_id, "Again.")
    assert decided.value.detail == "The amendment is already rejected."


def test_only_a_partner_can_be_removed() -> None:
    story = Story()
    with pytest.raises(NotFound) as refused:
        story.initiative.remove_partner(story.lead, story.outsider.organisation_id)
    assert refused.value.detail == "That organisation is not a partner of this initiative."
    story.initiative.collect_events()
    story.initiative.remove_partner(story.lead, story.invited.organisation_id)
    event = last_event(story.initiative)
    assert event.organisation_id == story.invited.organisation_id
    assert event.actor == acting(story.lead)


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        ({**REPORT, "period_start": "2027-3-1"}, {"period_start": ["Must be an ISO date."]}),
        ({**REPORT, "period_end": None}, {"period_end": ["Must be an ISO date."]}),
        (
            {**REPORT, "period_end": "2027-02-28"},
            {"period_end": ["Must not be before period_start."]},
        ),
        ({**REPORT, "participants": -1}, {"participants": [COUNT_PROBLEM]}),
        ({**REPORT, "activities": "2"}, {"activities": [COUNT_PROBLEM]}),
        ({**REPORT, "narrative": {}}, {"narrative": ["At least one language is required."]}),
        (
            {**REPORT, "narrative": {"en": "x" * 20001}},
            {"narrative": ["Text in 'en' is longer than 20000 characters."]},
        ),
        (
            {**REPORT, "evidence_urls": ["https://example.org", "ftp://x"]},
            {"evidence_urls": {"1": ["Must be an http(s) URL."]}},
        ),
        (
            {**REPORT, "evidence_urls": "https://example.org"},
            {"evidence_urls": ["Must be a list of at most 50 http(s) URLs."]},
        ),
        ({**REPORT, "cost": 5}, {"cost": ["Unknown field."]}),
    ],
)
def test_a_report_names_each_invalid_field(
    report: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert report_errors(report) == expected


def test_a_report_of_one_day_and_of_fifty_links_is_valid() -> None:
    one_day = {**REPORT, "period_end": REPORT["period_start"]}
    assert report_errors(one_day) == {}
    links = {**REPORT, "evidence_urls": [f"https://example.org/{i}" for i in range(50)]}
    assert report_errors(links) == {}
    too_many = {**REPORT, "evidence_urls": [f"https://example.org/{i}" for i in range(51)]}
    assert set(report_errors(too_many)) == {"evidence_urls"}


def test_completion_needs_outcomes_and_a_report_and_records_them() -> None:
    story = Story()
    initiative = in_follow_up(story)
    with pytest.raises(RequirementsNotMet) as no_report:
        initiative.complete(story.lead, {"en": "Done."})
    assert no_report.value.detail == "At least one progress report is needed to complete."
    initiative.record_report(story.partner, REPORT)
    for outcomes, expected in (
        ({}, ["At least one language is required."]),
        ({"en": "x" * 20001}, ["Text in 'en' is longer than 20000 characters."]),
        ({"en": "Done.", "xx": "?"}, ["Unknown language code 'xx' (ISO 639-1 expected)."]),
    ):
        with pytest.raises(InvalidFields) as refused:
            initiative.complete(story.lead, outcomes)
        assert refused.value.errors == {"outcomes": expected}
    initiative.collect_events()
    initiative.complete(story.lead, {"en": "Done.", "fr": "Fait."})
    event = last_event(initiative)
    assert (event.outcomes, event.actor) == ({"en": "Done.", "fr": "Fait."}, acting(story.lead))
    assert initiative.outcomes == {"en": "Done.", "fr": "Fait."}


def test_good_practice_needs_a_rationale_and_is_recognised_once() -> None:
    story = Story()
    initiative = in_follow_up(story)
    initiative.record_report(story.partner, REPORT)
    initiative.complete(story.lead, {"en": "Done."})
    with pytest.raises(InvalidFields) as empty:
        initiative.recognise_good_practice(story.second_reviewer, " ")
    assert empty.value.errors == {"rationale": ["A rationale is required."]}
    initiative.collect_events()
    initiative.recognise_good_practice(story.second_reviewer, "Replicable.")
    event = last_event(initiative)
    assert event.rationale == "Replicable."
    assert event.actor == acting(story.second_reviewer, Role.REVIEWER)
    with pytest.raises(StateConflict) as again:
        initiative.recognise_good_practice(story.reviewer, "Again.")
    assert again.value.detail == "The initiative is already recognised as good practice."


def test_a_withdrawal_needs_a_reason_and_records_it() -> None:
    story = Story()
    initiative = story.initiative
    with pytest.raises(InvalidFields) as empty:
        initiative.withdraw(story.lead, "")
    assert empty.value.errors == {"reason": ["A reason is required."]}
    initiative.collect_events()
    initiative.withdraw(story.colleague, "Funding fell through.")
    event = last_event(initiative)
    assert (event.reason, event.actor) == ("Funding fell through.", acting(story.colleague))
    assert initiative.closing_reason == "Funding fell through."


def test_a_review_needs_a_known_decision_and_a_rationale() -> None:
    story = Story(level="european")
    initiative = story.to_review()
    with pytest.raises(InvalidFields) as refused:
        initiative.review(story.reviewer, "maybe", " ", at=AT)
    assert refused.value.errors == {
        "decision": ["Must be one of approve, request_changes, reject."],
        "rationale": ["A rationale is required."],
    }
    initiative.review(story.reviewer, "approve", "National step fine.", at=AT)
    with pytest.raises(FourEyes) as four_eyes:
        initiative.review(story.reviewer, "approve", "Network step fine.", at=AT)
    assert four_eyes.value.detail == (
        "You approved an earlier step of this round: another reviewer must decide."
    )


def test_each_report_gets_an_id_of_its_own_which_the_command_returns() -> None:
    story = Story()
    initiative = in_follow_up(story)
    first = initiative.record_report(story.partner, REPORT)
    second = initiative.record_report(story.lead, REPORT)
    assert [r["id"] for r in initiative.reports] == [first, second]
    assert first != second and len(first) == 36


def test_a_submission_says_what_it_lacks() -> None:
    story = Story(level="european")
    lonely = Initiative.propose(story.lead, story.initiative.fields)
    lonely.start_co_design(story.lead)
    with pytest.raises(RequirementsNotMet) as no_partner:
        lonely.submit(story.lead, story.countries())
    assert no_partner.value.detail == "At least one partner organisation must have joined."
    story.initiative.start_co_design(story.lead)
    with pytest.raises(RequirementsNotMet) as one_country:
        story.initiative.submit(story.lead, story.countries(lead="FR", partner="FR"))
    assert one_country.value.detail == (
        "A European initiative needs the lead and joined partners to come from at least 2 "
        "countries; they come from 1."
    )


def test_an_edit_names_no_field_or_a_wrong_one() -> None:
    story = Story()
    initiative, base = story.initiative, story.base()
    with pytest.raises(InvalidFields) as nothing:
        initiative.edit(story.lead, {}, base, initiative.version)
    assert nothing.value.errors == {"_schema": ["At least one field must be given."]}
    with pytest.raises(InvalidFields) as wrong:
        initiative.edit(story.lead, {"level": "global"}, base, initiative.version)
    assert wrong.value.errors == {"level": ["Must be one of national, european."]}


def test_a_field_changed_and_changed_back_since_the_base_takes_the_edit() -> None:
    # What others did came back to the base's value: the edit changes it, no conflict.
    story = Story()
    initiative = story.initiative
    base_version, base = initiative.version, story.base()
    initiative.edit(story.partner, {"level": "european"}, base, base_version)
    initiative.edit(story.partner, {"level": "national"}, story.base(), initiative.version)
    initiative.edit(story.lead, {"level": "european"}, base, base_version)
    assert initiative.fields["level"] == "european"


def test_a_conflict_names_the_base_version_and_each_field() -> None:
    story = Story()
    initiative = story.initiative
    base_version, base = initiative.version, story.base()
    initiative.edit(story.lead, {"expected_participants": 10, "countries": ["FR", "DE"]}, base, 4)
    with pytest.raises(EditConflict) as caught:
        initiative.edit(
            story.partner, {"expected_participants": 20, "countries": ["IT"]}, base, base_version
        )
    assert caught.value.detail == (
        "Changed by someone else since version 4: expected_participants, countries."
    )
    assert [c.field for c in caught.value.conflicts] == ["expected_participants", "countries"]


def test_a_merge_that_breaks_a_rule_between_fields_is_refused() -> None:
    story = Story()
    initiative = story.initiative
    base_version, base = initiative.version, story.base()
    initiative.edit(story.lead, {"start_date": "2027-06-01"}, base, base_version)
    # Each edit alone is valid; merged, the end comes before the start.
    with pytest.raises(InvalidFields) as refused:
        initiative.edit(story.partner, {"end_date": "2027-05-01"}, base, base_version)
    assert refused.value.errors == {"end_date": ["Must not be before start_date."]}


def test_an_edit_records_its_base_version() -> None:
    story = Story()
    initiative = story.initiative
    initiative.collect_events()
    initiative.edit(story.partner, {"expected_participants": 30}, story.base(), 3)
    event = last_event(initiative)
    assert (event.changes, event.base_version) == ({"expected_participants": 30}, 3)
    assert event.actor == acting(story.partner)


@pytest.mark.parametrize("base_version", [0, 5])
def test_a_base_version_must_be_one_of_the_initiative(base_version: int) -> None:
    story = Story()
    initiative = story.initiative
    expected = {"base_version": ["Must be a version of this initiative (1 to 4)."]}
    with pytest.raises(InvalidFields) as edit:
        initiative.edit(story.lead, {"level": "european"}, story.base(), base_version)
    assert edit.value.errors == expected
    with pytest.raises(InvalidFields) as amend:
        initiative.propose_amendment(story.outsider, {"level": "european"}, "Why.", base_version)
    assert amend.value.errors == expected


def test_changing_the_original_language_marks_the_old_one_stale() -> None:
    story = Story()
    initiative = story.initiative
    initiative.edit(
        story.lead,
        {
            "original_language": "fr",
            "title": {"en": "Green squares", "fr": "Places très vertes"},
        },
        story.base(),
        initiative.version,
    )
    # The French text is now the original and it changed: the English one is behind.
    assert initiative.translations() == {"en": {"stale": True}}


def test_each_refusal_says_why_in_its_own_words() -> None:
    story = Story()
    initiative = story.initiative
    with pytest.raises(NotPermitted) as no_role:
        Initiative.propose(story.reviewer, story.base())
    assert no_role.value.detail == "Proposing an initiative needs the partner role."
    with pytest.raises(NotPermitted) as wrong_role:
        initiative.start_co_design(story.reviewer)
    assert wrong_role.value.detail == "To start co design you need the partner role."
    with pytest.raises(NotPermitted) as not_lead:
        initiative.start_co_design(story.partner)
    assert not_lead.value.detail == "Only a member of the lead organisation may start co design."
    with pytest.raises(NotPermitted) as not_theirs:
        initiative.join(story.outsider, story.invited.organisation_id)
    assert not_theirs.value.detail == (
        "Only a member of that organisation may accept its invitation."
    )
    with pytest.raises(StateConflict) as joined:
        initiative.join(story.partner, story.partner.organisation_id)
    assert joined.value.detail == "The organisation has already joined."
    with pytest.raises(StateConflict) as lead:
        initiative.invite_partner(story.lead, story.lead.organisation_id)
    assert lead.value.detail == "The lead organisation cannot be invited as a partner."
    with pytest.raises(StateConflict) as again:
        initiative.invite_partner(story.lead, story.invited.organisation_id)
    assert again.value.detail == "The organisation is already invited."
    with pytest.raises(InvalidTransition) as too_early:
        initiative.submit(story.lead, story.countries())
    assert too_early.value.detail == "Cannot submit an initiative in state proposal."
    conflicted = person("reviewer", organisation=story.partner.organisation_id)
    story.to_review()
    with pytest.raises(ConflictOfInterest) as involved:
        initiative.review(conflicted, "approve", "Mine.", at=AT)
    assert involved.value.detail == (
        "You or your organisation wrote part of this initiative (as its lead, a partner or the "
        "author of an accepted amendment): you cannot review it."
    )


def test_a_proposal_names_each_missing_field() -> None:
    lead = person()
    with pytest.raises(InvalidFields) as refused:
        Initiative.propose(lead, {"title": {"en": "Only a title"}, "level": "national"})
    missing = ["Missing data for required field."]
    assert refused.value.errors == {
        "summary": missing,
        "original_language": missing,
        "themes": missing,
        "countries": missing,
    }


def test_proposals_share_no_default_value() -> None:
    lead = person()
    first = Initiative.propose(lead, fields())
    first.fields["target_groups"].append("changed in place")
    first.fields["description"]["en"] = "changed in place"
    second = Initiative.propose(lead, fields())
    assert second.fields["target_groups"] == [] and second.fields["description"] == {}


def test_a_proposal_without_text_in_its_original_language_says_so() -> None:
    with pytest.raises(InvalidFields) as refused:
        Initiative.propose(person(), fields(title={"fr": "Places"}))
    assert refused.value.errors == {"title": ["Must have text in the original language 'en'."]}
