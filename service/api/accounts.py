"""Accounts: created and managed by admins; every change is an event."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from flask import Response
from flask.views import MethodView

from domain.account import Account
from domain.application import require_role
from domain.values import ROLES, Role
from service.api.authentication import count_password_guess
from service.api.errors import ApiProblem
from service.api.request import Blueprint, current_caller, documents, iso, with_headers
from service.api.schemas import RoleSchema, UserCreateSchema, UserSchema
from service.api.schemas.accounts import (
    DataExportSchema,
    EraseSchema,
    MeUpdateSchema,
    PasswordChangeSchema,
    PasswordResetSchema,
    UserUpdateSchema,
)
from service.context import reader, request_state
from service.infrastructure import privacy
from service.infrastructure.passwords import require_fit_password
from service.infrastructure.runtime import runtime

blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Accounts and roles.")


def user_body(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "erased": account.erased,
        "email": account.email,
        "name": account.name,
        "organisation_id": account.organisation_id,
        "roles": account.roles,
        "active": account.active,
    }


@blp.route("")
class Users(MethodView):
    @blp.arguments(UserCreateSchema())
    @blp.response(201, UserSchema)
    @documents(blp, 400, 401, 403, 409, 413, 415, 422)
    def post(self, data: dict[str, Any]) -> Any:
        """Create an account (admin). The password is kept only as an Argon2 hash."""
        actor = require_role(current_caller(), Role.ADMIN)
        rt = runtime()
        outcome = rt.app.register_account(
            actor=actor,
            email=data["email"],
            name=data["name"],
            organisation_id=data["organisation_id"],
            roles=data["roles"],
        )
        account = outcome.aggregate
        rt.credentials.set_password(str(account.id), data["password"])
        return with_headers(
            user_body(account), position=outcome.position, location=f"/api/v1/users/{account.id}"
        )


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, UserSchema)
    @documents(blp, 401)
    def get(self) -> dict[str, Any]:
        """The account making the request."""
        caller = current_caller()
        return user_body(
            runtime().read_cache.account(UUID(caller.account_id), request_state().head)
        )

    @blp.arguments(MeUpdateSchema())
    @blp.response(200, UserSchema)
    @documents(blp, 400, 401, 412, 413, 415, 422)
    def patch(self, data: dict[str, Any]) -> Any:
        """Correct your own name (rectification)."""
        caller = current_caller()
        account_id = UUID(caller.account_id)
        app = runtime().app
        actor = app.account(account_id).as_self(caller.request_id)
        outcome = app.rectify_account(account_id, actor=actor, name=data["name"])
        return with_headers(user_body(outcome.aggregate), position=outcome.position)


@blp.route("/me/password")
class MyPassword(MethodView):
    @blp.arguments(PasswordChangeSchema())
    @blp.response(204)
    @documents(blp, 400, 401, 403, 412, 413, 415, 422, 429)
    def post(self, data: dict[str, Any]) -> Any:
        """Change your password. Every token of the account, this one included, is revoked:
        log in again with the new password. Attempts count against the login limits."""
        caller = current_caller()
        rt = runtime()
        account = rt.app.account(UUID(caller.account_id))
        count_password_guess(account.email)
        if not rt.credentials.check_password(caller.account_id, data["current_password"]):
            raise ApiProblem(403, "The current password is wrong.")
        require_fit_password(data["new_password"], account.email)
        outcome = rt.change_password(account, data["new_password"], caller.request_id)
        return with_headers(None, position=outcome.position)


@blp.route("/<uuid:user_id>")
class UserById(MethodView):
    @blp.response(200, UserSchema)
    @documents(blp, 401, 403, 404)
    def get(self, user_id: UUID) -> dict[str, Any]:
        """One account (admin)."""
        require_role(current_caller(), Role.ADMIN)
        return user_body(runtime().app.account(user_id))

    @blp.arguments(UserUpdateSchema())
    @blp.response(200, UserSchema)
    @documents(blp, 400, 401, 403, 404, 409, 412, 413, 415, 422)
    def patch(self, data: dict[str, Any], user_id: UUID) -> Any:
        """Correct an account's name and/or email (admin, rectification). An email another
        account holds → 409; the old email may then be registered again."""
        actor = require_role(current_caller(), Role.ADMIN)
        outcome = runtime().app.rectify_account(
            user_id, actor=actor, name=data.get("name"), email=data.get("email")
        )
        return with_headers(user_body(outcome.aggregate), position=outcome.position)


@blp.route("/<uuid:user_id>/roles")
class Roles(MethodView):
    @blp.arguments(RoleSchema())
    @blp.response(200, UserSchema)
    @documents(blp, 400, 401, 403, 404, 409, 415, 422)
    def post(self, data: dict[str, Any], user_id: UUID) -> Any:
        """Grant a role (admin)."""
        actor = require_role(current_caller(), Role.ADMIN)
        outcome = runtime().app.grant_role(user_id, actor=actor, role=data["role"])
        return with_headers(user_body(outcome.aggregate), position=outcome.position)


@blp.route("/<uuid:user_id>/roles/<role>")
class RoleById(MethodView):
    @blp.response(200, UserSchema)
    @documents(blp, 401, 403, 404, 409)
    def delete(self, user_id: UUID, role: str) -> Any:
        """Revoke a role (admin)."""
        actor = require_role(current_caller(), Role.ADMIN)
        if role not in ROLES:
            raise ApiProblem(404, f"There is no role {role[:50]!r}.")
        outcome = runtime().app.revoke_role(user_id, actor=actor, role=role)
        return with_headers(user_body(outcome.aggregate), position=outcome.position)


@blp.route("/<uuid:user_id>/deactivate")
class Deactivate(MethodView):
    @blp.response(200, UserSchema)
    @documents(blp, 401, 403, 404, 409)
    def post(self, user_id: UUID) -> Any:
        """Deactivate an account (admin): its tokens stop working at once."""
        actor = require_role(current_caller(), Role.ADMIN)
        outcome = runtime().deactivate(user_id, actor)
        return with_headers(user_body(outcome.aggregate), position=outcome.position)


@blp.route("/<uuid:user_id>/reactivate")
class Reactivate(MethodView):
    @blp.response(200, UserSchema)
    @documents(blp, 401, 403, 404, 409)
    def post(self, user_id: UUID) -> Any:
        """Reactivate a deactivated account (admin): it can log in again."""
        actor = require_role(current_caller(), Role.ADMIN)
        outcome = runtime().app.reactivate(user_id, actor=actor)
        return with_headers(user_body(outcome.aggregate), position=outcome.position)


@blp.route("/<uuid:user_id>/password-reset")
class PasswordReset(MethodView):
    @blp.response(201, PasswordResetSchema)
    @documents(blp, 401, 403, 404)
    def post(self, user_id: UUID) -> Any:
        """Issue a one-use password reset for an account (admin), valid for 24 hours. The
        token is shown only in this answer; the service keeps only its digest."""
        actor = require_role(current_caller(), Role.ADMIN)
        outcome, issued = runtime().issue_password_reset(user_id, actor)
        body = {"reset_token": issued.token, "expires_at": iso(issued.expires_at)}
        return with_headers(body, position=outcome.position)


@blp.route("/<uuid:user_id>/erase")
class Erase(MethodView):
    @blp.arguments(EraseSchema())
    @blp.response(200, UserSchema)
    @documents(blp, 400, 401, 403, 404, 409, 413, 415, 422)
    def post(self, data: dict[str, Any], user_id: UUID) -> Any:
        """Erase a person's account (admin; GDPR Art. 17): it is deactivated, one event
        records who erased it, when and why, and the key its email and name were sealed
        with is destroyed, so they read as null everywhere from now on. The email may be
        registered again; the audit chain still verifies. Erased already → 409."""
        actor = require_role(current_caller(), Role.ADMIN)
        outcome = privacy.erase(runtime(), user_id, actor, data["reason"])
        return with_headers(user_body(outcome.aggregate), position=outcome.position)


def data_export(account_id: UUID) -> Response:
    body = privacy.export(runtime(), reader(), account_id)
    response = Response(
        json.dumps(body, ensure_ascii=False, indent=2, default=str),
        mimetype="application/json",
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="twinning-data-{account_id}.json"'
    )
    return response


@blp.route("/me/data")
class MyData(MethodView):
    @blp.response(200, DataExportSchema, description="An attachment (Content-Disposition).")
    @documents(blp, 401)
    def get(self) -> Response:
        """Download everything the service holds about you (GDPR Art. 15)."""
        return data_export(UUID(current_caller().account_id))


@blp.route("/<uuid:user_id>/data")
class UserData(MethodView):
    @blp.response(200, DataExportSchema, description="An attachment (Content-Disposition).")
    @documents(blp, 401, 403, 404)
    def get(self, user_id: UUID) -> Response:
        """Download everything the service holds about an account's person (admin)."""
        require_role(current_caller(), Role.ADMIN)
        return data_export(user_id)
