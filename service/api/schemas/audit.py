"""Schemas of the audit endpoints: history, entries, diffs, the hash chain, the event feed."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.api.schemas.base import NUMBER_MAX, PageQuerySchema, Timestamp


class ActorSchema(Schema):
    account_id = fields.String(allow_none=True)
    organisation_id = fields.String(allow_none=True)
    role = fields.String(allow_none=True)


class ChangeSchema(Schema):
    old = fields.Raw(allow_none=True)
    new = fields.Raw(allow_none=True)


class AuditEntrySchema(Schema):
    position = fields.Integer(required=True)
    version = fields.Integer(required=True)
    type = fields.String(required=True)
    at = Timestamp(required=True)
    actor = fields.Nested(ActorSchema, required=True)
    request_id = fields.String(allow_none=True)
    changes = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(ChangeSchema),
        required=True,
        metadata={"description": "field: old -> new"},
    )
    rationale = fields.String(allow_none=True)
    aggregate_type = fields.String(required=True)
    aggregate_id = fields.String(required=True)
    initiative_id = fields.String(allow_none=True)


class HistorySchema(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema), required=True)


class AuditEntryPageSchema(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class AuditEntriesQuerySchema(PageQuerySchema):
    actor_id = fields.UUID()
    organisation_id = fields.UUID(metadata={"description": "The acting account's organisation."})
    initiative_id = fields.UUID()
    aggregate_type = fields.String(
        validate=validate.OneOf(
            ["initiative", "organisation", "account", "email_claim", "store_lineage"]
        )
    )
    aggregate_id = fields.UUID()
    type = fields.String(validate=validate.Length(max=80))
    from_ = fields.AwareDateTime(data_key="from", attribute="from")
    to = fields.AwareDateTime()


class DiffQuerySchema(Schema):
    from_ = fields.Integer(
        data_key="from", required=True, attribute="from", validate=validate.Range(0, NUMBER_MAX)
    )
    to = fields.Integer(required=True, validate=validate.Range(0, NUMBER_MAX))


class DiffSchema(Schema):
    from_ = fields.Integer(data_key="from", attribute="from", required=True)
    to = fields.Integer(required=True)
    changes = fields.Dict(keys=fields.String(), values=fields.Nested(ChangeSchema), required=True)


class DigestSchema(Schema):
    position = fields.Integer(required=True)
    head_hash = fields.String(required=True)
    at = Timestamp(allow_none=True, required=True)


class VerifyQuerySchema(Schema):
    position = fields.Integer(validate=validate.Range(min=0, max=NUMBER_MAX))
    head_hash = fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class VerifySchema(Schema):
    ok = fields.Boolean(required=True)
    checked = fields.Integer(required=True)
    first_bad_position = fields.Integer(allow_none=True, required=True)
    position = fields.Integer(required=True)


class EventFeedQuerySchema(PageQuerySchema):
    after = fields.Integer(validate=validate.Range(min=0, max=NUMBER_MAX), load_default=0)


class FeedEventSchema(Schema):
    position = fields.Integer(required=True)
    type = fields.String(required=True)
    aggregate_type = fields.String(required=True)
    aggregate_id = fields.String(required=True)
    version = fields.Integer(required=True)
    at = Timestamp(required=True)
    actor = fields.Nested(ActorSchema, allow_none=True, required=True)
    data = fields.Dict(required=True)


class EventPageSchema(Schema):
    items = fields.List(fields.Nested(FeedEventSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class AuditBundleSchema(Schema):
    initiative_id = fields.String(required=True)
    version = fields.Integer(required=True)
    generated_at = Timestamp(required=True)
    digest = fields.Nested(DigestSchema, required=True)
    events = fields.List(
        fields.Dict(),
        required=True,
        metadata={
            "description": "entry (as in history), stored (position, originator_id, version, "
            "topic, state in base64), previous_link, link"
        },
    )
    decisions = fields.List(fields.Nested(AuditEntrySchema), required=True)
    diffs = fields.List(fields.Dict(), required=True)
    verify_with = fields.String(required=True)
