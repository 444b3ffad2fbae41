"""The application's commands on a real event store: what a failed save leaves behind, who
an account command records as its actor, and what a moment in time names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.account import Account
from domain.application import MERGE_ATTEMPTS, Outcome, Twinning, require_role, utcnow
from domain.errors import (
    DuplicateEmail,
    InvalidFields,
    NotFound,
    NotPermitted,
    PreconditionRequired,
    RequirementsNotMet,
    StaleVersion,
)
from domain.initiative import Initiative
from domain.organisation import Organisation
from domain.values import Caller, Role, State, system_actor
from service.config import Database, Settings
from tests.conftest import a_proposal, a_report

FIELDS = a_proposal()
LEAD = Caller(str(uuid4()), str(uuid4()), frozenset({"partner"}))


def env_for(folder: Path) -> dict[str, str]:
    env = Database.parse("", folder).eventsourcing_env(Settings())
    # Without fast-forwarding, a cached copy is what the process last saw: two processes can
    # then act on the same version and one save conflicts, as happens in a race.
    env["TWINNING_AGGREGATE_CACHE_FASTFORWARD"] = "n"
    return env


class Heard:
    """What the first application's observer is told (a domain.application.SaveObserver)."""

    def __init__(self) -> None:
        self.recorded: list[list[str]] = []
        self.conflicts: list[dict[UUID, int]] = []

    def saved(self, aggregates: Mapping[UUID, Any], recordings: Sequence[Any]) -> None:
        self.recorded.append([type(r.domain_event).__qualname__ for r in recordings])

    def conflicted(self, tried: Mapping[UUID, int]) -> None:
        self.conflicts.append(dict(tried))


class Clock:
    """The first application's clock: the given moments, then the time now."""

    def __init__(self) -> None:
        self.moments: Iterator[datetime] = iter(())

    def __call__(self) -> datetime:
        return next(self.moments, None) or utcnow()


@pytest.fixture
def heard() -> Heard:
    return Heard()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def apps(tmp_path: Path, heard: Heard, clock: Clock) -> Iterator[tuple[Twinning, Twinning]]:
    """Two processes' applications on one store."""
    one = Twinning(env=env_for(tmp_path), clock=clock, observers=[heard])
    two = Twinning(env=env_for(tmp_path), personal=one.personal)
    yield one, two
    one.close()
    two.close()


def test_a_save_that_conflicts_leaves_no_trace_of_itself_in_the_cache(
    apps: tuple[Twinning, Twinning], heard: Heard
) -> None:
    one, two = apps
    initiative_id = one.propose(caller=LEAD, fields=FIELDS).aggregate.id
    assert one.initiative(initiative_id).version == 1  # cached by the first process
    two.start_co_design(initiative_id, caller=LEAD, expected_version=1)
    with pytest.raises(StaleVersion) as stale:
        one.withdraw(initiative_id, caller=LEAD, expected_version=1, reason="Stop.")
    assert stale.value.detail == "The initiative changed while your command was being recorded."
    assert stale.value.current_version == 2
    assert heard.conflicts == [{initiative_id: 2}]
    after = one.initiative(initiative_id)
    assert (after.version, after.state) == (2, State.CO_DESIGN)
    assert (
        one.withdraw(initiative_id, caller=LEAD, expected_version=2, reason="Stop.").aggregate.state
        is State.WITHDRAWN
    )


def test_an_account_changed_by_another_process_is_a_stale_version(
    apps: tuple[Twinning, Twinning],
) -> None:
    one, two = apps
    org = one.register_organisation(
        actor=system_actor(), name="Bologna", type_="local_authority", country="IT"
    )
    account_id = one.register_account(
        actor=system_actor(),
        email="a@b.eu",
        name="A",
        organisation_id=org.aggregate.id,
        roles=["partner"],
    ).aggregate.id
    assert one.account(account_id).version == 1
    two.grant_role(account_id, actor=system_actor(), role="reviewer")
    with pytest.raises(StaleVersion) as stale:
        one.grant_role(account_id, actor=system_actor(), role="auditor")
    assert stale.value.detail == "The account changed at the same time; please try again."
    assert stale.value.current_version == 2


