"""Schemas of the activities' commands and of their representations.

The domain checks every field of a command at once (`activity_errors`,
`registration_errors`); these schemas only make sure each field has a type the domain can
read, and merge the domain's messages into the 422 when they refuse something."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from marshmallow import Schema, fields, validate

from domain.activity import (
    AGE_BANDS,
    GENDERS,
    KINDS,
    PARTICIPANT_TYPES,
    ActivityState,
    activity_errors,
    registration_errors,
)
from service.api.schemas.base import (
    CommandSchema,
    Multilingual,
    StrictInt,
    loaded_only,
    vocabulary,
)

# Not checked here: the domain names a wrong value in its own words, with the other fields.
ActivityKind = vocabulary("ActivityKind", KINDS, checked=False)
ActivityStateName = vocabulary("ActivityState", get_args(ActivityState))
ParticipantType = vocabulary("ParticipantType", PARTICIPANT_TYPES, checked=False)
AgeBand = vocabulary("AgeBand", AGE_BANDS, checked=False)
Gender = vocabulary("Gender", GENDERS, checked=False)
RegistrationStatusName = vocabulary("RegistrationStatus", ["registered", "waitlisted", "cancelled"])
EligibilityRules = vocabulary("EligibilityRules", ["town_twinning", "networks_of_towns"])

TEXT = validate.Length(max=1000)


class PlanActivitySchema(CommandSchema):
    kind = ActivityKind(required=True)
    title = Multilingual("At most 200 characters per language.", required=True)
    summary = Multilingual("At most 2,000 characters per language.", required=True)
    original_language = fields.String(required=True, metadata={"description": "ISO 639-1 code."})
    themes = fields.List(fields.String(), required=True)
    country = fields.String(required=True, metadata={"description": "ISO 3166-1 alpha-2."})
    city = fields.String(required=True)
    starts_at = fields.String(required=True, metadata={"format": "date-time"})
    ends_at = fields.String(required=True, metadata={"format": "date-time"})
    capacity = StrictInt(allow_none=True, validate=validate.Range(min=1))
    initiative_id = fields.UUID(allow_none=True)
    co_organiser_ids = fields.List(fields.UUID(), validate=validate.Length(max=50))

    def domain_errors(self, loaded: dict[str, Any]) -> Mapping[str, Any]:
        planned = {k: v for k, v in loaded.items() if k != "co_organiser_ids"}
        return loaded_only(activity_errors(planned), planned)


class ActivityReasonSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class RegisterSchema(CommandSchema):
    name = fields.String(required=True)
    email = fields.String(allow_none=True)
    country = fields.String(required=True, metadata={"description": "ISO 3166-1 alpha-2."})
    town = fields.String(required=True)
    organisation_id = fields.UUID(allow_none=True)
    participant_type = ParticipantType(required=True)
    age_band = AgeBand(allow_none=True)
    gender = Gender(allow_none=True)

    def domain_errors(self, loaded: dict[str, Any]) -> Mapping[str, Any]:
        return loaded_only(registration_errors(loaded), loaded)


class AttendanceSchema(Schema):
    registration_ids = fields.List(
        fields.UUID(), required=True, validate=validate.Length(min=1, max=10000)
    )
    attended = fields.Boolean(required=True, truthy={True}, falsy={False})


class CertifySchema(Schema):
    town = fields.String(required=True, validate=validate.Length(min=1, max=200))
    country = fields.String(required=True, validate=validate.Length(min=2, max=2))


class EligibilityQuerySchema(Schema):
    rules = EligibilityRules(required=True)


class ActivitySchema(Schema):
    """An activity as anyone reads it: no participant in it, only the counts."""

    id = fields.String(required=True)
    kind = ActivityKind(required=True)
    state = ActivityStateName(required=True)
    version = fields.Integer(required=True)
    title = Multilingual(required=True)
    summary = Multilingual(required=True)
    original_language = fields.String(required=True)
    themes = fields.List(fields.String(), required=True)
    country = fields.String(required=True)
    city = fields.String(required=True)
    starts_at = fields.String(required=True, metadata={"format": "date-time"})
    ends_at = fields.String(required=True, metadata={"format": "date-time"})
    capacity = fields.Integer(allow_none=True, required=True)
    initiative_id = fields.String(allow_none=True, required=True)
    organiser_ids = fields.List(fields.String(), required=True)
    registered = fields.Integer(required=True)
    waitlisted = fields.Integer(required=True)
    attended = fields.Integer(required=True)
    allowed_actions = fields.List(fields.String(), required=True)


class RegistrationSchema(Schema):
    """A registration with its participant's data opened (null once erased)."""

    id = fields.String(required=True)
    status = RegistrationStatusName(required=True)
    name = fields.String(allow_none=True, required=True)
    email = fields.String(allow_none=True, required=True)
    country = fields.String(required=True)
    town = fields.String(allow_none=True, required=True)
    organisation_id = fields.String(allow_none=True, required=True)
    participant_type = ParticipantType(required=True)
    age_band = AgeBand(allow_none=True, required=True)
    gender = Gender(allow_none=True, required=True)
    attended = fields.Boolean(allow_none=True, required=True)
    erased = fields.Boolean(required=True)
    list_number = fields.Integer(required=True)


class RegistrationListSchema(Schema):
    items = fields.List(fields.Nested(RegistrationSchema), required=True)


class ListParticipantSchema(Schema):
    registration_id = fields.String(required=True)
    name = fields.String(allow_none=True, required=True)
    age_band = AgeBand(allow_none=True, required=True)
    gender = Gender(allow_none=True, required=True)
    attended = fields.Boolean(allow_none=True, required=True)


class SignatureSchema(Schema):
    account_id = fields.String(required=True)
    organisation_id = fields.String(required=True)
    side = fields.String(required=True)
    at = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})


class AttendanceListSchema(Schema):
    """One list per town and country (the domain's grouping): `participant_type` is the
    type its participants share, null when they are of both types."""

    list_number = fields.Integer(required=True)
    town = fields.String(allow_none=True, required=True)
    country = fields.String(required=True)
    participant_type = ParticipantType(allow_none=True, required=True)
    attended = fields.Integer(required=True, metadata={"description": "How many attended."})
    participants = fields.List(fields.Nested(ListParticipantSchema), required=True)
    signatures = fields.List(fields.Nested(SignatureSchema), required=True)
    certified = fields.Boolean(required=True)
    digest = fields.String(allow_none=True, required=True)


class AttendanceListsSchema(Schema):
    items = fields.List(fields.Nested(AttendanceListSchema), required=True)


class CheckSchema(Schema):
    name = fields.String(required=True)
    required = fields.Integer(required=True)
    actual = fields.Integer(required=True)
    ok = fields.Boolean(required=True)


class EligibilitySchema(Schema):
    rules = EligibilityRules(required=True)
    ok = fields.Boolean(required=True)
    checks = fields.List(fields.Nested(CheckSchema), required=True)
