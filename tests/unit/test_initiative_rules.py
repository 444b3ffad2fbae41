"""The rules of an initiative, checked on the aggregate alone: no database, no HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
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
from domain.initiative import Initiative
from domain.values import Caller, State

AT = datetime(2027, 1, 1, tzinfo=UTC)


def person(*roles: str, organisation: str | None = None) -> Caller:
    return Caller(
        str(uuid.uuid4()), organisation or str(uuid.uuid4()), frozenset(roles or ["partner"])
    )


def fields(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": {"en": "Green squares", "fr": "Places vertes"},
        "summary": {"en": "Planting in twinned towns.", "fr": "Plantation."},
        "original_language": "en",
        "themes": ["environment"],
        "level": "national",
        "countries": ["FR"],
    }
    base.update(overrides)
    return base


class Story:
    """An initiative with a lead, a joined partner, an invited one and an outsider."""

    def __init__(self, level: str = "national") -> None:
        self.lead = person()
        self.colleague = person(organisation=self.lead.organisation_id)
        self.partner = person()
        self.invited = person()
        self.outsider = person()
        self.reviewer = person("reviewer")
        self.second_reviewer = person("reviewer")
        self.initiative = Initiative.propose(self.lead, fields(level=level))
        self.initiative.invite_partner(self.lead, self.partner.organisation_id)
        self.initiative.join(self.partner, self.partner.organisation_id)
        self.initiative.invite_partner(self.lead, self.invited.organisation_id)

    def countries(self, lead: str = "FR", partner: str = "DE") -> dict[str, str]:
        return {self.lead.organisation_id: lead, self.partner.organisation_id: partner}

    def to_review(self, partner_country: str = "DE") -> Initiative:
        self.initiative.start_co_design(self.lead)
        self.initiative.submit(self.lead, self.countries(partner=partner_country))
        return self.initiative

    def base(self) -> dict[str, Any]:
        return dict(self.initiative.fields)


def test_a_proposal_starts_at_version_one_led_by_the_callers_organisation() -> None:
    lead = person()
    initiative = Initiative.propose(lead, fields())
    assert initiative.version == 1
    assert initiative.state is State.PROPOSAL
    assert initiative.lead_organisation_id == lead.organisation_id
    assert initiative.fields["target_groups"] == []
    assert initiative.fields["expected_participants"] == 0


def test_only_partners_propose() -> None:
    with pytest.raises(NotPermitted):
        Initiative.propose(person("reviewer"), fields())


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"title": {"de": "Grün"}}, "title"),  # no text in the original language
        ({"themes": []}, "themes"),
        ({"themes": ["astrology"]}, "themes"),
        ({"countries": ["ZZ"]}, "countries"),
        ({"level": "global"}, "level"),
        ({"original_language": "xx"}, "original_language"),
        ({"title": {"en": "x" * 201}}, "title"),
        ({"expected_participants": -1}, "expected_participants"),
        ({"start_date": "2027-05-01", "end_date": "2027-04-01"}, "end_date"),
        ({"start_date": "2027-02-30"}, "start_date"),
    ],
)
def test_a_proposal_with_an_invalid_field_names_that_field(
    override: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidFields) as caught:
        Initiative.propose(person(), fields(**override))
    assert field in caught.value.errors


def test_kosovo_is_a_valid_country() -> None:
    assert Initiative.propose(person(), fields(countries=["XK", "RS"])).fields["countries"] == [
        "XK",
        "RS",
    ]


def test_disjoint_co_edits_from_the_same_base_both_land() -> None:
    story = Story()
    initiative = story.initiative
    base_version, base = initiative.version, story.base()
    initiative.edit(story.lead, {"themes": ["environment", "youth"]}, base, base_version)
    initiative.edit(story.partner, {"expected_participants": 80}, base, base_version)
    assert initiative.fields["themes"] == ["environment", "youth"]
    assert initiative.fields["expected_participants"] == 80


def test_overlapping_co_edits_conflict_naming_field_author_and_version() -> None:
    story = Story()
    initiative = story.initiative
    base_version, base = initiative.version, story.base()
    initiative.edit(story.lead, {"countries": ["FR", "DE"]}, base, base_version)
    with pytest.raises(EditConflict) as caught:
        initiative.edit(story.partner, {"countries": ["FR", "IT"]}, base, base_version)
    [conflict] = caught.value.conflicts
    assert conflict.field == "countries"
    assert conflict.yours == ["FR", "IT"]
    assert conflict.theirs == ["FR", "DE"]
    assert conflict.changed_by == story.lead.account_id
    assert conflict.changed_in_version == base_version + 1
    assert initiative.fields["countries"] == ["FR", "DE"]


def test_an_edit_that_resends_an_unchanged_field_keeps_the_newer_value() -> None:
    story = Story()
    initiative = story.initiative
    base_version, base = initiative.version, story.base()
    initiative.edit(story.lead, {"expected_participants": 50}, base, base_version)
    # The partner's form sends every field; only the title is really theirs.
    initiative.edit(
        story.partner,
        {"expected_participants": 0, "title": {"en": "Green", "fr": "Places vertes"}},
        base,
        base_version,
    )
    assert initiative.fields["expected_participants"] == 50
    assert initiative.fields["title"]["en"] == "Green"


def test_two_co_edits_setting_a_field_to_the_same_value_do_not_conflict() -> None:
    story = Story()
    initiative = story.initiative
    base_version, base = initiative.version, story.base()
    initiative.edit(story.lead, {"countries": ["FR", "DE"]}, base, base_version)
    # Both made the same change: nothing to choose between, so the merge keeps it.
    assert initiative.merge({"countries": ["FR", "DE"]}, base, base_version) == {}
    initiative.edit(
        story.partner, {"countries": ["FR", "DE"], "target_groups": ["mayors"]}, base, base_version
    )
    assert initiative.fields["countries"] == ["FR", "DE"]
    assert initiative.fields["target_groups"] == ["mayors"]


def test_outsiders_and_invited_partners_cannot_edit() -> None:
    story = Story()
    for caller in (story.outsider, story.invited, story.reviewer):
        with pytest.raises(NotPermitted):
            story.initiative.edit(caller, {"expected_participants": 1}, story.base(), 1)


def test_changing_the_original_text_marks_other_languages_stale_until_they_change() -> None:
    story = Story()
    initiative = story.initiative
    assert initiative.translations() == {"fr": {"stale": False}}
    initiative.edit(
        story.lead,
        {"title": {"en": "Greener squares", "fr": "Places vertes"}},
        story.base(),
        initiative.version,
    )
    assert initiative.translations() == {"fr": {"stale": True}}
    # Editing the summary's French does not refresh the title's French.
    initiative.edit(
        story.lead,
        {"summary": {"en": "Planting in twinned towns.", "fr": "Plantation d'arbres."}},
        story.base(),
        initiative.version,
    )
    assert initiative.translations() == {"fr": {"stale": True}}
    initiative.edit(
        story.partner,
        {"title": {"en": "Greener squares", "fr": "Places plus vertes"}},
        story.base(),
        initiative.version,
    )
    assert initiative.translations() == {"fr": {"stale": False}}


def test_editing_only_a_translation_marks_nothing_stale() -> None:
    story = Story()
    initiative = story.initiative
    initiative.edit(
        story.lead, {"title": {"en": "Green squares", "fr": "Squares verts"}}, story.base(), 4
    )
    assert initiative.translations() == {"fr": {"stale": False}}


def test_partners_are_invited_join_and_leave() -> None:
    story = Story()
    initiative = story.initiative
    assert initiative.partners[story.invited.organisation_id] == "invited"
    with pytest.raises(StateConflict):
        initiative.invite_partner(story.lead, story.invited.organisation_id)
    with pytest.raises(StateConflict):
        initiative.invite_partner(story.lead, story.lead.organisation_id)
    with pytest.raises(NotPermitted):
        initiative.invite_partner(story.partner, story.outsider.organisation_id)
    with pytest.raises(NotPermitted):  # joining on behalf of another organisation
        initiative.join(story.outsider, story.invited.organisation_id)
    with pytest.raises(NotPermitted):  # not invited
        initiative.join(story.outsider, story.outsider.organisation_id)
    initiative.remove_partner(story.invited, story.invited.organisation_id)  # leaves
    assert story.invited.organisation_id not in initiative.partners
    with pytest.raises(NotPermitted):  # a partner cannot remove another partner
        initiative.remove_partner(story.partner, story.lead.organisation_id)
    with pytest.raises(NotFound):
        initiative.remove_partner(story.lead, story.outsider.organisation_id)


def test_submission_needs_a_joined_partner() -> None:
    lead = person()
    initiative = Initiative.propose(lead, fields())
    initiative.start_co_design(lead)
    with pytest.raises(RequirementsNotMet, match="partner"):
        initiative.submit(lead, {})


def test_a_european_submission_needs_two_countries() -> None:
    story = Story(level="european")
    story.initiative.start_co_design(story.lead)
    with pytest.raises(RequirementsNotMet, match="2 countries"):
        story.initiative.submit(story.lead, story.countries(lead="FR", partner="FR"))
    story.initiative.submit(story.lead, story.countries(lead="FR", partner="DE"))
    assert [s["name"] for s in story.initiative.approval["steps"]] == [
        "national_review",
        "network_review",
    ]


def test_submission_is_only_from_co_design() -> None:
    story = Story()
    with pytest.raises(InvalidTransition) as caught:
        story.initiative.submit(story.lead, story.countries())
    assert caught.value.state == "proposal"
    assert "start_co_design" in caught.value.allowed_actions


def test_national_initiatives_have_one_review_step() -> None:
    initiative = Story().to_review()
    assert [s["name"] for s in initiative.approval["steps"]] == ["national_review"]
    assert initiative.approval["round"] == 1


@pytest.mark.parametrize("whose", ["lead", "partner", "invited"])
def test_a_reviewer_from_an_involved_organisation_is_conflicted(whose: str) -> None:
    story = Story()
    initiative = story.to_review()
    organisation = getattr(story, whose).organisation_id
    conflicted = person("reviewer", organisation=organisation)
    with pytest.raises(ConflictOfInterest):
        initiative.review(conflicted, "approve", "Fine.", AT)
    assert "review" not in initiative.allowed_actions(conflicted)


@pytest.mark.parametrize("who", ["author", "colleague"])
def test_the_author_of_an_accepted_amendment_is_conflicted(who: str) -> None:
    """An account of an uninvolved organisation with both roles amends; once the lead
    accepts, neither it nor a reviewer of its organisation may judge the text."""
    story = Story()
    author = person("partner", "reviewer")
    initiative = story.initiative
    amendment = initiative.propose_amendment(author, {"level": "european"}, "Wider.", 4)
    initiative.accept_amendment(story.lead, amendment, story.base())
    initiative.start_co_design(story.lead)
    initiative.submit(story.lead, story.countries())
    judge = author if who == "author" else person("reviewer", organisation=author.organisation_id)
    assert "review" not in initiative.allowed_actions(judge)
    with pytest.raises(ConflictOfInterest):
        initiative.review(judge, "approve", "Fine.", AT)
    initiative.review(story.reviewer, "approve", "Fine.", AT)


def test_the_author_of_a_rejected_amendment_may_review() -> None:
    story = Story()
    author = person("partner", "reviewer")
    initiative = story.initiative
    amendment = initiative.propose_amendment(author, {"level": "european"}, "Wider.", 4)
    initiative.reject_amendment(story.lead, amendment, "Out of scope.")
    story.to_review()
    assert "review" in initiative.allowed_actions(author)
    initiative.review(author, "approve", "Fine.", AT)
    assert initiative.state is State.APPROVED


def test_four_eyes_on_the_second_step() -> None:
    story = Story(level="european")
    initiative = story.to_review()
    initiative.review(story.reviewer, "approve", "National fit.", AT)
    assert initiative.state is State.IN_REVIEW
    assert "review" not in initiative.allowed_actions(story.reviewer)
    with pytest.raises(FourEyes):
        initiative.review(story.reviewer, "approve", "Also network.", AT)
    initiative.review(story.second_reviewer, "approve", "Network fit.", AT)
    assert initiative.state is State.APPROVED


def test_a_review_records_the_version_it_decided_on() -> None:
    story = Story()
    initiative = story.to_review()
    read = initiative.version
    initiative.review(story.reviewer, "approve", "Good.", AT)
    assert initiative.approval["steps"][0]["reviews"][0]["reviewed_version"] == read


def test_changes_requested_go_back_to_co_design_and_a_new_round() -> None:
    story = Story()
    initiative = story.to_review()
    initiative.review(story.reviewer, "request_changes", "Add a budget.", AT)
    assert initiative.state is State.CO_DESIGN
    initiative.submit(story.lead, story.countries())
    assert initiative.approval["round"] == 2
    assert initiative.approval["steps"][0]["reviews"] == []
    # The reviewer who asked for changes may review the new round.
    initiative.review(story.reviewer, "approve", "Budget added.", AT)
    assert initiative.state is State.APPROVED


def test_rejection_is_final() -> None:
    story = Story()
    initiative = story.to_review()
    initiative.review(story.reviewer, "reject", "Out of scope.", AT)
    assert initiative.state is State.REJECTED
    assert initiative.allowed_actions(story.lead) == []
    with pytest.raises(InvalidTransition):
        initiative.withdraw(story.lead, "Too late")


def test_a_review_needs_a_rationale_and_a_known_decision() -> None:
    story = Story()
    initiative = story.to_review()
    with pytest.raises(InvalidFields) as caught:
        initiative.review(story.reviewer, "maybe", "  ", AT)
    assert set(caught.value.errors) == {"decision", "rationale"}


def test_partners_cannot_review_and_reviewers_cannot_submit() -> None:
    story = Story()
    initiative = story.to_review()
    with pytest.raises(NotPermitted):
        initiative.review(story.outsider, "approve", "I like it.", AT)
    with pytest.raises(NotPermitted):
        Initiative.propose(story.lead, fields()).submit(story.reviewer, {})


def report(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "period_start": "2027-03-01",
        "period_end": "2027-03-31",
        "participants": 25,
        "activities": 3,
        "narrative": {"en": "Three plantings."},
        "evidence_urls": ["https://example.org/a"],
    }
    body.update(overrides)
    return body


def approved() -> tuple[Story, Initiative]:
    story = Story()
    initiative = story.to_review()
    initiative.review(story.reviewer, "approve", "Good.", AT)
    return story, initiative


def test_follow_up_reports_and_completion() -> None:
    story, initiative = approved()
    with pytest.raises(InvalidTransition):
        initiative.record_report(story.partner, report())
    initiative.start_follow_up(story.lead)
    with pytest.raises(RequirementsNotMet):
        initiative.complete(story.lead, {"en": "Done."})
    initiative.record_report(story.partner, report())
    with pytest.raises(NotPermitted):
        initiative.complete(story.partner, {"en": "Done."})
    initiative.complete(story.lead, {"en": "Done."})
    assert initiative.state is State.COMPLETED
    # A reviewer from the lead or a partner organisation may not praise their own work.
    for organisation in (story.lead.organisation_id, story.partner.organisation_id):
        own = person("reviewer", organisation=organisation)
        assert "recognise_good_practice" not in initiative.allowed_actions(own)
        with pytest.raises(NotPermitted):
            initiative.recognise_good_practice(own, "Ours is great.")
    initiative.recognise_good_practice(story.reviewer, "Replicable.")
    assert initiative.good_practice
    with pytest.raises(StateConflict):
        initiative.recognise_good_practice(story.second_reviewer, "Again.")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"period_end": "2027-02-01"}, "period_end"),
        ({"participants": -3}, "participants"),
        ({"activities": True}, "activities"),
        ({"evidence_urls": ["javascript:alert(1)"]}, "evidence_urls"),
        ({"narrative": {}}, "narrative"),
    ],
)
def test_an_invalid_report_names_its_field(override: dict[str, Any], field: str) -> None:
    story, initiative = approved()
    initiative.start_follow_up(story.lead)
    with pytest.raises(InvalidFields) as caught:
        initiative.record_report(story.partner, report(**override))
    assert field in caught.value.errors


def test_withdrawal_from_each_open_state() -> None:
    for steps in range(3):
        story = Story()
        initiative = story.initiative
        if steps >= 1:
            initiative.start_co_design(story.lead)
        if steps >= 2:
            initiative.submit(story.lead, story.countries())
        with pytest.raises(NotPermitted):
            initiative.withdraw(story.partner, "Not mine to withdraw.")
        initiative.withdraw(story.lead, "Funding fell through.")
        assert initiative.state is State.WITHDRAWN
        assert initiative.allowed_actions(story.lead) == []


def test_amendments_from_outsiders_are_merged_against_their_base() -> None:
    story = Story()
    initiative = story.initiative
    base_version, base = initiative.version, story.base()
    amendment = initiative.propose_amendment(
        story.outsider, {"target_groups": ["pupils"]}, "Include schools.", base_version
    )
    initiative.edit(story.lead, {"expected_participants": 30}, base, base_version)
    with pytest.raises(NotPermitted):
        initiative.accept_amendment(story.outsider, amendment, base)
    initiative.accept_amendment(story.partner, amendment, base)
    assert initiative.fields["target_groups"] == ["pupils"]
    assert initiative.fields["expected_participants"] == 30
    assert initiative.amendments[0]["status"] == "accepted"
    with pytest.raises(StateConflict):
        initiative.reject_amendment(story.lead, amendment, "Too late.")


def test_an_edit_overlapping_an_accepted_amendment_names_its_author() -> None:
    story = Story()
    initiative = story.initiative
    base_version, base = initiative.version, story.base()
    amendment = initiative.propose_amendment(
        story.outsider, {"target_groups": ["pupils"]}, "Include schools.", base_version
    )
    initiative.accept_amendment(story.partner, amendment, base)
    with pytest.raises(EditConflict) as caught:
        initiative.edit(story.lead, {"target_groups": ["elders"]}, base, base_version)
    [conflict] = caught.value.conflicts
    # The text is the amendment author's; the partner who accepted it only decided.
    assert conflict.changed_by == story.outsider.account_id
    assert conflict.changed_in_version == initiative.version


def test_an_amendment_overlapping_a_later_edit_conflicts() -> None:
    story = Story()
    initiative = story.initiative
    base_version, base = initiative.version, story.base()
    amendment = initiative.propose_amendment(
        story.outsider, {"countries": ["FR", "IT"]}, "Add Italy.", base_version
    )
    initiative.edit(story.lead, {"countries": ["FR", "ES"]}, base, base_version)
    with pytest.raises(EditConflict) as caught:
        initiative.accept_amendment(story.lead, amendment, base)
    assert caught.value.conflicts[0].field == "countries"
    initiative.reject_amendment(story.lead, amendment, "Spain instead.")
    assert initiative.amendments[0]["status"] == "rejected"


def test_reviewers_cannot_propose_amendments_but_any_partner_can() -> None:
    story = Story()
    with pytest.raises(NotPermitted):
        story.initiative.propose_amendment(story.reviewer, {"themes": ["youth"]}, "Why not.", 1)
    with pytest.raises(InvalidFields):
        story.initiative.propose_amendment(story.outsider, {}, "Nothing.", 1)


def test_every_event_names_its_actor() -> None:
    _story, initiative = approved()
    events = initiative.collect_events()
    assert events
    for recorded in events:
        actor = recorded.actor  # type: ignore[attr-defined]
        assert actor.account_id and actor.organisation_id and actor.role in ("partner", "reviewer")
