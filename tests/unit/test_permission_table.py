"""Who may do what, in which state: every state x command x kind of caller, on the aggregate.

The expected answer of each cell is written out below, from the API contract (docs and OpenAPI),
not computed from `RULES` or `allowed_actions`: a change to the rules table then fails a cell.
Where a call is refused for several reasons at once, the code checks role, then the caller's
relation to the initiative, then the state: an outsider submitting an approved initiative is
told 403, not 409. Each cell runs the command on a fresh copy of an initiative prepared in that
state, with data that lets a permitted call truly succeed, and checks that `allowed_actions`
offers the command exactly when the cell says "ok".
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.errors import (
    ConflictOfInterest,
    DomainError,
    FourEyes,
    InvalidTransition,
    NotPermitted,
    StateConflict,
)
from domain.initiative import Initiative
from domain.values import Caller, State

AT = datetime(2027, 1, 1, tzinfo=UTC)


def account(name: str, organisation: str, role: str) -> Caller:
    return Caller(f"account-{name}", f"org-{organisation}", frozenset([role]))


# The table's columns, in order: each label and the account behind it.
CALLERS: dict[str, tuple[str, Caller]] = {
    "lead": ("lead", account("lead", "lead", "partner")),
    "joind": ("joined_partner", account("joined", "joined", "partner")),
    "invtd": ("invited_partner", account("invited", "invited", "partner")),
    "outsd": ("outsider", account("outsider", "outsider", "partner")),
    "rev": ("reviewer_uninvolved", account("reviewer", "review-board", "reviewer")),
    "revL": ("reviewer_of_lead", account("reviewer-lead", "lead", "reviewer")),
    "revI": ("reviewer_of_invited", account("reviewer-invited", "invited", "reviewer")),
    "revJ": ("reviewer_of_joined", account("reviewer-joined", "joined", "reviewer")),
    "apprv": ("approver_of_earlier_step", account("approver", "review-board", "reviewer")),
    "audit": ("auditor", account("auditor", "audit-office", "auditor")),
    "admin": ("admin", account("admin", "platform", "admin")),
}
COLUMNS = list(CALLERS)
LEAD, JOINED, INVITED = (CALLERS[c][1] for c in ("lead", "joind", "invtd"))
APPROVER = CALLERS["apprv"][1]
# Decides the steps the approver did not: not a column, so that "rev" never reviewed.
SECOND_REVIEWER = account("second-reviewer", "review-board", "reviewer")
NEW_ORGANISATION = "org-newcomer"
COUNTRIES = {LEAD.organisation_id: "FR", JOINED.organisation_id: "DE"}

# What a cell may say: the call succeeds, or the exact error it is refused with.
OUTCOMES: dict[str, type[DomainError] | None] = {
    "ok": None,
    "403": NotPermitted,
    "coi": ConflictOfInterest,
    "4eyes": FourEyes,
    "409": InvalidTransition,
    # Joining for an organisation that has joined: checked before the role and the relation.
    "dup": StateConflict,
}

# Every command of the aggregate, spelled out here rather than read from RULES: each table
# has one row per command, in this order.
COMMANDS = [
    "edit",
    "invite_partner",
    "join",
    "remove_partner",
    "start_co_design",
    "propose_amendment",
    "accept_amendment",
    "reject_amendment",
    "submit",
    "review",
    "start_follow_up",
    "report",
    "complete",
    "recognise_good_practice",
    "withdraw",
]

# Columns: lead; joined partner; invited partner; outsider (partner role, unrelated
# organisation); reviewer from an uninvolved organisation; reviewers from the lead, the
# invited and the joined partner organisations; the reviewer who approved national_review of
# the current round (in_review), or of an earlier one; auditor; admin.
# Recognising good practice is a reviewer's judgment too: like a review, it is refused to a
# reviewer whose organisation takes part (the HTTP matrix says the same), in every state,
# since who the caller is is checked before the state.
TABLES: dict[State, str] = {
    State.PROPOSAL: """
        command                 lead  joind invtd outsd rev   revL  revI  revJ  apprv audit admin
        edit                    ok    ok    403   403   403   403   403   403   403   403   403
        invite_partner          ok    403   403   403   403   403   403   403   403   403   403
        join                    403   dup   ok    403   403   403   403   dup   403   403   403
        remove_partner          ok    ok    ok    403   403   403   403   403   403   403   403
        start_co_design         ok    403   403   403   403   403   403   403   403   403   403
        propose_amendment       ok    ok    ok    ok    403   403   403   403   403   403   403
        accept_amendment        ok    ok    403   403   403   403   403   403   403   403   403
        reject_amendment        ok    ok    403   403   403   403   403   403   403   403   403
        submit                  409   403   403   403   403   403   403   403   403   403   403
        review                  403   403   403   403   409   coi   coi   coi   409   403   403
        start_follow_up         409   403   403   403   403   403   403   403   403   403   403
        report                  409   409   403   403   403   403   403   403   403   403   403
        complete                409   403   403   403   403   403   403   403   403   403   403
        recognise_good_practice 403   403   403   403   409   coi   coi   coi   409   403   403
        withdraw                ok    403   403   403   403   403   403   403   403   403   403
    """,
    State.CO_DESIGN: """
        command                 lead  joind invtd outsd rev   revL  revI  revJ  apprv audit admin
        edit                    ok    ok    403   403   403   403   403   403   403   403   403
        invite_partner          ok    403   403   403   403   403   403   403   403   403   403
        join                    403   dup   ok    403   403   403   403   dup   403   403   403
        remove_partner          ok    ok    ok    403   403   403   403   403   403   403   403
        start_co_design         409   403   403   403   403   403   403   403   403   403   403
        propose_amendment       ok    ok    ok    ok    403   403   403   403   403   403   403
        accept_amendment        ok    ok    403   403   403   403   403   403   403   403   403
        reject_amendment        ok    ok    403   403   403   403   403   403   403   403   403
        submit                  ok    403   403   403   403   403   403   403   403   403   403
        review                  403   403   403   403   409   coi   coi   coi   409   403   403
        start_follow_up         409   403   403   403   403   403   403   403   403   403   403
        report                  409   409   403   403   403   403   403   403   403   403   403
        complete                409   403   403   403   403   403   403   403   403   403   403
        recognise_good_practice 403   403   403   403   409   coi   coi   coi   409   403   403
        withdraw                ok    403   403   403   403   403   403   403   403   403   403
    """,
    State.IN_REVIEW: """
        command                 lead  joind invtd outsd rev   revL  revI  revJ  apprv audit admin
        edit                    409   409   403   403   403   403   403   403   403   403   403
        invite_partner          409   403   403   403   403   403   403   403   403   403   403
        join                    403   dup   409   403   403   403   403   dup   403   403   403
        remove_partner          409   409   409   403   403   403   403   403   403   403   403
        start_co_design         409   403   403   403   403   403   403   403   403   403   403
        propose_amendment       409   409   409   409   403   403   403   403   403   403   403
        accept_amendment        409   409   403   403   403   403   403   403   403   403   403
        reject_amendment        409   409   403   403   403   403   403   403   403   403   403
        submit                  409   403   403   403   403   403   403   403   403   403   403
        review                  403   403   403   403   ok    coi   coi   coi   4eyes 403   403
        start_follow_up         409   403   403   403   403   403   403   403   403   403   403
        report                  409   409   403   403   403   403   403   403   403   403   403
        complete                409   403   403   403   403   403   403   403   403   403   403
        recognise_good_practice 403   403   403   403   409   coi   coi   coi   409   403   403
        withdraw                ok    403   403   403   403   403   403   403   403   403   403
    """,
    State.APPROVED: """
        command                 lead  joind invtd outsd rev   revL  revI  revJ  apprv audit admin
        edit                    409   409   403   403   403   403   403   403   403   403   403
        invite_partner          409   403   403   403   403   403   403   403   403   403   403
        join                    403   dup   409   403   403   403   403   dup   403   403   403
        remove_partner          409   409   409   403   403   403   403   403   403   403   403
        start_co_design         409   403   403   403   403   403   403   403   403   403   403
        propose_amendment       409   409   409   409   403   403   403   403   403   403   403
        accept_amendment        409   409   403   403   403   403   403   403   403   403   403
        reject_amendment        409   409   403   403   403   403   403   403   403   403   403
        submit                  409   403   403   403   403   403   403   403   403   403   403
        review                  403   403   403   403   409   coi   coi   coi   409   403   403
        start_follow_up         ok    403   403   403   403   403   403   403   403   403   403
        report                  409   409   403   403   403   403   403   403   403   403   403
        complete                409   403   403   403   403   403   403   403   403   403   403
        recognise_good_practice 403   403   403   403   409   coi   coi   coi   409   403   403
        withdraw                409   403   403   403   403   403   403   403   403   403   403
    """,
    State.FOLLOW_UP: """
        command                 lead  joind invtd outsd rev   revL  revI  revJ  apprv audit admin
        edit                    409   409   403   403   403   403   403   403   403   403   403
        invite_partner          409   403   403   403   403   403   403   403   403   403   403
        join                    403   dup   409   403   403   403   403   dup   403   403   403
        remove_partner          409   409   409   403   403   403   403   403   403   403   403
        start_co_design         409   403   403   403   403   403   403   403   403   403   403
        propose_amendment       409   409   409   409   403   403   403   403   403   403   403
        accept_amendment        409   409   403   403   403   403   403   403   403   403   403
        reject_amendment        409   409   403   403   403   403   403   403   403   403   403
        submit                  409   403   403   403   403   403   403   403   403   403   403
        review                  403   403   403   403   409   coi   coi   coi   409   403   403
        start_follow_up         409   403   403   403   403   403   403   403   403   403   403
        report                  ok    ok    403   403   403   403   403   403   403   403   403
        complete                ok    403   403   403   403   403   403   403   403   403   403
        recognise_good_practice 403   403   403   403   409   coi   coi   coi   409   403   403
        withdraw                409   403   403   403   403   403   403   403   403   403   403
    """,
    State.COMPLETED: """
        command                 lead  joind invtd outsd rev   revL  revI  revJ  apprv audit admin
        edit                    409   409   403   403   403   403   403   403   403   403   403
        invite_partner          409   403   403   403   403   403   403   403   403   403   403
        join                    403   dup   409   403   403   403   403   dup   403   403   403
        remove_partner          409   409   409   403   403   403   403   403   403   403   403
        start_co_design         409   403   403   403   403   403   403   403   403   403   403
        propose_amendment       409   409   409   409   403   403   403   403   403   403   403
        accept_amendment        409   409   403   403   403   403   403   403   403   403   403
        reject_amendment        409   409   403   403   403   403   403   403   403   403   403
        submit                  409   403   403   403   403   403   403   403   403   403   403
        review                  403   403   403   403   409   coi   coi   coi   409   403   403
        start_follow_up         409   403   403   403   403   403   403   403   403   403   403
        report                  409   409   403   403   403   403   403   403   403   403   403
        complete                409   403   403   403   403   403   403   403   403   403   403
        recognise_good_practice 403   403   403   403   ok    coi   coi   coi   ok    403   403
        withdraw                409   403   403   403   403   403   403   403   403   403   403
    """,
    State.REJECTED: """
        command                 lead  joind invtd outsd rev   revL  revI  revJ  apprv audit admin
        edit                    409   409   403   403   403   403   403   403   403   403   403
        invite_partner          409   403   403   403   403   403   403   403   403   403   403
        join                    403   dup   409   403   403   403   403   dup   403   403   403
        remove_partner          409   409   409   403   403   403   403   403   403   403   403
        start_co_design         409   403   403   403   403   403   403   403   403   403   403
        propose_amendment       409   409   409   409   403   403   403   403   403   403   403
        accept_amendment        409   409   403   403   403   403   403   403   403   403   403
        reject_amendment        409   409   403   403   403   403   403   403   403   403   403
        submit                  409   403   403   403   403   403   403   403   403   403   403
        review                  403   403   403   403   409   coi   coi   coi   409   403   403
        start_follow_up         409   403   403   403   403   403   403   403   403   403   403
        report                  409   409   403   403   403   403   403   403   403   403   403
        complete                409   403   403   403   403   403   403   403   403   403   403
        recognise_good_practice 403   403   403   403   409   coi   coi   coi   409   403   403
        withdraw                409   403   403   403   403   403   403   403   403   403   403
    """,
    State.WITHDRAWN: """
        command                 lead  joind invtd outsd rev   revL  revI  revJ  apprv audit admin
        edit                    409   409   403   403   403   403   403   403   403   403   403
        invite_partner          409   403   403   403   403   403   403   403   403   403   403
        join                    403   dup   409   403   403   403   403   dup   403   403   403
        remove_partner          409   409   409   403   403   403   403   403   403   403   403
        start_co_design         409   403   403   403   403   403   403   403   403   403   403
        propose_amendment       409   409   409   409   403   403   403   403   403   403   403
        accept_amendment        409   409   403   403   403   403   403   403   403   403   403
        reject_amendment        409   409   403   403   403   403   403   403   403   403   403
        submit                  409   403   403   403   403   403   403   403   403   403   403
        review                  403   403   403   403   409   coi   coi   coi   409   403   403
        start_follow_up         409   403   403   403   403   403   403   403   403   403   403
        report                  409   409   403   403   403   403   403   403   403   403   403
        complete                409   403   403   403   403   403   403   403   403   403   403
        recognise_good_practice 403   403   403   403   409   coi   coi   coi   409   403   403
        withdraw                409   403   403   403   403   403   403   403   403   403   403
    """,
}


def parse(table: str) -> dict[tuple[str, str], str]:
    """(command, column) -> outcome code, from one state's table."""
    header, *rows = (line.split() for line in table.strip().splitlines())
    assert header == ["command", *COLUMNS], header
    assert [command for command, *_ in rows] == COMMANDS
    cells = {}
    for command, *codes in rows:
        assert len(codes) == len(COLUMNS), command
        for column, code in zip(COLUMNS, codes, strict=True):
            assert code in OUTCOMES, (command, column, code)
            cells[command, column] = code
    return cells


