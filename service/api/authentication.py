"""Who is calling: the bearer-token check before every request, logins and their limits
(shared by the API and the console)."""

from __future__ import annotations

import time
from uuid import UUID

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many

from domain.account import normalise_email
from domain.errors import NotFound
from domain.values import Caller
from service.api.errors import ApiProblem
from service.api.metrics import scraper_token
from service.context import RequestState, current_request, request_id, request_state
from service.infrastructure import ratelimits, readcache
from service.infrastructure.credentials import IssuedToken, token_digest
from service.infrastructure.ratelimits import SharedWindow
from service.infrastructure.runtime import runtime

LIMITER_KEY = "twinning.login_limits"
# Probes and the scraper are never rate limited.
UNLIMITED = ("health.Health", "health.Ready", "metrics.Metrics")


class LoginLimits:
    """Login attempts per email and per client address, in moving windows, on the storage
    every process shares (service.infrastructure.ratelimits)."""

    def __init__(
        self,
        per_email: str,
        per_address: str,
        storage: str = "memory://",
        prefix: str = "twinning",
    ) -> None:
        self.window = SharedWindow(storage, prefix)
        self.per_email = parse_many(per_email) if per_email else []
        self.per_address = parse_many(per_address) if per_address else []

    def hit(self, email_key: str, address: str) -> None:
        """Counts one try; `email_key` stands for the email (its keyed lookup id: the
        counters, in Redis or memory, never hold an email)."""
        checks = [(item, "email", email_key) for item in self.per_email] + [
            (item, "address", address) for item in self.per_address
        ]
        for item, kind, key in checks:
            if not self.window.hit(item, "login", kind, key):
                reset_at = self.window.reset_at(item, "login", kind, key)
                wait = max(1, int(reset_at - time.time()) + 1)
                raise ApiProblem(
                    429,
                    f"Too many login attempts for this {kind}; try again in {wait} s.",
                    headers={"Retry-After": str(wait)},
                )


def count_password_guess(email: str) -> None:
    """Counts a password try against the login limits of `email` and the client's address
    (429 past them): a login, or a password change made with a stolen token. The email is
    counted under its keyed hash, so that no shared storage (Redis) holds it in clear."""
    email_key = str(runtime().app.personal.lookup_id("login limit", normalise_email(email)))
    current_app.extensions[LIMITER_KEY].hit(email_key, get_remote_address() or "")


def log_in(email: str, password: str) -> IssuedToken:
    """A new token for an active account's email and password (API and console alike);
    401 otherwise, 429 past the login limits."""
    count_password_guess(email)
    rt = runtime()
    account = rt.app.account_by_email(email)
    account_id = str(account.id) if account is not None else None
    password_ok = rt.credentials.check_password(account_id, password)
    if account is None or not password_ok or not account.active:
        raise ApiProblem(401, "Wrong email or password.")
    return rt.credentials.issue_token(account_id or "", rt.now())


def authenticate() -> None:
    """Finds the caller from the bearer token; refuses non-public views without one."""
    request_id()
    req, state = current_request(), request_state()
    if req.method == "OPTIONS":
        return  # CORS preflight: answered with headers only, no data
    if scraper_token() is not None:
        state.scraper = True
        return
    header = req.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 200:
            raise ApiProblem(401, "Use the Bearer scheme: Authorization: Bearer <token>.")
        state.caller = caller_for_token(token, state)
        state.token = token
        return
    if not _is_public():
        raise ApiProblem(401, "Send a bearer token: Authorization: Bearer <token>.")


def caller_for_token(token: str, state: RequestState) -> Caller:
    """The caller a bearer (or console session) token stands for; 401 when it stands for
    nobody now. The request's reads, and its loads of aggregates, rely on the check until
    it ends (`service.app._end_request`)."""
    rt = runtime()
    cache = rt.read_cache
    check = cache.check_token(token_digest(token), rt.now())
    state.head = check.head
    state.list_position = check.list_position
    if state.freshness_token is not None:  # a second check in one request replaces the first
        readcache.leave(state.freshness_token)
    state.freshness_token = readcache.enter(check.freshness)
    if check.account_id is None:
        raise ApiProblem(401, "The token is unknown, expired or revoked.")
    try:
        account = cache.account(UUID(check.account_id), check.head)
    except NotFound:
        raise ApiProblem(401, "The token's account no longer exists.") from None
    if not account.active:
        raise ApiProblem(401, "The account is deactivated.")
    return account.caller(state.request_id or request_id())


def _is_public() -> bool:
    endpoint = request.endpoint or ""
    # Console pages authenticate with their session cookie (service.console.session).
    if endpoint.startswith(("api-docs.", "console.")):
        return True
    if endpoint in ("static", "root", "swagger_ui_static"):
        return True
    view = current_app.view_functions.get(endpoint)
    if view is None:
        return True  # 404 / 405 follow, and they reveal nothing
    view_class = getattr(view, "view_class", view)
    return bool(getattr(view_class, "public", False))


def init_app(app: Flask) -> None:
    settings = app.config["TWINNING_SETTINGS"]
    app.extensions[LIMITER_KEY] = LoginLimits(
        settings.login_limit_per_email,
        settings.login_limit_per_address,
        settings.rate_limit_storage,
        settings.rate_limit_prefix,
    )
    ratelimits.warn_at_start(
        settings.rate_limit_storage,
        bool(
            settings.rate_limit
            or settings.login_limit_per_email
            or settings.login_limit_per_address
        ),
    )
    if settings.rate_limit:
        # Every request but health checks counts against the global per-address limit.
        Limiter(
            get_remote_address,
            app=app,
            # One budget per client address across every route (not a budget per route).
            application_limits=[settings.rate_limit],
            application_limits_exempt_when=lambda: request.endpoint in UNLIMITED,
            storage_uri=settings.rate_limit_storage,
            storage_options=ratelimits.storage_options(settings.rate_limit_storage),
            key_prefix=settings.rate_limit_prefix,
            # Redis away: per-process counters until it answers again (as for logins).
            in_memory_fallback_enabled=ratelimits.is_shared(settings.rate_limit_storage),
            headers_enabled=True,
        )
    app.before_request(authenticate)
