"""Bearer tokens over HTTP: log in and log out."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from service.api.authentication import log_in
from service.api.request import Blueprint, current_caller, documents, iso, public
from service.api.schemas import LoginSchema, TokenSchema
from service.context import request_state
from service.infrastructure.runtime import runtime

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
