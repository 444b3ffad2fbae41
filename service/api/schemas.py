"""Marshmallow schemas: the shapes of requests and responses, and their OpenAPI text."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from domain.values import DECISIONS, LEVELS, ORGANISATION_TYPES, ROLES, State


def Multilingual(description: str = "", **kw: Any) -> fields.Dict:
    """A map of ISO 639-1 language codes to text."""
    text = "Language code (ISO 639-1) to text. " + description
    return fields.Dict(
        keys=fields.String(), values=fields.String(), metadata={"description": text}, **kw
    )


def IsoDate(**kw: Any) -> fields.String:
    return fields.String(metadata={"format": "date", "example": "2027-03-01"}, **kw)


# The largest position or version a query may name: beyond it no store can hold one, and
# SQLite's INTEGER would overflow.
NUMBER_MAX = 2**53


def StrictInt(**kw: Any) -> fields.Integer:
    return fields.Integer(strict=True, **kw)


class ProblemSchema(Schema):
    """An RFC 9457 problem document."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(metadata={"description": "422: messages keyed by request field."})
    state = fields.String(metadata={"description": "invalid-transition: the current state."})
    allowed_actions = fields.List(fields.String())
    conflicts = fields.List(fields.Dict(), metadata={"description": "Co-editing conflicts."})
    current_version = fields.Integer()


# ---------------------------------------------------------------- auth and accounts
class LoginSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024))


class TokenSchema(Schema):
    token = fields.String(required=True)
    expires_at = fields.String(required=True, metadata={"format": "date-time"})


class OrganisationCreateSchema(Schema):
    name = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(ORGANISATION_TYPES))
    country = fields.String(
        required=True, metadata={"description": "ISO 3166-1 alpha-2, or XK for Kosovo."}
    )


class OrganisationSchema(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    type = fields.String(required=True)
    country = fields.String(required=True)
    created_at = fields.String(required=True)


class PageQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))


class OrganisationPageSchema(Schema):
    items = fields.List(fields.Nested(OrganisationSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class UserCreateSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    name = fields.String(required=True)
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=12, max=1024)
    )
    organisation_id = fields.UUID(required=True)
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), required=True)


class UserSchema(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    organisation_id = fields.UUID(required=True)
    roles = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True)


class RoleSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


# ---------------------------------------------------------------------- initiatives
class InitiativeFieldsSchema(Schema):
    """The editable fields of an initiative; every one optional here (PATCH, amendments)."""

    title = Multilingual("At most 200 characters per language.")
    summary = Multilingual("At most 2,000 characters per language.")
    description = Multilingual("At most 20,000 characters per language.")
    original_language = fields.String(metadata={"description": "ISO 639-1 code."})
    themes = fields.List(fields.String(), metadata={"description": "Ids from /themes."})
    level = fields.String(validate=validate.OneOf(LEVELS))
    countries = fields.List(fields.String(), metadata={"description": "ISO 3166-1 alpha-2."})
    target_groups = fields.List(fields.String())
    expected_participants = StrictInt(validate=validate.Range(min=0))
    start_date = IsoDate(allow_none=True)
    end_date = IsoDate(allow_none=True)


class ProposeSchema(InitiativeFieldsSchema):
    title = Multilingual(required=True)
    summary = Multilingual(required=True)
    original_language = fields.String(required=True)
    themes = fields.List(fields.String(), required=True)
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    countries = fields.List(fields.String(), required=True)


class EditSchema(InitiativeFieldsSchema):
    base_version = StrictInt(
        metadata={"description": "The version the edit was made on; merged three-way."}
    )


class InviteSchema(Schema):
    organisation_id = fields.UUID(required=True)


class AmendmentCreateSchema(Schema):
    changes = fields.Nested(InitiativeFieldsSchema, required=True)
    rationale = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    base_version = StrictInt(metadata={"description": "The version the amendment amends."})


class AcceptAmendmentSchema(Schema):
    base_version = StrictInt(metadata={"description": "The version you read (or If-Match)."})


class ReasonSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class RationaleSchema(Schema):
    rationale = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class ReviewSchema(RationaleSchema):
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))


class ReportSchema(Schema):
    period_start = IsoDate(required=True)
    period_end = IsoDate(required=True)
    participants = StrictInt(required=True, validate=validate.Range(min=0))
    activities = StrictInt(required=True, validate=validate.Range(min=0))
    narrative = Multilingual(required=True)
    evidence_urls = fields.List(
        fields.String(validate=validate.Length(max=2000)),
        load_default=list,
        validate=validate.Length(max=50),
    )


class CompleteSchema(Schema):
    outcomes = Multilingual(required=True)


class VersionQuerySchema(Schema):
    version = fields.Integer(validate=validate.Range(min=1, max=NUMBER_MAX))
    as_of = fields.AwareDateTime(metadata={"description": "ISO 8601 with a time zone."})


class PartnerSchema(Schema):
    organisation_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["invited", "joined"]))


class AmendmentSchema(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True)
    changes = fields.Dict(required=True)
    rationale = fields.String(required=True)
    base_version = fields.Integer(required=True)
    author_id = fields.String(required=True)
    decided_by = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class ReviewEntrySchema(Schema):
    reviewer_id = fields.String()
    organisation_id = fields.String()
    decision = fields.String()
    rationale = fields.String()
    reviewed_version = fields.Integer()
    at = fields.String()


class StepSchema(Schema):
    name = fields.String(required=True)
    status = fields.String(required=True)
    reviews = fields.List(fields.Nested(ReviewEntrySchema), required=True)


class ApprovalSchema(Schema):
    round = fields.Integer(required=True)
    steps = fields.List(fields.Nested(StepSchema), required=True)
    submitted_version = fields.Integer()
    outcome = fields.String(allow_none=True)


