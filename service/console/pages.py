"""Console pages for everybody signed in and for partners: sign-in, and the forms of every
command on an initiative (the pages that read are in initiative_pages)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from flask import Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import Schema

from domain.application import Outcome
from domain.errors import DomainError, EditConflict, InvalidFields
from domain.initiative import Initiative
from domain.values import LANGUAGES, MULTILINGUAL_FIELDS
from service.api.authentication import log_in
from service.api.errors import ApiProblem, status_of
from service.api.representations import representation
from service.api.schemas import (
    AmendmentCreateSchema,
    CompleteSchema,
    EditSchema,
    InviteSchema,
    ProposeSchema,
    RationaleSchema,
    ReasonSchema,
    ReportSchema,
)
from service.console import bp, current_language, forms, need_login, problem_text, session
from service.console.initiative_pages import initiative_page, languages_of, load_initiative
from service.context import request_state
from service.infrastructure.runtime import runtime


# ------------------------------------------------------------------------ sign in
@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = request.values.get("next", "")
    if not target.startswith("/console") or target.startswith("//"):
        target = url_for("console.home")
    error = None
    status = 200
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        password = request.form.get("password", "")
        if not email or not password or len(email) > 320 or len(password) > 1000:
            error, status = _("Enter your email and password."), 422
        else:
            try:
                issued = log_in(email, password)
            except ApiProblem as problem:
                status = problem.status
                error = (
                    _("Wrong email or password.")
                    if problem.status == 401
                    else _("Too many attempts: wait a little and try again.")
                )
            else:
                response = redirect(target, code=303)
                max_age = int((issued.expires_at - runtime().now()).total_seconds())
                session.start(response, issued.token, max_age)
                return response
    return render_template("console/login.html", error=error, next=target), status


@bp.post("/logout")
def logout() -> Response:
    token = request_state().session_token
    if token:
        rt = runtime()
        rt.credentials.revoke_token(token, rt.now())
    response = redirect(url_for("console.login"), code=303)
    session.end(response)
    return response


# ------------------------------------------------------------------------ commands
def run(initiative_id: UUID, action: str, command: Callable[[], Outcome[Initiative]]) -> Any:
    """Runs a command; on success back to the initiative (Post/Redirect/Get), otherwise the
    page again with what went wrong."""
    try:
        outcome = command()
    except DomainError as error:
        return initiative_page(initiative_id, **refusal(error), failed_action=action)
    return done(outcome, action)


def refusal(error: DomainError) -> dict[str, Any]:
    """What a page shows of a refused command: its status, why, and field by field."""
    return {
        "status": status_of(error),
        "error": problem_text(error),
        "errors": forms.field_errors(getattr(error, "errors", {}) or {}),
    }


def done(outcome: Outcome[Initiative], action: str) -> Response:
    """After a command: to the initiative, saying it is done, once the views show it."""
    return redirect(
        url_for(
            "console.initiative",
            initiative_id=outcome.aggregate.id,
            done=action,
            at=outcome.position,
        )
        + f"#{action}",
        code=303,
    )


def refused(
    values: dict[str, Any], mode: str, error: DomainError, initiative_id: UUID | None = None
) -> tuple[str, int]:
    """The form again, as the person left it, with what was refused and why."""
    return field_form(values, mode=mode, initiative_id=initiative_id, **refusal(error))


def command_data(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    forms.check_text(request.form)
    return forms.load(schema, data)


SIMPLE: dict[str, Callable[..., Outcome[Initiative]]] = {
    "start_co_design": lambda app, i, v, c: app.start_co_design(i, caller=c, expected_version=v),
    "submit": lambda app, i, v, c: app.submit(i, caller=c, expected_version=v),
    "start_follow_up": lambda app, i, v, c: app.start_follow_up(i, caller=c, expected_version=v),
}


@bp.post("/initiatives/<uuid:initiative_id>/do/<action>")
def act(initiative_id: UUID, action: str) -> Any:
    """Every command that is a button, perhaps with one text: the same application calls
    as the API's endpoints."""
    caller = need_login()
    app = runtime().app
    version = forms.version_field()
    form = request.form

    def command() -> Outcome[Initiative]:
        if action in SIMPLE:
            return SIMPLE[action](app, initiative_id, version, caller)
        if action == "invite_partner":
            data = command_data(InviteSchema(), {"organisation_id": form.get("organisation_id")})
            return app.invite_partner(
                initiative_id,
                caller=caller,
                expected_version=version,
                organisation_id=data["organisation_id"],
            )
        if action == "join":
            return app.join(
                initiative_id,
                caller=caller,
                expected_version=version,
                organisation_id=UUID(caller.organisation_id),
            )
        if action == "remove_partner":
            organisation = command_data(
                InviteSchema(), {"organisation_id": form.get("organisation_id")}
            )["organisation_id"]
            return app.remove_partner(
                initiative_id, caller=caller, expected_version=version, organisation_id=organisation
            )
        if action == "accept_amendment":
            return app.accept_amendment(
                initiative_id,
                caller=caller,
                expected_version=version,
                amendment_id=_amendment_id(),
                base_version=None,
            )
        if action == "reject_amendment":
            data = command_data(ReasonSchema(), {"reason": form.get("reason", "")})
            return app.reject_amendment(
                initiative_id,
                caller=caller,
                expected_version=version,
                amendment_id=_amendment_id(),
                reason=data["reason"],
            )
        if action == "recognise_good_practice":
            data = command_data(RationaleSchema(), {"rationale": form.get("rationale", "")})
            return app.recognise_good_practice(
                initiative_id, caller=caller, expected_version=version, rationale=data["rationale"]
            )
        if action == "withdraw":
            data = command_data(ReasonSchema(), {"reason": form.get("reason", "")})
            return app.withdraw(
                initiative_id, caller=caller, expected_version=version, reason=data["reason"]
            )
        if action == "complete":
            outcomes = forms.multilingual(form, "outcomes") or {}
            data = command_data(CompleteSchema(), {"outcomes": outcomes})
            return app.complete(
                initiative_id, caller=caller, expected_version=version, outcomes=data["outcomes"]
            )
        if action == "report":
            data = command_data(ReportSchema(), report_document(form))
            return app.record_report(
                initiative_id, caller=caller, expected_version=version, report=data
            )
        abort(404)

    return run(initiative_id, action, command)