def account_events(app: Twinning, account_id: UUID) -> list[Any]:
    return list(app.events.get(account_id))


def test_account_commands_record_who_acted(apps: tuple[Twinning, Twinning]) -> None:
    app, _ = apps
    org = app.register_organisation(
        actor=system_actor(), name="Bologna", type_="local_authority", country="IT"
    )
    admin = Caller(str(uuid4()), str(org.aggregate.id), frozenset({"admin"}))
    acting = admin.acting_as(Role.ADMIN)
    account_id = app.register_account(
        actor=acting, email="a@b.eu", name="A", organisation_id=org.aggregate.id, roles=["partner"]
    ).aggregate.id
    app.grant_role(account_id, actor=acting, role="reviewer")
    app.revoke_role(account_id, actor=acting, role="partner")
    app.deactivate(account_id, actor=acting)
    events = account_events(app, account_id)
    assert [type(e).__name__ for e in events] == [
        "Registered",
        "RoleGranted",
        "RoleRevoked",
        "Deactivated",
    ]
    assert [e.actor for e in events] == [acting] * 4
    account = app.account(account_id)
    assert isinstance(account, Account)
    assert (account.roles, account.active) == (["reviewer"], False)


def test_nobody_deactivates_their_own_account(apps: tuple[Twinning, Twinning]) -> None:
    app, _ = apps
    org = app.register_organisation(
        actor=system_actor(), name="Bologna", type_="local_authority", country="IT"
    )
    account_id = app.register_account(
        actor=system_actor(),
        email="admin@b.eu",
        name="A",
        organisation_id=org.aggregate.id,
        roles=["admin"],
    ).aggregate.id
    itself = app.account(account_id).caller().acting_as(Role.ADMIN)
    with pytest.raises(NotPermitted) as refused:
        app.deactivate(account_id, actor=itself)
    assert refused.value.detail == "You cannot deactivate your own account."
    assert app.account(account_id).active


def test_a_moment_names_the_last_version_recorded_at_or_before_it(
    apps: tuple[Twinning, Twinning],
) -> None:
    app, _ = apps
    initiative_id = app.propose(caller=LEAD, fields=FIELDS).aggregate.id
    app.start_co_design(initiative_id, caller=LEAD, expected_version=1)
    first, second = (getattr(e, "timestamp") for e in app.events.get(initiative_id))  # noqa: B009
    assert app.version_at(initiative_id, first) == 1  # an event at that very moment counts
    assert app.version_at(initiative_id, second) == 2
    assert app.initiative(initiative_id, as_of=first).state is State.PROPOSAL
    with pytest.raises(NotFound) as before:
        app.version_at(initiative_id, first.replace(year=first.year - 1))
    assert before.value.detail.startswith("The initiative did not exist yet at ")
    unknown = uuid4()
    with pytest.raises(NotFound) as missing:
        app.version_at(unknown, first)
    assert missing.value.detail == f"No initiative with id {unknown}."


def test_an_unknown_or_other_aggregate_is_not_an_initiative(
    apps: tuple[Twinning, Twinning],
) -> None:
    app, _ = apps
    org = app.register_organisation(
        actor=system_actor(), name="Bologna", type_="local_authority", country="IT"
    )
    with pytest.raises(NotFound) as refused:
        app.initiative(org.aggregate.id)
    assert refused.value.detail == f"No initiative with id {org.aggregate.id}."


