"""Schemas of the read views: lists, the inbox, statistics, themes, projections."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.api.schemas.base import Multilingual, PageQuerySchema, Timestamp, vocabulary
from service.api.schemas.initiatives import (
    InitiativeState,
    InitiativeVisibility,
    Level,
    PartnerSchema,
    ThemeId,
)

InboxKind = vocabulary("InboxKind", ["invitation", "amendment", "review"])

SORT_CHOICES = ["-updated_at", "updated_at", "-created_at", "created_at", "title", "-title"]


class ThemeSchema(Schema):
    id = fields.String(required=True)
    label = Multilingual(required=True)


class ThemeListSchema(Schema):
    items = fields.List(fields.Nested(ThemeSchema), required=True)


class InitiativeListQuerySchema(PageQuerySchema):
    state = InitiativeState()
    theme = fields.String(validate=validate.Length(max=60))
    level = Level()
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
    title = Multilingual(required=True)
    summary = Multilingual(required=True)
    state = InitiativeState(required=True)
    themes = fields.List(ThemeId(), required=True)
    level = Level(required=True)
    countries = fields.List(fields.String(), required=True)
    lead_organisation_id = fields.String(required=True)
    visibility = InitiativeVisibility(required=True)
    partners = fields.List(fields.Nested(PartnerSchema), required=True)
    version = fields.Integer(required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    good_practice = fields.Boolean(required=True)
    waiting_on = fields.Nested(WaitingOnSchema, required=True)
    waiting_since = Timestamp(required=True)


class InitiativePageSchema(Schema):
    items = fields.List(fields.Nested(InitiativeSummarySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class InboxItemSchema(Schema):
    kind = InboxKind(required=True)
    initiative_id = fields.String(required=True)
    title = Multilingual(required=True)
    since = Timestamp(required=True)
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
