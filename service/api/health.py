"""Liveness and readiness probes."""

from __future__ import annotations

import logging
from typing import Any

from flask.views import MethodView

from service.api.errors import ApiProblem
from service.api.request import Blueprint, public
from service.infrastructure.runtime import runtime

blp = Blueprint("health", __name__, url_prefix="", description="Probes.")
log = logging.getLogger("twinning.health")


@blp.route("/healthz")
@public
class Health(MethodView):
    @blp.response(200)
    def get(self) -> dict[str, Any]:
        """The process is alive."""
        return {"status": "ok"}


@blp.route("/readyz")
@public
class Ready(MethodView):
    @blp.response(200)
    def get(self) -> dict[str, Any]:
        """The database answers (503 otherwise)."""
        try:
            rt = runtime()
            # A fresh connection first: it fails at once when the server is down, where the
            # event store's pool would wait for its timeout.
            ready = rt.availability.probe()
            if ready:
                rt.app.recorder.max_notification_id()
        except Exception as error:  # any failure to reach the database means not ready
            log.warning("not ready: %s", type(error).__name__)
            ready = False
        if not ready:
            raise ApiProblem(503, "The database is not reachable.", headers={"Retry-After": "5"})
        return {"status": "ready"}
