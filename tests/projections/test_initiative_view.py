"""The initiative view agrees with the aggregate: the same events, folded by the view as the
projector folds them, give the state, partners, round, approvers, amendments and counts that
the aggregate holds after every command, along every path of the workflow. No database: the
fold is a pure function of the events."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.initiative import Initiative
from domain.organisation import Organisation
from domain.values import Caller, Role, State
from projections.initiatives import InitiativesView, summary, waiting_on
from projections.view import Document, iso, parse_time
from tests.conftest import a_report

AT = datetime(2027, 1, 1, tzinfo=UTC)
VIEW = InitiativesView()


def account(name: str, role: str = "partner", organisation: str | None = None) -> Caller:
    return Caller(f"account-{name}", f"org-{organisation or name}", frozenset([role]))


LEAD = account("lead")
PARTNER = account("partner")
OTHER = account("other")
OUTSIDER = account("outsider")
FIRST = account("first", "reviewer", "board")
SECOND = account("second", "reviewer", "board")
COUNTRIES = {LEAD.organisation_id: "FR", PARTNER.organisation_id: "DE"}
FIELDS = {
    "title": {"en": "Green squares", "fr": "Places vertes"},
    "summary": {"en": "Planting."},
    "original_language": "en",
    "themes": ["environment"],
    "level": "european",
    "countries": ["FR", "DE"],
}
REPORT = a_report(participants=40)


class Projected:
    """An aggregate and the view's document of it, folded event by event."""

    def __init__(self, initiative: Initiative) -> None:
        self.initiative = initiative
        self.document: Document | None = None
        self.position = 0
        self.timestamps: list[datetime] = []
        self.fields_at: dict[int, dict[str, Any]] = {}  # what an amendment's merge is based on
        self.fold()

    def fold(self) -> None:
        for event in self.initiative.collect_events():
            self.position += 1
            self.timestamps.append(event.timestamp)
            self.document = VIEW.fold(self.document, event, self.position)
        self.fields_at[self.initiative.version] = copy.deepcopy(self.initiative.fields)

    def do(self, command: Callable[[Initiative], Any]) -> None:
        command(self.initiative)
        self.fold()
        self.check()

    def check(self) -> None:
        initiative, document = self.initiative, self.document
        assert document is not None
        assert document["id"] == str(initiative.id)
        assert document["state"] == initiative.state.value
        assert document["version"] == initiative.version
        assert document["position"] == self.position
        assert document["lead_organisation_id"] == initiative.lead_organisation_id
        for name in ("title", "summary", "original_language", "themes", "level", "countries"):
            assert document[name] == initiative.fields[name], name
        assert document["partners"] == initiative.partners
        assert set(document["partner_since"]) == set(initiative.partners)
        pending = {
            a["id"]: a["author_id"] for a in initiative.amendments if a["status"] == "pending"
        }
        assert {k: v["author_id"] for k, v in document["pending"].items()} == pending
        assert document["round"] == initiative.round
        if initiative.state is State.IN_REVIEW:  # the only state that names a step
            step = initiative.current_step()
            assert step is not None and document["current_step"] == step["name"]
        if initiative.approval is not None:
            steps = initiative.approval["steps"]
            assert [s["name"] for s in document["steps"]] == [s["name"] for s in steps]
            assert [s["status"] == "pending" for s in document["steps"]] == [
                s["status"] == "pending" for s in steps
            ]
            approvers = [
                r["reviewer_id"] for s in steps for r in s["reviews"] if r["decision"] == "approve"
            ]
            assert document["approvers"] == approvers
        assert document["participants"] == sum(r["participants"] for r in initiative.reports)
        assert document["reports"] == len(initiative.reports)
        assert document["good_practice"] is initiative.good_practice
        assert document["created_at"] == iso(self.timestamps[0])
        assert document["updated_at"] == iso(self.timestamps[-1])
        assert document["waiting_on"] == waiting_on(document) == initiative.waiting_on()
        fields = initiative.fields
        assert summary(document) == {
            "id": str(initiative.id),
            "title": fields["title"],
            "summary": fields["summary"],
            "state": initiative.state.value,
            "themes": fields["themes"],
            "level": fields["level"],
            "countries": fields["countries"],
            "lead_organisation_id": initiative.lead_organisation_id,
            "visibility": initiative.visibility,
            "partners": [
                {"organisation_id": org, "status": status}
                for org, status in initiative.partners.items()
            ],
            "version": initiative.version,
            "created_at": document["created_at"],
            "updated_at": document["updated_at"],
            "good_practice": initiative.good_practice,
            "waiting_on": document["waiting_on"],
            "waiting_since": document["waiting_since"],
        }
        rows = VIEW.rows(document)
        [main] = rows["main"]
        assert (main["state"], main["version"]) == (initiative.state.value, initiative.version)
        # Search reads every language of the title and the summary; the sort, the original.
        texts = [*fields["title"].values(), *fields["summary"].values()]
        assert main["search"] == "\n".join(texts).casefold()
        assert main["title_sort"] == fields["title"][fields["original_language"]].casefold()
        assert parse_time(document["waiting_since"]) == main["waiting_since"]
        relations = {r["organisation_id"]: r["relation"] for r in rows["organisations"]}
        co_authors = {
            a["author_organisation_id"]: "co_author"
            for a in initiative.amendments
            if a["status"] == "accepted"
        }
        assert relations == {
            **co_authors,
            initiative.lead_organisation_id: "lead",
            **initiative.partners,
        }
        in_review = initiative.state is State.IN_REVIEW
        assert [r["account_id"] for r in rows["approvers"]] == (
            document["approvers"] if in_review else []
        )
        assert {r["amendment_id"] for r in rows["amendments"]} == set(pending)
        assert sorted(r["theme"] for r in rows["themes"]) == sorted(initiative.fields["themes"])