EXPECTED: dict[State, dict[tuple[str, str], str]] = {
    state: parse(table) for state, table in TABLES.items()
}


# ------------------------------------------------------------------- the initiatives


REPORT: dict[str, Any] = {
    "period_start": "2027-03-01",
    "period_end": "2027-03-31",
    "participants": 25,
    "activities": 3,
    "narrative": {"en": "Three plantings."},
    "evidence_urls": [],
}


class Prepared:
    """One European initiative per state, each with a joined and an invited partner and a
    pending amendment, so that every permitted command has what it needs to succeed."""

    def __init__(self) -> None:
        initiative = Initiative.propose(
            LEAD,
            {
                "title": {"en": "Green squares"},
                "summary": {"en": "Planting in twinned towns."},
                "original_language": "en",
                "themes": ["environment"],
                "level": "european",
                "countries": ["FR", "DE"],
            },
        )
        initiative.invite_partner(LEAD, JOINED.organisation_id)
        initiative.join(JOINED, JOINED.organisation_id)
        initiative.invite_partner(LEAD, INVITED.organisation_id)
        # Proposed by the lead: a rule change that bars others from amending then fails cells,
        # not the preparation.
        self.amendment_base = dict(initiative.fields)
        self.amendment_id = initiative.propose_amendment(
            LEAD, {"target_groups": ["pupils"]}, "Schools too.", initiative.version
        )
        self.states: dict[State, Initiative] = {State.PROPOSAL: snapshot(initiative)}

        initiative.start_co_design(LEAD)
        initiative.submit(LEAD, COUNTRIES)
        initiative.review(APPROVER, "approve", "National fit.", AT)
        self.states[State.IN_REVIEW] = snapshot(initiative)

        # Co-design again after a round in which the approver approved a step.
        changes = copy.deepcopy(initiative)
        changes.review(SECOND_REVIEWER, "request_changes", "Add a budget.", AT)
        self.states[State.CO_DESIGN] = snapshot(changes)

        rejected = copy.deepcopy(initiative)
        rejected.review(SECOND_REVIEWER, "reject", "Out of scope.", AT)
        self.states[State.REJECTED] = snapshot(rejected)
        withdrawn = copy.deepcopy(initiative)
        withdrawn.withdraw(LEAD, "Funding fell through.")
        self.states[State.WITHDRAWN] = snapshot(withdrawn)

        initiative.review(SECOND_REVIEWER, "approve", "Network fit.", AT)
        self.states[State.APPROVED] = snapshot(initiative)
        initiative.start_follow_up(LEAD)
        initiative.record_report(LEAD, REPORT)  # complete needs one
        self.states[State.FOLLOW_UP] = snapshot(initiative)
        initiative.complete(LEAD, {"en": "Twelve squares planted."})
        self.states[State.COMPLETED] = snapshot(initiative)


