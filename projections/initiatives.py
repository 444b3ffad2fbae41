"""The initiatives view: one summary per initiative, with index tables for every filter.

The list, the review queue, the inbox, the impact statistics and the good-practice catalogue
all read these tables.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

import sqlalchemy as sa

from domain import values
from domain.initiative import STATE_AFTER, Initiative
from domain.values import AFTER_DECISION, State
from projections.view import Document, DocumentView, Rows, encode, iso, parse_time

SUMMARY_FIELDS = ("title", "summary", "original_language", "themes", "level", "countries")
STATES = {state.value: state for state in State}
NETWORK = values.Visibility.NETWORK.value  # faster than State(value), once a fold


def waiting_on(document: Document) -> dict[str, Any]:
    """Whose move it is, by the domain's rule, from what the document holds."""
    invited = next(
        (org for org, status in document["partners"].items() if status == "invited"), None
    )
    return values.waiting_on(
        STATES[document["state"]],
        document["lead_organisation_id"],
        invited,
        bool(document["pending"]),
        document["current_step"],
    )


def proposal(event: Initiative.Proposed, at: str) -> Document:
    """The document of a newly proposed initiative."""
    fields = event.fields
    return {
        "id": str(event.originator_id),
        "state": STATE_AFTER[Initiative.Proposed].value,
        "lead_organisation_id": event.lead_organisation_id,
        "visibility": event.visibility,
        **{key: fields[key] for key in SUMMARY_FIELDS},
        "partners": {},
        "partner_since": {},
        "pending": {},
        "approvers": [],
        "round": 0,
        "steps": [],
        "current_step": None,
        "participants": 0,
        "reports": 0,
        "good_practice": False,
        "created_at": at,
        "submitted_at": None,
        "approved_at": None,
        "waiting_on": None,
        "waiting_since": at,
    }


def summary(document: Document) -> dict[str, Any]:
    """An initiative as lists show it (API.md's summary)."""
    return {
        "id": document["id"],
        "title": document["title"],
        "summary": document["summary"],
        "state": document["state"],
        "themes": document["themes"],
        "level": document["level"],
        "countries": document["countries"],
        "lead_organisation_id": document["lead_organisation_id"],
        # Documents folded before visibility existed are of network initiatives.
        "visibility": document.get("visibility", NETWORK),
        "partners": [
            {"organisation_id": org, "status": status}
            for org, status in document["partners"].items()
        ],
        "version": document["version"],
        "created_at": document["created_at"],
        "updated_at": document["updated_at"],
        "good_practice": document["good_practice"],
        "waiting_on": document["waiting_on"],
        "waiting_since": document["waiting_since"],
    }