def in_co_design() -> Projected:
    projected = Projected(Initiative.propose(LEAD, FIELDS))
    projected.check()
    projected.do(lambda i: i.invite_partner(LEAD, PARTNER.organisation_id))
    projected.do(lambda i: i.invite_partner(LEAD, OTHER.organisation_id))
    projected.do(lambda i: i.join(PARTNER, PARTNER.organisation_id))
    projected.do(lambda i: i.remove_partner(OTHER, OTHER.organisation_id))
    projected.do(lambda i: i.start_co_design(LEAD))
    return projected


def amend(projected: Projected, fields: dict[str, Any]) -> str:
    ids: list[str] = []
    base = projected.initiative.version
    projected.do(lambda i: ids.append(i.propose_amendment(OUTSIDER, fields, "Why.", base)))
    return ids[0]


def test_co_design_with_edits_and_amendments_is_folded_as_recorded() -> None:
    p = in_co_design()
    base = dict(p.initiative.fields)
    version = p.initiative.version
    p.do(lambda i: i.edit(PARTNER, {"themes": ["environment", "youth"]}, base, version))
    accepted = amend(p, {"title": {"en": "Greener squares"}})
    rejected = amend(p, {"countries": ["FR"]})
    amend(p, {"summary": {"en": "Still pending."}})
    original = p.fields_at[p.initiative.pending_amendment(accepted)["base_version"]]
    p.do(lambda i: i.accept_amendment(LEAD, accepted, original))
    p.do(lambda i: i.reject_amendment(PARTNER, rejected, "No."))
    assert p.document is not None and p.document["title"] == {"en": "Greener squares"}
    assert len(p.document["pending"]) == 1


def review(p: Projected, who: Caller, decision: str) -> None:
    p.do(lambda i: i.review(who, decision, f"{decision}.", at=AT))


def test_a_round_sent_back_and_resubmitted_starts_with_no_approvers() -> None:
    p = in_co_design()
    p.do(lambda i: i.submit(LEAD, COUNTRIES))
    review(p, FIRST, "approve")
    assert p.document is not None and p.document["current_step"] == "network_review"
    review(p, SECOND, "request_changes")
    assert p.document["state"] == "co_design" and p.document["current_step"] is None
    p.do(lambda i: i.submit(LEAD, COUNTRIES))
    assert p.document["approvers"] == [] and p.document["round"] == 2
    review(p, SECOND, "approve")
    review(p, FIRST, "approve")
    assert p.document["state"] == "approved"
    assert p.document["approved_at"] == iso(p.timestamps[-1])


def test_follow_up_counts_reports_and_participants_to_good_practice() -> None:
    p = in_co_design()
    p.do(lambda i: i.submit(LEAD, COUNTRIES))
    review(p, FIRST, "approve")
    review(p, SECOND, "approve")
    p.do(lambda i: i.start_follow_up(LEAD))
    p.do(lambda i: i.record_report(PARTNER, REPORT))
    p.do(lambda i: i.record_report(LEAD, {**REPORT, "participants": 2}))
    p.do(lambda i: i.complete(LEAD, {"en": "Done."}))
    p.do(lambda i: i.recognise_good_practice(FIRST, "Exemplary."))
    assert p.document is not None
    assert (p.document["participants"], p.document["reports"]) == (42, 2)
    assert p.document["state"] == "completed" and p.document["good_practice"] is True


@pytest.mark.parametrize("step", ["national_review", "network_review"])
def test_a_rejection_at_either_step_closes_the_initiative(step: str) -> None:
    p = in_co_design()
    p.do(lambda i: i.submit(LEAD, COUNTRIES))
    if step == "network_review":
        review(p, FIRST, "approve")
    review(p, SECOND, "reject")
    assert p.document is not None
    assert (p.document["state"], p.document["current_step"]) == ("rejected", None)
    assert p.document["waiting_on"] == {"kind": "none"}


@pytest.mark.parametrize("state", ["proposal", "co_design", "in_review"])
def test_a_withdrawal_closes_the_initiative_from_each_state(state: str) -> None:
    if state == "proposal":
        p = Projected(Initiative.propose(LEAD, FIELDS))
    else:
        p = in_co_design()
        if state == "in_review":
            p.do(lambda i: i.submit(LEAD, COUNTRIES))
    p.do(lambda i: i.withdraw(LEAD, "Stop."))
    assert p.document is not None and p.document["state"] == "withdrawn"


def test_events_of_other_aggregates_and_unseen_initiatives_are_ignored() -> None:
    [registered] = Organisation.register(
        "Lyon", "local_authority", "FR", LEAD.acting_as(Role.PARTNER)
    ).collect_events()
    assert VIEW.fold(None, registered, 1) is None
    later = Initiative.propose(LEAD, FIELDS)
    later.collect_events()
    later.start_co_design(LEAD)
    [event] = later.collect_events()
    assert VIEW.fold(None, event, 99) is None  # its creation was never seen
