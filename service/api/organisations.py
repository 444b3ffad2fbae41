"""Organisations of the network: registered by admins, readable by every account."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask.views import MethodView

from domain.application import require_role
from domain.organisation import Organisation
from domain.values import Role
from projections import queries
from service.api.read_views import MIN_POSITION_PARAMETER, await_min_position, page_of
from service.api.request import Blueprint, current_caller, documents, iso, with_headers
from service.api.schemas import (
    OrganisationCreateSchema,
    OrganisationPageSchema,
    OrganisationSchema,
    PageQuerySchema,
)
from service.infrastructure.runtime import runtime

blp = Blueprint(
    "organisations",
    __name__,
    url_prefix="/api/v1/organisations",
    description="Local authorities, associations, civil society organisations, agencies.",
)


def organisation_body(organisation: Organisation) -> dict[str, Any]:
    return {
        "id": organisation.id,
        "name": organisation.name,
        "type": organisation.type,
        "country": organisation.country,
        "created_at": iso(organisation.created_on),
    }


@blp.route("")
class Organisations(MethodView):
    @blp.arguments(PageQuerySchema(), location="query")
    @blp.response(200, OrganisationPageSchema)
    @blp.headers(MIN_POSITION_PARAMETER)
    @documents(blp, 400, 401, 422, 503)
    def get(self, page: dict[str, Any]) -> dict[str, Any]:
        """List organisations in the order they were registered (a read view)."""
        current_caller()
        await_min_position()
        return page_of(queries.list_organisations, **page)

    @blp.arguments(OrganisationCreateSchema())
    @blp.response(201, OrganisationSchema)
    @documents(blp, 400, 401, 403, 413, 415, 422)
    def post(self, data: dict[str, Any]) -> Any:
        """Register an organisation (admin)."""
        actor = require_role(current_caller(), Role.ADMIN)
        outcome = runtime().app.register_organisation(
            actor=actor, name=data["name"], type_=data["type"], country=data["country"]
        )
        organisation = outcome.aggregate
        return with_headers(
            organisation_body(organisation),
            position=outcome.position,
            location=f"/api/v1/organisations/{organisation.id}",
        )


@blp.route("/<uuid:organisation_id>")
class OrganisationById(MethodView):
    @blp.response(200, OrganisationSchema)
    @documents(blp, 401, 404)
    def get(self, organisation_id: UUID) -> dict[str, Any]:
        """One organisation."""
        current_caller()
        return organisation_body(runtime().app.organisation(organisation_id))