# ------------------------------------------------------------ every command, on a store
class Network:
    """Organisations and people of a small network, registered in one application."""

    def __init__(self, app: Twinning) -> None:
        self.app = app

        def org(name: str, country: str) -> str:
            return str(
                app.register_organisation(
                    actor=system_actor(), name=name, type_="civil_society", country=country
                ).aggregate.id
            )

        self.lead_org, self.partner_org, self.near_org = (
            org("L", "IT"),
            org("P", "RS"),
            org("N", "IT"),
        )
        self.lead = Caller("lead", self.lead_org, frozenset({"partner"}))
        self.partner = Caller("partner", self.partner_org, frozenset({"partner"}))
        self.near = Caller("near", self.near_org, frozenset({"partner"}))
        self.reviewer = Caller("reviewer", str(uuid4()), frozenset({"reviewer"}))
        self.second = Caller("second", str(uuid4()), frozenset({"reviewer"}))

    def proposed(self, **fields: Any) -> UUID:
        return self.app.propose(caller=self.lead, fields={**FIELDS, **fields}).aggregate.id

    def in_co_design(self, partner: Caller | None = None, **fields: Any) -> UUID:
        partner = partner or self.partner
        app, initiative_id = self.app, self.proposed(**fields)
        app.invite_partner(
            initiative_id,
            caller=self.lead,
            expected_version=1,
            organisation_id=UUID(partner.organisation_id),
        )
        app.join(
            initiative_id,
            caller=partner,
            expected_version=2,
            organisation_id=UUID(partner.organisation_id),
        )
        app.start_co_design(initiative_id, caller=self.lead, expected_version=3)
        return initiative_id


@pytest.fixture
def net(apps: tuple[Twinning, Twinning]) -> Network:
    return Network(apps[0])


def edit(
    app: Twinning,
    initiative_id: UUID,
    caller: Caller,
    fields: dict[str, Any],
    *,
    base: int | None = None,
    read: int | None = None,
) -> Outcome[Initiative]:
    """An edit merged against version `base`, made on version `read` (either may be None)."""
    return app.edit(
        initiative_id, caller=caller, expected_version=read, fields=fields, base_version=base
    )


def amend(
    app: Twinning,
    initiative_id: UUID,
    caller: Caller,
    changes: dict[str, Any],
    *,
    rationale: str = "Why.",
    base: int | None = None,
    read: int | None = None,
) -> tuple[Outcome[Initiative], str]:
    """An amendment proposed against version `base`, on version `read` (either may be None)."""
    return app.propose_amendment(
        initiative_id,
        caller=caller,
        expected_version=read,
        changes=changes,
        rationale=rationale,
        base_version=base,
    )


def test_a_command_without_the_version_read_or_with_an_old_one_is_refused(net: Network) -> None:
    app, initiative_id = net.app, net.proposed()
    with pytest.raises(PreconditionRequired) as missing:
        app.start_co_design(initiative_id, caller=net.lead, expected_version=None)
    assert missing.value.detail == "This command needs the version you read."
    app.start_co_design(initiative_id, caller=net.lead, expected_version=1)
    with pytest.raises(StaleVersion) as stale:
        app.withdraw(initiative_id, caller=net.lead, expected_version=1, reason="Stop.")
    assert stale.value.detail == "You read version 1; the initiative is at version 2."
    assert stale.value.current_version == 2
    with pytest.raises(NotFound):
        app.withdraw(uuid4(), caller=net.lead, expected_version=1, reason="Stop.")


def test_partners_are_invited_join_and_leave_through_the_application(net: Network) -> None:
    app, initiative_id = net.app, net.proposed()
    with pytest.raises(InvalidFields) as unknown:
        app.invite_partner(
            initiative_id, caller=net.lead, expected_version=1, organisation_id=uuid4()
        )
    assert unknown.value.errors == {"organisation_id": ["No such organisation."]}
    outcome = app.invite_partner(
        initiative_id, caller=net.lead, expected_version=1, organisation_id=UUID(net.partner_org)
    )
    assert outcome.aggregate.partners == {net.partner_org: "invited"}
    assert outcome.position == app.recorder.max_notification_id()
    app.join(
        initiative_id, caller=net.partner, expected_version=2, organisation_id=UUID(net.partner_org)
    )
    left = app.remove_partner(
        initiative_id, caller=net.partner, expected_version=3, organisation_id=UUID(net.partner_org)
    )
    assert left.aggregate.partners == {} and left.aggregate.version == 4


def test_an_edit_needs_a_base_version_of_this_initiative(net: Network) -> None:
    app, initiative_id = net.app, net.proposed()
    with pytest.raises(PreconditionRequired) as missing:
        edit(app, initiative_id, net.lead, {"expected_participants": 5})
    assert missing.value.detail == "Name the version you edited."
    for wrong in (0, 2):
        with pytest.raises(InvalidFields) as refused:
            edit(app, initiative_id, net.lead, {"expected_participants": 5}, base=wrong)
        assert refused.value.errors == {
            "base_version": ["Must be a version of this initiative (1 to 1)."]
        }
    # If-Match alone names the base version.
    edited = edit(app, initiative_id, net.lead, {"expected_participants": 5}, read=1)
    assert edited.aggregate.fields["expected_participants"] == 5