def _amendment_id() -> str:
    raw = request.form.get("amendment_id", "")
    try:
        return str(UUID(raw))
    except ValueError:
        raise InvalidFields({"amendment_id": ["Not a valid UUID."]}) from None


def report_document(form: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "period_start": form.get("period_start", ""),
        "period_end": form.get("period_end", ""),
        "narrative": forms.multilingual(form, "narrative") or {},
        "evidence_urls": forms.words(form.get("evidence_urls", "").replace(" ", "\n")),
    }
    for name in ("participants", "activities"):
        raw = form.get(name, "").strip()
        document[name] = int(raw) if raw.isdigit() and len(raw) < 16 else raw
    return document


# ------------------------------------------------------------------------ propose, edit
def field_form(
    template_values: dict[str, Any],
    *,
    mode: str,
    status: int = 200,
    initiative_id: UUID | None = None,
    **context: Any,
) -> tuple[str, int]:
    languages = [lang for lang in template_values.get("_languages", []) if lang]
    added = request.values.get("add_language", "").strip().lower()
    if added in LANGUAGES and added not in languages:
        languages.append(added)
    return render_template(
        "console/initiative_form.html",
        values=template_values,
        languages=languages or ["en"],
        mode=mode,
        initiative_id=initiative_id,
        all_languages=sorted(LANGUAGES),
        **context,
    ), status


def values_from_form() -> dict[str, Any]:
    """What the person typed, to show the form again as they left it."""
    values: dict[str, Any] = forms.initiative_fields(request.form)
    values["_languages"] = forms.languages_in(request.form, MULTILINGUAL_FIELDS)
    values["base_version"] = forms.version_field()
    values["rationale"] = request.form.get("rationale", "")
    values["visibility"] = request.form.get("visibility", "network")
    return values


