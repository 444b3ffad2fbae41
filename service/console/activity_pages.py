"""Console pages of the activities: the list, the plan form, one activity and the commands
of its organisers (state changes, cancelling a registration). Adding a registration,
erasing one and the door's registration desk are in activity_desk.

Lists read the activities view (as GET /api/v1/activities); one activity is read from its
aggregate (as GET /api/v1/activities/{id}); commands go through the same application as
the API's, with the version the page was read at (If-Match).
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from domain.activity import (
    CANCELLING_REGISTRATION,
    KINDS,
    REGISTERING,
    TRANSITIONS,
    Activity,
)
from domain.application import require_role
from domain.errors import DomainError, InvalidFields, NotPermitted, StaleVersion, StateConflict
from domain.values import COUNTRIES, LANGUAGES, Caller, Role, read_scope
from projections import queries
from projections.queries.activities import list_activities, organised_by
from service.api.errors import status_of
from service.api.schemas.activities import ActivityReasonSchema, PlanActivitySchema
from service.console import bp, current_language, forms, label, need_login, problem_text, session
from service.console.activity_labels import STATES
from service.console.initiative_pages import wait_for
from service.context import reader
from service.infrastructure.runtime import runtime

PAGE_SIZE = 20
# The state commands an organiser member sees as buttons, by the states they start from.
LIFECYCLE_ACTIONS = {
    "open_registration": TRANSITIONS["open_registration"],
    "close_registration": TRANSITIONS["close_registration"],
    "mark_held": TRANSITIONS["held"],
    "cancel": TRANSITIONS["cancel"],
}
DONE = {
    "plan": _l("The activity is planned."),
    "open_registration": _l("The registration is open."),
    "close_registration": _l("The registration is closed."),
    "mark_held": _l("The activity is recorded as held."),
    "cancel": _l("The activity is cancelled."),
    "cancel_registration": _l("The registration is cancelled."),
    "erase_registration": _l("The participant's personal data is erased."),
    "registered": _l("The person is registered."),
    "waitlisted": _l("The activity is full: the person is on the waiting list."),
}
# The domain's refusal of a command in the wrong state ("Cannot … in state held.").
_IN_STATE = re.compile(r"^Cannot .* in state ([a-z_]+)\.$")
_LOCAL_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


# ------------------------------------------------------------------------ who may do what
def is_organiser(activity: Activity, caller: Caller | None) -> bool:
    """A member (partner role) of one of the organiser organisations."""
    return caller is not None and caller.has(Role.PARTNER) and activity.is_organiser(caller)


def reads_participants(activity: Activity, caller: Caller | None) -> bool:
    """As the API's GET .../registrations: organiser members, auditors, admins."""
    if caller is None:
        return False
    return is_organiser(activity, caller) or caller.has(Role.AUDITOR) or caller.has(Role.ADMIN)


def require_organiser(activity: Activity, caller: Caller) -> None:
    if not is_organiser(activity, caller):
        raise NotPermitted(_("Only members of an organiser organisation may do this."))


def allowed_actions(activity: Activity, caller: Caller | None) -> list[str]:
    """The organiser's commands possible in the activity's state now."""
    if not is_organiser(activity, caller):
        return []
    allowed = [name for name, states in LIFECYCLE_ACTIONS.items() if activity.state in states]
    if activity.state in REGISTERING:
        allowed.append("register")
    if activity.state in CANCELLING_REGISTRATION:
        allowed.append("cancel_registration")
    return allowed


def activity_problem(error: DomainError) -> dict[str, str]:
    """A refused command in the console's words, about an activity (not an initiative)."""
    if isinstance(error, StaleVersion):
        return {
            "title": _("The activity changed meanwhile"),
            "detail": _(
                "Someone changed the activity since you read it: it is at version %(n)s "
                "now. Reload the page and try again.",
                n=error.current_version,
            ),
        }
    in_state = _IN_STATE.search(error.detail) if isinstance(error, StateConflict) else None
    if in_state:
        return {
            "title": _("Not possible in this state"),
            "detail": _(
                "This is not possible while the activity is in the state “%(state)s”.",
                state=label(STATES, in_state.group(1)),
            ),
        }
    if isinstance(error, StateConflict) and error.detail.startswith("Attendance list"):
        return {
            "title": _("Not possible in this state"),
            "detail": _(
                "This person's attendance list is signed: their attendance can no longer change."
            ),
        }
    return problem_text(error)


