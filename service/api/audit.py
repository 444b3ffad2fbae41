"""Audit: history, diffs, the system-wide record, the hash chain and the event feed
(auditors and admins)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from flask import request
from flask.views import MethodView

from domain.personal import Personal
from projections.audit import aggregate_type, version_changes
from projections.queries import audit as audit_reads
from projections.queries import encode_cursor
from projections.verification import stored_event
from projections.view import iso
from service.api.auditing import csv_response, require_auditor, revealed
from service.api.read_views import MIN_POSITION_PARAMETER, await_min_position
from service.api.request import Blueprint, current_caller, documents
from service.api.schemas import (
    AuditBundleSchema,
    AuditEntriesQuerySchema,
    AuditEntryPageSchema,
    DiffQuerySchema,
    DiffSchema,
    DigestSchema,
    EventFeedQuerySchema,
    EventPageSchema,
    HistorySchema,
    VerifyQuerySchema,
    VerifySchema,
)
from service.context import reader
from service.infrastructure.runtime import runtime

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="Audit trail.")


@blp.route("/initiatives/<uuid:initiative_id>/history")
class History(MethodView):
    @blp.response(200, HistorySchema)
    @blp.headers(MIN_POSITION_PARAMETER)
    @documents(blp, 400, 401, 403, 404, 503)
    def get(self, initiative_id: UUID) -> dict[str, Any]:
        """Every event of the initiative in order: who, when, what changed, why."""
        require_auditor(current_caller())
        runtime().app.initiative(initiative_id)  # 404 for an unknown initiative
        await_min_position()
        return {"items": audit_reads.history(reader(), initiative_id)}


@blp.route("/initiatives/<uuid:initiative_id>/diff")
class Diff(MethodView):
    @blp.arguments(DiffQuerySchema(), location="query")
    @blp.response(200, DiffSchema)
    @documents(blp, 401, 403, 404, 422)
    def get(self, query: dict[str, Any], initiative_id: UUID) -> dict[str, Any]:
        """Field-by-field differences between two versions (multilingual text per language)."""
        require_auditor(current_caller())
        changes = version_changes(runtime().app, initiative_id, query["from"], query["to"])
        return {"from": query["from"], "to": query["to"], "changes": changes}


@blp.route("/audit/entries")
class Entries(MethodView):
    @blp.arguments(AuditEntriesQuerySchema(), location="query")
    @blp.response(
        200,
        AuditEntryPageSchema,
        description="JSON, or CSV with `Accept: text/csv` (every matching entry).",
    )
    @blp.headers(MIN_POSITION_PARAMETER)
    @documents(blp, 400, 401, 403, 422, 503)
    def get(self, query: dict[str, Any]) -> Any:
        """The whole system's decisions and changes, one entry per event; filters combine."""
        require_auditor(current_caller())
        await_min_position()
        statement = audit_reads.entries_statement(query)
        if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv":
            return csv_response(statement)
        items, next_cursor = audit_reads.entries_page(reader(), statement, query["limit"])
        return {"items": revealed(items), "next_cursor": next_cursor}


DECISIONS = {
    "Submitted",
    "ReviewRecorded",
    "AmendmentAccepted",
    "AmendmentRejected",
    "Completed",
    "RecognisedAsGoodPractice",
    "Withdrawn",
}


@blp.route("/initiatives/<uuid:initiative_id>/audit-bundle")
class AuditBundle(MethodView):
    @blp.response(200, AuditBundleSchema)
    @blp.headers(MIN_POSITION_PARAMETER)
    @documents(blp, 400, 401, 403, 404, 503)
    def get(self, initiative_id: UUID) -> dict[str, Any]:
        """One document with the initiative's events (as stored), decisions, diffs and the
        chain links needed to verify it offline with tools/verify_audit_bundle.py."""
        require_auditor(current_caller())
        rt = runtime()
        initiative = rt.app.initiative(initiative_id)
        await_min_position()
        conn = reader()
        events = audit_reads.chain_links(conn, initiative_id)
        for event in events:
            event["stored"] = stored_event(rt.app.recorder, event["entry"]["position"])
            # A bundle leaves the service: personal data in it stays sealed, shown as null.
            event["entry"]["changes"] = rt.app.personal.reveal(
                event["entry"]["changes"], show=lambda _: None
            )
        return {
            "initiative_id": str(initiative_id),
            "version": initiative.version,
            "generated_at": iso(runtime().now()),
            "digest": audit_reads.digest(conn),
            "events": events,
            "decisions": [e["entry"] for e in events if e["entry"]["type"] in DECISIONS],
            "diffs": [
                {"version": e["entry"]["version"], "changes": e["entry"]["changes"]} for e in events
            ],
            "verify_with": "python3 tools/verify_audit_bundle.py bundle.json",
        }


@blp.route("/audit/digest")
class Digest(MethodView):
    @blp.response(200, DigestSchema)
    @blp.headers(MIN_POSITION_PARAMETER)
    @documents(blp, 400, 401, 403, 503)
    def get(self) -> dict[str, Any]:
        """The head of the hash chain over every recorded event: keep it outside the system."""
        require_auditor(current_caller())
        await_min_position()
        return audit_reads.digest(reader())


@blp.route("/audit/verify")
class Verify(MethodView):
    @blp.arguments(VerifyQuerySchema(), location="query")
    @blp.response(200, VerifySchema)
    @documents(blp, 401, 403, 422)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Recompute the chain from the stored events and check it against a digest."""
        require_auditor(current_caller())
        return audit_reads.verify_up_to(
            runtime().app, reader(), query.get("position"), query.get("head_hash")
        )


@blp.route("/events")
class Events(MethodView):
    @blp.arguments(EventFeedQuerySchema(), location="query")
    @blp.response(200, EventPageSchema)
    @documents(blp, 401, 403, 422)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The global event feed in position order, for integrations."""
        require_auditor(current_caller())
        after = query.get("after", 0)
        if query.get("cursor"):
            after = audit_reads.cursor_position(query["cursor"])
        app = runtime().app
        limit = query["limit"]
        notifications = app.recorder.select_notifications(start=int(after) + 1, limit=limit + 1)
        more = len(notifications) > limit
        items = []
        for notification in notifications[:limit]:
            event = app.mapper.to_domain_event(notification)
            data = {
                key: value
                for key, value in vars(event).items()
                if key
                not in (
                    "originator_id",
                    "originator_version",
                    "timestamp",
                    "originator_topic",
                    "actor",
                )
            }
            actor = getattr(event, "actor", None)
            items.append(
                {
                    "position": notification.id,
                    "type": type(event).__name__,
                    "aggregate_type": aggregate_type(notification.topic),
                    "aggregate_id": str(notification.originator_id),
                    "version": notification.originator_version,
                    "at": iso(event.timestamp),
                    "actor": actor.as_dict() if actor is not None else None,
                    "data": json.loads(json.dumps(data, default=_plain, ensure_ascii=False)),
                }
            )
        next_cursor = encode_cursor(items[-1]["position"]) if more else None
        return {"items": items, "next_cursor": next_cursor}


def _plain(value: Any) -> Any:
    if isinstance(value, Personal):  # integrations never receive personal data
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    return str(value)
