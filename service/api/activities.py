"""Activities: planning, the lifecycle commands, the public read and the registrations.
Attendance, its lists and eligibility are in service/api/activity_lists.py."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Response, jsonify
from flask.views import MethodView

from domain.activity import (
    ANY_STATE,
    ATTENDING,
    CANCELLING_REGISTRATION,
    REGISTERING,
    TRANSITIONS,
    Activity,
)
from domain.application import Outcome
from domain.errors import NotFound, NotPermitted
from domain.values import Caller, Role
from service.api.request import Blueprint, current_caller, documents, if_match_version, public
from service.api.schemas.activities import (
    ActivityReasonSchema,
    ActivitySchema,
    PlanActivitySchema,
    RegisterSchema,
    RegistrationListSchema,
    RegistrationSchema,
)
from service.context import request_state
from service.infrastructure.runtime import runtime

blp = Blueprint(
    "activities",
    __name__,
    url_prefix="/api/v1/activities",
    description="Activities of the programme: plan, register participants, hold, certify.",
)

COMMAND_ERRORS = (400, 401, 403, 404, 409, 412, 413, 415, 422, 428)

# The commands of an organiser member, by the states each may start from (the domain's).
ORGANISER_ACTIONS: dict[str, frozenset[str]] = {
    "open_registration": TRANSITIONS["open_registration"],
    "close_registration": TRANSITIONS["close_registration"],
    "mark_held": TRANSITIONS["held"],
    "cancel": TRANSITIONS["cancel"],
    "register": REGISTERING,
    "cancel_registration": CANCELLING_REGISTRATION,
    "mark_attendance": ATTENDING,
    "certify_list": frozenset({"held"}),
    "erase_registration": ANY_STATE,
}


def allowed_actions(activity: Activity, caller: Caller | None) -> list[str]:
    """The commands this caller may issue now (an admin only erases, as the domain says)."""
    if caller is None:
        return []
    if caller.has(Role.PARTNER) and activity.is_organiser(caller):
        return [name for name, states in ORGANISER_ACTIONS.items() if activity.state in states]
    return ["erase_registration"] if caller.has(Role.ADMIN) else []


def representation(activity: Activity, caller: Caller | None) -> dict[str, Any]:
    """The activity as anyone may read it: the counts, never a participant."""
    fields = activity.fields
    counts = activity.counts()
    return {
        "id": str(activity.id),
        "kind": activity.kind,
        "state": activity.state,
        "version": activity.version,
        "title": fields["title"],
        "summary": fields["summary"],
        "original_language": fields["original_language"],
        "themes": fields["themes"],
        "country": fields["country"],
        "city": fields["city"],
        "starts_at": fields["starts_at"],
        "ends_at": fields["ends_at"],
        "capacity": fields.get("capacity"),
        "initiative_id": fields.get("initiative_id"),
        "organiser_ids": list(activity.organiser_ids),
        "registered": counts["registered"],
        "waitlisted": counts["waitlisted"],
        "attended": counts["attended"],
        "allowed_actions": allowed_actions(activity, caller),
    }


def answer(
    body: Any, activity: Activity, position: int | None = None, status: int = 200
) -> Response:
    """A body with the activity's version (ETag) and the event's position (X-Position)."""
    response = jsonify(body)
    response.status_code = status
    response.headers["ETag"] = f'"{activity.version}"'
    if position is not None:
        response.headers["X-Position"] = str(position)
    return response


def respond(outcome: Outcome[Activity], status: int = 200, located: bool = False) -> Response:
    activity = outcome.aggregate
    response = answer(
        representation(activity, current_caller()), activity, outcome.position, status
    )
    if located:
        response.headers["Location"] = f"/api/v1/activities/{activity.id}"
    return response


def load(activity_id: UUID) -> Activity:
    return runtime().app.activity(activity_id)


def known_registration(activity: Activity, registration_id: UUID) -> str:
    """The registration's id; 404 for one this activity does not have, as for an unknown
    activity (the domain's 422 is for ids named in a body)."""
    rid = str(registration_id)
    if rid not in activity.registrations:
        raise NotFound(f"No registration {rid} in activity {activity.id}.")
    return rid


def require_reader(activity: Activity, caller: Caller) -> None:
    """Participants are read by members of an organiser organisation, auditors and admins."""
    if caller.has(Role.AUDITOR) or caller.has(Role.ADMIN):
        return
    if caller.has(Role.PARTNER) and activity.is_organiser(caller):
        return
    raise NotPermitted(
        "Only members of an organiser organisation, auditors and admins read participants."
    )


@blp.route("")
class Activities(MethodView):
    @blp.arguments(PlanActivitySchema())
    @blp.response(201, ActivitySchema)
    @documents(blp, 400, 401, 403, 413, 415, 422)
    def post(self, fields: dict[str, Any]) -> Any:
        """Plan an activity (partner); the caller's organisation and the co-organisers
        organise it. `initiative_id`: one the caller's organisation leads or has joined."""
        co_organisers = [str(o) for o in fields.pop("co_organiser_ids", [])]
        for name in ("initiative_id",):
            if fields.get(name) is not None:
                fields[name] = str(fields[name])
        outcome = runtime().app.plan_activity(
            caller=current_caller(), fields=fields, co_organiser_ids=co_organisers
        )
        return respond(outcome, 201, located=True)


@blp.route("/<uuid:activity_id>")
@public
class ActivityById(MethodView):
    @blp.response(200, ActivitySchema)
    @documents(blp, 401, 404)
    def get(self, activity_id: UUID) -> Any:
        """Read an activity; public (no account needed). Its participants are not in it."""
        activity = load(activity_id)
        return answer(representation(activity, request_state().caller), activity)


def lifecycle(name: str, doc: str) -> type[MethodView]:
    """A lifecycle command without a body: POST, If-Match, the activity back."""

    def post(self: MethodView, activity_id: UUID) -> Any:
        command = getattr(runtime().app, name)
        return respond(
            command(activity_id, caller=current_caller(), expected_version=if_match_version())
        )

    post.__doc__ = doc
    # As the decorators stacked on a method apply: the problems documented innermost.
    post = blp.response(200, ActivitySchema)(documents(blp, *COMMAND_ERRORS)(post))
    return type(f"Activity_{name}", (MethodView,), {"post": post})


blp.route("/<uuid:activity_id>/open-registration")(
    lifecycle("open_registration", "Open the registration (organiser member; planned).")
)
blp.route("/<uuid:activity_id>/close-registration")(
    lifecycle("close_registration", "Close the registration (organiser member).")
)
blp.route("/<uuid:activity_id>/held")(
    lifecycle("mark_held", "Record that the activity was held (organiser member).")
)


@blp.route("/<uuid:activity_id>/cancel")
class Cancel(MethodView):
    @blp.arguments(ActivityReasonSchema())
    @blp.response(200, ActivitySchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, data: dict[str, Any], activity_id: UUID) -> Any:
        """Cancel the activity, with a reason (organiser member; before it is held)."""
        return respond(
            runtime().app.cancel_activity(
                activity_id,
                caller=current_caller(),
                expected_version=if_match_version(),
                reason=data["reason"],
            )
        )


@blp.route("/<uuid:activity_id>/registrations")
class Registrations(MethodView):
    @blp.response(200, RegistrationListSchema)
    @documents(blp, 401, 403, 404)
    def get(self, activity_id: UUID) -> Any:
        """The registrations with their participants' data opened (null once erased), in
        the order they were made (organiser members, auditors, admins)."""
        activity = load(activity_id)
        require_reader(activity, current_caller())
        ordered = sorted(activity.registrations.values(), key=lambda r: r["seq"])
        items = [activity.participant(r["id"]) for r in ordered]
        return answer({"items": items}, activity)

    @blp.arguments(RegisterSchema())
    @blp.response(201, RegistrationSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, fields: dict[str, Any], activity_id: UUID) -> Any:
        """Register a participant (organiser member; planned or registration open):
        `registered`, or `waitlisted` once the capacity is reached."""
        if fields.get("organisation_id") is not None:
            fields["organisation_id"] = str(fields["organisation_id"])
        outcome, registration_id, _ = runtime().app.register_participant(
            activity_id,
            caller=current_caller(),
            expected_version=if_match_version(),
            fields=fields,
        )
        activity = outcome.aggregate
        response = answer(activity.participant(registration_id), activity, outcome.position, 201)
        response.headers["Location"] = (
            f"/api/v1/activities/{activity.id}/registrations/{registration_id}"
        )
        return response


@blp.route("/<uuid:activity_id>/registrations/<uuid:registration_id>")
class RegistrationById(MethodView):
    @blp.response(200, ActivitySchema)
    @documents(blp, *COMMAND_ERRORS)
    def delete(self, activity_id: UUID, registration_id: UUID) -> Any:
        """Cancel a registration (organiser member); the earliest waitlisted takes the
        place. Answers the activity."""
        rid = known_registration(load(activity_id), registration_id)
        outcome, _ = runtime().app.cancel_registration(
            activity_id,
            caller=current_caller(),
            expected_version=if_match_version(),
            registration_id=rid,
        )
        return respond(outcome)


@blp.route("/<uuid:activity_id>/registrations/<uuid:registration_id>/erase")
class EraseRegistration(MethodView):
    @blp.arguments(ActivityReasonSchema())
    @blp.response(200, RegistrationSchema)
    @documents(blp, 400, 401, 403, 404, 409, 413, 415, 422)
    def post(self, data: dict[str, Any], activity_id: UUID, registration_id: UUID) -> Any:
        """Erase one participant's data (organiser member or admin), in any state: their
        key is destroyed, so every copy of it is unreadable. Takes no If-Match: a right,
        not an edit. Answers the registration, its personal fields null."""
        rid = known_registration(load(activity_id), registration_id)
        outcome = runtime().app.erase_registration(
            activity_id, caller=current_caller(), registration_id=rid, reason=data["reason"]
        )
        activity = outcome.aggregate
        return answer(activity.participant(rid), activity, outcome.position)
