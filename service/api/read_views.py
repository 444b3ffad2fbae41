"""Read views over HTTP: queue, inbox, statistics, good practices, projection status.

Every read-view endpoint honours X-Min-Position (read-your-writes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask.views import MethodView

from domain.application import require_role
from domain.errors import NotPermitted
from domain.values import Role
from projections import queries
from service.api.errors import ApiProblem
from service.api.request import (
    WAIT_SECONDS,
    Blueprint,
    current_caller,
    documents,
    parse_position,
    public,
)
from service.api.schemas import (
    GoodPracticeQuerySchema,
    ImpactQuerySchema,
    ImpactSchema,
    InboxPageSchema,
    InitiativePageSchema,
    PageQuerySchema,
    ProjectionsSchema,
)
from service.context import current_application, current_request, reader, request_state
from service.infrastructure.runtime import runtime

MIN_POSITION_PARAMETER = {
    "in": "header",
    "name": "X-Min-Position",
    "required": False,
    "schema": {"type": "integer", "minimum": 0},
    "description": (
        "Wait (up to 2 s) until every read view has processed this position (a command's "
        "X-Position); 503 with Retry-After when they have not."
    ),
}


def await_min_position() -> int | None:
    """Waits for the position X-Min-Position names, and returns it (None without one)."""
    raw = current_request().headers.get("X-Min-Position")
    if raw is None:
        return None
    position = parse_position(raw.strip())
    if position is None:
        raise ApiProblem(400, "X-Min-Position must be a whole number (a command's X-Position).")
    projector = runtime().projector
    if position > projector.head():
        raise ApiProblem(
            503,
            f"Position {position} is beyond the last recorded event.",
            headers={"Retry-After": "1"},
        )
    if not projector.wait(position, WAIT_SECONDS):
        raise ApiProblem(
            503,
            f"The read views have not reached position {position} yet.",
            headers={"Retry-After": "1"},
        )
    return position


def page_of(
    read: Callable[..., queries.Page], *, cached_at: int | None = None, **kwargs: Any
) -> Any:
    """A page of a read view; pages of stored cards are sent as they are stored (the
    response schema documents them; the fuzzing suite checks them against it). With
    `cached_at`, the view's position this request observed, the page may come from the
    process's read cache."""

    def render() -> Any:
        page = read(reader(), **kwargs)
        return page.as_dict() if page.cards is None else page.as_json()

    try:
        if cached_at is None:
            body = render()
        else:
            key = f"{read.__name__}:{json.dumps(kwargs, sort_keys=True, default=str)}"
            body = runtime().read_cache.page(key, cached_at, render)
    except queries.BadCursor as error:
        raise ApiProblem(422, "Some fields are invalid.", errors={"cursor": [str(error)]}) from None
    if isinstance(body, str):
        return current_application().response_class(body, mimetype="application/json")
    return body


def list_position(minimum: int | None) -> int | None:
    """The list view's position this request observed, when it satisfies X-Min-Position
    (else None: the page is read after the wait, not taken from the cache)."""
    position = request_state().list_position
    if position is None or (minimum is not None and position < minimum):
        return None
    return position


queue_blp = Blueprint(
    "review-queue",
    __name__,
    url_prefix="/api/v1/review-queue",
    description="What reviewers may decide now.",
)
inbox_blp = Blueprint(
    "inbox", __name__, url_prefix="/api/v1/me/inbox", description="What waits for the caller."
)
stats_blp = Blueprint(
    "stats", __name__, url_prefix="/api/v1/stats", description="The programme's impact indicators."
)
good_blp = Blueprint(
    "good-practices",
    __name__,
    url_prefix="/api/v1/good-practices",
    description="Completed initiatives recognised as good practice.",
)
projections_blp = Blueprint(
    "projections",
    __name__,
    url_prefix="/api/v1/projections",
    description="How far each read view has got.",
)


@queue_blp.route("")
class ReviewQueue(MethodView):
    @queue_blp.arguments(PageQuerySchema(), location="query")
    @queue_blp.response(200, InitiativePageSchema)
    @queue_blp.headers(MIN_POSITION_PARAMETER)
    @documents(queue_blp, 400, 401, 403, 422, 503)
    def get(self, page: dict[str, Any]) -> dict[str, Any]:
        """In-review initiatives the caller may review now (not conflicted, four eyes),
        oldest first."""
        caller = current_caller()
        require_role(caller, Role.REVIEWER)
        await_min_position()
        return page_of(queries.review_queue, caller=caller, **page)


@inbox_blp.route("")
class Inbox(MethodView):
    @inbox_blp.arguments(PageQuerySchema(), location="query")
    @inbox_blp.response(200, InboxPageSchema)
    @inbox_blp.headers(MIN_POSITION_PARAMETER)
    @documents(inbox_blp, 400, 401, 422, 503)
    def get(self, page: dict[str, Any]) -> dict[str, Any]:
        """Invitations to the caller's organisation, amendments awaiting its decision and
        reviews awaiting the caller, oldest first."""
        caller = current_caller()
        await_min_position()
        return page_of(queries.inbox, caller=caller, **page)


@stats_blp.route("/impact")
class Impact(MethodView):
    @stats_blp.arguments(ImpactQuerySchema(), location="query")
    @stats_blp.response(200, ImpactSchema)
    @stats_blp.headers(MIN_POSITION_PARAMETER)
    @documents(stats_blp, 400, 401, 422, 503)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Impact indicators over initiatives that reached approval (in `year`, if given);
        counts by state, theme and country over initiatives created or approved then."""
        current_caller()
        await_min_position()
        return queries.impact(reader(), **query)


@good_blp.route("")
@public
class GoodPractices(MethodView):
    @good_blp.arguments(GoodPracticeQuerySchema(), location="query")
    @good_blp.response(200, InitiativePageSchema)
    @good_blp.headers(MIN_POSITION_PARAMETER)
    @documents(good_blp, 400, 422, 503)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The good-practice catalogue (readable without an account)."""
        await_min_position()
        return page_of(queries.good_practices, **query)


@projections_blp.route("")
class Projections(MethodView):
    @projections_blp.response(200, ProjectionsSchema)
    @documents(projections_blp, 401, 403)
    def get(self) -> dict[str, Any]:
        """Each read view's position and lag behind the head of the event store
        (admin, auditor)."""
        caller = current_caller()
        if not (caller.has(Role.ADMIN) or caller.has(Role.AUDITOR)):
            raise NotPermitted("This needs the admin or auditor role.")
        projector = runtime().projector
        head = projector.head()
        return {
            "head_position": head,
            "items": [
                {"name": name, "position": position, "lag": max(0, head - position)}
                for name, position in projector.positions().items()
            ],
        }


BLUEPRINTS = [queue_blp, inbox_blp, stats_blp, good_blp, projections_blp]
