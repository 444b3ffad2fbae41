"""Bearer tokens over HTTP: log in and log out."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask.views import MethodView

from service.api.authentication import log_in
from service.api.errors import ApiProblem
from service.api.request import Blueprint, current_caller, documents, iso, public, with_headers
from service.api.schemas import LoginSchema, TokenSchema
from service.api.schemas.accounts import PasswordResetRedeemSchema
from service.context import request_id, request_state
from service.infrastructure.passwords import require_fit_password
from service.infrastructure.runtime import runtime

UNUSABLE_RESET = "The reset token is unknown, used or expired; ask an administrator for a new one."

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Bearer tokens.")


@blp.route("/tokens")
@public
class Tokens(MethodView):
    @blp.arguments(LoginSchema())
    @blp.response(201, TokenSchema)
    @documents(blp, 400, 401, 415, 422, 429)
    def post(self, login: dict[str, Any]) -> dict[str, Any]:
        """Log in: exchange an email and password for a bearer token."""
        issued = log_in(login["email"], login["password"])
        return {"token": issued.token, "expires_at": iso(issued.expires_at)}


@blp.route("/tokens/current")
class CurrentToken(MethodView):
    @blp.response(204)
    @documents(blp, 401)
    def delete(self) -> None:
        """Log out: revoke the token this request carries."""
        current_caller()
        rt = runtime()
        rt.credentials.revoke_token(request_state().token or "", rt.now())


@blp.route("/password-resets")
@public
class PasswordResets(MethodView):
    @blp.arguments(PasswordResetRedeemSchema())
    @blp.response(204)
    @documents(blp, 400, 413, 415, 422)
    def post(self, data: dict[str, Any]) -> Any:
        """Set a new password with a reset token an admin issued (no authentication). The
        token works once, for 24 hours; every token of the account is revoked."""
        rt = runtime()
        now = rt.now()
        account_id = rt.credentials.reset_account(data["reset_token"], now)
        account = None if account_id is None else rt.app.account(UUID(account_id))
        if account is None or not account.active:
            # One answer for unknown, used, expired and deactivated: it reveals nothing.
            raise ApiProblem(400, UNUSABLE_RESET)
        require_fit_password(data["new_password"], account.email)
        if not rt.credentials.use_reset(data["reset_token"], now):
            raise ApiProblem(400, UNUSABLE_RESET)  # redeemed meanwhile by another request
        # Recorded before the password changes, so that no change is missing from the log.
        outcome = rt.app.use_password_reset(account.id, request_id=request_id())
        rt.credentials.set_password(str(account.id), data["new_password"])
        rt.credentials.revoke_all(str(account.id), now)
        return with_headers(None, position=outcome.position)
