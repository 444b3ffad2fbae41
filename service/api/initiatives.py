"""Initiatives: the write side. Each command records one event and returns the new state."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Response, jsonify
from flask.views import MethodView

from domain.application import Outcome
from domain.initiative import Initiative
from domain.values import read_scope
from projections import queries
from service.api.read_views import (
    MIN_POSITION_PARAMETER,
    await_min_position,
    list_position,
    page_of,
)
from service.api.representations import rendered, representation
from service.api.request import (
    Blueprint,
    current_caller,
    documents,
    if_match_version,
    with_headers,
)
from service.api.schemas import (
    AcceptAmendmentSchema,
    AmendmentCreateSchema,
    CompleteSchema,
    EditSchema,
    InitiativeListQuerySchema,
    InitiativePageSchema,
    InitiativeSchema,
    InviteSchema,
    ProposeSchema,
    RationaleSchema,
    ReasonSchema,
    ReportSchema,
    ReviewSchema,
    VersionQuerySchema,
)
from service.context import current_application, request_state
from service.infrastructure.runtime import runtime

blp = Blueprint(
    "initiatives",
    __name__,
    url_prefix="/api/v1/initiatives",
    description="Thematic cooperation initiatives: propose, co-edit, review, report.",
)


def respond(outcome: Outcome[Initiative], status: int = 200, located: bool = False) -> Response:
    """A command's answer: the initiative now, its version (ETag), the event's position
    (X-Position) and, for a new initiative (`located`), its Location."""
    initiative = outcome.aggregate
    response = jsonify(representation(initiative, current_caller()))
    response.status_code = status
    response.headers["X-Position"] = str(outcome.position)
    response.headers["ETag"] = f'"{initiative.version}"'
    if located:
        response.headers["Location"] = f"/api/v1/initiatives/{initiative.id}"
    return response


COMMAND_ERRORS = (400, 401, 403, 404, 409, 412, 413, 415, 422, 428)


@blp.route("")
class Initiatives(MethodView):
    @blp.arguments(InitiativeListQuerySchema(), location="query")
    @blp.response(200, InitiativePageSchema)
    @blp.headers(MIN_POSITION_PARAMETER)
    @documents(blp, 400, 401, 422, 503)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List initiatives: filters, full-text `q` over titles and summaries in every
        language, sorting and keyset pagination. A `partners` draft is listed only to its
        organisations, auditors and admins."""
        scope = read_scope(current_caller())
        minimum = await_min_position()
        if "organisation_id" in query:
            query["organisation_id"] = str(query["organisation_id"])
        # The scope is part of the cached page's key: a page is shared only by callers
        # who may see the same initiatives.
        return page_of(
            queries.list_initiatives, cached_at=list_position(minimum), scope=scope, **query
        )

    @blp.arguments(ProposeSchema())
    @blp.response(201, InitiativeSchema)
    @documents(blp, 400, 401, 403, 413, 415, 422)
    def post(self, fields: dict[str, Any]) -> Any:
        """Propose an initiative; the caller's organisation leads it. `visibility`
        (default `network`) says who may read it until it is submitted."""
        visibility = fields.pop("visibility")
        outcome = runtime().app.propose(
            caller=current_caller(), fields=fields, visibility=visibility
        )
        return respond(outcome, 201, located=True)


