"""Console pages for accounts: everybody changes their own password; admins look an account
up, correct its name or email, issue it a password reset (its token shown once), and
deactivate or reactivate it.

The same application commands and credential store as the API's account endpoints; the
password rules are the API's (service.infrastructure.passwords)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from domain.application import require_role
from domain.errors import DomainError, InvalidFields
from domain.values import Role
from service.api.authentication import count_password_guess
from service.api.schemas.accounts import UserUpdateSchema
from service.console import bp, forms, need_login, session
from service.console.pages import refusal
from service.context import request_state
from service.infrastructure.passwords import require_fit_password
from service.infrastructure.runtime import runtime

ACTIONS = ("reset", "rectify", "deactivate", "reactivate")
# The password rules' words (service.infrastructure.passwords), so that they are translated.
PASSWORD_MESSAGES = (
    _l("At least 12 characters."),
    _l("At most 1024 characters."),
    _l("Must not be the account's email."),
    _l("Too common: choose a password that is not among the most used ones."),
)


# ------------------------------------------------------------------ own password
@bp.route("/password", methods=["GET", "POST"])
def password() -> Any:
    caller = need_login()
    if request.method == "GET":
        return render_template("console/password.html")
    rt = runtime()
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    account = rt.app.account(UUID(caller.account_id))
    count_password_guess(account.email)
    try:
        if not rt.credentials.check_password(caller.account_id, current[:1024]):
            raise InvalidFields({"current_password": [_("The current password is wrong.")]})
        if new != request.form.get("confirm_password", ""):
            raise InvalidFields({"confirm_password": [_("The two new passwords differ.")]})
        require_fit_password(new, account.email)
    except DomainError as error:
        shown = refusal(error)
        status = 403 if "current_password" in shown["errors"] else shown["status"]
        return render_template("console/password.html", **shown), status
    rt.change_password(account, new, caller.request_id)  # this session's token too
    # The session's token is revoked: the page is shown signed out, and says so.
    request_state().caller = None
    request_state().session_token = None
    response = Response(render_template("console/password.html", changed=True))
    session.end(response)
    return response


# ------------------------------------------------------------------ admin
def admin() -> Any:
    """The signed-in admin (sign-in page otherwise; 403 page for anyone else)."""
    return require_role(need_login(), Role.ADMIN)


@bp.route("/accounts", methods=["GET", "POST"])
def accounts() -> Any:
    """Finds an account by email (posted, so that no email lands in an access log)."""
    admin()
    if request.method == "GET":
        return render_template("console/accounts.html")
    email = request.form.get("email", "").strip()
    found = runtime().app.account_by_email(email) if 0 < len(email) <= 254 else None
    if found is None:
        return render_template("console/accounts.html", not_found=True, email=email), 404
    return redirect(url_for("console.account", account_id=found.id), code=303)


@bp.get("/accounts/<uuid:account_id>")
def account(account_id: UUID) -> Any:
    admin()
    shown = runtime().app.account(account_id)
    return render_template("console/account.html", account=shown, done=_done_text())


def _done_text() -> str | None:
    return {
        "rectify": _("The account is corrected."),
        "deactivate": _("The account is deactivated."),
        "reactivate": _("The account is active again."),
        "erase": _("The account's personal data is erased."),
    }.get(request.args.get("done", ""))


@bp.post("/accounts/<uuid:account_id>/do/<action>")
def account_action(account_id: UUID, action: str) -> Any:
    actor = admin()
    if action not in ACTIONS:
        abort(404)
    rt = runtime()
    target = rt.app.account(account_id)
    try:
        if action == "reset":
            _, issued = rt.issue_password_reset(account_id, actor)
            # Shown in this answer only (no-store): the service keeps just its digest.
            return render_template("console/account.html", account=target, reset=issued)
        if action == "rectify":
            # The API's schema, then the same command: a taken email is refused (409).
            fields = {k: request.form.get(k, "").strip() for k in ("name", "email")}
            forms.check_text(request.form)
            data = forms.load(UserUpdateSchema(), fields)
            rt.app.rectify_account(account_id, actor=actor, **data)
        elif action == "deactivate":
            rt.deactivate(account_id, actor)
        else:
            rt.app.reactivate(account_id, actor=actor)
    except DomainError as error:
        shown = refusal(error)
        page = render_template("console/account.html", account=target, form=request.form, **shown)
        return page, shown["status"]
    return redirect(url_for("console.account", account_id=account_id, done=action), code=303)
