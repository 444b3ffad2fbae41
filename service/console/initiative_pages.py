"""Console pages to read: the inbox, the initiative list and one initiative."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from domain.errors import InvalidFields
from domain.initiative import Initiative
from domain.values import LIFECYCLE as LIFECYCLE_STATES
from domain.values import MULTILINGUAL_FIELDS, Caller, State, read_scope
from projections import queries
from projections.queries import audit as audit_reads
from service.api.representations import representation
from service.api.request import WAIT_SECONDS, parse_position  # as X-Min-Position waits
from service.api.schemas import InitiativeListQuerySchema
from service.console import bp, forms, need_login
from service.context import reader
from service.infrastructure.runtime import runtime

PAGE_SIZE = 20
LIFECYCLE = tuple(state.value for state in LIFECYCLE_STATES)
DONE = {
    "propose": _l("Your initiative is proposed."),
    "edit": _l("Your changes are saved."),
    "invite_partner": _l("The organisation is invited."),
    "join": _l("Your organisation has joined."),
    "remove_partner": _l("The partner is removed."),
    "start_co_design": _l("Co-design is open."),
    "propose_amendment": _l("Your amendment is proposed."),
    "accept_amendment": _l("The amendment is accepted and merged."),
    "reject_amendment": _l("The amendment is rejected."),
    "submit": _l("The initiative is submitted for review."),
    "review": _l("Your review is recorded."),
    "start_follow_up": _l("Follow-up has started."),
    "report": _l("Your report is recorded."),
    "complete": _l("The initiative is completed."),
    "recognise_good_practice": _l("The initiative is recognised as good practice."),
    "withdraw": _l("The initiative is withdrawn."),
}


def wait_for(position: Any) -> None:
    """Read-your-writes after a command: wait (at most WAIT_SECONDS) until the views show
    it. A position that is not a command's (not ASCII digits, or past the last recorded
    event) is not waited for: the page shows what the views hold now."""
    at = parse_position(str(position or ""))
    if at is None:
        return
    projector = runtime().projector
    if at <= projector.head():
        projector.wait(at, WAIT_SECONDS)


# ------------------------------------------------------------------------ home
@bp.get("/")
def home() -> Any:
    caller = need_login()
    wait_for(request.args.get("at"))
    page = queries.inbox(reader(), caller, limit=100, cursor=None)
    account = runtime().app.account(UUID(caller.account_id))
    return render_template("console/home.html", inbox=page.items, account=account)


# ------------------------------------------------------------------------ list
@bp.get("/initiatives")
def initiatives() -> Any:
    caller = need_login()
    wait_for(request.args.get("at"))
    raw = {k: v for k, v in request.args.items() if v.strip() and k not in ("at", "lang")}
    raw.setdefault("limit", str(PAGE_SIZE))
    errors: dict[str, list[str]] = {}
    page = queries.Page([], None)
    try:
        query = forms.load(InitiativeListQuerySchema(), raw)
        if "organisation_id" in query:
            query["organisation_id"] = str(query["organisation_id"])
        page = queries.list_initiatives(reader(), scope=read_scope(caller), **query)
    except InvalidFields as invalid:
        errors = forms.field_errors(invalid.errors)
    except queries.BadCursor:
        errors = {"cursor": [_("This page link is no longer valid; start again.")]}
    template = "console/_results.html" if request.headers.get("HX-Request") else "console/list.html"
    return render_template(
        template,
        items=page.as_dict()["items"],
        next_cursor=page.next_cursor,
        filters=raw,
        errors=errors,
        states=[state.value for state in State],
    ), (422 if errors else 200)


# ------------------------------------------------------------------------ one initiative
def load_initiative(initiative_id: UUID, version: int | None = None) -> Initiative:
    """The initiative, if the signed-in caller may read it (else the 404 page, as for an
    unknown id)."""
    return runtime().app.initiative(initiative_id, version=version, caller=need_login())


def initiative_page(initiative_id: UUID, status: int = 200, **context: Any) -> tuple[str, int]:
    caller = need_login()
    requested = request.args.get("version", "")
    current = load_initiative(initiative_id)
    initiative = current
    if requested.isdigit() and 0 < int(requested) < current.version:
        initiative = load_initiative(initiative_id, int(requested))
    shown = representation(initiative, caller, current=initiative is current)
    context.setdefault("done", str(DONE.get(request.args.get("done", ""), "")))
    return render_template(
        "console/initiative.html",
        i=shown,
        current_version=current.version,
        waiting=initiative.waiting_on(),
        entered={
            step["state"]: step["at"]
            for step in audit_reads.states_entered(reader(), initiative_id)
        },
        lifecycle_states=LIFECYCLE,
        languages=languages_of(shown),
        organisations=invitable(current, caller),
        form=request.form,
        **context,
    ), status


def languages_of(shown: dict[str, Any]) -> list[str]:
    """The languages the initiative's texts are in: the original first."""
    found = {shown["original_language"]}
    for name in MULTILINGUAL_FIELDS:
        found.update(shown.get(name) or {})
    return [shown["original_language"], *sorted(found - {shown["original_language"]})]


def invitable(initiative: Initiative, caller: Caller) -> list[dict[str, Any]]:
    """Organisations the lead may invite (not the lead, not already a partner)."""
    if "invite_partner" not in initiative.allowed_actions(caller):
        return []
    involved = {initiative.lead_organisation_id, *initiative.partners}
    page = queries.list_organisations(reader(), limit=500, cursor=None)
    return sorted(
        (o for o in page.as_dict()["items"] if o["id"] not in involved),
        key=lambda o: o["name"].casefold(),
    )


@bp.get("/initiatives/<uuid:initiative_id>")
def initiative(initiative_id: UUID) -> Any:
    return initiative_page(initiative_id)
