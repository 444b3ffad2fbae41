"""The one place where errors become RFC 9457 problem documents."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
import psycopg_pool
import sqlalchemy.exc
from eventsourcing import persistence
from flask import Flask, Response, current_app, json, request
from werkzeug.exceptions import HTTPException

from domain import errors as domain

# Failures to reach a database: the request may succeed later, so 503, not 500.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    persistence.OperationalError,
    persistence.InterfaceError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    sqlite3.OperationalError,
)

log = logging.getLogger("twinning.errors")

PROBLEM_BASE = "https://twinning.example.org/problems/"
PROBLEM_TYPE = "application/problem+json"

# Domain errors and the HTTP status each one means.
STATUS: list[tuple[type[domain.DomainError], int]] = [
    (domain.NotFound, 404),
    (domain.NotPermitted, 403),
    (domain.InvalidTransition, 409),
    (domain.RequirementsNotMet, 409),
    (domain.StateConflict, 409),
    (domain.EditConflict, 409),
    (domain.DuplicateEmail, 409),
    (domain.InvalidFields, 422),
    (domain.StaleVersion, 412),
    (domain.PreconditionRequired, 428),
]

TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid fields",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    428: "precondition-required",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}


# How a request names the version a command needs (by whether it also takes base_version).
PRECONDITION_HINTS = {
    False: ' Send If-Match: "<version>".',
    True: ' Send If-Match: "<version>", or "base_version" in the body.',
}


class ApiProblem(Exception):
    """An HTTP-level problem raised by the service layer itself (not a domain rule)."""

    def __init__(
        self,
        status: int,
        detail: str,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or SLUGS.get(status, "error")
        self.headers = headers or {}
        self.extra = extra


def problem(
    status: int,
    detail: str,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {
        "type": PROBLEM_BASE + (slug or SLUGS.get(status, "error")),
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_TYPE)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="twinning"'
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def status_of(error: domain.DomainError) -> int:
    for cls, status in STATUS:
        if isinstance(error, cls):
            return status
    return 409


def validation_errors(data: dict[str, Any]) -> dict[str, Any]:
    """webargs nests messages by location (json, query, headers): flatten to field names."""
    messages = data.get("messages", {})
    flat: dict[str, Any] = {}
    for location_messages in messages.values():
        if isinstance(location_messages, dict):
            flat.update(location_messages)
        else:
            flat.setdefault("_schema", []).extend(location_messages)
    return flat


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    if status == 422:
        return problem(422, "Some fields are invalid.", errors=validation_errors(data))
    detail = error.description or TITLES.get(status, "Error")
    if status == 400 and "messages" in data:
        detail = "The request body is not valid JSON."
    headers = {}
    if status == 405:
        allowed = error.get_headers()
        headers = {k: v for k, v in allowed if k == "Allow"}
    if status == 429:
        headers["Retry-After"] = "60"
        detail = "Too many requests: slow down and try again later."
    return problem(status, detail, headers=headers)


UNAVAILABLE_DETAIL = "The database is not reachable right now; try again shortly."


def record_failure(error: Exception) -> int:
    """An unexpected error: 503 for a database outage (marked, so that the next requests are
    answered at once), 500 for anything else; logged either way."""
    if isinstance(error, UNAVAILABLE):
        built = current_app.extensions.get("twinning.runtime")
        if built is not None:
            built.availability.mark_down()
        log.warning(
            "database unavailable on %s %s: %s", request.method, request.path, type(error).__name__
        )
        return 503
    log.exception("unhandled error on %s %s", request.method, request.path)
    return 500


def register(app: Flask) -> None:
    @app.errorhandler(domain.DomainError)
    def domain_error(error: domain.DomainError) -> Response:
        detail = error.detail
        if isinstance(error, domain.PreconditionRequired):
            detail += PRECONDITION_HINTS[error.base_version]
        return problem(status_of(error), detail, slug=error.slug, **error.extra())

    @app.errorhandler(ApiProblem)
    def api_problem(error: ApiProblem) -> Response:
        return problem(error.status, error.detail, error.slug, error.headers, **error.extra)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return handle_http_exception(error)
        if record_failure(error) == 503:
            return problem(503, UNAVAILABLE_DETAIL, headers={"Retry-After": "5"})
        return problem(500, "An unexpected error occurred; it has been logged.")