class ReportEntrySchema(Schema):
    id = fields.String(required=True)
    period_start = fields.String(required=True)
    period_end = fields.String(required=True)
    participants = fields.Integer(required=True)
    activities = fields.Integer(required=True)
    narrative = fields.Dict(required=True)
    evidence_urls = fields.List(fields.String(), required=True)
    author_id = fields.String()


class TranslationSchema(Schema):
    stale = fields.Boolean(required=True)


class InitiativeSchema(Schema):
    """An initiative as it is now (or at the version asked for)."""

    id = fields.UUID(required=True)
    state = fields.String(required=True)
    version = fields.Integer(required=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)
    title = fields.Dict(required=True)
    summary = fields.Dict(required=True)
    description = fields.Dict(required=True)
    original_language = fields.String(required=True)
    translations = fields.Dict(
        keys=fields.String(), values=fields.Nested(TranslationSchema), required=True
    )
    themes = fields.List(fields.String(), required=True)
    level = fields.String(required=True)
    countries = fields.List(fields.String(), required=True)
    target_groups = fields.List(fields.String(), required=True)
    expected_participants = fields.Integer(required=True)
    start_date = fields.String(allow_none=True, required=True)
    end_date = fields.String(allow_none=True, required=True)
    lead_organisation_id = fields.String(required=True)
    partners = fields.List(fields.Nested(PartnerSchema), required=True)
    amendments = fields.List(fields.Nested(AmendmentSchema), required=True)
    approval = fields.Nested(ApprovalSchema, allow_none=True, required=True)
    reports = fields.List(fields.Nested(ReportEntrySchema), required=True)
    outcomes = fields.Dict(allow_none=True)
    good_practice = fields.Boolean(required=True)
    allowed_actions = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Commands the calling account may issue now."},
    )


class ThemeSchema(Schema):
    id = fields.String(required=True)
    label = fields.Dict(required=True)


class ThemeListSchema(Schema):
    items = fields.List(fields.Nested(ThemeSchema), required=True)


# ------------------------------------------------------------------------- read views
SORT_CHOICES = ["-updated_at", "updated_at", "-created_at", "created_at", "title", "-title"]


class InitiativeListQuerySchema(PageQuerySchema):
    state = fields.String(validate=validate.OneOf([s.value for s in State]))
    theme = fields.String(validate=validate.Length(max=60))
    level = fields.String(validate=validate.OneOf(LEVELS))
    country = fields.String(validate=validate.Length(equal=2))
    organisation_id = fields.UUID(metadata={"description": "Lead or partner (any status)."})
    q = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Words searched in titles and summaries, every language."},
    )
    updated_after = fields.AwareDateTime()
    sort = fields.String(load_default="-updated_at", validate=validate.OneOf(SORT_CHOICES))


class GoodPracticeQuerySchema(PageQuerySchema):
    theme = fields.String(validate=validate.Length(max=60))
    country = fields.String(validate=validate.Length(equal=2))


class ImpactQuerySchema(Schema):
    year = fields.Integer(validate=validate.Range(min=1950, max=2200))
    country = fields.String(validate=validate.Length(equal=2))
    theme = fields.String(validate=validate.Length(max=60))


class WaitingOnSchema(Schema):
    kind = fields.String(required=True)
    organisation_id = fields.String()
    role = fields.String()
    step = fields.String(allow_none=True)


class InitiativeSummarySchema(Schema):
    id = fields.String(required=True)
    title = fields.Dict(required=True)
    summary = fields.Dict(required=True)
    state = fields.String(required=True)
    themes = fields.List(fields.String(), required=True)
    level = fields.String(required=True)
    countries = fields.List(fields.String(), required=True)
    lead_organisation_id = fields.String(required=True)
    partners = fields.List(fields.Nested(PartnerSchema), required=True)
    version = fields.Integer(required=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)
    good_practice = fields.Boolean(required=True)
    waiting_on = fields.Nested(WaitingOnSchema, required=True)
    waiting_since = fields.String(required=True)


class InitiativePageSchema(Schema):
    items = fields.List(fields.Nested(InitiativeSummarySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class InboxItemSchema(Schema):
    kind = fields.String(
        required=True, validate=validate.OneOf(["invitation", "amendment", "review"])
    )
    initiative_id = fields.String(required=True)
    title = fields.Dict(required=True)
    since = fields.String(required=True)
    organisation_id = fields.String()
    amendment_id = fields.String()
    author_id = fields.String()
    step = fields.String(allow_none=True)


class InboxPageSchema(Schema):
    items = fields.List(fields.Nested(InboxItemSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class ImpactSchema(Schema):
    national = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    european = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    by_state = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    by_theme = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    by_country = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class ProjectionSchema(Schema):
    name = fields.String(required=True)
    position = fields.Integer(required=True)
    lag = fields.Integer(required=True)


class ProjectionsSchema(Schema):
    head_position = fields.Integer(required=True)
    items = fields.List(fields.Nested(ProjectionSchema), required=True)


# ------------------------------------------------------------------------------ audit
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
    at = fields.String(required=True)
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
        validate=validate.OneOf(["initiative", "organisation", "account", "email_claim"])
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
    at = fields.String(allow_none=True, required=True)


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
    at = fields.String(required=True)
    actor = fields.Nested(ActorSchema, allow_none=True, required=True)
    data = fields.Dict(required=True)


class EventPageSchema(Schema):
    items = fields.List(fields.Nested(FeedEventSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class AuditBundleSchema(Schema):
    initiative_id = fields.String(required=True)
    version = fields.Integer(required=True)
    generated_at = fields.String(required=True)
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
