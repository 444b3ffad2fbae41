"""`GET /metrics`: Prometheus text for the scraper (metrics token) or an admin or auditor."""

from __future__ import annotations

import hmac

from flask import Response, current_app
from flask.views import MethodView

from domain.values import Role
from service.api.errors import ApiProblem
from service.api.request import Blueprint, current_caller, documents
from service.context import current_request, request_state
from service.infrastructure.observability import exposition
from service.infrastructure.runtime import runtime

blp = Blueprint("metrics", __name__, url_prefix="", description="Prometheus metrics.")


def is_metrics_token(token: str) -> bool:
    """Whether `token` is the configured scraper token (compared in constant time)."""
    expected = current_app.config["TWINNING_SETTINGS"].metrics_token
    return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())


def scraper_token() -> str | None:
    """The bearer token of a request to /metrics when it is the scraper's."""
    req = current_request()
    if req.endpoint != "metrics.Metrics":
        return None
    scheme, _, token = req.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and is_metrics_token(token) else None


@blp.route("/metrics")
class Metrics(MethodView):
    @documents(blp, 401, 403)
    @blp.response(200, content_type="text/plain")
    def get(self) -> Response:
        """Request counts and latencies by route and status, commands by type and outcome,
        events recorded, each view's position and lag. Send the `TWINNING_METRICS_TOKEN` as
        a bearer token, or an admin's or auditor's."""
        if not request_state().scraper:
            caller = current_caller()
            if not (caller.has(Role.ADMIN) or caller.has(Role.AUDITOR)):
                raise ApiProblem(403, "Metrics need the metrics token, or an admin or auditor.")
        return exposition(runtime())
