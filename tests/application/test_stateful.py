"""Random commands from random actors, on a real event store; invariants after every step.

After every step: the initiative loaded afresh from the store equals the one the command
returned; its version counts its events; `allowed_actions` tells the truth (an action it
offers is never refused for permission or state, one it withholds always is); and the
rules that must always hold (four eyes, conflict of interest, no lead among partners,
final states offer nothing) hold.
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
from domain.errors import DomainError, InvalidTransition, NotPermitted
from domain.initiative import RULES, Initiative
from domain.values import FINAL_STATES, Caller, State, system_actor
from service.config import Database, Settings
from service.initiatives import representation
from service.schemas import InitiativeSchema
from tests.conftest import PG_URL, drop_schema, require_postgres

PEOPLE = [
    "lead",
    "colleague",
    "partner_a",
    "partner_b",
    "outsider",
    "reviewer_1",
    "reviewer_2",
    "conflicted_reviewer",
]
ACTIONS = sorted(RULES)
INITIATIVE_SCHEMA = InitiativeSchema()

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
        ):
            org[name] = str(
                self.app.register_organisation(
                    system_actor(), name, "civil_society", country
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
        }
        self.org = org
        self.people = {
            name: Caller(
                str(uuid.uuid4()),
                org[org_of[name]],
                frozenset(["reviewer"] if "reviewer" in name else ["partner"]),
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

    @initialize()
    def propose(self) -> None:
        outcome = self.app.propose(
            self.people["lead"],
            {
                "title": {"en": "A", "fr": "a"},
                "summary": {"en": "S"},
                "original_language": "en",
                "themes": ["youth"],
                "level": "national",
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
        target = {
            "invite_partner": lambda: app.invite_partner(
                initiative_id, version, caller, uuid.UUID(self.org[data["org"]])
            ),
            "join": lambda: app.join(
                initiative_id, version, caller, uuid.UUID(caller.organisation_id)
            ),
            "remove_partner": lambda: app.remove_partner(
                initiative_id, version, caller, uuid.UUID(self.org[data["org"]])
            ),
            "start_co_design": lambda: app.start_co_design(initiative_id, version, caller),
            "edit": lambda: app.edit(
                initiative_id, caller, data["fields"], data["base"](version), None
            ),
            "propose_amendment": lambda: app.propose_amendment(
                initiative_id, caller, data["fields"], "Because.", data["base"](version)
            )[0],
            "accept_amendment": lambda: app.accept_amendment(
                initiative_id, self.pending_amendment(), caller, version
            ),
            "reject_amendment": lambda: app.reject_amendment(
                initiative_id, version, caller, self.pending_amendment(), "No."
            ),
            "submit": lambda: app.submit(initiative_id, version, caller),
            "review": lambda: app.review(
                initiative_id, version, caller, data["decision"], "Reasons."
            ),
            "start_follow_up": lambda: app.start_follow_up(initiative_id, version, caller),
            "report": lambda: app.record_report(
                initiative_id,
                version,
                caller,
                {
                    "period_start": "2027-01-01",
                    "period_end": "2027-02-01",
                    "participants": 10,
                    "activities": 1,
                    "narrative": {"en": "N"},
                    "evidence_urls": [],
                },
            ),
            "complete": lambda: app.complete(initiative_id, version, caller, {"en": "Done"}),
            "recognise_good_practice": lambda: app.recognise_good_practice(
                initiative_id, version, caller, "Good."
            ),
            "withdraw": lambda: app.withdraw(initiative_id, version, caller, "Stop."),
        }[action]
        offered = action in self.initiative.allowed_actions(caller)
        try:
            outcome = target()
        except (NotPermitted, InvalidTransition) as refusal:
            # Removing is offered to any party, but only the lead may remove others.
            assert not offered or action == "remove_partner", (action, refusal)
            return
        except DomainError:
            return  # a rule about the data (requirements, conflicts, validation)
        assert offered, f"{action} succeeded although allowed_actions withheld it"
        assert outcome.aggregate.version == version + 1
        self.remember(outcome.aggregate)

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
        reviewer = who if "reviewer" in who else "reviewer_1"
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
            step = ("report", "lead", {})
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
    def the_rules_hold(self) -> None:
        initiative = self.initiative
        if initiative is None:
            return
        assert initiative.lead_organisation_id not in initiative.partners
        if initiative.state in FINAL_STATES:
            for caller in self.people.values():
                offered = set(initiative.allowed_actions(caller))
                assert offered <= {"recognise_good_practice"}
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
        machine.the_rules_hold()
    finally:
        machine.teardown()