def test_an_edit_on_an_old_version_is_merged_with_what_came_since(net: Network) -> None:
    app, initiative_id = net.app, net.proposed()
    edit(app, initiative_id, net.lead, {"expected_participants": 5}, base=1)
    merged = edit(app, initiative_id, net.lead, {"themes": ["youth", "sport"]}, base=1)
    assert merged.aggregate.fields["expected_participants"] == 5
    assert merged.aggregate.fields["themes"] == ["youth", "sport"]
    with pytest.raises(StaleVersion) as stale:  # If-Match must still be the current version
        edit(app, initiative_id, net.lead, {"countries": ["FR"]}, base=1, read=2)
    assert stale.value.detail == "You read version 2; the initiative is at version 3."


def test_a_merged_edit_that_loses_a_race_is_merged_again(
    apps: tuple[Twinning, Twinning], net: Network
) -> None:
    one, two = apps
    initiative_id = net.proposed()
    assert one.initiative(initiative_id).version == 1  # cached: the race is now certain
    edit(two, initiative_id, net.lead, {"expected_participants": 7}, base=1)
    merged = edit(one, initiative_id, net.lead, {"countries": ["IT", "FR"]}, base=1)
    assert merged.aggregate.version == 3
    assert merged.aggregate.fields["expected_participants"] == 7
    assert merged.aggregate.fields["countries"] == ["IT", "FR"]
    edit(two, initiative_id, net.lead, {"expected_participants": 8}, base=2)  # two saw version 2
    with pytest.raises(StaleVersion) as stale:  # with If-Match, losing the race is final
        edit(one, initiative_id, net.lead, {"themes": ["sport"]}, base=3, read=3)
    assert stale.value.detail == "The initiative changed while your command was being recorded."
    assert stale.value.current_version == 4


def test_amendments_are_proposed_accepted_and_rejected_against_their_base(
    net: Network,
) -> None:
    app, initiative_id = net.app, net.in_co_design()
    with pytest.raises(PreconditionRequired) as missing:
        amend(app, initiative_id, net.near, {"countries": ["FR"]})
    assert missing.value.detail == "Name the version you amend."
    outcome, first = amend(
        app, initiative_id, net.near, {"countries": ["IT", "FR"]}, rationale="Wider.", base=4
    )
    assert [a["id"] for a in outcome.aggregate.amendments] == [first]
    _, second = amend(app, initiative_id, net.near, {"level": "european"}, base=5)
    _, third = amend(app, initiative_id, net.near, {"themes": ["sport"]}, read=6)
    edit(app, initiative_id, net.lead, {"expected_participants": 9}, base=7)
    with pytest.raises(PreconditionRequired) as unnamed:
        app.accept_amendment(
            initiative_id,
            caller=net.lead,
            expected_version=None,
            amendment_id=first,
            base_version=None,
        )
    assert unnamed.value.detail == "Name the version you read."
    with pytest.raises(InvalidFields) as wrong:
        app.accept_amendment(
            initiative_id,
            caller=net.lead,
            expected_version=None,
            amendment_id=first,
            base_version=9,
        )
    assert wrong.value.errors == {
        "base_version": ["Must be a version of this initiative (1 to 8)."]
    }
    accepted = app.accept_amendment(
        initiative_id, caller=net.partner, expected_version=None, amendment_id=first, base_version=8
    )
    fields = accepted.aggregate.fields
    assert fields["countries"] == ["IT", "FR"] and fields["expected_participants"] == 9
    accepted = app.accept_amendment(
        initiative_id, caller=net.lead, expected_version=9, amendment_id=second, base_version=None
    )
    assert accepted.aggregate.fields["level"] == "european"
    rejected = app.reject_amendment(
        initiative_id, caller=net.lead, expected_version=10, amendment_id=third, reason="No."
    )
    statuses = {a["id"]: a["status"] for a in rejected.aggregate.amendments}
    assert statuses == {first: "accepted", second: "accepted", third: "rejected"}


