"""Random commands from random actors, on a real event store; invariants after every step.

Every command's outcome is checked against a model of the contract written here by hand (it
never reads `RULES`): a command the model says must succeed succeeds, one it says must be
refused is refused with exactly the predicted error. After every step: the initiative loaded
afresh from the store equals the one the command returned; its version counts its events;
`allowed_actions` offers each person exactly what the model permits (an action it offers is
never refused for permission or state, one it withholds always is); and the rules that must
always hold (four eyes, conflict of interest, no lead among partners, final states offer
nothing) hold.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.application import Twinning
from domain.errors import (
    ConflictOfInterest,
    DomainError,
    FourEyes,
    InvalidTransition,
    NotFound,
    NotPermitted,
    RequirementsNotMet,
    StateConflict,
)
from domain.initiative import RULES, Initiative
from domain.values import FINAL_STATES, Caller, Level, State, system_actor
from service.api.representations import representation
from service.api.schemas import InitiativeSchema
from service.config import Database, Settings
from tests.conftest import PG_URL, a_report, drop_schema, require_postgres

PEOPLE = [
    "lead",
    "colleague",
    "partner_a",
    "partner_b",
    "outsider",
    "reviewer_1",
    "reviewer_2",
    "conflicted_reviewer",
    "hybrid",  # partner and reviewer of an uninvolved organisation: may amend, then review
]
INITIATIVE_SCHEMA = InitiativeSchema()

EDITABLE = frozenset({State.PROPOSAL, State.CO_DESIGN})
# The API contract restated by hand, so that a change to RULES shows:
# command -> (role, who, states). `who`: "lead"; "member" (lead or joined partner);
# "invited"; "party" (lead, or the organisation removed); "anyone"; "uninvolved" (neither
# lead nor partner nor, with their organisation, the author of an accepted amendment: a
# conflicted reviewer gets ConflictOfInterest).
CONTRACT: dict[str, tuple[str, str, frozenset[State]]] = {
    "edit": ("partner", "member", EDITABLE),
    "invite_partner": ("partner", "lead", EDITABLE),
    "join": ("partner", "invited", EDITABLE),
    "remove_partner": ("partner", "party", EDITABLE),
    "start_co_design": ("partner", "lead", frozenset({State.PROPOSAL})),
    "propose_amendment": ("partner", "anyone", EDITABLE),
    "accept_amendment": ("partner", "member", EDITABLE),
    "reject_amendment": ("partner", "member", EDITABLE),
    "submit": ("partner", "lead", frozenset({State.CO_DESIGN})),
    "review": ("reviewer", "uninvolved", frozenset({State.IN_REVIEW})),
    "start_follow_up": ("partner", "lead", frozenset({State.APPROVED})),
    "report": ("partner", "member", frozenset({State.FOLLOW_UP})),
    "complete": ("partner", "lead", frozenset({State.FOLLOW_UP})),
    # A reviewer's judgment, like a review: refused to a reviewer whose organisation takes part.
    "recognise_good_practice": ("reviewer", "uninvolved", frozenset({State.COMPLETED})),
    "withdraw": ("partner", "lead", frozenset({State.PROPOSAL, State.CO_DESIGN, State.IN_REVIEW})),
}
ACTIONS = sorted(CONTRACT)
# The model's answer when permission and state allow the command but a data rule it does not
# predict (a co-edit's merge) may still refuse it: success, or any error but a refusal.
DATA_DECIDES = DomainError
REFUSALS = (NotPermitted, InvalidTransition)

field_edits = st.one_of(
    st.fixed_dictionaries({"expected_participants": st.integers(0, 500)}),
    st.fixed_dictionaries(
        {
            "themes": st.lists(
                st.sampled_from(["youth", "environment", "local_democracy"]),
                min_size=1,
                max_size=3,
                unique=True,
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "title": st.fixed_dictionaries(
                {"en": st.sampled_from(["A", "B", "C"])},
                optional={"fr": st.sampled_from(["a", "b"]), "sr": st.sampled_from(["x", "y"])},
            )
        }
    ),
    st.fixed_dictionaries({"level": st.sampled_from(["national", "european"])}),
    st.fixed_dictionaries(
        {
            "countries": st.lists(
                st.sampled_from(["IT", "RS", "GE"]), min_size=1, max_size=3, unique=True
            )
        }
    ),
)


class InitiativeMachine(RuleBasedStateMachine):
    database_env: dict[str, str] = {}

    def __init__(self) -> None:
        super().__init__()
        self.cleanup: list[Any] = []
        self.app = Twinning(env=self.make_env(), snapshot_interval=4)
        org = {}
        for name, country in (
            ("lead", "IT"),
            ("partner_a", "RS"),
            ("partner_b", "IT"),
            ("outsider", "GE"),
            ("reviewers", "FR"),
            ("bystanders", "DE"),
        ):
            org[name] = str(
                self.app.register_organisation(
                    actor=system_actor(), name=name, type_="civil_society", country=country
                ).aggregate.id
            )
        org_of = {
            "lead": "lead",
            "colleague": "lead",
            "partner_a": "partner_a",
            "partner_b": "partner_b",
            "outsider": "outsider",
            "reviewer_1": "reviewers",
            "reviewer_2": "reviewers",
            "conflicted_reviewer": "partner_a",
            "hybrid": "bystanders",
        }
        self.org = org
        self.country = {
            org[name]: country
            for name, country in (("lead", "IT"), ("partner_a", "RS"), ("partner_b", "IT"))
        } | {org["outsider"]: "GE", org["reviewers"]: "FR", org["bystanders"]: "DE"}
        self.people = {
            name: Caller(
                str(uuid.uuid4()),
                org[org_of[name]],
                frozenset(
                    {"hybrid": ["partner", "reviewer"]}.get(
                        name, ["reviewer"] if "reviewer" in name else ["partner"]
                    )
                ),
            )
            for name in PEOPLE
        }
        self.initiative: Initiative | None = None
        self.outcome_state: dict[str, Any] | None = None
        self.events = 0

    def make_env(self) -> dict[str, str]:
        raise NotImplementedError

    def teardown(self) -> None:
        self.app.close()
        for undo in self.cleanup:
            undo()

    @initialize(level=st.sampled_from(["national", "european"]))
    def propose(self, level: str = "national") -> None:
        outcome = self.app.propose(
            caller=self.people["lead"],
            fields={
                "title": {"en": "A", "fr": "a"},
                "summary": {"en": "S"},
                "original_language": "en",
                "themes": ["youth"],
                "level": level,  # european: two review steps, four eyes
                "countries": ["IT"],
            },
        )
        self.remember(outcome.aggregate)

    def remember(self, initiative: Initiative) -> None:
        self.initiative = initiative
        self.events += 1

    def run(self, action: str, caller: Caller, data: Any) -> None:
        assert self.initiative is not None
        initiative_id, version = self.initiative.id, self.initiative.version
        app = self.app
        read: dict[str, Any] = {"caller": caller, "expected_version": version}
        merged: dict[str, Any] = {"caller": caller, "expected_version": None}
        named = uuid.UUID(self.org[data["org"]]) if "org" in data else None
        target = {
            "invite_partner": lambda: app.invite_partner(
                initiative_id, **read, organisation_id=named
            ),
            "join": lambda: app.join(
                initiative_id, **read, organisation_id=uuid.UUID(caller.organisation_id)
            ),
            "remove_partner": lambda: app.remove_partner(
                initiative_id, **read, organisation_id=named
            ),
            "start_co_design": lambda: app.start_co_design(initiative_id, **read),
            "edit": lambda: app.edit(
                initiative_id, **merged, fields=data["fields"], base_version=data["base"](version)
            ),
            "propose_amendment": lambda: app.propose_amendment(
                initiative_id,
                **merged,
                changes=data["fields"],
                rationale="Because.",
                base_version=data["base"](version),
            )[0],
            "accept_amendment": lambda: app.accept_amendment(
                initiative_id, **merged, amendment_id=self.pending_amendment(), base_version=version
            ),
            "reject_amendment": lambda: app.reject_amendment(
                initiative_id, **read, amendment_id=self.pending_amendment(), reason="No."
            ),
            "submit": lambda: app.submit(initiative_id, **read),
            "review": lambda: app.review(
                initiative_id, **read, decision=data["decision"], rationale="Reasons."
            ),
            "start_follow_up": lambda: app.start_follow_up(initiative_id, **read),
            "report": lambda: app.record_report(
                initiative_id, **read, report=a_report(evidence_urls=[])
            ),
            "complete": lambda: app.complete(initiative_id, **read, outcomes={"en": "Done"}),
            "recognise_good_practice": lambda: app.recognise_good_practice(
                initiative_id, **read, rationale="Good."
            ),
            "withdraw": lambda: app.withdraw(initiative_id, **read, reason="Stop."),
        }[action]
        expected = self.predict(action, caller, data)
        offered = action in self.initiative.allowed_actions(caller)
        try:
            outcome = target()
        except DomainError as error:
            if expected is DATA_DECIDES:
                assert not isinstance(error, REFUSALS), (action, "permitted", error)
            else:
                assert type(error) is expected, (action, expected, error)
            # Removing is offered to any party, but only the lead may remove others.
            refused = isinstance(error, REFUSALS)
            assert not (refused and offered) or action == "remove_partner", (action, error)
            return
        assert expected is None or expected is DATA_DECIDES, (action, "succeeded", expected)
        assert offered, f"{action} succeeded although allowed_actions withheld it"
        assert outcome.aggregate.version == version + 1
        self.remember(outcome.aggregate)

    def predict(self, action: str, caller: Caller, data: Any) -> type[DomainError] | None:
        """The model: None when `action` must succeed, else the error it must raise (or
        DATA_DECIDES). Checks in the code's order: role, relation, state, then the data."""
        initiative = self.initiative
        assert initiative is not None
        pending = [a for a in initiative.amendments if a["status"] == "pending"]
        target = self.org[data["org"]] if "org" in data else None
        # Checked before permission: joining an organisation that has joined, accepting an
        # amendment that is not there.
        if action == "join" and initiative.partners.get(caller.organisation_id) == "joined":
            return StateConflict
        if action == "accept_amendment" and not pending:
            return NotFound
        refusal = self.refusal(action, caller, target)
        if refusal is not None:
            return refusal
        return self.data_rule(action, caller, data, pending, target)

    def refusal(
        self, action: str, caller: Caller, target: str | None = None
    ) -> type[DomainError] | None:
        """Why the contract refuses `action` to `caller` in this state (role, relation, then
        state), or None. Without a target, "party" means any lead or partner member."""
        initiative = self.initiative
        assert initiative is not None
        org, lead = caller.organisation_id, initiative.lead_organisation_id
        relation = "lead" if org == lead else initiative.partners.get(org)
        role, who, states = CONTRACT[action]
        if role not in caller.roles:
            return NotPermitted
        party = (relation == "lead" or org == target) if target else relation is not None
        related = {
            "lead": relation == "lead",
            "member": relation in ("lead", "joined"),
            "invited": relation == "invited",
            "party": party,
            "anyone": True,
            "uninvolved": relation is None
            and not any(
                a["status"] == "accepted"
                and (a["author_id"] == caller.account_id or a["author_organisation_id"] == org)
                for a in initiative.amendments
            ),
        }[who]
        if not related:
            return ConflictOfInterest if who == "uninvolved" else NotPermitted
        if initiative.state not in states:
            return InvalidTransition
        return None

    def approved_this_round(self, caller: Caller) -> bool:
        """Four eyes: an approval of a step of the round under review bars its later steps."""
        initiative = self.initiative
        assert initiative is not None
        if initiative.state is not State.IN_REVIEW or initiative.approval is None:
            return False
        return any(
            review["reviewer_id"] == caller.account_id and review["decision"] == "approve"
            for step in initiative.approval["steps"]
            for review in step["reviews"]
        )

    def offers(self, caller: Caller) -> set[str]:
        """What `allowed_actions` must offer: what the contract permits now, four eyes and a
        recognition already made included (data such as pending amendments is not)."""
        initiative = self.initiative
        assert initiative is not None
        return {
            action
            for action in ACTIONS
            if self.refusal(action, caller) is None
            and not (action == "review" and self.approved_this_round(caller))
            and not (action == "recognise_good_practice" and initiative.good_practice)
        }

    def data_rule(
        self,
        action: str,
        caller: Caller,
        data: Any,
        pending: list[dict[str, Any]],
        target: str | None,
    ) -> type[DomainError] | None:
        """What the data says once permission and state allow the command."""
        initiative = self.initiative
        assert initiative is not None
        if action == "review" and self.approved_this_round(caller):
            return FourEyes
        if action == "invite_partner" and (
            target == initiative.lead_organisation_id or target in initiative.partners
        ):
            return StateConflict
        if action == "remove_partner" and target not in initiative.partners:
            return NotFound
        if action == "reject_amendment" and not pending:
            return NotFound
        if action == "submit":
            joined = [org for org, status in initiative.partners.items() if status == "joined"]
            countries = {self.country[org] for org in [initiative.lead_organisation_id, *joined]}
            european = initiative.fields["level"] == Level.EUROPEAN.value
            if not joined or (european and len(countries) < 2):
                return RequirementsNotMet
        if action == "complete" and not initiative.reports:
            return RequirementsNotMet
        if action == "recognise_good_practice" and initiative.good_practice:
            return StateConflict
        # An edit made on the current version cannot conflict; an older base may.
        if action == "edit" and data["base"](initiative.version) != initiative.version:
            return DATA_DECIDES
        if action == "accept_amendment":
            return DATA_DECIDES  # merged against its base: may conflict with later edits
        return None

    def pending_amendment(self) -> str:
        assert self.initiative is not None
        pending = [a["id"] for a in self.initiative.amendments if a["status"] == "pending"]
        return pending[0] if pending else str(uuid.uuid4())

    @rule(
        action=st.sampled_from(ACTIONS),
        who=st.sampled_from(PEOPLE),
        fields=field_edits,
        org=st.sampled_from(["partner_a", "partner_b", "outsider", "lead"]),
        decision=st.sampled_from(["approve", "approve", "request_changes", "reject"]),
        lag=st.integers(0, 3),
    )
    def command(
        self, action: str, who: str, fields: dict[str, Any], org: str, decision: str, lag: int
    ) -> None:
        data = {
            "fields": fields,
            "org": org,
            "decision": decision,
            "base": lambda version: max(1, version - lag),
        }
        self.run(action, self.people[who], data)

    @rule(who=st.sampled_from(PEOPLE))
    def steer_along_the_usual_path(self, who: str) -> None:
        """Takes the next usual step, so that random runs reach review and follow-up often."""
        assert self.initiative is not None
        state = self.initiative.state
        partner = self.initiative.partners.get(self.org["partner_a"])
        reviewer = who if "reviewer" in who or who == "hybrid" else "reviewer_1"
        if state in (State.PROPOSAL, State.CO_DESIGN) and partner is None:
            step = ("invite_partner", "lead", {"org": "partner_a"})
        elif state in (State.PROPOSAL, State.CO_DESIGN) and partner == "invited":
            step = ("join", "partner_a", {})
        elif state is State.PROPOSAL:
            step = ("start_co_design", "lead", {})
        elif state is State.CO_DESIGN:
            step = ("submit", "lead", {})
        elif state is State.IN_REVIEW:
            step = ("review", reviewer, {"decision": "approve"})
        elif state is State.APPROVED:
            step = ("start_follow_up", "lead", {})
        elif state is State.FOLLOW_UP and not self.initiative.reports:
            step = ("report", "partner_a", {})  # a joined partner reports too
        elif state is State.FOLLOW_UP:
            step = ("complete", "lead", {})
        else:
            return
        action, person, data = step
        self.run(action, self.people[person], data)

    @invariant()
    def the_store_gives_back_the_same_initiative(self) -> None:
        if self.initiative is None:
            return
        fresh = self.app.initiative(self.initiative.id)
        assert fresh.version == self.initiative.version == self.events
        assert fresh.__dict__ == self.initiative.__dict__
        stored = list(self.app.events.get(self.initiative.id))
        assert len(stored) == fresh.version

    @invariant()
    def the_representation_is_its_own_dump(self) -> None:
        """The API sends `representation` as it is, without the schema's dump: it must be
        what the dump gives, for every caller (ids as text, only the schema's keys)."""
        if self.initiative is None:
            return
        for caller in self.people.values():
            for current in (True, False):
                shown = representation(self.initiative, caller, current)
                assert INITIATIVE_SCHEMA.dump(shown) == shown

    @invariant()
    def allowed_actions_offers_what_the_contract_permits(self) -> None:
        """Checked for everyone in every state reached, not only for the command drawn: a
        state the run passes through quickly (approved) is still checked."""
        if self.initiative is None:
            return
        for name, caller in self.people.items():
            offered = set(self.initiative.allowed_actions(caller))
            assert offered == self.offers(caller), (name, self.initiative.state)

    @invariant()
    def the_rules_hold(self) -> None:
        initiative = self.initiative
        if initiative is None:
            return
        assert initiative.lead_organisation_id not in initiative.partners
        if initiative.state in FINAL_STATES:
            for caller in self.people.values():
                offered = set(initiative.allowed_actions(caller))
                assert offered <= {"recognise_good_practice"}
        co_authors = {
            who
            for a in initiative.amendments
            if a["status"] == "accepted"
            for who in (a["author_id"], a["author_organisation_id"])
        }
        involved = {initiative.lead_organisation_id, *initiative.partners}
        # Partners are frozen from submission on: this round's reviewers must be uninvolved.
        frozen = initiative.state in (
            State.IN_REVIEW,
            State.APPROVED,
            State.FOLLOW_UP,
            State.COMPLETED,
            State.REJECTED,
        )
        if initiative.approval is not None:
            approvers: list[str] = []
            for step in initiative.approval["steps"]:
                for review in step["reviews"]:
                    assert not frozen or review["organisation_id"] not in involved
                    assert (
                        not frozen
                        or not {
                            review["reviewer_id"],
                            review["organisation_id"],
                        }
                        & co_authors
                    )
                    if review["decision"] == "approve":
                        assert review["reviewer_id"] not in approvers, "four eyes broken"
                        approvers.append(review["reviewer_id"])
        languages = set().union(
            *(initiative.fields.get(f) or {} for f in ("title", "summary", "description"))
        )
        for stale in initiative.stale.values():
            assert set(stale) <= languages
            assert initiative.fields["original_language"] not in stale