def snapshot(initiative: Initiative) -> Initiative:
    """A copy without pending events: cheap to copy again for every cell."""
    kept = copy.deepcopy(initiative)
    kept.collect_events()
    return kept


@functools.cache
def prepared() -> Prepared:
    return Prepared()


def attempt(world: Prepared, initiative: Initiative, command: str, column: str) -> None:
    """Runs `command` as the column's caller with data that lets a permitted call succeed."""
    caller = CALLERS[column][1]
    # Partners remove (leave) their own organisation; anyone else tries the joined partner.
    target = caller.organisation_id if column in ("joind", "invtd") else JOINED.organisation_id
    calls: dict[str, Callable[[], Any]] = {
        "edit": lambda: initiative.edit(
            caller, {"expected_participants": 40}, dict(initiative.fields), initiative.version
        ),
        "invite_partner": lambda: initiative.invite_partner(caller, NEW_ORGANISATION),
        "join": lambda: initiative.join(caller, caller.organisation_id),
        "remove_partner": lambda: initiative.remove_partner(caller, target),
        "start_co_design": lambda: initiative.start_co_design(caller),
        "propose_amendment": lambda: initiative.propose_amendment(
            caller, {"themes": ["youth"]}, "Young people too.", initiative.version
        ),
        "accept_amendment": lambda: initiative.accept_amendment(
            caller, world.amendment_id, world.amendment_base
        ),
        "reject_amendment": lambda: initiative.reject_amendment(
            caller, world.amendment_id, "Not now."
        ),
        "submit": lambda: initiative.submit(caller, COUNTRIES),
        "review": lambda: initiative.review(caller, "approve", "Sound plan.", AT),
        "start_follow_up": lambda: initiative.start_follow_up(caller),
        "report": lambda: initiative.record_report(caller, REPORT),
        "complete": lambda: initiative.complete(caller, {"en": "Done."}),
        "recognise_good_practice": lambda: initiative.recognise_good_practice(
            caller, "Replicable."
        ),
        "withdraw": lambda: initiative.withdraw(caller, "Funding fell through."),
    }
    calls[command]()