@blp.route("/<uuid:initiative_id>")
class InitiativeById(MethodView):
    @blp.arguments(VersionQuerySchema(), location="query")
    @blp.response(200, InitiativeSchema)
    @documents(blp, 401, 404, 422)
    def get(self, query: dict[str, Any], initiative_id: UUID) -> Any:
        """Read an initiative, now or as it was (`?version=N` or `?as_of=<timestamp>`).
        A `partners` draft is a 404 to whoever is not of its organisations (auditors and
        admins excepted), as an unknown id is."""
        caller = current_caller()
        rt = runtime()
        app = rt.app
        historic = "version" in query or "as_of" in query
        if not historic:
            version, body = rt.read_cache.initiative_body(
                initiative_id,
                caller,
                request_state().head,
                lambda: rendered(app.initiative(initiative_id, caller=caller)),
            )
            response = current_application().response_class(body, mimetype="application/json")
            response.headers["ETag"] = f'"{version}"'
            return response
        initiative = app.initiative(
            initiative_id, version=query.get("version"), as_of=query.get("as_of"), caller=caller
        )
        current = not historic or initiative.version == app.initiative(initiative_id).version
        return with_headers(
            representation(initiative, caller, current=current), version=initiative.version
        )

    @blp.arguments(EditSchema())
    @blp.response(200, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def patch(self, data: dict[str, Any], initiative_id: UUID) -> Any:
        """Co-edit fields; merged three-way against `base_version`, overlaps are 409."""
        base_version = data.pop("base_version", None)
        return respond(
            runtime().app.edit(
                initiative_id,
                caller=current_caller(),
                expected_version=if_match_version(),
                fields=data,
                base_version=base_version,
            )
        )


@blp.route("/<uuid:initiative_id>/partners")
class Partners(MethodView):
    @blp.arguments(InviteSchema())
    @blp.response(200, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, data: dict[str, Any], initiative_id: UUID) -> Any:
        """Invite an organisation as a partner (lead member)."""
        return respond(
            runtime().app.invite_partner(
                initiative_id,
                caller=current_caller(),
                expected_version=if_match_version(),
                organisation_id=data["organisation_id"],
            )
        )


@blp.route("/<uuid:initiative_id>/partners/<uuid:organisation_id>/join")
class Join(MethodView):
    @blp.response(200, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, initiative_id: UUID, organisation_id: UUID) -> Any:
        """Accept an invitation (member of the invited organisation)."""
        return respond(
            runtime().app.join(
                initiative_id,
                caller=current_caller(),
                expected_version=if_match_version(),
                organisation_id=organisation_id,
            )
        )


@blp.route("/<uuid:initiative_id>/partners/<uuid:organisation_id>")
class PartnerById(MethodView):
    @blp.response(200, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def delete(self, initiative_id: UUID, organisation_id: UUID) -> Any:
        """Remove a partner (lead member) or leave (member of that organisation)."""
        return respond(
            runtime().app.remove_partner(
                initiative_id,
                caller=current_caller(),
                expected_version=if_match_version(),
                organisation_id=organisation_id,
            )
        )


@blp.route("/<uuid:initiative_id>/co-design")
class CoDesign(MethodView):
    @blp.response(200, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, initiative_id: UUID) -> Any:
        """Open co-design (lead member)."""
        return respond(
            runtime().app.start_co_design(
                initiative_id, caller=current_caller(), expected_version=if_match_version()
            )
        )


@blp.route("/<uuid:initiative_id>/amendments")
class Amendments(MethodView):
    @blp.arguments(AmendmentCreateSchema())
    @blp.response(201, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, data: dict[str, Any], initiative_id: UUID) -> Any:
        """Propose an amendment (any partner, outsiders included); `base_version` says what
        it amends."""
        outcome, amendment_id = runtime().app.propose_amendment(
            initiative_id,
            caller=current_caller(),
            expected_version=if_match_version(),
            changes=data["changes"],
            rationale=data["rationale"],
            base_version=data.get("base_version"),
        )
        response = respond(outcome, 201)
        response.headers["Location"] = (
            f"/api/v1/initiatives/{initiative_id}#amendment-{amendment_id}"
        )
        return response


@blp.route("/<uuid:initiative_id>/amendments/<uuid:amendment_id>/accept")
class AcceptAmendment(MethodView):
    @blp.arguments(AcceptAmendmentSchema())
    @blp.response(200, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, data: dict[str, Any], initiative_id: UUID, amendment_id: UUID) -> Any:
        """Accept an amendment: merged three-way against its base version; overlap is 409."""
        return respond(
            runtime().app.accept_amendment(
                initiative_id,
                caller=current_caller(),
                expected_version=if_match_version(),
                amendment_id=str(amendment_id),
                base_version=data.get("base_version"),
            )
        )


@blp.route("/<uuid:initiative_id>/amendments/<uuid:amendment_id>/reject")
class RejectAmendment(MethodView):
    @blp.arguments(ReasonSchema())
    @blp.response(200, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, data: dict[str, Any], initiative_id: UUID, amendment_id: UUID) -> Any:
        """Reject an amendment, with a reason."""
        return respond(
            runtime().app.reject_amendment(
                initiative_id,
                caller=current_caller(),
                expected_version=if_match_version(),
                amendment_id=str(amendment_id),
                reason=data["reason"],
            )
        )


@blp.route("/<uuid:initiative_id>/submit")
class Submit(MethodView):
    @blp.response(200, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, initiative_id: UUID) -> Any:
        """Submit for review (lead member); fixes the approval steps of the round."""
        return respond(
            runtime().app.submit(
                initiative_id, caller=current_caller(), expected_version=if_match_version()
            )
        )


@blp.route("/<uuid:initiative_id>/reviews")
class Reviews(MethodView):
    @blp.arguments(ReviewSchema())
    @blp.response(200, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, data: dict[str, Any], initiative_id: UUID) -> Any:
        """Decide on the current approval step of the version named in If-Match (reviewer)."""
        return respond(
            runtime().app.review(
                initiative_id,
                caller=current_caller(),
                expected_version=if_match_version(),
                decision=data["decision"],
                rationale=data["rationale"],
            )
        )


@blp.route("/<uuid:initiative_id>/follow-up")
class FollowUp(MethodView):
    @blp.response(200, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, initiative_id: UUID) -> Any:
        """Start the follow-up of an approved initiative (lead member)."""
        return respond(
            runtime().app.start_follow_up(
                initiative_id, caller=current_caller(), expected_version=if_match_version()
            )
        )


@blp.route("/<uuid:initiative_id>/reports")
class Reports(MethodView):
    @blp.arguments(ReportSchema())
    @blp.response(201, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, data: dict[str, Any], initiative_id: UUID) -> Any:
        """Record a progress report (lead or joined partner member)."""
        return respond(
            runtime().app.record_report(
                initiative_id,
                caller=current_caller(),
                expected_version=if_match_version(),
                report=data,
            ),
            201,
        )


@blp.route("/<uuid:initiative_id>/complete")
class Complete(MethodView):
    @blp.arguments(CompleteSchema())
    @blp.response(200, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, data: dict[str, Any], initiative_id: UUID) -> Any:
        """Complete the initiative with its outcomes (lead member; needs a report)."""
        return respond(
            runtime().app.complete(
                initiative_id,
                caller=current_caller(),
                expected_version=if_match_version(),
                outcomes=data["outcomes"],
            )
        )


@blp.route("/<uuid:initiative_id>/good-practice")
class GoodPractice(MethodView):
    @blp.arguments(RationaleSchema())
    @blp.response(200, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, data: dict[str, Any], initiative_id: UUID) -> Any:
        """Recognise a completed initiative as good practice (reviewer)."""
        return respond(
            runtime().app.recognise_good_practice(
                initiative_id,
                caller=current_caller(),
                expected_version=if_match_version(),
                rationale=data["rationale"],
            )
        )


@blp.route("/<uuid:initiative_id>/withdraw")
class Withdraw(MethodView):
    @blp.arguments(ReasonSchema())
    @blp.response(200, InitiativeSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, data: dict[str, Any], initiative_id: UUID) -> Any:
        """Withdraw the initiative (lead member), with a reason."""
        return respond(
            runtime().app.withdraw(
                initiative_id,
                caller=current_caller(),
                expected_version=if_match_version(),
                reason=data["reason"],
            )
        )
