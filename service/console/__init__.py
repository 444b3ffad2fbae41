"""The web console: the service in a browser, under /console.

Server-rendered Jinja pages over the same application (commands) and read views (lists,
queue, inbox, audit entries, statistics) as the API; htmx only enhances (pages work, and
read, with JavaScript off). Interface text goes through Flask-Babel (English, French).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from babel import Locale
from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask_babel import Babel, format_datetime, get_locale, gettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from domain.errors import DomainError, InvalidTransition, NotFound, StaleVersion
from domain.values import THEMES, Caller, Role
from projections.view import parse_time
from service.api.errors import ApiProblem, record_failure, status_of
from service.console import session
from service.console.activity_labels import LABELS as ACTIVITY_LABELS
from service.context import request_state
from service.infrastructure.runtime import runtime

LANGUAGES = ("en", "fr")
LANGUAGE_COOKIE = "twinning_lang"

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

STATES = {
    "proposal": _l("Proposal"),
    "co_design": _l("Co-design"),
    "in_review": _l("In review"),
    "approved": _l("Approved"),
    "follow_up": _l("Follow-up"),
    "completed": _l("Completed"),
    "rejected": _l("Rejected"),
    "withdrawn": _l("Withdrawn"),
}
LEVELS = {"national": _l("National"), "european": _l("European")}
STEPS = {"national_review": _l("National review"), "network_review": _l("Network review")}
DECISIONS = {
    "approve": _l("Approve"),
    "request_changes": _l("Request changes"),
    "reject": _l("Reject"),
}
STEP_STATUSES = {
    "pending": _l("pending"),
    "approved": _l("approved"),
    "changes_requested": _l("changes requested"),
    "rejected": _l("rejected"),
}
PARTNER_STATUSES = {"invited": _l("invited"), "joined": _l("joined"), "lead": _l("lead")}
ROLES = {
    "partner": _l("partner"),
    "reviewer": _l("reviewer"),
    "auditor": _l("auditor"),
    "admin": _l("admin"),
}
WAITING = {
    "invitation": _l("an invited organisation to answer"),
    "amendment_decision": _l("the partners to decide on amendments"),
    "lead": _l("the lead organisation"),
    "review": _l("a reviewer"),
    "report": _l("the lead organisation to report and complete"),
    "none": _l("nobody: the initiative is closed"),
}
ERROR_TITLES = {
    "not-found": _l("Not found"),
    "forbidden": _l("Not allowed"),
    "conflict-of-interest": _l("Conflict of interest"),
    "four-eyes": _l("Four-eyes rule"),
    "invalid-transition": _l("Not possible in this state"),
    "requirements-not-met": _l("Something is missing"),
    "conflict": _l("Conflict"),
    "edit-conflict": _l("Someone else changed the same fields"),
    "validation-error": _l("Some fields need attention"),
    "stale-version": _l("The initiative changed meanwhile"),
    "precondition-required": _l("The version you read is missing"),
    "duplicate-email": _l("This email is taken"),
}
EVENTS = {
    "Proposed": _l("Proposed"),
    "Edited": _l("Edited"),
    "PartnerInvited": _l("Partner invited"),
    "PartnerJoined": _l("Partner joined"),
    "PartnerRemoved": _l("Partner removed"),
    "CoDesignStarted": _l("Co-design started"),
    "AmendmentProposed": _l("Amendment proposed"),
    "AmendmentAccepted": _l("Amendment accepted"),
    "AmendmentRejected": _l("Amendment rejected"),
    "Submitted": _l("Submitted for review"),
    "ReviewRecorded": _l("Review recorded"),
    "FollowUpStarted": _l("Follow-up started"),
    "ReportRecorded": _l("Report recorded"),
    "Completed": _l("Completed"),
    "RecognisedAsGoodPractice": _l("Recognised as good practice"),
    "Withdrawn": _l("Withdrawn"),
}


def select_locale() -> str:
    chosen = request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(LANGUAGES) or "en"


# ------------------------------------------------------------------ template helpers
def current_language() -> str:
    """The language pages are shown in (a code of LANGUAGES)."""
    return str(get_locale() or "en")


def text(value: Any) -> str:
    """A multilingual text in the reader's language, else the first language it has."""
    if not isinstance(value, dict) or not value:
        return "" if value is None else str(value)
    language = current_language()
    if value.get(language):
        return str(value[language])
    return str(next(iter(value.values())))


def organisation_name(organisation_id: Any) -> str:
    if not organisation_id:
        return ""
    names = request_state().organisation_names
    key = str(organisation_id)
    if key not in names:
        try:
            names[key] = runtime().app.organisation(UUID(key)).name
        except (NotFound, ValueError):
            names[key] = key
    return names[key]


def person_name(account_id: Any) -> str:
    if not account_id:
        return ""
    names = request_state().person_names
    key = str(account_id)
    if key not in names:
        try:
            # An erased account has no name left to show.
            names[key] = runtime().app.account(UUID(key)).name or str(_l("erased account"))
        except (NotFound, ValueError):
            names[key] = key
    return names[key]


def when(moment: Any, style: str = "medium") -> str:
    if not moment:
        return ""
    if isinstance(moment, str):
        try:
            moment = parse_time(moment)
        except ValueError:
            return moment
    return str(format_datetime(moment, style))


def country_name(code: str) -> str:
    return str(Locale.parse(current_language()).territories.get(code, code))


def language_name(code: str) -> str:
    return str(Locale.parse(current_language()).languages.get(code, code))


