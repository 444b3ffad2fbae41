"""The public activities: the list and its iCalendar feed, readable without an account.

Both read the activities view, which holds the counts of participants and never a
participant (projections/activities.py). Both honour X-Min-Position (read-your-writes).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import request
from flask.views import MethodView
from icalendar import Calendar, Event, vText
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from domain.activity import KINDS
from projections.queries.activities import feed_activities, list_activities
from service.api.read_views import MIN_POSITION_PARAMETER, await_min_position, page_of
from service.api.request import Blueprint, documents, public
from service.api.schemas.base import Multilingual, PageQuerySchema, Timestamp
from service.context import current_application, reader

blp = Blueprint(
    "activity-reads",
    __name__,
    url_prefix="/api/v1",
    description="The programme's activities, public: the list and an iCalendar feed.",
)

CALENDAR_NAME = "Twinning activities"


class ActivityFilterSchema(Schema):
    kind = fields.String(validate=validate.OneOf(KINDS))
    country = fields.String(validate=validate.Length(equal=2))
    theme = fields.String(validate=validate.Length(max=60))
    # `from` is a Python keyword: loaded as `from_`.
    from_ = fields.AwareDateTime(
        data_key="from", metadata={"description": "Activities ending at or after this moment."}
    )
    to = fields.AwareDateTime(metadata={"description": "Activities starting by this moment."})
    initiative_id = fields.UUID()

    @validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        for key, name in (("from_", "from"), ("to", "to")):
            try:
                if key in data:
                    data[key] = data[key].astimezone(UTC)  # as the view's rows hold them
            except OverflowError:  # year 1 east of UTC, year 9999 west of it
                raise ValidationError("Out of range in UTC.", name) from None
        if "from_" in data and "to" in data and data["from_"] > data["to"]:
            raise ValidationError("Must not be before `from`.", "to")


class ActivityListQuerySchema(PageQuerySchema, ActivityFilterSchema):
    pass


class PublicActivitySchema(Schema):
    id = fields.String(required=True)
    kind = fields.String(required=True)
    state = fields.String(required=True)
    version = fields.Integer(required=True)
    title = Multilingual(required=True)
    summary = Multilingual(required=True)
    original_language = fields.String(required=True)
    themes = fields.List(fields.String(), required=True)
    country = fields.String(required=True)
    city = fields.String(required=True)
    starts_at = Timestamp(required=True)
    ends_at = Timestamp(required=True)
    capacity = fields.Integer(allow_none=True, required=True)
    initiative_id = fields.String(allow_none=True, required=True)
    organiser_ids = fields.List(fields.String(), required=True)
    registered = fields.Integer(required=True)
    waitlisted = fields.Integer(required=True)
    attended = fields.Integer(required=True)


class PublicActivityPageSchema(Schema):
    items = fields.List(fields.Nested(PublicActivitySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


def filters(query: dict[str, Any]) -> dict[str, Any]:
    """The query's filters as the view's queries take them."""
    if "initiative_id" in query:
        query["initiative_id"] = str(query["initiative_id"])
    return query


@blp.route("/activities")
@public
class Activities(MethodView):
    @blp.arguments(ActivityListQuerySchema(), location="query")
    @blp.response(200, PublicActivityPageSchema)
    @blp.headers(MIN_POSITION_PARAMETER)
    @documents(blp, 400, 422, 503)
    def get(self, query: dict[str, Any]) -> Any:
        """The activities (readable without an account), by start: filters combine; `from`
        and `to` keep those whose dates overlap [from, to]. Counts, never participants."""
        await_min_position()
        return page_of(list_activities, **filters(query))


@blp.route("/activities.ics")
@public
class ActivitiesFeed(MethodView):
    @blp.arguments(ActivityFilterSchema(), location="query")
    @blp.doc(
        responses={
            "200": {
                "description": "An iCalendar (RFC 5545) feed: one VEVENT per activity.",
                "content": {"text/calendar": {"schema": {"type": "string"}}},
            }
        }
    )
    @blp.headers(MIN_POSITION_PARAMETER)
    @documents(blp, 400, 422, 503)
    def get(self, query: dict[str, Any]) -> Any:
        """The same activities as the list (same filters, readable without an account), as
        an iCalendar feed for calendar applications; cancelled ones are STATUS:CANCELLED."""
        await_min_position()
        items = feed_activities(reader(), **filters(query))
        body = calendar(items, request.host_url.rstrip("/")).to_ical()
        return current_application().response_class(body, mimetype="text/calendar")


def calendar(items: list[dict[str, Any]], base: str) -> Calendar:
    """The feed of `items` (list items); `base` is the server's URL, for each event's URL."""
    feed = Calendar()
    feed.add("prodid", "-//Twinning//Activities//EN")
    feed.add("version", "2.0")
    feed.add("x-wr-calname", CALENDAR_NAME)
    stamp = datetime.now(UTC).replace(microsecond=0)
    for item in items:
        feed.add_component(vevent(item, base, stamp))
    return feed


def vevent(item: dict[str, Any], base: str, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", f"activity-{item['id']}@twinning")
    event.add("dtstamp", stamp)
    event.add("dtstart", moment(item["starts_at"]))
    event.add("dtend", moment(item["ends_at"]))
    event.add("summary", text(item["title"], item["original_language"]))
    summary = text(item["summary"], item["original_language"])
    if summary:
        event.add("description", summary)
    event.add("location", vText(f"{item['city']}, {item['country']}"))
    event.add("url", f"{base}/api/v1/activities/{item['id']}")
    event.add("sequence", item["version"])
    if item["state"] == "cancelled":
        event.add("status", "CANCELLED")
    else:
        event.add("status", "CONFIRMED")
    return event


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def text(texts: dict[str, str], original: str) -> str:
    """The text in its original language (else any)."""
    return texts.get(original) or next(iter(texts.values()), "")