def refusal(error: DomainError) -> dict[str, Any]:
    return {
        "status": status_of(error),
        "error": activity_problem(error),
        "errors": forms.field_errors(getattr(error, "errors", {}) or {}),
    }


def state_note(activity: Activity) -> str:
    """The activity's state in a sentence, for the forms that depend on it."""
    state = label(STATES, activity.state)
    return str(_("The activity is in the state “%(state)s”.", state=state))


# ------------------------------------------------------------------------ list
@bp.get("/activities")
def activities() -> Any:
    """Every activity (readable without an account, as the public API); a partner's
    organisation's own first."""
    caller = session.caller()
    wait_for(request.args.get("at"))
    filters, errors = list_filters(request.args)
    cursor = request.args.get("cursor") or None
    page = queries.Page([], None)
    mine: list[dict[str, Any]] = []
    if not errors:
        try:
            page = list_activities(reader(), limit=PAGE_SIZE, cursor=cursor, **filters)
        except queries.BadCursor:
            errors = {"cursor": [_("This page link is no longer valid; start again.")]}
        if caller is not None and caller.has(Role.PARTNER) and not cursor:
            mine = organised_by(reader(), caller.organisation_id, **filters)
    return render_template(
        "console/activities.html",
        items=page.as_dict()["items"] if not errors else [],
        mine=mine,
        next_cursor=page.next_cursor,
        filters={k: v for k, v in request.args.items() if k in ("kind", "country", "state")},
        errors=errors,
        kinds=KINDS,
        states=list(STATES),
    ), (422 if errors else 200)


