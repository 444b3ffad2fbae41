"""Schemas of authentication, organisations and accounts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from domain.account import REASON_MAX, account_errors, rectify_errors
from domain.errors import NotFound
from domain.organisation import organisation_errors
from domain.values import ORGANISATION_TYPES, ROLES
from service.api.schemas.base import CommandSchema, Timestamp, checked, vocabulary
from service.infrastructure.passwords import password_problems
from service.infrastructure.runtime import runtime

OrganisationType = vocabulary("OrganisationType", ORGANISATION_TYPES)
RoleName = vocabulary("RoleName", ROLES)


class LoginSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024))


class TokenSchema(Schema):
    token = fields.String(required=True)
    expires_at = Timestamp(required=True)


class OrganisationCreateSchema(CommandSchema):
    name = fields.String(required=True)
    type = OrganisationType(required=True)
    country = fields.String(
        required=True, metadata={"description": "ISO 3166-1 alpha-2, or XK for Kosovo."}
    )

    def domain_errors(self, loaded: dict[str, Any]) -> Mapping[str, Any]:
        return checked(organisation_errors, loaded, "name", "type", "country")


class OrganisationSchema(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    type = OrganisationType(required=True)
    country = fields.String(required=True)
    created_at = Timestamp(required=True)


class OrganisationPageSchema(Schema):
    items = fields.List(fields.Nested(OrganisationSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class UserCreateSchema(CommandSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    name = fields.String(required=True)
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=12, max=1024)
    )
    organisation_id = fields.UUID(required=True)
    roles = fields.List(RoleName(), required=True)

    @validates_schema(skip_on_field_errors=False)
    def _password_rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "password" in data:  # absent when its length was refused already
            problems = password_problems(data["password"], data.get("email"))
            if problems:
                raise ValidationError(problems, "password")

    def domain_errors(self, loaded: dict[str, Any]) -> Mapping[str, Any]:
        return {
            **checked(account_errors, loaded, "email", "name", "roles"),
            **unknown_organisation(loaded),
        }


def unknown_organisation(loaded: Mapping[str, Any]) -> dict[str, list[str]]:
    """The application finds an unknown organisation only once the fields pass: looked up
    here too, so that one 422 names it with the others."""
    if "organisation_id" not in loaded:
        return {}
    try:
        runtime().app.organisation(loaded["organisation_id"])
    except NotFound:
        return {"organisation_id": ["No such organisation."]}
    return {}


class UserSchema(Schema):
    id = fields.UUID(required=True)
    erased = fields.Boolean(
        required=True,
        metadata={"description": "Its personal data was erased: email and name null."},
    )
    email = fields.String(required=True, allow_none=True)
    name = fields.String(required=True, allow_none=True)
    organisation_id = fields.UUID(required=True)
    roles = fields.List(RoleName(), required=True)
    active = fields.Boolean(required=True)


class EraseSchema(CommandSchema):
    """Why the account's personal data is erased (recorded in the event)."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=REASON_MAX))


class RoleSchema(Schema):
    role = RoleName(required=True)


def _password(**kw: Any) -> fields.String:
    """A password as a request sends it: never in a response; the rules are checked with
    the account's email (service.infrastructure.passwords)."""
    return fields.String(required=True, load_only=True, validate=validate.Length(max=1024), **kw)


def _new_password() -> fields.String:
    return _password(
        metadata={
            "description": "At least 12 characters, not the account's email, not one of the "
            "10,000 most common passwords."
        }
    )


class PasswordChangeSchema(Schema):
    current_password = _password()
    new_password = _new_password()


class PasswordResetSchema(Schema):
    """An admin's one-use reset for an account: shown once, kept only as a digest."""

    reset_token = fields.String(required=True)
    expires_at = Timestamp(required=True)


class PasswordResetRedeemSchema(Schema):
    reset_token = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=200)
    )
    new_password = _new_password()


class MeUpdateSchema(CommandSchema):
    name = fields.String(required=True)


class UserUpdateSchema(CommandSchema):
    """Rectification (admin): either field or both; an email another account holds → 409."""

    name = fields.String()
    email = fields.Email(validate=validate.Length(max=254))

    @validates_schema
    def _name_or_email(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "name" not in data and "email" not in data:
            raise ValidationError("Send name, email or both.", "name")

    def domain_errors(self, loaded: dict[str, Any]) -> Mapping[str, Any]:
        return checked(rectify_errors, loaded, "name", "email")


class DataExportSchema(Schema):
    """Everything the service holds about one account's person (sent as an attachment)."""

    account = fields.Nested(UserSchema, required=True)
    role_grants = fields.List(
        fields.Dict(), required=True, metadata={"description": "role, change, by, at"}
    )
    events = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "position, type, aggregate_type, aggregate_id, at"},
    )
    texts = fields.List(
        fields.Dict(), required=True, metadata={"description": "what the person wrote, per event"}
    )
    tokens = fields.List(
        fields.Dict(), required=True, metadata={"description": "issued_at, expires_at, revoked_at"}
    )