class SQLiteMachine(InitiativeMachine):
    def make_env(self) -> dict[str, str]:
        folder = tempfile.mkdtemp()
        self.cleanup.append(lambda: shutil.rmtree(folder, ignore_errors=True))
        return Database.parse("", Path(folder)).eventsourcing_env(Settings())


class PostgresMachine(InitiativeMachine):
    def make_env(self) -> dict[str, str]:
        schema = f"h_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        self.cleanup.append(lambda: drop_schema(schema))
        database = Database.parse(PG_URL, Path("."), schema)
        return database.eventsourcing_env(Settings(pool_size=1, max_overflow=2))


MACHINE_SETTINGS = settings(
    max_examples=int(os.environ.get("TWINNING_STATEFUL_EXAMPLES", "40")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_random_commands_keep_the_invariants_on_sqlite() -> None:
    SQLiteMachine.TestCase.settings = MACHINE_SETTINGS
    SQLiteMachine.TestCase().runTest()


@pytest.mark.postgres
def test_random_commands_keep_the_invariants_on_postgres() -> None:
    require_postgres()
    PostgresMachine.TestCase.settings = settings(MACHINE_SETTINGS, max_examples=15)
    PostgresMachine.TestCase().runTest()


def test_the_model_knows_every_command() -> None:
    assert set(CONTRACT) == set(RULES)


def test_the_machine_reaches_the_later_states() -> None:
    """Guards the test itself: random runs must get past review, or they prove little."""
    machine = SQLiteMachine()
    try:
        machine.propose()
        for _ in range(9):
            machine.steer_along_the_usual_path("reviewer_2")
        assert machine.initiative is not None
        assert machine.initiative.state is State.COMPLETED
        machine.the_store_gives_back_the_same_initiative()
        machine.allowed_actions_offers_what_the_contract_permits()
        machine.the_rules_hold()
    finally:
        machine.teardown()