class InitiativesView(DocumentView):
    name = "initiatives"
    aggregate = "Initiative."

    def define(self, metadata: sa.MetaData, suffix: str) -> dict[str, sa.Table]:
        def index_table(name: str, *columns: sa.Column[Any]) -> sa.Table:
            table = f"view_initiative_{name}{suffix}"
            return sa.Table(
                table,
                metadata,
                sa.Column("ref", sa.String(36), nullable=False, index=False),
                *columns,
                sa.Index(f"ix_{table}_ref", "ref"),
                sa.Index(f"ix_{table}_key", columns[0].name, "ref"),
            )

        main = f"view_initiatives{suffix}"
        return {
            "main": sa.Table(
                main,
                metadata,
                sa.Column("id", sa.String(36), primary_key=True),
                sa.Column("state", sa.String(20), nullable=False),
                sa.Column("level", sa.String(20), nullable=False),
                sa.Column("lead_organisation_id", sa.String(36), nullable=False),
                sa.Column("version", sa.Integer, nullable=False),
                sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
                sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
                sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=False),
                sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
                # When it was last submitted (NULL: never): a partners draft withdrawn
                # before submission stays hidden.
                sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
                sa.Column("good_practice", sa.Boolean, nullable=False),
                sa.Column("participants", sa.BigInteger, nullable=False),
                sa.Column("title_sort", sa.String(200), nullable=False),
                sa.Column("search", sa.Text, nullable=False),
                sa.Column("doc", sa.Text, nullable=False),
                # The summary as the API sends it, serialized once when the initiative
                # changes, so that list pages are joined, not decoded and re-encoded (NULL in
                # rows written before this column existed: they are rendered from `doc`).
                sa.Column("card", sa.Text, nullable=True),
                # network | partners; NULL in rows written before it existed (network ones:
                # the column is added in place, see registry.add_missing_columns), whose
                # cards lack it too: they are read as rows without a card.
                sa.Column("visibility", sa.String(10), nullable=True),
                sa.Index(f"ix_{main}_updated", "updated_at", "id"),
                sa.Index(f"ix_{main}_created", "created_at", "id"),
                sa.Index(f"ix_{main}_title", "title_sort", "id"),
                sa.Index(f"ix_{main}_state", "state", "updated_at", "id"),
                sa.Index(f"ix_{main}_waiting", "state", "waiting_since", "id"),
                sa.Index(f"ix_{main}_lead", "lead_organisation_id"),
            ),
            "themes": index_table("themes", sa.Column("theme", sa.String(40), nullable=False)),
            "countries": index_table(
                "countries", sa.Column("country", sa.String(2), nullable=False)
            ),
            "organisations": index_table(
                "organisations",
                sa.Column("organisation_id", sa.String(36), nullable=False),
                sa.Column("relation", sa.String(10), nullable=False),
                sa.Column("since", sa.DateTime(timezone=True), nullable=False),
            ),
            "approvers": index_table(
                "approvers", sa.Column("account_id", sa.String(36), nullable=False)
            ),
            "amendments": index_table(
                "amendments",
                sa.Column("amendment_id", sa.String(36), nullable=False),
                sa.Column("author_id", sa.String(36), nullable=False),
                sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
            ),
        }

    # -------------------------------------------------------------------- fold
    def fold(self, document: Document | None, event: Any, position: int) -> Document | None:
        change = self.handler(event)
        if change is None:
            return None  # not an initiative's event
        if document is None and type(event) is not Initiative.Proposed:
            return None  # an event of an initiative this view has not seen created
        at = iso(event.timestamp)
        # A handler returns a new document, or changes this batch's own copy in place.
        document = change(event, document, at) or document
        document["version"] = event.originator_version
        document["updated_at"] = at
        document["position"] = position
        waiting = waiting_on(document)
        if waiting != document["waiting_on"]:
            document["waiting_on"] = waiting
            document["waiting_since"] = at
        return document

    @singledispatchmethod
    def when(self, event: Any, document: Document, at: str) -> Document | None:
        """Events of other aggregates: the view ignores them."""
        return None

    @when.register
    def _(self, event: Initiative.Proposed, document: None, at: str) -> Document:
        return proposal(event, at)

    @when.register
    def _(self, event: Initiative.Event, document: Document, at: str) -> None:
        """Any other event of the initiative changes only what `fold` records for all."""

    @when.register
    def _(self, event: Initiative.Edited, document: Document, at: str) -> None:
        _apply_changes(document, event.changes)

    @when.register
    def _(self, event: Initiative.PartnerInvited, document: Document, at: str) -> None:
        document["partners"][event.organisation_id] = "invited"
        document["partner_since"][event.organisation_id] = at

    @when.register
    def _(self, event: Initiative.PartnerJoined, document: Document, at: str) -> None:
        document["partners"][event.organisation_id] = "joined"
        document["partner_since"][event.organisation_id] = at

    @when.register
    def _(self, event: Initiative.PartnerRemoved, document: Document, at: str) -> None:
        document["partners"].pop(event.organisation_id, None)
        document["partner_since"].pop(event.organisation_id, None)

    @when.register(Initiative.CoDesignStarted)
    @when.register(Initiative.FollowUpStarted)
    @when.register(Initiative.Completed)
    @when.register(Initiative.Withdrawn)
    def _(self, event: Any, document: Document, at: str) -> None:
        document["state"] = STATE_AFTER[type(event)].value

    @when.register
    def _(self, event: Initiative.AmendmentProposed, document: Document, at: str) -> None:
        document["pending"][event.amendment_id] = {
            "author_id": event.actor.account_id,
            "organisation_id": event.actor.organisation_id,
            "at": at,
        }

    @when.register
    def _(self, event: Initiative.AmendmentAccepted, document: Document, at: str) -> None:
        amendment = document["pending"].pop(event.amendment_id, None) or {}
        # The author's organisation co-wrote the text: the review queue leaves it out.
        author = amendment.get("organisation_id")
        if author is not None:
            document.setdefault("co_authors", {}).setdefault(author, at)
        _apply_changes(document, event.applied)

    @when.register
    def _(self, event: Initiative.AmendmentRejected, document: Document, at: str) -> None:
        document["pending"].pop(event.amendment_id, None)

    @when.register
    def _(self, event: Initiative.Submitted, document: Document, at: str) -> None:
        document.update(
            state=STATE_AFTER[Initiative.Submitted].value,
            round=event.round,
            approvers=[],
            submitted_at=at,
            steps=[{"name": s, "status": "pending"} for s in event.steps],
            current_step=event.steps[0],
        )

    @when.register
    def _(self, event: Initiative.ReviewRecorded, document: Document, at: str) -> None:
        steps = [dict(step) for step in document["steps"]]
        current = next(step for step in steps if step["name"] == event.step)
        if event.decision == "approve":
            current["status"] = "approved"
            document["approvers"] = [*document["approvers"], event.actor.account_id]
            remaining = [step["name"] for step in steps if step["status"] == "pending"]
            if remaining:
                document["current_step"] = remaining[0]
            else:
                document["state"] = AFTER_DECISION[event.decision].value
                document["current_step"] = None
                document["approved_at"] = document["approved_at"] or at
        else:
            document["state"] = AFTER_DECISION[event.decision].value
            document["current_step"] = None
        document["steps"] = steps

    @when.register
    def _(self, event: Initiative.ReportRecorded, document: Document, at: str) -> None:
        document["participants"] += int(event.report.get("participants", 0))
        document["reports"] += 1

    @when.register
    def _(self, event: Initiative.RecognisedAsGoodPractice, document: Document, at: str) -> None:
        document["good_practice"] = True

    # -------------------------------------------------------------------- rows
    def rows(self, document: Document) -> Rows:
        ref = document["id"]
        texts = [
            text for field in ("title", "summary") for text in (document.get(field) or {}).values()
        ]
        original = document["title"].get(document["original_language"], "")
        in_review = document["state"] == State.IN_REVIEW.value
        return {
            "main": [
                {
                    "id": ref,
                    "state": document["state"],
                    "level": document["level"],
                    "lead_organisation_id": document["lead_organisation_id"],
                    "visibility": document.get("visibility", NETWORK),
                    "version": document["version"],
                    "created_at": parse_time(document["created_at"]),
                    "updated_at": parse_time(document["updated_at"]),
                    "waiting_since": parse_time(document["waiting_since"]),
                    "approved_at": parse_time(document["approved_at"]),
                    "submitted_at": parse_time(document["submitted_at"]),
                    "good_practice": document["good_practice"],
                    "participants": document["participants"],
                    "title_sort": original.casefold()[:200],
                    "search": "\n".join(texts).casefold(),
                    "doc": encode(document),
                    "card": encode(summary(document)),
                }
            ],
            "themes": [{"ref": ref, "theme": t} for t in document["themes"]],
            "countries": [{"ref": ref, "country": c} for c in document["countries"]],
            "organisations": [
                {
                    "ref": ref,
                    "organisation_id": document["lead_organisation_id"],
                    "relation": "lead",
                    "since": parse_time(document["created_at"]),
                },
                *(
                    {
                        "ref": ref,
                        "organisation_id": org,
                        "relation": status,
                        "since": parse_time(document["partner_since"][org]),
                    }
                    for org, status in document["partners"].items()
                ),
                *(
                    {
                        "ref": ref,
                        "organisation_id": org,
                        "relation": "co_author",
                        "since": parse_time(since),
                    }
                    for org, since in document.get("co_authors", {}).items()
                    if org != document["lead_organisation_id"] and org not in document["partners"]
                ),
            ],
            "approvers": [
                {"ref": ref, "account_id": account}
                for account in (document["approvers"] if in_review else [])
            ],
            "amendments": [
                {
                    "ref": ref,
                    "amendment_id": amendment,
                    "author_id": data["author_id"],
                    "proposed_at": parse_time(data["at"]),
                }
                for amendment, data in document["pending"].items()
            ],
        }


def _apply_changes(document: Document, changes: dict[str, Any]) -> None:
    for key in SUMMARY_FIELDS:
        if key in changes:
            document[key] = changes[key]
