"""Activities: attendance, the attendance lists and their certification, and the
programme's eligibility checks. The commands and the public read are in
service/api/activities.py."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask.views import MethodView

from domain.activity import Activity
from service.api.activities import answer, load, require_reader, respond
from service.api.request import Blueprint, current_caller, documents, if_match_version, iso
from service.api.schemas.activities import (
    ActivitySchema,
    AttendanceListSchema,
    AttendanceListsSchema,
    AttendanceSchema,
    CertifySchema,
    EligibilityQuerySchema,
    EligibilitySchema,
)
from service.config import Settings
from service.infrastructure.runtime import runtime

blp = Blueprint(
    "activity_lists",
    __name__,
    url_prefix="/api/v1/activities",
    description="Activities: attendance, certified attendance lists, eligibility.",
)

COMMAND_ERRORS = (400, 401, 403, 404, 409, 412, 413, 415, 422, 428)


def signing_times(activity: Activity) -> dict[tuple[int, str], str | None]:
    """When each signature was made, by (list number, account id): the aggregate keeps
    who signed, its events when."""
    times: dict[tuple[int, str], str | None] = {}
    for event in runtime().app.events.get(activity.id):
        if isinstance(event, Activity.ListSigned | Activity.ListCertified):
            times[(event.list_number, event.actor.account_id)] = iso(event.timestamp)
    return times


def attendance_lists(activity: Activity) -> list[dict[str, Any]]:
    """The lists as the domain keeps them: one per town and country (not per participant
    type, so `participant_type` is the one its participants share, or null), with their
    registered participants; the town is null once every one of them is erased."""
    by_number: dict[int, list[dict[str, Any]]] = {}
    for r in sorted(activity.registrations.values(), key=lambda r: r["seq"]):
        if r["status"] == "registered":
            by_number.setdefault(r["list_number"], []).append(activity.participant(r["id"]))
    times = signing_times(activity) if activity.lists else {}
    lists = []
    for number, people in sorted(by_number.items()):
        kept = activity.lists.get(str(number))
        types = {p["participant_type"] for p in people}
        lists.append(
            {
                "list_number": number,
                "town": next((p["town"] for p in people if p["town"] is not None), None),
                "country": people[0]["country"],
                "participant_type": types.pop() if len(types) == 1 else None,
                "attended": sum(1 for p in people if p["attended"]),
                "participants": [
                    {
                        "registration_id": p["id"],
                        "name": p["name"],
                        "age_band": p["age_band"],
                        "gender": p["gender"],
                        "attended": p["attended"],
                    }
                    for p in people
                ],
                "signatures": [
                    {
                        "account_id": s["account_id"],
                        "organisation_id": s["organisation_id"],
                        "side": s["side"],
                        "at": times.get((number, s["account_id"])),
                    }
                    for s in (kept["signatures"] if kept else [])
                ],
                "certified": activity.certified(number),
                "digest": kept["digest"] if kept else None,
            }
        )
    return lists


def eligibility(activity: Activity, rules: str, settings: Settings) -> dict[str, Any]:
    """The programme's thresholds, over the participants who attended. Towns are counted
    by attendance list (one per town and country), which outlives the participants' data."""
    attended = [
        r
        for r in activity.registrations.values()
        if r["status"] == "registered" and r["attended"] is True
    ]
    if rules == "town_twinning":
        abroad = [
            r
            for r in attended
            if r["participant_type"] == "invited" and r["country"] != activity.fields["country"]
        ]
        checks = [
            ("participants", settings.town_twinning_min_participants, len(attended)),
            ("invited_from_abroad", settings.town_twinning_min_invited_abroad, len(abroad)),
        ]
    else:
        checks = [
            ("towns", settings.networks_min_towns, len({r["list_number"] for r in attended})),
            ("countries", settings.networks_min_countries, len({r["country"] for r in attended})),
        ]
    rows = [
        {"name": name, "required": required, "actual": actual, "ok": actual >= required}
        for name, required, actual in checks
    ]
    return {"rules": rules, "ok": all(row["ok"] for row in rows), "checks": rows}


@blp.route("/<uuid:activity_id>/attendance")
class Attendance(MethodView):
    @blp.arguments(AttendanceSchema())
    @blp.response(200, ActivitySchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, data: dict[str, Any], activity_id: UUID) -> Any:
        """Mark registered participants as attended or not (organiser member; registration
        closed or held; not on a signed list)."""
        return respond(
            runtime().app.mark_attendance(
                activity_id,
                caller=current_caller(),
                expected_version=if_match_version(),
                registration_ids=[str(rid) for rid in data["registration_ids"]],
                attended=data["attended"],
            )
        )


@blp.route("/<uuid:activity_id>/attendance-lists")
class AttendanceLists(MethodView):
    @blp.response(200, AttendanceListsSchema)
    @documents(blp, 401, 403, 404)
    def get(self, activity_id: UUID) -> Any:
        """The attendance lists, one per town and country, with their signatures
        (organiser members, auditors, admins)."""
        activity = load(activity_id)
        require_reader(activity, current_caller())
        return answer({"items": attendance_lists(activity)}, activity)


@blp.route("/<uuid:activity_id>/attendance-lists/certify")
class Certify(MethodView):
    @blp.arguments(CertifySchema())
    @blp.response(200, AttendanceListSchema)
    @documents(blp, *COMMAND_ERRORS)
    def post(self, data: dict[str, Any], activity_id: UUID) -> Any:
        """Sign the list of a town and country (held): a member of an organiser
        organisation, then one of a local organisation its participants named (or the
        other way round); the second signature certifies it. Answers the list."""
        outcome, _ = runtime().app.certify_list(
            activity_id,
            caller=current_caller(),
            expected_version=if_match_version(),
            town=data["town"],
            country=data["country"],
        )
        activity = outcome.aggregate
        number = activity.find_list(data["town"], data["country"])
        signed = next(x for x in attendance_lists(activity) if x["list_number"] == number)
        return answer(signed, activity, outcome.position)


@blp.route("/<uuid:activity_id>/eligibility")
class Eligibility(MethodView):
    @blp.arguments(EligibilityQuerySchema(), location="query")
    @blp.response(200, EligibilitySchema)
    @documents(blp, 401, 403, 404, 422)
    def get(self, query: dict[str, Any], activity_id: UUID) -> Any:
        """Whether the attended participants meet a rule of the programme
        (`town_twinning` or `networks_of_towns`; organiser members, auditors, admins)."""
        activity = load(activity_id)
        require_reader(activity, current_caller())
        return answer(eligibility(activity, query["rules"], runtime().settings), activity)
