"""Accounts: created and managed by admins; every change is an event."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask.views import MethodView

from domain.account import Account
from domain.application import require_role
from domain.values import ROLES, Role
from service.api.errors import ApiProblem
from service.api.request import Blueprint, current_caller, documents, with_headers
from service.api.schemas import RoleSchema, UserCreateSchema, UserSchema
from service.context import request_state
from service.infrastructure.runtime import runtime

blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Accounts and roles.")


def user_body(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
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


@blp.route("/<uuid:user_id>")
class UserById(MethodView):
    @blp.response(200, UserSchema)
    @documents(blp, 401, 403, 404)
    def get(self, user_id: UUID) -> dict[str, Any]:
        """One account (admin)."""
        require_role(current_caller(), Role.ADMIN)
        return user_body(runtime().app.account(user_id))


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
        rt = runtime()
        outcome = rt.app.deactivate(user_id, actor=actor)
        rt.credentials.revoke_all(str(user_id), rt.now())
        return with_headers(user_body(outcome.aggregate), position=outcome.position)
