"""Console sessions: the same tokens as the API, carried in a cookie; CSRF tokens for forms.

The session cookie holds an ordinary login token (issued, expired and revoked exactly like a
bearer token), so the console and the API share one account model and one revocation list.
It is HttpOnly, SameSite=Lax and Secure (except for plain-HTTP development on a loopback
address, where browsers would drop a Secure cookie).

Every form carries a CSRF token. Signed in, it is an HMAC of the session token: only a page
served to the holder of the cookie can know it, and no server-side state is needed across
workers. Before sign-in (the login form itself) it is a random value also set in its own
cookie (double submit). Requests whose Origin names another site are refused as well.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from flask import Response, request

from domain.values import Caller
from service.api.authentication import caller_for_token
from service.api.errors import ApiProblem
from service.context import request_state

SESSION_COOKIE = "twinning_session"
LOGIN_CSRF_COOKIE = "twinning_login_csrf"
CSRF_FIELD = "csrf_token"
LOOPBACK = ("localhost", "127.0.0.1", "::1")


class CsrfError(Exception):
    """A form without the token its page was served with."""


def secure_cookies() -> bool:
    """Secure cookies everywhere but plain-HTTP development on a loopback address."""
    if request.is_secure:
        return True
    host = (urlsplit(f"//{request.host}").hostname or "").lower()
    return host not in LOOPBACK


def load() -> None:
    """Sets the request's caller and session token from the session cookie (None when
    signed out)."""
    state = request_state()
    state.caller = None
    state.session_token = None
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token or len(token) > 200:
        return
    try:
        state.caller = caller_for_token(token, state)
    except ApiProblem:
        return  # expired, revoked or deactivated: signed out
    state.session_token = token


def caller() -> Caller | None:
    return request_state().caller


def start(response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/console",
        secure=secure_cookies(),
        httponly=True,
        samesite="Lax",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")


def end(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/console")


def csrf_token() -> str:
    """The token forms of this page carry."""
    state = request_state()
    token = state.session_token
    if token:
        return hmac.new(token.encode(), b"twinning console csrf", hashlib.sha256).hexdigest()
    if state.login_csrf is None:
        state.login_csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    return state.login_csrf


def remember_login_csrf(response: Response) -> None:
    """Keeps the pre-login CSRF value in its cookie when a page handed one out."""
    value = request_state().login_csrf
    if value and request.cookies.get(LOGIN_CSRF_COOKIE) != value:
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            value,
            path="/console",
            secure=secure_cookies(),
            httponly=True,
            samesite="Strict",
        )


def check_csrf() -> None:
    """Refuses a state-changing request without the right token or from another origin."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        expected = f"{request.scheme}://{request.host}"
        if origin.rstrip("/") != expected:
            raise CsrfError("The form was sent from another site.")
    given = request.form.get(CSRF_FIELD, "")
    if request_state().session_token:
        expected_token = csrf_token()
    else:
        expected_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not given or not expected_token or not hmac.compare_digest(given, expected_token):
        raise CsrfError("The form has expired or did not come from this console.")