def test_a_european_submission_counts_the_countries_of_lead_and_joined_partners(
    net: Network,
) -> None:
    app = net.app
    same_country = net.in_co_design(partner=net.near, level="european")
    with pytest.raises(RequirementsNotMet):
        app.submit(same_country, caller=net.lead, expected_version=4)
    assert net.app.organisation_countries(
        [net.lead_org, "not-an-id", str(uuid4()), net.near_org]  # the unknown ones skipped
    ) == {
        net.lead_org: "IT",
        net.near_org: "IT",
    }
    two_countries = net.in_co_design(level="european")
    submitted = app.submit(two_countries, caller=net.lead, expected_version=4)
    assert submitted.aggregate.approval is not None
    assert [s["name"] for s in submitted.aggregate.approval["steps"]] == [
        "national_review",
        "network_review",
    ]
    assert app.submitted_versions(two_countries) == [5]


def test_the_whole_workflow_through_the_application(net: Network, clock: Clock) -> None:
    clock.moments = iter([datetime(2027, 5, d, tzinfo=UTC) for d in (1, 2, 3, 4)])
    app = net.app
    initiative_id = net.in_co_design()
    app.submit(initiative_id, caller=net.lead, expected_version=4)
    reviewed = app.review(
        initiative_id,
        caller=net.reviewer,
        expected_version=5,
        decision="request_changes",
        rationale="More detail.",
    )
    assert reviewed.aggregate.state is State.CO_DESIGN
    app.submit(initiative_id, caller=net.lead, expected_version=6)
    approved = app.review(
        initiative_id, caller=net.second, expected_version=7, decision="approve", rationale="Good."
    )
    assert approved.aggregate.state is State.APPROVED
    reviews = [r for s in approved.aggregate.approval["steps"] for r in s["reviews"]]  # type: ignore[index]
    assert [r["at"] for r in reviews] == [datetime(2027, 5, 2, tzinfo=UTC)]
    assert app.submitted_versions(initiative_id) == [5, 7]
    app.start_follow_up(initiative_id, caller=net.lead, expected_version=8)
    report = a_report(participants=30)
    reported = app.record_report(
        initiative_id, caller=net.partner, expected_version=9, report=report
    )
    assert reported.aggregate.reports[0]["participants"] == 30
    app.complete(initiative_id, caller=net.lead, expected_version=10, outcomes={"en": "Done."})
    good = app.recognise_good_practice(
        initiative_id, caller=net.reviewer, expected_version=11, rationale="Exemplary."
    )
    assert good.aggregate.good_practice and good.aggregate.version == 12
    past = app.initiative(initiative_id, version=5)
    assert (past.version, past.state) == (5, State.IN_REVIEW)
    assert app.initiative(initiative_id, version=12).good_practice
    for wrong in (0, 13):
        with pytest.raises(NotFound) as refused:
            app.initiative(initiative_id, version=wrong)
        assert refused.value.detail == f"The initiative has versions 1 to 12, not {wrong}."


def test_accounts_are_found_by_email_and_each_email_is_taken_once(net: Network) -> None:
    app = net.app
    registered = app.register_account(
        actor=system_actor(),
        email="Ana@Example.org",
        name="Ana",
        organisation_id=UUID(net.lead_org),
        roles=["partner"],
    )
    found = app.account_by_email(" ana@EXAMPLE.org ")
    assert found is not None and found.id == registered.aggregate.id
    assert app.account_by_email("nobody@example.org") is None
    with pytest.raises(DuplicateEmail) as taken:
        app.register_account(
            actor=system_actor(),
            email="ANA@example.org",
            name="A",
            organisation_id=UUID(net.lead_org),
            roles=[],
        )
    assert taken.value.detail == "An account with this email exists already."
    with pytest.raises(InvalidFields) as unknown:
        app.register_account(
            actor=system_actor(), email="b@example.org", name="B", organisation_id=uuid4(), roles=[]
        )
    assert unknown.value.errors == {"organisation_id": ["No such organisation."]}
    assert app.organisation(UUID(net.lead_org)).country == "IT"