def theme_name(theme: str) -> str:
    labels = THEMES.get(theme)
    if labels is None:
        return theme
    return labels.get(current_language(), labels["en"])


def label(table: dict[str, Any], key: Any) -> str:
    return str(table.get(key, key))


def has_role(role: str) -> bool:
    caller = session.caller()
    return caller is not None and caller.has(Role(role))


def localized_url(language: str) -> str:
    args = request.args.to_dict()
    args["lang"] = language
    return url_for(request.endpoint or "console.home", **(request.view_args or {}), **args)


# The domain's refusals that read the same every time, so that they are translated too
# (tests/service/test_console.py checks that each is still one the domain gives).
DOMAIN_MESSAGES = (
    _l("At least one partner organisation must have joined."),
    _l("At least one progress report is needed to complete."),
    _l("The lead organisation cannot be invited as a partner."),
    _l("The organisation has already joined."),
    _l("That organisation is not a partner of this initiative."),
    _l("Only a member of that organisation may accept its invitation."),
    _l("A rationale is required."),
    _l("The initiative is already recognised as good practice."),
    _l("Proposing an initiative needs the partner role."),
    _l("The initiative changed while your command was being recorded."),
    _l("The initiative is changing too fast; please try again."),
    _l(
        "You or your organisation wrote part of this initiative (as its lead, a partner or the "
        "author of an accepted amendment): you cannot review it."
    ),
    _l("You approved an earlier step of this round: another reviewer must decide."),
    _l("You cannot erase your own account."),
    _l("You cannot deactivate your own account."),
    _l("The account was erased."),
    _l("Some fields are invalid."),
)


def problem_text(error: DomainError | ApiProblem) -> dict[str, str]:
    """A refused command as the console shows it: a translated title and, where the
    domain's words are known, a translated detail (else the domain's own)."""
    if isinstance(error, StaleVersion):
        detail = _(
            "Someone changed the initiative since you read it: it is at version "
            "%(n)s now. Reload the page and try again.",
            n=error.current_version,
        )
    elif isinstance(error, InvalidTransition):
        detail = _(
            "This is not possible while the initiative is in the state “%(state)s”.",
            state=label(STATES, error.state),
        )
    else:
        detail = gettext(error.detail)
    if isinstance(error, DomainError):
        return {"title": label(ERROR_TITLES, error.slug), "detail": detail}
    return {"title": str(_l("That did not work")), "detail": detail}


# ------------------------------------------------------------------ request hooks
@bp.before_request
def _open() -> Any:
    session.load()
    session.check_csrf()
    return None


@bp.after_request
def _close(response: Response) -> Response:
    session.remember_login_csrf(response)
    if request.args.get("lang") in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            request.args["lang"],
            max_age=365 * 24 * 3600,
            path="/console",
            samesite="Lax",
            secure=session.secure_cookies(),
        )
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if session.caller() is not None:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def error_page(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Any:
    body = render_template("console/error.html", status=status, title=title, detail=detail)
    return body, status, headers or {}


@bp.errorhandler(session.CsrfError)
def _csrf_error(error: session.CsrfError) -> Any:
    return error_page(400, str(_l("Please try again")), str(error))


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> Any:
    shown = problem_text(error)
    return error_page(status_of(error), shown["title"], shown["detail"])


@bp.errorhandler(ApiProblem)
def _api_problem(error: ApiProblem) -> Any:
    if error.status == 401:
        return login_redirect()
    shown = problem_text(error)
    return error_page(error.status, shown["title"], shown["detail"], error.headers)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Any:
    return error_page(error.code or 500, str(error.name), str(error.description or ""))


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> Any:
    """Outages are 503 and anything unforeseen 500, as HTML pages (logged as for the API)."""
    if record_failure(error) == 503:
        return error_page(
            503,
            str(_l("Temporarily unavailable")),
            str(_l("The database is not reachable right now; try again shortly.")),
            {"Retry-After": "5"},
        )
    return error_page(500, str(_l("Something went wrong")), str(_l("The error has been logged.")))


def login_redirect() -> Response:
    target = request.full_path if request.method == "GET" else url_for("console.home")
    return redirect(url_for("console.login", next=target.rstrip("?")), code=303)


class LoginRequired(Exception):
    pass


@bp.errorhandler(LoginRequired)
def _login_required(_error: LoginRequired) -> Any:
    return login_redirect()


def need_login() -> Caller:
    caller = session.caller()
    if caller is None:
        raise LoginRequired()
    return caller


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "console/translations")
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals.update(
        text=text,
        organisation_name=organisation_name,
        person_name=person_name,
        when=when,
        country_name=country_name,
        language_name=language_name,
        theme_name=theme_name,
        label=label,
        has_role=has_role,
        csrf_token=session.csrf_token,
        current_caller=session.caller,
        localized_url=localized_url,
        get_locale=get_locale,
        LABELS={
            "states": STATES,
            "levels": LEVELS,
            "steps": STEPS,
            "decisions": DECISIONS,
            "step_statuses": STEP_STATUSES,
            "partner_statuses": PARTNER_STATUSES,
            "roles": ROLES,
            "waiting": WAITING,
            "events": EVENTS,
            **ACTIVITY_LABELS,
        },
        LANGUAGES=LANGUAGES,
        THEMES=THEMES,
    )
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    from service.console import (  # noqa: F401  (routes)
        account_pages,
        activity_desk,
        activity_pages,
        audit_pages,
        charts,
        pages,
        privacy_pages,
        review,
    )

    app.register_blueprint(bp)