def list_filters(args: MultiDict[str, str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The list's filters (kind, country, state), checked against the domain's values."""
    filters: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name, allowed in (("kind", KINDS), ("state", tuple(STATES)), ("country", COUNTRIES)):
        value = args.get(name, "").strip()
        if name == "country":
            value = value.upper()
        if not value:
            continue
        if value in allowed:
            filters[name] = value
        else:
            errors[name] = [_("Not one of the values offered.")]
    return filters, errors


# ------------------------------------------------------------------------ plan
def local_moment(raw: str) -> str | None:
    """A datetime-local field (UTC, as the form says) as the ISO 8601 the domain takes."""
    raw = raw.strip()
    if not raw:
        return None
    if _LOCAL_MOMENT.match(raw):
        return f"{raw}{'' if raw.count(':') == 2 else ':00'}+00:00"
    return raw  # the domain names what is wrong with it


def plan_document(form: MultiDict[str, str]) -> dict[str, Any]:
    """A plan form as the document POST /api/v1/activities takes (blank optional fields
    left out, so that the schema says what a required one misses)."""
    language = form.get("original_language", "").strip()
    document: dict[str, Any] = {
        "kind": form.get("kind", "").strip(),
        "original_language": language,
        "title": {language: form.get("title", "").strip()},
        "summary": {language: form.get("summary", "").strip()},
        "themes": form.getlist("themes"),
        "country": form.get("country", "").strip().upper(),
        "city": form.get("city", "").strip(),
    }
    for name in ("starts_at", "ends_at"):
        moment = local_moment(form.get(name, ""))
        if moment is not None:
            document[name] = moment
    capacity = form.get("capacity", "").strip()
    if capacity:
        whole = capacity.isdigit() and len(capacity) < 10
        document["capacity"] = int(capacity) if whole else capacity
    if form.get("initiative_id", "").strip():
        document["initiative_id"] = form["initiative_id"].strip()
    co_organisers = [o for o in form.getlist("co_organiser_ids") if o.strip()]
    if co_organisers:
        document["co_organiser_ids"] = co_organisers
    return document


def related_initiatives(caller: Caller) -> list[dict[str, Any]]:
    """The initiatives the caller's organisation leads or has joined (an activity's link)."""
    page = queries.list_initiatives(
        reader(),
        limit=200,
        cursor=None,
        scope=read_scope(caller),
        organisation_id=caller.organisation_id,
    )
    organisation = caller.organisation_id
    return [
        item
        for item in page.as_dict()["items"]
        if item["lead_organisation_id"] == organisation
        or any(
            p["organisation_id"] == organisation and p["status"] == "joined"
            for p in item["partners"]
        )
    ]


def all_organisations() -> list[dict[str, Any]]:
    page = queries.list_organisations(reader(), limit=500, cursor=None)
    return sorted(page.as_dict()["items"], key=lambda o: o["name"].casefold())


def plan_form(
    caller: Caller, values: MultiDict[str, str], status: int = 200, **context: Any
) -> Any:
    return render_template(
        "console/activity_form.html",
        values=values,
        kinds=KINDS,
        countries=sorted(COUNTRIES),
        languages=sorted(LANGUAGES),
        initiatives=related_initiatives(caller),
        organisations=[o for o in all_organisations() if o["id"] != caller.organisation_id],
        **context,
    ), status


@bp.route("/activities/new", methods=["GET", "POST"])
def plan_activity() -> Any:
    caller = need_login()
    require_role(caller, Role.PARTNER)
    if request.method == "GET":
        country = runtime().app.organisation(UUID(caller.organisation_id)).country
        values = MultiDict({"original_language": current_language(), "country": country})
        return plan_form(caller, values)
    try:
        forms.check_text(request.form)
        data = forms.load(PlanActivitySchema(), plan_document(request.form))
        co_organisers = [str(o) for o in data.pop("co_organiser_ids", [])]
        if data.get("initiative_id") is not None:
            data["initiative_id"] = str(data["initiative_id"])
        outcome = runtime().app.plan_activity(
            caller=caller, fields=data, co_organiser_ids=co_organisers
        )
    except DomainError as error:
        shown = refusal(error)
        return plan_form(caller, request.form, shown.pop("status"), **shown)
    return redirect(
        url_for("console.activity", activity_id=outcome.aggregate.id, done="plan"), code=303
    )


# ------------------------------------------------------------------------ one activity
def registrations_of(activity: Activity) -> list[dict[str, Any]]:
    """The registrations, their personal data opened (None once erased), as made."""
    ordered = sorted(activity.registrations.values(), key=lambda r: r["seq"])
    return [activity.participant(r["id"]) for r in ordered]


def activity_page(activity_id: UUID, status: int = 200, **context: Any) -> Any:
    """The activity as anyone may read it; its registrations for those who read them."""
    caller = session.caller()
    activity = runtime().app.activity(activity_id)
    readable = reads_participants(activity, caller)
    context.setdefault("done", str(DONE.get(request.args.get("done", ""), "")))
    return render_template(
        "console/activity.html",
        a=activity,
        fields=activity.fields,
        counts=activity.counts(),
        organiser=is_organiser(activity, caller),
        allowed=allowed_actions(activity, caller),
        registrations=registrations_of(activity) if readable else None,
        organisations=all_organisations() if is_organiser(activity, caller) else [],
        form=request.form,
        note=state_note(activity),
        **context,
    ), status


@bp.get("/activities/<uuid:activity_id>")
def activity(activity_id: UUID) -> Any:
    return activity_page(activity_id)


def registration_field(activity: Activity) -> str:
    """The form's registration id, one of this activity's."""
    raw = request.form.get("registration_id", "").strip()
    if raw not in activity.registrations:
        raise InvalidFields({"registration_id": [_("No such registration in this activity.")]})
    return raw


@bp.post("/activities/<uuid:activity_id>/do/<action>")
def activity_act(activity_id: UUID, action: str) -> Any:
    """The organiser's buttons: the state commands and cancelling a registration, with
    the version the page was read at."""
    caller = need_login()
    app = runtime().app
    version = forms.version_field()
    if action not in (*LIFECYCLE_ACTIONS, "cancel_registration"):
        abort(404)
    try:
        if action == "open_registration":
            outcome = app.open_registration(activity_id, caller=caller, expected_version=version)
        elif action == "close_registration":
            outcome = app.close_registration(activity_id, caller=caller, expected_version=version)
        elif action == "mark_held":
            outcome = app.mark_held(activity_id, caller=caller, expected_version=version)
        elif action == "cancel":
            forms.check_text(request.form)
            reason = forms.load(ActivityReasonSchema(), {"reason": request.form.get("reason", "")})
            outcome = app.cancel_activity(
                activity_id, caller=caller, expected_version=version, reason=reason["reason"]
            )
        else:
            rid = registration_field(app.activity(activity_id))
            outcome, _promoted = app.cancel_registration(
                activity_id, caller=caller, expected_version=version, registration_id=rid
            )
    except DomainError as error:
        return activity_page(activity_id, **refusal(error), failed_action=action)
    return redirect(
        url_for("console.activity", activity_id=activity_id, done=action, at=outcome.position),
        code=303,
    )
