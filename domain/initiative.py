"""The Initiative aggregate: a thematic cooperation initiative from proposal to reported results."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    ConflictOfInterest,
    EditConflict,
    FieldConflict,
    FourEyes,
    InvalidFields,
    InvalidTransition,
    NotFound,
    NotPermitted,
    RequirementsNotMet,
    StateConflict,
)
from domain.records import Amendment, Approval, ApprovalStep, PartnerStatus, Relation
from domain.values import (
    AFTER_DECISION,
    COUNT_PROBLEM,
    DECISIONS,
    DEFAULTS,
    EDITABLE_STATES,
    MULTILINGUAL_FIELDS,
    REQUIRED_ON_PROPOSAL,
    VISIBILITIES,
    Actor,
    Caller,
    Level,
    Role,
    State,
    Visibility,
    approval_steps,
    can_read,
    field_errors,
    is_count,
    is_http_url,
    is_iso_date,
    multilingual_errors,
    waiting_on,
    whole_errors,
)

# Who may do what, and from which states. `who` names a relation between the caller's
# organisation and the initiative:
#   lead     — the lead organisation
#   member   — the lead or a joined partner
#   invited  — an invited (not yet joined) partner
#   party    — the lead, or the organisation the command is about (remove / leave)
#   anyone   — any organisation
#   uninvolved — not the lead, nor any partner, invited or joined, nor the author (or the
#                author's organisation) of an accepted amendment (conflict of interest)


@dataclass(frozen=True)
class Rule:
    role: Role
    who: str
    states: frozenset[State]


RULES: dict[str, Rule] = {
    "edit": Rule(Role.PARTNER, "member", EDITABLE_STATES),
    "invite_partner": Rule(Role.PARTNER, "lead", EDITABLE_STATES),
    "join": Rule(Role.PARTNER, "invited", EDITABLE_STATES),
    "remove_partner": Rule(Role.PARTNER, "party", EDITABLE_STATES),
    "start_co_design": Rule(Role.PARTNER, "lead", frozenset({State.PROPOSAL})),
    "propose_amendment": Rule(Role.PARTNER, "anyone", EDITABLE_STATES),
    "accept_amendment": Rule(Role.PARTNER, "member", EDITABLE_STATES),
    "reject_amendment": Rule(Role.PARTNER, "member", EDITABLE_STATES),
    "submit": Rule(Role.PARTNER, "lead", frozenset({State.CO_DESIGN})),
    "review": Rule(Role.REVIEWER, "uninvolved", frozenset({State.IN_REVIEW})),
    "start_follow_up": Rule(Role.PARTNER, "lead", frozenset({State.APPROVED})),
    "report": Rule(Role.PARTNER, "member", frozenset({State.FOLLOW_UP})),
    "complete": Rule(Role.PARTNER, "lead", frozenset({State.FOLLOW_UP})),
    "recognise_good_practice": Rule(Role.REVIEWER, "uninvolved", frozenset({State.COMPLETED})),
    "withdraw": Rule(
        Role.PARTNER, "lead", frozenset({State.PROPOSAL, State.CO_DESIGN, State.IN_REVIEW})
    ),
}

WHO_TEXT = {
    "lead": "a member of the lead organisation",
    "member": "a member of the lead or of a joined partner organisation",
    "invited": "a member of an invited organisation",
    "party": "a member of the lead organisation or of the partner concerned",
    "anyone": "an account",
    "uninvolved": "a reviewer not involved in the initiative",
}


class Initiative(Aggregate):
    """A thematic cooperation initiative between twinned towns and their partners."""

    # Version 2 added `visibility`: snapshots taken before it are of network initiatives.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["visibility"] = Visibility.NETWORK.value

    # ---------------------------------------------------------------- events
    class Proposed(Aggregate.Created):
        fields: dict[str, Any]
        lead_organisation_id: str
        actor: Actor
        visibility: str

        # Version 2 added `visibility`: every initiative proposed before was open to all.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["visibility"] = Visibility.NETWORK.value

    class Edited(Aggregate.Event):
        changes: dict[str, Any]
        base_version: int
        actor: Actor

    class PartnerInvited(Aggregate.Event):
        organisation_id: str
        actor: Actor

    class PartnerJoined(Aggregate.Event):
        organisation_id: str
        actor: Actor

    class PartnerRemoved(Aggregate.Event):
        organisation_id: str
        actor: Actor

    class CoDesignStarted(Aggregate.Event):
        actor: Actor

    class AmendmentProposed(Aggregate.Event):
        amendment_id: str
        changes: dict[str, Any]
        rationale: str
        base_version: int
        actor: Actor

    class AmendmentAccepted(Aggregate.Event):
        amendment_id: str
        applied: dict[str, Any]
        actor: Actor

    class AmendmentRejected(Aggregate.Event):
        amendment_id: str
        reason: str
        actor: Actor

    class Submitted(Aggregate.Event):
        round: int
        steps: list[str]
        actor: Actor

    class ReviewRecorded(Aggregate.Event):
        step: str
        decision: str
        rationale: str
        reviewed_version: int
        at: datetime
        actor: Actor

    class FollowUpStarted(Aggregate.Event):
        actor: Actor

    class ReportRecorded(Aggregate.Event):
        report: dict[str, Any]
        actor: Actor

    class Completed(Aggregate.Event):
        outcomes: dict[str, str]
        actor: Actor

    class RecognisedAsGoodPractice(Aggregate.Event):
        rationale: str
        actor: Actor

    class Withdrawn(Aggregate.Event):
        reason: str
        actor: Actor

    # ------------------------------------------------------------ creation
    @classmethod
    def propose(
        cls,
        caller: Caller,
        fields: dict[str, Any],
        visibility: str = Visibility.NETWORK.value,
    ) -> Initiative:
        """A partner proposes an initiative; the caller's organisation leads it.
        `visibility`: who may read it until it is submitted (see `values.can_read`)."""
        if not caller.has(Role.PARTNER):
            raise NotPermitted("Proposing an initiative needs the partner role.")
        errors = proposal_errors(fields)
        if visibility not in VISIBILITIES:
            errors["visibility"] = [f"Must be one of {', '.join(VISIBILITIES)}."]
        if errors:
            raise InvalidFields(errors)
        complete = {**copy.deepcopy(DEFAULTS), **fields}
        return cls(
            fields=complete,
            lead_organisation_id=caller.organisation_id,
            actor=caller.acting_as(Role.PARTNER),
            visibility=visibility,
        )

    @event(Proposed)
    def __init__(
        self, fields: dict[str, Any], lead_organisation_id: str, actor: Actor, visibility: str
    ) -> None:
        self.state = STATE_AFTER[Initiative.Proposed]
        self.visibility = visibility
        self.fields: dict[str, Any] = fields
        self.lead_organisation_id = lead_organisation_id
        self.created_by = actor.account_id
        # field -> [version, account id] of its last change: who to name in a conflict
        self.last_changed: dict[str, list[Any]] = {name: [1, actor.account_id] for name in fields}
        # multilingual field -> languages whose text is older than the original's
        self.stale: dict[str, list[str]] = {}
        self.partners: dict[str, PartnerStatus] = {}  # organisation id -> status
        self.amendments: list[Amendment] = []
        self.approval: Approval | None = None
        self.round = 0
        self.reports: list[dict[str, Any]] = []
        self.outcomes: dict[str, str] | None = None
        self.good_practice = False
        self.closing_reason: str | None = None

    # ------------------------------------------------------------ queries
    def relation(self, organisation_id: str) -> Relation | None:
        if organisation_id == self.lead_organisation_id:
            return "lead"
        return self.partners.get(organisation_id)

    def readable_by(self, caller: Caller) -> bool:
        """Whether the caller may read the initiative now (or know that it exists)."""
        return can_read(
            caller,
            self.visibility,
            self.state,
            self.relation(caller.organisation_id),
            submitted=self.round > 0,
        )

    def _is(self, who: str, caller: Caller, target: str | None = None) -> bool:
        relation = self.relation(caller.organisation_id)
        if who == "lead":
            return relation == "lead"
        if who == "member":
            return relation in ("lead", "joined")
        if who == "invited":
            return relation == "invited"
        if who == "party":
            if target is None:
                return relation in ("lead", "joined", "invited")
            return relation == "lead" or caller.organisation_id == target
        if who == "uninvolved":
            return relation is None and not self.co_authored(caller)
        return True  # anyone

    def co_authored(self, caller: Caller) -> bool:
        """Whether the caller or their organisation wrote part of the text: an accepted
        amendment makes its author a co-author, whatever their relation."""
        return any(
            amendment["status"] == "accepted"
            and (
                amendment["author_id"] == caller.account_id
                or amendment["author_organisation_id"] == caller.organisation_id
            )
            for amendment in self.amendments
        )

    def allowed_actions(self, caller: Caller) -> list[str]:
        """The commands this caller may issue now."""
        allowed = []
        for name, rule in RULES.items():
            if (
                self.state in rule.states
                and caller.has(rule.role)
                and self._is(rule.who, caller)
                and not (name == "review" and self._approved_this_round(caller.account_id))
                and not (name == "recognise_good_practice" and self.good_practice)
            ):
                allowed.append(name)
        return allowed

    def reveal(self, caller: Caller) -> None:
        """Answers a caller who may not read the initiative as if it did not exist."""
        if not self.readable_by(caller):
            raise NotFound(f"No initiative with id {self.id}.")

    def _authorize(self, action: str, caller: Caller, target: str | None = None) -> Actor:
        self.reveal(caller)  # before any other answer: a 403 or 409 would tell it exists
        rule = RULES[action]
        label = action.replace("_", " ")
        if not caller.has(rule.role):
            raise NotPermitted(f"To {label} you need the {rule.role.value} role.")
        if not self._is(rule.who, caller, target):
            if rule.who == "uninvolved":
                raise ConflictOfInterest(
                    "You or your organisation wrote part of this initiative (as its lead, "
                    "a partner or the author of an accepted amendment): you cannot review it."
                )
            raise NotPermitted(f"Only {WHO_TEXT[rule.who]} may {label}.")
        if self.state not in rule.states:
            raise InvalidTransition(
                f"Cannot {label} an initiative in state {self.state.value}.",
                state=self.state.value,
                allowed_actions=self.allowed_actions(caller),
            )
        return caller.acting_as(rule.role)

    def waiting_on(self) -> dict[str, Any]:
        """Whose move it is, by the rule the read views apply too."""
        invited = next((org for org, status in self.partners.items() if status == "invited"), None)
        pending = any(a["status"] == "pending" for a in self.amendments)
        step = self.current_step()
        return waiting_on(
            self.state,
            self.lead_organisation_id,
            invited,
            pending,
            step["name"] if step is not None else None,
        )

    def translations(self) -> dict[str, dict[str, bool]]:
        original = self.fields["original_language"]
        languages: set[str] = set()
        for name in MULTILINGUAL_FIELDS:
            languages.update(self.fields.get(name) or {})
        stale = {lang for langs in self.stale.values() for lang in langs}
        return {lang: {"stale": lang in stale} for lang in sorted(languages) if lang != original}

    def _approved_this_round(self, account_id: str) -> bool:
        if self.approval is None or self.state is not State.IN_REVIEW:
            return False
        return any(
            review["reviewer_id"] == account_id and review["decision"] == "approve"
            for step in self.approval["steps"]
            for review in step["reviews"]
        )

    def _amendment(self, amendment_id: str) -> Amendment:
        for amendment in self.amendments:
            if amendment["id"] == amendment_id:
                return amendment
        raise NotFound(f"No amendment {amendment_id} on this initiative.")

    # ---------------------------------------------------------- co-editing
    def merge(
        self, mine: dict[str, Any], base: dict[str, Any], base_version: int
    ) -> dict[str, Any]:
        """Three-way merge of an edit made on `base` (the fields at `base_version`).

        Returns the fields that change. A field that the edit and a later version both
        changed, to different values, is a conflict: nothing is applied then.
        """
        changes: dict[str, Any] = {}
        conflicts = []
        for name, value in mine.items():
            theirs = self.fields.get(name)
            if value == theirs:
                continue
            if name in base and value == base[name]:
                continue  # not changed by this edit: keep what others made of it
            if name in base and theirs == base[name]:
                changes[name] = value  # changed by this edit only
                continue
            changed_in, changed_by = self.last_changed.get(name, [1, self.created_by])
            if changed_in > base_version:
                conflicts.append(FieldConflict(name, value, theirs, changed_by, changed_in))
            else:
                changes[name] = value
        if conflicts:
            names = ", ".join(c.field for c in conflicts)
            raise EditConflict(
                f"Changed by someone else since version {base_version}: {names}.", conflicts
            )
        errors = whole_errors({**self.fields, **changes})
        if errors:
            raise InvalidFields(errors)
        return changes

    def edit(
        self, caller: Caller, mine: dict[str, Any], base: dict[str, Any], base_version: int
    ) -> None:
        """Applies a co-edit made on `base_version`, merged with what happened since."""
        actor = self._authorize("edit", caller)
        _check_fields(mine)
        _check_base_version(base_version, self.version)
        changes = self.merge(mine, base, base_version)
        self._edited(changes=changes, base_version=base_version, actor=actor)

    @event(Edited)
    def _edited(self, changes: dict[str, Any], base_version: int, actor: Actor) -> None:
        self._apply_changes(changes, actor)

    def _apply_changes(self, changes: dict[str, Any], actor: Actor) -> None:
        version = self.version + 1
        old = self.fields
        original = changes.get("original_language", old["original_language"])
        for name in MULTILINGUAL_FIELDS:
            before: dict[str, str] = old.get(name) or {}
            after: dict[str, str] = changes.get(name, before)
            stale = set(self.stale.get(name, []))
            original_changed = before.get(original) != after.get(original)
            for lang in after:
                if lang == original or before.get(lang) != after.get(lang):
                    stale.discard(lang)
                elif original_changed:
                    stale.add(lang)
            stale &= set(after)
            if stale:
                self.stale[name] = sorted(stale)
            else:
                self.stale.pop(name, None)
        self.fields = {**old, **changes}
        for name in changes:
            self.last_changed[name] = [version, actor.account_id]

    # ------------------------------------------------------------ partners
    def invite_partner(self, caller: Caller, organisation_id: str) -> None:
        actor = self._authorize("invite_partner", caller)
        if organisation_id == self.lead_organisation_id:
            raise StateConflict("The lead organisation cannot be invited as a partner.")
        if organisation_id in self.partners:
            raise StateConflict(f"The organisation is already {self.partners[organisation_id]}.")
        self._partner_invited(organisation_id=organisation_id, actor=actor)

    @event(PartnerInvited)
    def _partner_invited(self, organisation_id: str, actor: Actor) -> None:
        self.partners[organisation_id] = "invited"

    def join(self, caller: Caller, organisation_id: str) -> None:
        self.reveal(caller)
        if caller.organisation_id != organisation_id:
            raise NotPermitted("Only a member of that organisation may accept its invitation.")
        if self.partners.get(organisation_id) == "joined":
            raise StateConflict("The organisation has already joined.")
        actor = self._authorize("join", caller)
        self._partner_joined(organisation_id=organisation_id, actor=actor)

    @event(PartnerJoined)
    def _partner_joined(self, organisation_id: str, actor: Actor) -> None:
        self.partners[organisation_id] = "joined"

    def remove_partner(self, caller: Caller, organisation_id: str) -> None:
        actor = self._authorize("remove_partner", caller, target=organisation_id)
        if organisation_id not in self.partners:
            raise NotFound("That organisation is not a partner of this initiative.")
        self._partner_removed(organisation_id=organisation_id, actor=actor)

    @event(PartnerRemoved)
    def _partner_removed(self, organisation_id: str, actor: Actor) -> None:
        del self.partners[organisation_id]

    # ------------------------------------------------------------ workflow
    def start_co_design(self, caller: Caller) -> None:
        self._co_design_started(actor=self._authorize("start_co_design", caller))

    @event(CoDesignStarted)
    def _co_design_started(self, actor: Actor) -> None:
        self.state = STATE_AFTER[Initiative.CoDesignStarted]

    def propose_amendment(
        self,
        caller: Caller,
        changes: dict[str, Any],
        rationale: str,
        base_version: int,
    ) -> str:
        actor = self._authorize("propose_amendment", caller)
        errors = amendment_errors(changes, rationale)
        if errors:
            raise InvalidFields(errors)
        _check_base_version(base_version, self.version)
        amendment_id = str(uuid4())
        self._amendment_proposed(
            amendment_id=amendment_id,
            changes=changes,
            rationale=rationale,
            base_version=base_version,
            actor=actor,
        )
        return amendment_id

    @event(AmendmentProposed)
    def _amendment_proposed(
        self,
        amendment_id: str,
        changes: dict[str, Any],
        rationale: str,
        base_version: int,
        actor: Actor,
    ) -> None:
        self.amendments.append(
            {
                "id": amendment_id,
                "status": "pending",
                "changes": changes,
                "rationale": rationale,
                "base_version": base_version,
                "author_id": actor.account_id,
                "author_organisation_id": actor.organisation_id,
                "decided_by": None,
                "reason": None,
            }
        )

    def pending_amendment(self, amendment_id: str) -> Amendment:
        amendment = self._amendment(amendment_id)
        if amendment["status"] != "pending":
            raise StateConflict(f"The amendment is already {amendment['status']}.")
        return amendment

    def accept_amendment(self, caller: Caller, amendment_id: str, base: dict[str, Any]) -> None:
        """Applies an amendment, merged three-way against the version it was written on."""
        actor = self._authorize("accept_amendment", caller)
        amendment = self.pending_amendment(amendment_id)
        applied = self.merge(amendment["changes"], base, amendment["base_version"])
        self._amendment_accepted(amendment_id=amendment_id, applied=applied, actor=actor)

    @event(AmendmentAccepted)
    def _amendment_accepted(self, amendment_id: str, applied: dict[str, Any], actor: Actor) -> None:
        amendment = self._amendment(amendment_id)
        amendment["status"] = "accepted"
        amendment["decided_by"] = actor.account_id
        # The author of the text is the amendment's author.
        author = Actor(amendment["author_id"], amendment["author_organisation_id"], "partner")
        self._apply_changes(applied, author)

    def reject_amendment(self, caller: Caller, amendment_id: str, reason: str) -> None:
        actor = self._authorize("reject_amendment", caller)
        self.pending_amendment(amendment_id)
        if not reason.strip():
            raise InvalidFields({"reason": ["Must not be empty."]})
        self._amendment_rejected(amendment_id=amendment_id, reason=reason, actor=actor)

    @event(AmendmentRejected)
    def _amendment_rejected(self, amendment_id: str, reason: str, actor: Actor) -> None:
        amendment = self._amendment(amendment_id)
        amendment["status"] = "rejected"
        amendment["decided_by"] = actor.account_id
        amendment["reason"] = reason

    def joined_partners(self) -> list[str]:
        return [org for org, status in self.partners.items() if status == "joined"]

    def submit(self, caller: Caller, countries: dict[str, str]) -> None:
        """Submits for review. `countries` maps the lead and partner organisations to theirs."""
        actor = self._authorize("submit", caller)
        joined = self.joined_partners()
        if not joined:
            raise RequirementsNotMet("At least one partner organisation must have joined.")
        if self.fields["level"] == Level.EUROPEAN.value:
            involved = {countries.get(org) for org in [self.lead_organisation_id, *joined]}
            involved.discard(None)
            if len(involved) < 2:
                raise RequirementsNotMet(
                    "A European initiative needs the lead and joined partners to come from "
                    f"at least 2 countries; they come from {len(involved)}."
                )
        self._submitted(
            round=self.round + 1, steps=approval_steps(self.fields["level"]), actor=actor
        )

    @event(Submitted)
    def _submitted(self, round: int, steps: list[str], actor: Actor) -> None:
        self.state = STATE_AFTER[Initiative.Submitted]
        self.round = round
        self.approval = {
            "round": round,
            "submitted_version": self.version + 1,
            "steps": [{"name": s, "status": "pending", "reviews": []} for s in steps],
            "outcome": None,
        }

    def current_step(self) -> ApprovalStep | None:
        if self.approval is None:
            return None
        for step in self.approval["steps"]:
            if step["status"] == "pending":
                return step.copy()  # callers read it; the round keeps its own
        return None

    def review(self, caller: Caller, decision: str, rationale: str, at: datetime) -> None:
        """A reviewer decides on the current step of the version they read (the current one)."""
        actor = self._authorize("review", caller)
        if self._approved_this_round(caller.account_id):
            raise FourEyes(
                "You approved an earlier step of this round: another reviewer must decide."
            )
        errors = review_errors(decision, rationale)
        if errors:
            raise InvalidFields(errors)
        step = self.current_step()
        assert step is not None  # in_review always has a pending step
        self._review_recorded(
            step=step["name"],
            decision=decision,
            rationale=rationale,
            reviewed_version=self.version,
            at=at,
            actor=actor,
        )

    @event(ReviewRecorded)
    def _review_recorded(
        self,
        step: str,
        decision: str,
        rationale: str,
        reviewed_version: int,
        at: datetime,
        actor: Actor,
    ) -> None:
        assert self.approval is not None
        current = next(s for s in self.approval["steps"] if s["name"] == step)
        current["reviews"].append(
            {
                "reviewer_id": actor.account_id,
                "organisation_id": actor.organisation_id,
                "decision": decision,
                "rationale": rationale,
                "reviewed_version": reviewed_version,
                "at": at,
            }
        )
        if decision == "approve":
            current["status"] = "approved"
            if all(s["status"] == "approved" for s in self.approval["steps"]):
                self.state = AFTER_DECISION[decision]
                self.approval["outcome"] = "approved"
        elif decision == "request_changes":
            self.state = AFTER_DECISION[decision]
            self.approval["outcome"] = "changes_requested"
        else:
            self.state = AFTER_DECISION[decision]
            self.approval["outcome"] = "rejected"
            self.closing_reason = rationale

    def start_follow_up(self, caller: Caller) -> None:
        self._follow_up_started(actor=self._authorize("start_follow_up", caller))

    @event(FollowUpStarted)
    def _follow_up_started(self, actor: Actor) -> None:
        self.state = STATE_AFTER[Initiative.FollowUpStarted]

    def record_report(self, caller: Caller, report: dict[str, Any]) -> str:
        """Records a progress report: dates, participants, activities, narrative, evidence."""
        actor = self._authorize("report", caller)
        errors = report_errors(report)
        if errors:
            raise InvalidFields(errors)
        report = {"id": str(uuid4()), **report}
        self._report_recorded(report=report, actor=actor)
        return str(report["id"])

    @event(ReportRecorded)
    def _report_recorded(self, report: dict[str, Any], actor: Actor) -> None:
        self.reports.append({**report, "author_id": actor.account_id})

    def complete(self, caller: Caller, outcomes: dict[str, str]) -> None:
        actor = self._authorize("complete", caller)
        problems = multilingual_errors("outcomes", outcomes)
        if problems or not outcomes:
            raise InvalidFields({"outcomes": problems or ["At least one language is required."]})
        if not self.reports:
            raise RequirementsNotMet("At least one progress report is needed to complete.")
        self._completed(outcomes=outcomes, actor=actor)

    @event(Completed)
    def _completed(self, outcomes: dict[str, str], actor: Actor) -> None:
        self.state = STATE_AFTER[Initiative.Completed]
        self.outcomes = outcomes

    def recognise_good_practice(self, caller: Caller, rationale: str) -> None:
        actor = self._authorize("recognise_good_practice", caller)
        if self.good_practice:
            raise StateConflict("The initiative is already recognised as good practice.")
        if not rationale.strip():
            raise InvalidFields({"rationale": ["A rationale is required."]})
        self._recognised(rationale=rationale, actor=actor)

    @event(RecognisedAsGoodPractice)
    def _recognised(self, rationale: str, actor: Actor) -> None:
        self.good_practice = True

    def withdraw(self, caller: Caller, reason: str) -> None:
        actor = self._authorize("withdraw", caller)
        if not reason.strip():
            raise InvalidFields({"reason": ["A reason is required."]})
        self._withdrawn(reason=reason, actor=actor)

    @event(Withdrawn)
    def _withdrawn(self, reason: str, actor: Actor) -> None:
        self.state = STATE_AFTER[Initiative.Withdrawn]
        self.closing_reason = reason


def proposal_errors(fields: dict[str, Any]) -> dict[str, list[str]]:
    """Checks a proposal: each field, the required ones, and the rules that tie them."""
    errors = field_errors(fields)
    for name in REQUIRED_ON_PROPOSAL:
        if name not in fields:
            errors.setdefault(name, []).append("Missing data for required field.")
    valid = {name: value for name, value in fields.items() if name not in errors}
    for name, problems in whole_errors({**DEFAULTS, **valid}).items():
        errors.setdefault(name, problems)
    return errors


def amendment_errors(changes: Any, rationale: Any) -> dict[str, Any]:
    """Checks an amendment: the fields it changes (messages nested under `changes`) and its
    rationale."""
    errors: dict[str, Any] = {}
    if not isinstance(changes, dict) or not changes:
        errors["changes"] = ["At least one field must change."]
    else:
        problems = field_errors(changes)
        if problems:
            errors["changes"] = problems
    if not isinstance(rationale, str) or not rationale.strip():
        errors["rationale"] = ["Must not be empty."]
    return errors


def review_errors(decision: Any, rationale: Any) -> dict[str, list[str]]:
    """Checks a review: one of the decisions, with a rationale."""
    errors: dict[str, list[str]] = {}
    if decision not in DECISIONS:
        errors["decision"] = [f"Must be one of {', '.join(DECISIONS)}."]
    if not isinstance(rationale, str) or not rationale.strip():
        errors["rationale"] = ["A rationale is required."]
    return errors


# The state each event leads to; a review's depends on its decision (AFTER_DECISION).
STATE_AFTER: dict[type[Aggregate.Event], State] = {
    Initiative.Proposed: State.PROPOSAL,
    Initiative.CoDesignStarted: State.CO_DESIGN,
    Initiative.Submitted: State.IN_REVIEW,
    Initiative.FollowUpStarted: State.FOLLOW_UP,
    Initiative.Completed: State.COMPLETED,
    Initiative.Withdrawn: State.WITHDRAWN,
}


def report_errors(report: dict[str, Any]) -> dict[str, list[str]]:
    """Checks a progress report: its period, counts, narrative and evidence links."""
    errors: dict[str, list[str]] = {}
    for name in ("period_start", "period_end"):
        if not is_iso_date(report.get(name)):
            errors[name] = ["Must be an ISO date."]
    if not errors and report["period_end"] < report["period_start"]:
        errors["period_end"] = ["Must not be before period_start."]
    for name in ("participants", "activities"):
        if not is_count(report.get(name)):
            errors[name] = [COUNT_PROBLEM]
    narrative = report.get("narrative")
    problems = multilingual_errors("narrative", narrative)
    if problems or not narrative:
        errors["narrative"] = problems or ["At least one language is required."]
    urls = report.get("evidence_urls", [])
    if not isinstance(urls, list) or len(urls) > 50:
        errors["evidence_urls"] = ["Must be a list of at most 50 http(s) URLs."]
    else:
        bad = {
            str(i): ["Must be an http(s) URL."] for i, u in enumerate(urls) if not is_http_url(u)
        }
        if bad:
            errors["evidence_urls"] = bad  # type: ignore[assignment]
    unknown = set(report) - {
        "period_start",
        "period_end",
        "participants",
        "activities",
        "narrative",
        "evidence_urls",
    }
    for name in unknown:
        errors[name] = ["Unknown field."]
    return errors


def _check_fields(fields: dict[str, Any]) -> None:
    if not fields:
        raise InvalidFields({"_schema": ["At least one field must be given."]})
    errors = field_errors(fields)
    if errors:
        raise InvalidFields(errors)


def _check_base_version(base_version: int, current: int) -> None:
    if base_version < 1 or base_version > current:
        raise InvalidFields(
            {"base_version": [f"Must be a version of this initiative (1 to {current})."]}
        )
