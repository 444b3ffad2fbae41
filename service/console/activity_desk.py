"""The registration desk at the door, for a phone: find a registered participant by name
and mark them present (or not), one tap each; adding a registration (the activity page's
form, also the desk's "walk-in" link) and erasing a participant's data.

Only members of an organiser organisation use them, as the API's registrations and
attendance. Attendance is marked while the registration is closed or once the activity is
held (the domain's rule); a signed attendance list no longer changes.
"""

from __future__ import annotations

import unicodedata
from typing import Any
from uuid import UUID

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from domain.activity import ATTENDING, REGISTERING, Activity
from domain.errors import DomainError, InvalidFields
from service.api.schemas.activities import RegisterSchema
from service.console import bp, forms, label, need_login
from service.console.activity_labels import STATES
from service.console.activity_pages import (
    activity_page,
    refusal,
    registration_field,
    require_organiser,
)
from service.console.privacy_pages import erase_problems
from service.infrastructure.runtime import runtime

SEARCH_MAX = 200
DESK_DONE = {
    "present": _l("Marked present."),
    "absent": _l("Marked not present."),
    "registered": _l("The person is registered."),
    "waitlisted": _l("The activity is full: the person is on the waiting list."),
}


# ------------------------------------------------------------------------ registration
def registration_document(form: MultiDict[str, str]) -> dict[str, Any]:
    """A registration form as the document POST .../registrations takes (blank optional
    fields left out)."""
    document: dict[str, Any] = {
        "name": form.get("name", ""),
        "country": form.get("country", "").strip().upper(),
        "town": form.get("town", ""),
        "participant_type": form.get("participant_type", "").strip(),
    }
    for name in ("email", "organisation_id", "age_band", "gender"):
        value = form.get(name, "").strip()
        if value:
            document[name] = value
    return document


@bp.post("/activities/<uuid:activity_id>/registrations")
def add_registration(activity_id: UUID) -> Any:
    """Registers a participant: registered, or waitlisted once the capacity is reached.
    From the desk (a walk-in), back to the desk."""
    caller = need_login()
    from_desk = request.form.get("back") == "desk"
    try:
        forms.check_text(request.form)
        data = forms.load(RegisterSchema(), registration_document(request.form))
        if data.get("organisation_id") is not None:
            data["organisation_id"] = str(data["organisation_id"])
        _outcome, _rid, status = runtime().app.register_participant(
            activity_id, caller=caller, expected_version=forms.version_field(), fields=data
        )
    except DomainError as error:
        return activity_page(activity_id, **refusal(error), failed_action="register")
    if from_desk:
        return redirect(url_for("console.activity_desk", activity_id=activity_id, done=status), 303)
    return redirect(
        url_for("console.activity", activity_id=activity_id, done=status) + "#register", 303
    )


# ------------------------------------------------------------------------ erasure
@bp.route(
    "/activities/<uuid:activity_id>/registrations/<uuid:registration_id>/erase",
    methods=["GET", "POST"],
)
def erase_registration(activity_id: UUID, registration_id: UUID) -> Any:
    """A confirmation page first; the erasure with a reason and the word typed."""
    caller = need_login()
    app = runtime().app
    activity = app.activity(activity_id)
    require_organiser(activity, caller)
    rid = str(registration_id)
    if rid not in activity.registrations:
        abort(404)
    participant = activity.participant(rid)
    if request.method == "GET" or participant["erased"]:
        return render_template("console/activity_erase.html", a=activity, p=participant, form={})
    reason = request.form.get("reason", "")
    try:
        forms.check_text(request.form)
        problems = erase_problems(reason, request.form.get("confirm", ""))
        if problems:
            raise InvalidFields(problems)
        app.erase_registration(activity_id, caller=caller, registration_id=rid, reason=reason)
    except DomainError as error:
        shown = refusal(error)
        page = render_template(
            "console/activity_erase.html", a=activity, p=participant, form=request.form, **shown
        )
        return page, shown["status"]
    return redirect(
        url_for("console.activity", activity_id=activity_id, done="erase_registration")
        + "#registrations",
        code=303,
    )


# ------------------------------------------------------------------------ the desk
def folded(text: str) -> str:
    """Text as the desk compares it: accents dropped, case folded, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def desk_rows(activity: Activity, query: str) -> list[dict[str, Any]]:
    """The registered participants whose name holds the query (anywhere), by name."""
    wanted = folded(query)
    rows = []
    for r in activity.registrations.values():
        if r["status"] != "registered":
            continue
        name = r["name"].value
        if wanted and (name is None or wanted not in folded(name)):
            continue
        rows.append(
            {
                "id": r["id"],
                "name": name,
                "country": r["country"],
                "attended": r["attended"],
                "frozen": activity.frozen(r["list_number"]),
            }
        )
    return sorted(rows, key=lambda row: (row["name"] is None, folded(row["name"] or "")))


def desk_page(activity: Activity, status: int = 200, **context: Any) -> Any:
    query = request.values.get("q", "")[:SEARCH_MAX]
    counts = activity.counts()
    # Said inside the results (answered alone to htmx), not by base.html's banner.
    desk_done = context.pop("done", str(DESK_DONE.get(request.args.get("done", ""), "")))
    desk_error = context.pop("error", None)
    template = (
        "console/_desk_results.html"
        if request.headers.get("HX-Request")
        else "console/activity_desk.html"
    )
    return render_template(
        template,
        a=activity,
        fields=activity.fields,
        q=query,
        rows=desk_rows(activity, query),
        attended=counts["attended"],
        registered=counts["registered"],
        ticking=activity.state in ATTENDING,
        registering=activity.state in REGISTERING,
        desk_done=desk_done,
        desk_error=desk_error,
        why_not=_(
            "Attendance is marked once the registration is closed, and after the activity "
            "is held. The activity is in the state “%(state)s”.",
            state=label(STATES, activity.state),
        ),
        **context,
    ), status


def organiser_activity(activity_id: UUID) -> Activity:
    """The activity, for a member of an organiser organisation (the 403 page otherwise)."""
    caller = need_login()
    activity = runtime().app.activity(activity_id)
    require_organiser(activity, caller)
    return activity


@bp.get("/activities/<uuid:activity_id>/desk")
def activity_desk(activity_id: UUID) -> Any:
    return desk_page(organiser_activity(activity_id))


@bp.post("/activities/<uuid:activity_id>/desk")
def tick_attendance(activity_id: UUID) -> Any:
    """One tap: the participant present (attended=1) or not (0), with the version the desk
    was read at. With htmx the results are answered in place; otherwise back to the desk."""
    caller = need_login()
    app = runtime().app
    activity = organiser_activity(activity_id)
    attended = request.form.get("attended") == "1"
    try:
        rid = registration_field(activity)
        outcome = app.mark_attendance(
            activity_id,
            caller=caller,
            expected_version=forms.version_field(),
            registration_ids=[rid],
            attended=attended,
        )
    except DomainError as error:
        return desk_page(app.activity(activity_id), **refusal(error))
    done = "present" if attended else "absent"
    if request.headers.get("HX-Request"):
        return desk_page(outcome.aggregate, done=str(DESK_DONE[done]))
    return redirect(
        url_for(
            "console.activity_desk",
            activity_id=activity_id,
            q=request.form.get("q", "")[:SEARCH_MAX] or None,
            done=done,
        ),
        code=303,
    )
