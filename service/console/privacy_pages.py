"""Console pages for a person's rights over their data: everybody sees their own account,
corrects their own name and downloads what the service holds about them; admins download
an account's data and erase it, after a confirmation page that says what erasure does.

The same commands and export as the API (PATCH /users/me, GET /users/…/data, POST
/users/{id}/erase): service.infrastructure.privacy and the application."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from flask import Response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from domain.account import REASON_MAX
from domain.errors import DomainError, InvalidFields
from service.api.schemas.accounts import MeUpdateSchema
from service.console import bp, forms, need_login
from service.console.account_pages import admin
from service.console.pages import refusal
from service.context import reader
from service.infrastructure import privacy
from service.infrastructure.runtime import runtime

# The word an admin types to confirm an erasure: English always, or the page's language's.
ERASE_WORD = "ERASE"


# ------------------------------------------------------------------ own account
@bp.route("/me", methods=["GET", "POST"])
def me() -> Any:
    caller = need_login()
    app = runtime().app
    account_id = UUID(caller.account_id)
    if request.method == "GET":
        done = _("Your name is corrected.") if request.args.get("done") == "rectify" else None
        return render_template("console/me.html", account=app.account(account_id), done=done)
    try:
        # The API's schema and command (PATCH /users/me): a person acts as themself.
        forms.check_text(request.form)
        data = forms.load(MeUpdateSchema(), {"name": request.form.get("name", "")})
        actor = app.account(account_id).as_self(caller.request_id)
        app.rectify_account(account_id, actor=actor, name=data["name"])
    except DomainError as error:
        shown = refusal(error)
        account = app.account(account_id)
        page = render_template("console/me.html", account=account, form=request.form, **shown)
        return page, shown["status"]
    return redirect(url_for("console.me", done="rectify"), code=303)


@bp.get("/me/data")
def my_data() -> Response:
    return data_attachment(UUID(need_login().account_id))


@bp.get("/accounts/<uuid:account_id>/data")
def account_data(account_id: UUID) -> Response:
    admin()
    return data_attachment(account_id)


def data_attachment(account_id: UUID) -> Response:
    """The API's data export document (GET /api/v1/users/me/data), as a download that no
    cache keeps: it holds the person's name, email and what they wrote."""
    body = privacy.export(runtime(), reader(), account_id)
    response = Response(
        json.dumps(body, ensure_ascii=False, indent=2, default=str),
        mimetype="application/json",
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="twinning-data-{account_id}.json"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# ------------------------------------------------------------------ admin: erasure
@bp.route("/accounts/<uuid:account_id>/erase", methods=["GET", "POST"])
def erase(account_id: UUID) -> Any:
    """A confirmation page first; the erasure only with a reason and the word typed."""
    actor = admin()
    rt = runtime()
    target = rt.app.account(account_id)
    if target.erased:  # nothing left to erase: the account page says so
        return redirect(url_for("console.account", account_id=account_id), code=303)
    own = actor.account_id == str(account_id)
    if request.method == "GET":  # one's own account: the page says why it is refused
        page = render_template("console/erase.html", account=target, own=own, form={})
        return page, 403 if own else 200
    reason = request.form.get("reason", "")
    try:
        forms.check_text(request.form)
        problems = erase_problems(reason, request.form.get("confirm", ""))
        if problems:
            raise InvalidFields(problems)
        privacy.erase(rt, account_id, actor, reason)
    except DomainError as error:
        shown = refusal(error)
        page = render_template(
            "console/erase.html", account=target, own=own, form=request.form, **shown
        )
        return page, shown["status"]
    return redirect(url_for("console.account", account_id=account_id, done="erase"), code=303)


def erase_problems(reason: str, confirm: str) -> dict[str, list[str]]:
    """What the form lacks: a reason (the domain's rules) and the confirmation word."""
    problems: dict[str, list[str]] = {}
    if not reason.strip():
        problems["reason"] = [_("Must not be empty.")]
    elif len(reason) > REASON_MAX:
        problems["reason"] = [_("At most %(n)s characters.", n=REASON_MAX)]
    if confirm.strip() not in (ERASE_WORD, _("ERASE")):
        problems["confirm"] = [_("Type %(word)s to confirm the erasure.", word=_("ERASE"))]
    return problems