def cells() -> list[Any]:
    params = []
    for state, table in EXPECTED.items():
        for (command, column), code in table.items():
            params.append(
                pytest.param(
                    state,
                    command,
                    column,
                    code,
                    id=f"{state.value}-{command}-{CALLERS[column][0]}",
                )
            )
    return params


# ------------------------------------------------------------------------ the tests


def test_the_tables_cover_every_state_command_and_caller() -> None:
    assert set(EXPECTED) == set(State)
    for table in EXPECTED.values():
        assert set(table) == {(c, column) for c in COMMANDS for column in COLUMNS}


def test_each_prepared_initiative_is_in_the_state_it_stands_for() -> None:
    for state, initiative in prepared().states.items():
        assert initiative.state is state
        assert initiative.partners == {
            JOINED.organisation_id: "joined",
            INVITED.organisation_id: "invited",
        }


@pytest.mark.parametrize(("state", "command", "column", "code"), cells())
def test_each_caller_gets_what_the_contract_promises(
    state: State, command: str, column: str, code: str
) -> None:
    world = prepared()
    initiative = copy.deepcopy(world.states[state])
    offered = command in initiative.allowed_actions(CALLERS[column][1])
    before = initiative.version
    try:
        attempt(world, initiative, command, column)
    except DomainError as refusal:
        codes = [c for c, cls in OUTCOMES.items() if cls is type(refusal)]
        assert codes == [code], f"refused with {refusal!r}, expected {code}"
    else:
        assert code == "ok", f"succeeded, expected {code}"
        assert initiative.version == before + 1
    # allowed_actions must offer exactly what succeeds: a review barred by four eyes is not.
    assert offered == (code == "ok"), f"allowed_actions offers it: {offered}"


def test_good_practice_is_recognised_once() -> None:
    initiative = copy.deepcopy(prepared().states[State.COMPLETED])
    reviewer = CALLERS["rev"][1]
    initiative.recognise_good_practice(reviewer, "Replicable.")
    assert "recognise_good_practice" not in initiative.allowed_actions(APPROVER)
    with pytest.raises(StateConflict):
        initiative.recognise_good_practice(APPROVER, "Again.")


def test_four_eyes_binds_only_the_round_the_approver_approved_in() -> None:
    # In co-design the approver's approval belongs to round 1; round 2 is theirs to review.
    initiative = copy.deepcopy(prepared().states[State.CO_DESIGN])
    initiative.submit(LEAD, COUNTRIES)
    assert "review" in initiative.allowed_actions(APPROVER)
    initiative.review(APPROVER, "approve", "Budget added.", AT)
    with pytest.raises(FourEyes):
        initiative.review(APPROVER, "approve", "And the network step.", AT)