def test_a_role_is_required_by_name() -> None:
    caller = Caller("a", "o", frozenset({"auditor"}))
    assert require_role(caller, Role.AUDITOR).role == "auditor"
    with pytest.raises(NotPermitted) as refused:
        require_role(caller, Role.ADMIN)
    assert refused.value.detail == "This needs the admin role."


def test_an_amendment_sent_with_an_old_if_match_is_refused(net: Network) -> None:
    app, initiative_id = net.app, net.in_co_design()
    with pytest.raises(StaleVersion) as stale:
        amend(app, initiative_id, net.near, {"level": "european"}, read=3)
    assert stale.value.current_version == 4
    # base_version alone says what it amends, whatever happened since.
    outcome, _ = amend(app, initiative_id, net.near, {"level": "european"}, base=3)
    assert outcome.aggregate.version == 5


def test_a_merge_that_loses_every_race_gives_up_and_says_so(
    apps: tuple[Twinning, Twinning], net: Network
) -> None:
    one, two = apps
    initiative_id = net.proposed()
    raced = 0

    def edit_while_someone_else_does(initiative: Initiative) -> None:
        # Another process records a change between this attempt's load and its save.
        nonlocal raced
        raced += 1
        seen = two.initiative(initiative_id).version
        edit(two, initiative_id, net.lead, {"expected_participants": raced}, base=seen)
        initiative.edit(net.lead, {"countries": ["FR"]}, dict(initiative.fields), 1)

    with pytest.raises(StaleVersion) as stale:
        one._merging(initiative_id, None, edit_while_someone_else_does, net.lead)
    assert stale.value.detail == "The initiative is changing too fast; please try again."
    assert raced == MERGE_ATTEMPTS
    assert stale.value.current_version == 1 + MERGE_ATTEMPTS
    assert two.initiative(initiative_id).fields["countries"] == ["IT"]


def test_an_if_match_behind_the_store_names_the_current_version(net: Network) -> None:
    app, initiative_id = net.app, net.proposed()
    edit(app, initiative_id, net.lead, {"expected_participants": 5}, base=1)
    with pytest.raises(StaleVersion) as stale:
        edit(app, initiative_id, net.lead, {"countries": ["FR"]}, base=1, read=1)
    assert stale.value.current_version == 2


def test_initiatives_are_snapshotted_every_fifty_versions_by_default(tmp_path: Path) -> None:
    app = Twinning(env=Database.parse("", tmp_path).eventsourcing_env(Settings()))
    try:
        initiative_id = app.propose(caller=LEAD, fields=FIELDS).aggregate.id
        for version in range(1, 50):
            edit(app, initiative_id, LEAD, {"expected_participants": version}, base=version)
        assert app.snapshots is not None
        [snapshot] = list(app.snapshots.get(initiative_id))
        assert snapshot.originator_version == 50
    finally:
        app.close()


def test_each_save_reports_the_types_of_the_events_it_recorded(net: Network, heard: Heard) -> None:
    heard.recorded.clear()  # the network's organisations
    initiative_id = net.proposed()
    net.app.start_co_design(initiative_id, caller=net.lead, expected_version=1)
    assert heard.recorded == [["Initiative.Proposed"], ["Initiative.CoDesignStarted"]]


def test_states_are_stored_under_their_own_type_name(net: Network) -> None:
    # Stored events and snapshots must stay readable by later releases: the tag is format.
    encoded = net.app.mapper.transcoder.encode({"state": State.CO_DESIGN})
    assert b'"State"' in encoded and b'"co_design"' in encoded
    assert net.app.mapper.transcoder.decode(encoded) == {"state": State.CO_DESIGN}


def test_an_organisation_records_who_registered_it(net: Network) -> None:
    admin = Caller("admin", net.lead_org, frozenset({"admin"})).acting_as(Role.ADMIN)
    outcome = net.app.register_organisation(
        actor=admin, name="Lyon", type_="local_authority", country="FR"
    )
    [registered] = list(net.app.events.get(outcome.aggregate.id))
    assert registered.actor == admin
    fixed = Organisation.register("Demo", "other", "FR", admin, id=uuid4())
    assert fixed.collect_events()[0].actor == admin