def values_of(shown: dict[str, Any]) -> dict[str, Any]:
    return {**shown, "_languages": languages_of(shown), "base_version": shown["version"]}


@bp.route("/initiatives/new", methods=["GET", "POST"])
def propose() -> Any:
    caller = need_login()
    if request.method == "GET":
        account = runtime().app.account(UUID(caller.account_id))
        language = current_language()
        return field_form(
            {
                "_languages": [language],
                "original_language": language,
                "level": "national",
                "themes": [],
                "countries": [_organisation_country(account.organisation_id)],
            },
            mode="propose",
        )
    values = values_from_form()
    if request.form.get("add_language_only"):
        return field_form(values, mode="propose")
    try:
        forms.check_text(request.form)
        data = forms.load(ProposeSchema(), forms.proposal_fields(request.form))
        visibility = data.pop("visibility")
        outcome = runtime().app.propose(caller=caller, fields=data, visibility=visibility)
    except DomainError as error:
        return refused(values, "propose", error)
    return done(outcome, "propose")


def _organisation_country(organisation_id: Any) -> str:
    try:
        return str(runtime().app.organisation(UUID(str(organisation_id))).country)
    except (DomainError, ValueError):
        return ""


@bp.route("/initiatives/<uuid:initiative_id>/edit", methods=["GET", "POST"])
def edit(initiative_id: UUID) -> Any:
    """Co-editing: the edit is merged three-way against the version it was made on; when
    someone else changed the same field, both values are shown and the person chooses."""
    caller = need_login()
    app = runtime().app
    if request.method == "GET":
        shown = representation(load_initiative(initiative_id), caller)
        return field_form(values_of(shown), mode="edit", initiative_id=initiative_id)
    values = values_from_form()
    if request.form.get("add_language_only"):
        return field_form(values, mode="edit", initiative_id=initiative_id)
    changes = forms.initiative_fields(request.form)
    # Fields the person chose to leave as the other person made them.
    for name in list(changes):
        if request.form.get(f"choose.{name}") == "theirs":
            del changes[name]
    base_version = values["base_version"]
    try:
        forms.check_text(request.form)
        data = forms.load(EditSchema(), changes)
        outcome = app.edit(
            initiative_id,
            caller=caller,
            expected_version=None,
            fields=data,
            base_version=base_version,
        )
    except EditConflict as conflict:
        current = load_initiative(initiative_id)
        values["base_version"] = current.version
        return field_form(
            values,
            mode="edit",
            initiative_id=initiative_id,
            status=409,
            error=problem_text(conflict),
            conflicts=[c.as_dict() for c in conflict.conflicts],
        )
    except DomainError as error:
        return refused(values, "edit", error, initiative_id)
    return done(outcome, "edit")


@bp.route("/initiatives/<uuid:initiative_id>/amend", methods=["GET", "POST"])
def amend(initiative_id: UUID) -> Any:
    """Propose an amendment: changed fields and a rationale, against the version read."""
    caller = need_login()
    app = runtime().app
    if request.method == "GET":
        shown = representation(load_initiative(initiative_id), caller)
        return field_form(values_of(shown), mode="amend", initiative_id=initiative_id)
    values = values_from_form()
    if request.form.get("add_language_only"):
        return field_form(values, mode="amend", initiative_id=initiative_id)
    base_version = values["base_version"]
    try:
        forms.check_text(request.form)
        base = representation(load_initiative(initiative_id, base_version), caller, False)
        changes = {
            name: value
            for name, value in forms.initiative_fields(request.form).items()
            if value != base.get(name)
        }
        data = forms.load(
            AmendmentCreateSchema(),
            {
                "changes": changes,
                "rationale": request.form.get("rationale", ""),
                "base_version": base_version,
            },
        )
        outcome, _amendment = app.propose_amendment(
            initiative_id,
            caller=caller,
            expected_version=None,
            changes=data["changes"],
            rationale=data["rationale"],
            base_version=base_version,
        )
    except DomainError as error:
        return refused(values, "amend", error, initiative_id)
    return done(outcome, "propose_amendment")
