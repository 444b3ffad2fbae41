"""What an initiative keeps beside its fields: partner relations, amendments, the approval
round and its reviews. Typed so that a misspelt key or status fails the type check, not a
reader; the values stay plain strings and dicts, as snapshots store them in JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypedDict

PartnerStatus = Literal["invited", "joined"]
# An organisation's relation to an initiative, as the permission rules name it.
Relation = Literal["lead", "invited", "joined"]
AmendmentStatus = Literal["pending", "accepted", "rejected"]
StepStatus = Literal["pending", "approved"]
RoundOutcome = Literal["approved", "changes_requested", "rejected"]


class Amendment(TypedDict):
    id: str
    status: AmendmentStatus
    changes: dict[str, Any]
    rationale: str
    base_version: int
    author_id: str
    author_organisation_id: str
    decided_by: str | None
    reason: str | None


class Review(TypedDict):
    reviewer_id: str
    organisation_id: str
    decision: str
    rationale: str
    reviewed_version: int
    at: datetime


class ApprovalStep(TypedDict):
    name: str
    status: StepStatus
    reviews: list[Review]


class Approval(TypedDict):
    round: int
    submitted_version: int
    steps: list[ApprovalStep]
    outcome: RoundOutcome | None
