"""Schemas of the initiatives' commands and of their representation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from marshmallow import Schema, fields, validate

from domain import records
from domain.initiative import (
    RULES,
    amendment_errors,
    proposal_errors,
    report_errors,
    review_errors,
)
from domain.values import DECISIONS, LEVELS, THEMES, VISIBILITIES, State, Visibility, field_errors
from service.api.schemas.base import (
    NUMBER_MAX,
    CommandSchema,
    IsoDate,
    Multilingual,
    StrictInt,
    Timestamp,
    checked,
    loaded_only,
    vocabulary,
)

InitiativeState = vocabulary("InitiativeState", [s.value for s in State])
Level = vocabulary("Level", LEVELS)
InitiativeVisibility = vocabulary(
    "Visibility",
    VISIBILITIES,
    metadata={
        "description": "Who may read the initiative before it is submitted: `network` "
        "(every account) or `partners` (members of its lead and partner organisations, "
        "auditors and admins; anyone else is answered 404)."
    },
)
# Not checked here: the domain names an unknown theme in its own words.
ThemeId = vocabulary(
    "ThemeId", THEMES, checked=False, metadata={"description": "An id from /themes."}
)
Decision = vocabulary("Decision", DECISIONS)
PartnerStatus = vocabulary("PartnerStatus", get_args(records.PartnerStatus))
AmendmentStatus = vocabulary("AmendmentStatus", get_args(records.AmendmentStatus))
StepName = vocabulary("StepName", ["national_review", "network_review"])
StepStatus = vocabulary("StepStatus", get_args(records.StepStatus))
Action = vocabulary("Action", RULES)


class InitiativeFieldsSchema(CommandSchema):
    """The editable fields of an initiative; every one optional here (PATCH, amendments)."""

    title = Multilingual("At most 200 characters per language.")
    summary = Multilingual("At most 2,000 characters per language.")
    description = Multilingual("At most 20,000 characters per language.")
    original_language = fields.String(metadata={"description": "ISO 639-1 code."})
    themes = fields.List(ThemeId())
    level = Level()
    countries = fields.List(fields.String(), metadata={"description": "ISO 3166-1 alpha-2."})
    target_groups = fields.List(fields.String())
    expected_participants = StrictInt(validate=validate.Range(min=0))
    start_date = IsoDate(allow_none=True)
    end_date = IsoDate(allow_none=True)

    def domain_errors(self, loaded: dict[str, Any]) -> Mapping[str, Any]:
        return field_errors(loaded)


class ProposeSchema(InitiativeFieldsSchema):
    title = Multilingual("At most 200 characters per language.", required=True)
    summary = Multilingual("At most 2,000 characters per language.", required=True)
    original_language = fields.String(required=True, metadata={"description": "ISO 639-1 code."})
    themes = fields.List(ThemeId(), required=True)
    level = Level(required=True)
    countries = fields.List(
        fields.String(), required=True, metadata={"description": "ISO 3166-1 alpha-2."}
    )
    visibility = InitiativeVisibility(load_default=Visibility.NETWORK.value)

    def domain_errors(self, loaded: dict[str, Any]) -> Mapping[str, Any]:
        proposed = {k: v for k, v in loaded.items() if k != "visibility"}
        return loaded_only(proposal_errors(proposed), proposed)


class EditSchema(InitiativeFieldsSchema):
    base_version = StrictInt(
        metadata={"description": "The version the edit was made on; merged three-way."}
    )

    def domain_errors(self, loaded: dict[str, Any]) -> Mapping[str, Any]:
        return field_errors({k: v for k, v in loaded.items() if k != "base_version"})


class InviteSchema(Schema):
    organisation_id = fields.UUID(required=True)


class AmendmentCreateSchema(CommandSchema):
    changes = fields.Nested(InitiativeFieldsSchema, required=True)
    rationale = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    base_version = StrictInt(metadata={"description": "The version the amendment amends."})

    def domain_errors(self, loaded: dict[str, Any]) -> Mapping[str, Any]:
        return checked(amendment_errors, loaded, "changes", "rationale")


class AcceptAmendmentSchema(Schema):
    base_version = StrictInt(metadata={"description": "The version you read (or If-Match)."})


class ReasonSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class RationaleSchema(Schema):
    rationale = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class ReviewSchema(RationaleSchema, CommandSchema):
    decision = Decision(required=True)

    def domain_errors(self, loaded: dict[str, Any]) -> Mapping[str, Any]:
        return checked(review_errors, loaded, "decision", "rationale")


class ReportSchema(CommandSchema):
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

    def domain_errors(self, loaded: dict[str, Any]) -> Mapping[str, Any]:
        return loaded_only(report_errors(loaded), loaded)


class CompleteSchema(Schema):
    outcomes = Multilingual(required=True)


class VersionQuerySchema(Schema):
    version = fields.Integer(validate=validate.Range(min=1, max=NUMBER_MAX))
    as_of = fields.AwareDateTime(metadata={"description": "ISO 8601 with a time zone."})


# ------------------------------------------------------------------ the representation
class PartnerSchema(Schema):
    organisation_id = fields.String(required=True)
    status = PartnerStatus(required=True)


class AmendmentSchema(Schema):
    id = fields.String(required=True)
    status = AmendmentStatus(required=True)
    changes = fields.Nested(InitiativeFieldsSchema, required=True)
    rationale = fields.String(required=True)
    base_version = fields.Integer(required=True)
    author_id = fields.String(required=True)
    decided_by = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class ReviewEntrySchema(Schema):
    reviewer_id = fields.String()
    organisation_id = fields.String()
    decision = Decision()
    rationale = fields.String()
    reviewed_version = fields.Integer()
    at = Timestamp()


class StepSchema(Schema):
    name = StepName(required=True)
    status = StepStatus(required=True)
    reviews = fields.List(fields.Nested(ReviewEntrySchema), required=True)


class ApprovalSchema(Schema):
    round = fields.Integer(required=True)
    steps = fields.List(fields.Nested(StepSchema), required=True)
    submitted_version = fields.Integer()
    outcome = fields.String(
        allow_none=True, metadata={"description": "approved, changes_requested or rejected."}
    )


class ReportEntrySchema(Schema):
    id = fields.String(required=True)
    period_start = IsoDate(required=True)
    period_end = IsoDate(required=True)
    participants = fields.Integer(required=True)
    activities = fields.Integer(required=True)
    narrative = Multilingual(required=True)
    evidence_urls = fields.List(fields.String(), required=True)
    author_id = fields.String()


class TranslationSchema(Schema):
    stale = fields.Boolean(required=True)


class InitiativeSchema(Schema):
    """An initiative as it is now (or at the version asked for)."""

    id = fields.UUID(required=True)
    state = InitiativeState(required=True)
    version = fields.Integer(required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    title = Multilingual(required=True)
    summary = Multilingual(required=True)
    description = Multilingual(required=True)
    original_language = fields.String(required=True)
    translations = fields.Dict(
        keys=fields.String(), values=fields.Nested(TranslationSchema), required=True
    )
    themes = fields.List(ThemeId(), required=True)
    level = Level(required=True)
    countries = fields.List(fields.String(), required=True)
    target_groups = fields.List(fields.String(), required=True)
    expected_participants = fields.Integer(required=True)
    start_date = IsoDate(allow_none=True, required=True)
    end_date = IsoDate(allow_none=True, required=True)
    lead_organisation_id = fields.String(required=True)
    visibility = InitiativeVisibility(required=True)
    partners = fields.List(fields.Nested(PartnerSchema), required=True)
    amendments = fields.List(fields.Nested(AmendmentSchema), required=True)
    approval = fields.Nested(ApprovalSchema, allow_none=True, required=True)
    reports = fields.List(fields.Nested(ReportEntrySchema), required=True)
    outcomes = Multilingual(allow_none=True)
    good_practice = fields.Boolean(required=True)
    allowed_actions = fields.List(
        Action(),
        required=True,
        metadata={"description": "Commands the calling account may issue now."},
    )
