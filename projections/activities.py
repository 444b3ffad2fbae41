"""The activities view: one public summary per activity, with its counts of participants.

It stores no personal data. A participant's name, email, town, age band and gender are
sealed `Personal` values in the events; the view never reads them. To keep the counts
across cancellations, promotions and attendance it remembers, per registration, only what
the Activity aggregate keeps in clear because it identifies no one (domain/activity.py):
the registration's random id, its status, its attendance, its country and its participant
type. That map stays inside `doc`; the API sends the counts only.
"""

from __future__ import annotations

from datetime import datetime
from functools import singledispatchmethod
from typing import Any

import sqlalchemy as sa

from domain.activity import Activity
from projections.view import Document, DocumentView, Rows, encode, iso, parse_time

SUMMARY_FIELDS = ("kind", "title", "summary", "original_language", "themes", "country", "city")
# A registration as the view remembers it: [status, attended, country, participant_type].
STATUS, ATTENDED, COUNTRY, TYPE = range(4)
STATE_AFTER = {
    Activity.RegistrationOpened: "registration_open",
    Activity.RegistrationClosed: "registration_closed",
    Activity.Held: "held",
    Activity.Cancelled: "cancelled",
}


def moment(value: str) -> str:
    """An activity's date-time as the API writes moments: UTC with a Z."""
    return iso(datetime.fromisoformat(value))


def counts(registrations: dict[str, list[Any]]) -> dict[str, Any]:
    """The counts `Activity.counts` gives, from the view's map of registrations."""
    totals: dict[str, Any] = {"registered": 0, "waitlisted": 0, "cancelled": 0, "attended": 0}
    by_country: dict[str, dict[str, dict[str, int]]] = {}
    for entry in registrations.values():
        totals[entry[STATUS]] += 1
        if entry[STATUS] != "registered":
            continue
        per_type = by_country.setdefault(entry[COUNTRY], {}).setdefault(
            entry[TYPE], {"registered": 0, "attended": 0}
        )
        per_type["registered"] += 1
        if entry[ATTENDED]:
            per_type["attended"] += 1
            totals["attended"] += 1
    totals["by_country"] = by_country
    return totals


def item(document: Document) -> dict[str, Any]:
    """An activity as the public list shows it: its counts, never its participants."""
    totals = document["counts"]
    return {
        "id": document["id"],
        "kind": document["kind"],
        "state": document["state"],
        "version": document["version"],
        "title": document["title"],
        "summary": document["summary"],
        "original_language": document["original_language"],
        "themes": document["themes"],
        "country": document["country"],
        "city": document["city"],
        "starts_at": document["starts_at"],
        "ends_at": document["ends_at"],
        "capacity": document["capacity"],
        "initiative_id": document["initiative_id"],
        "organiser_ids": document["organiser_ids"],
        "registered": totals["registered"],
        "waitlisted": totals["waitlisted"],
        "attended": totals["attended"],
    }


class ActivitiesView(DocumentView):
    name = "activities"
    aggregate = "Activity."

    def define(self, metadata: sa.MetaData, suffix: str) -> dict[str, sa.Table]:
        main = f"view_activities{suffix}"
        themes = f"view_activity_themes{suffix}"
        return {
            "main": sa.Table(
                main,
                metadata,
                sa.Column("id", sa.String(36), primary_key=True),
                sa.Column("kind", sa.String(40), nullable=False),
                sa.Column("state", sa.String(20), nullable=False),
                sa.Column("country", sa.String(2), nullable=False),
                sa.Column("initiative_id", sa.String(36), nullable=True),
                sa.Column("version", sa.Integer, nullable=False),
                sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
                sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
                sa.Column("doc", sa.Text, nullable=False),
                # The item as the API sends it, serialized once per change (pages join them).
                sa.Column("card", sa.Text, nullable=False),
                sa.Index(f"ix_{main}_starts", "starts_at", "id"),
                sa.Index(f"ix_{main}_kind", "kind", "starts_at", "id"),
                sa.Index(f"ix_{main}_country", "country", "starts_at", "id"),
                sa.Index(f"ix_{main}_initiative", "initiative_id"),
            ),
            "themes": sa.Table(
                themes,
                metadata,
                sa.Column("ref", sa.String(36), nullable=False),
                sa.Column("theme", sa.String(40), nullable=False),
                sa.Index(f"ix_{themes}_ref", "ref"),
                sa.Index(f"ix_{themes}_key", "theme", "ref"),
            ),
        }

    # -------------------------------------------------------------------- fold
    def fold(self, document: Document | None, event: Any, position: int) -> Document | None:
        change = self.handler(event)
        if change is None:
            return None
        if document is None and type(event) is not Activity.Planned:
            return None  # an event of an activity this view has not seen planned
        document = change(event, document) or document
        document["version"] = event.originator_version
        document["position"] = position
        document["counts"] = counts(document["registrations"])
        return document

    @singledispatchmethod
    def when(self, event: Any, document: Document | None) -> Document | None:
        """Events of other aggregates: the view ignores them."""
        return None

    @when.register
    def _(self, event: Activity.Planned, document: None) -> Document:
        fields = event.fields
        return {
            "id": str(event.originator_id),
            "state": "planned",
            **{key: fields[key] for key in SUMMARY_FIELDS},
            "starts_at": moment(fields["starts_at"]),
            "ends_at": moment(fields["ends_at"]),
            "capacity": fields.get("capacity"),
            "initiative_id": fields.get("initiative_id"),
            "organiser_ids": list(event.organiser_ids),
            "registrations": {},
        }

    @when.register
    def _(self, event: Activity.Event, document: Document) -> None:
        """Any other event of the activity changes only what `fold` records for all."""

    @when.register(Activity.RegistrationOpened)
    @when.register(Activity.RegistrationClosed)
    @when.register(Activity.Held)
    @when.register(Activity.Cancelled)
    def _(self, event: Any, document: Document) -> None:
        document["state"] = STATE_AFTER[type(event)]

    @when.register
    def _(self, event: Activity.Registered, document: Document) -> None:
        # Only the values kept in clear: the event's Personal ones are never read.
        document["registrations"][event.registration_id] = [
            event.status,
            None,
            event.country,
            event.participant_type,
        ]

    @when.register
    def _(self, event: Activity.RegistrationCancelled, document: Document) -> None:
        registrations = document["registrations"]
        registrations[event.registration_id][STATUS] = "cancelled"
        if event.promoted_id is not None:
            registrations[event.promoted_id][STATUS] = "registered"

    @when.register
    def _(self, event: Activity.AttendanceMarked, document: Document) -> None:
        for registration_id in event.registration_ids:
            document["registrations"][registration_id][ATTENDED] = event.attended

    # -------------------------------------------------------------------- rows
    def rows(self, document: Document) -> Rows:
        ref = document["id"]
        return {
            "main": [
                {
                    "id": ref,
                    "kind": document["kind"],
                    "state": document["state"],
                    "country": document["country"],
                    "initiative_id": document["initiative_id"],
                    "version": document["version"],
                    "starts_at": parse_time(document["starts_at"]),
                    "ends_at": parse_time(document["ends_at"]),
                    "doc": encode(document),
                    "card": encode(item(document)),
                }
            ],
            "themes": [{"ref": ref, "theme": theme} for theme in document["themes"]],
        }
