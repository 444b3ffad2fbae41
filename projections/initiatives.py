"""The initiatives view: one summary per initiative, with index tables for every filter.

The list, the review queue, the inbox, the impact statistics and the good-practice catalogue
all read these tables.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from projections.view import Document, Rows, View, encode, event_name, iso, parse_time

SUMMARY_FIELDS = ("title", "summary", "original_language", "themes", "level", "countries")
REACHED_APPROVAL = ("approved", "follow_up", "completed")


def waiting_on(document: Document) -> dict[str, Any]:
    """Whose move it is: what the initiative waits for, and from whom."""
    state, lead = document["state"], document["lead_organisation_id"]
    if state in ("proposal", "co_design"):
        invited = next(
            (org for org, status in document["partners"].items() if status == "invited"), None
        )
        if invited is not None:
            return {"kind": "invitation", "organisation_id": invited}
        if document["pending"]:
            return {"kind": "amendment_decision", "organisation_id": lead}
        return {"kind": "lead", "organisation_id": lead}
    if state == "in_review":
        return {"kind": "review", "role": "reviewer", "step": document["current_step"]}
    if state == "approved":
        return {"kind": "lead", "organisation_id": lead}
    if state == "follow_up":
        return {"kind": "report", "organisation_id": lead}
    return {"kind": "none"}


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


class InitiativesView(View):
    name = "initiatives"

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
                sa.Column("good_practice", sa.Boolean, nullable=False),
                sa.Column("participants", sa.BigInteger, nullable=False),
                sa.Column("title_sort", sa.String(200), nullable=False),
                sa.Column("search", sa.Text, nullable=False),
                sa.Column("doc", sa.Text, nullable=False),
                # The summary as the API sends it, serialized once when the initiative
                # changes, so that list pages are joined, not decoded and re-encoded (NULL in
                # rows written before this column existed: they are rendered from `doc`).
                sa.Column("card", sa.Text, nullable=True),
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
        name = event_name(event)
        if not name.startswith("Initiative."):
            return None
        kind = name.split(".", 1)[1]
        at = iso(event.timestamp)
        if kind == "Proposed":
            fields = event.fields
            document = {
                "id": str(event.originator_id),
                "state": "proposal",
                "lead_organisation_id": event.lead_organisation_id,
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
        elif document is None:
            return None  # an event of an initiative this view has not seen created
        else:
            # The document is this batch's own copy (loaded or folded here): change in place.
            self._apply(document, kind, event, at)
        document["version"] = event.originator_version
        document["updated_at"] = at
        document["position"] = position
        waiting = waiting_on(document)
        if waiting != document["waiting_on"]:
            document["waiting_on"] = waiting
            document["waiting_since"] = at
        return document

    @staticmethod
    def _apply(document: Document, kind: str, event: Any, at: str) -> None:
        partners = document["partners"]
        since = document["partner_since"]
        pending = document["pending"]
        if kind == "Edited":
            _apply_changes(document, event.changes)
        elif kind == "PartnerInvited":
            partners[event.organisation_id] = "invited"
            since[event.organisation_id] = at
        elif kind == "PartnerJoined":
            partners[event.organisation_id] = "joined"
            since[event.organisation_id] = at
        elif kind == "PartnerRemoved":
            partners.pop(event.organisation_id, None)
            since.pop(event.organisation_id, None)
        elif kind == "CoDesignStarted":
            document["state"] = "co_design"
        elif kind == "AmendmentProposed":
            pending[event.amendment_id] = {"author_id": event.actor.account_id, "at": at}
        elif kind == "AmendmentAccepted":
            pending.pop(event.amendment_id, None)
            _apply_changes(document, event.applied)
        elif kind == "AmendmentRejected":
            pending.pop(event.amendment_id, None)
        elif kind == "Submitted":
            document.update(
                state="in_review",
                round=event.round,
                approvers=[],
                submitted_at=at,
                steps=[{"name": s, "status": "pending"} for s in event.steps],
                current_step=event.steps[0],
            )
        elif kind == "ReviewRecorded":
            _record_review(document, event, at)
        elif kind == "FollowUpStarted":
            document["state"] = "follow_up"
        elif kind == "ReportRecorded":
            document["participants"] += int(event.report.get("participants", 0))
            document["reports"] += 1
        elif kind == "Completed":
            document["state"] = "completed"
        elif kind == "RecognisedAsGoodPractice":
            document["good_practice"] = True
        elif kind == "Withdrawn":
            document["state"] = "withdrawn"

    # -------------------------------------------------------------------- rows
    def rows(self, document: Document) -> Rows:
        ref = document["id"]
        texts = [
            text for field in ("title", "summary") for text in (document.get(field) or {}).values()
        ]
        original = document["title"].get(document["original_language"], "")
        in_review = document["state"] == "in_review"
        return {
            "main": [
                {
                    "id": ref,
                    "state": document["state"],
                    "level": document["level"],
                    "lead_organisation_id": document["lead_organisation_id"],
                    "version": document["version"],
                    "created_at": parse_time(document["created_at"]),
                    "updated_at": parse_time(document["updated_at"]),
                    "waiting_since": parse_time(document["waiting_since"]),
                    "approved_at": parse_time(document["approved_at"]),
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


def _record_review(document: Document, event: Any, at: str) -> None:
    steps = [dict(step) for step in document["steps"]]
    current = next(step for step in steps if step["name"] == event.step)
    if event.decision == "approve":
        current["status"] = "approved"
        document["approvers"] = [*document["approvers"], event.actor.account_id]
        remaining = [step["name"] for step in steps if step["status"] == "pending"]
        if remaining:
            document["current_step"] = remaining[0]
        else:
            document["state"] = "approved"
            document["current_step"] = None
            document["approved_at"] = document["approved_at"] or at
    elif event.decision == "request_changes":
        document["state"] = "co_design"
        document["current_step"] = None
    else:
        document["state"] = "rejected"
        document["current_step"] = None
    document["steps"] = steps
