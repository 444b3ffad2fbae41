"""Console pages for reviewers: the review queue and the review of one version."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import redirect, render_template, request, url_for

from domain.application import require_role
from domain.errors import DomainError
from domain.values import Role
from projections import queries
from projections.audit import version_changes
from service.api.representations import representation
from service.api.schemas import ReviewSchema
from service.console import bp, forms, need_login
from service.console.audit_pages import change_rows
from service.console.initiative_pages import load_initiative, wait_for
from service.console.pages import done, refusal
from service.context import reader
from service.infrastructure.runtime import runtime


@bp.get("/review")
def review_queue() -> Any:
    caller = need_login()
    require_role(caller, Role.REVIEWER)
    wait_for(request.args.get("at"))
    cursor = request.args.get("cursor") or None
    try:
        page = queries.review_queue(reader(), caller, limit=50, cursor=cursor)
    except queries.BadCursor:
        return redirect(url_for("console.review_queue"), code=303)
    return render_template(
        "console/review_queue.html", items=page.as_dict()["items"], next_cursor=page.next_cursor
    )


def round_diff(initiative_id: UUID) -> dict[str, Any] | None:
    """What changed between the version decided in the previous round and the one submitted
    in this round (None in the first round)."""
    app = runtime().app
    rounds = app.submitted_versions(initiative_id)
    if len(rounds) < 2:
        return None
    previous, current = rounds[-2], rounds[-1]
    rows = change_rows(version_changes(app, initiative_id, previous, current))
    return {"from": previous, "to": current, "rows": rows}


def review_page(initiative_id: UUID, status: int = 200, **context: Any) -> tuple[str, int]:
    caller = need_login()
    require_role(caller, Role.REVIEWER)
    initiative = load_initiative(initiative_id)
    shown = representation(initiative, caller)
    return render_template(
        "console/review.html",
        i=shown,
        waiting=initiative.waiting_on(),
        diff=round_diff(initiative_id),
        form=request.form,
        **context,
    ), status


@bp.get("/review/<uuid:initiative_id>")
def review(initiative_id: UUID) -> Any:
    return review_page(initiative_id)


@bp.post("/review/<uuid:initiative_id>")
def decide(initiative_id: UUID) -> Any:
    """Approve, request changes or reject the version shown, with a rationale."""
    caller = need_login()
    try:
        forms.check_text(request.form)
        data = forms.load(
            ReviewSchema(),
            {
                "decision": request.form.get("decision", ""),
                "rationale": request.form.get("rationale", "").strip(),
            },
        )
        outcome = runtime().app.review(
            initiative_id,
            caller=caller,
            expected_version=forms.version_field(),
            decision=data["decision"],
            rationale=data["rationale"],
        )
    except DomainError as error:
        return review_page(initiative_id, **refusal(error))
    return done(outcome, "review")
