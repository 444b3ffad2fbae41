"""The application, the request and its state, taken from Flask's context proxies once.

Each attribute read through a proxy looks the context up again (docs/PERFORMANCE.md, item 17):
code on every request's path takes the object once and reads it directly."""

from __future__ import annotations

import contextlib
import os
import re
from contextvars import Token
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import Flask, Request, current_app, g, request

from domain.values import Caller


@dataclass(slots=True)
class RequestState:
    """What the service learns about one request (API and console alike)."""

    request_id: str | None = None
    # perf_counter() when the request began (observability).
    started: float | None = None
    # Who the bearer token or console session stands for, and that token.
    caller: Caller | None = None
    token: str | None = None
    # The console's session token (None when signed out).
    session_token: str | None = None
    login_csrf: str | None = None
    # The event store's head and the list view's position the token check read: what this
    # request's reads are at least as fresh as.
    head: int | None = None
    list_position: int | None = None
    # Ends the loads' reliance on that check when the request ends (readcache.leave).
    freshness_token: Token[Any] | None = None
    # The metrics scraper's token was shown.
    scraper: bool = False
    # The request's one connection for reads of the views (`reader`).
    reader: sa.Connection | None = None
    # Names the console looked up during the request, by id.
    organisation_names: dict[str, str] = field(default_factory=dict)
    person_names: dict[str, str] = field(default_factory=dict)


def current_application() -> Flask:
    """The application handling the request (outside an application context: RuntimeError)."""
    return current_app._get_current_object()  # type: ignore[attr-defined, no-any-return]


def current_request() -> Request:
    """The request being handled (outside a request: Flask's RuntimeError)."""
    return request._get_current_object()  # type: ignore[attr-defined, no-any-return]


def request_state() -> RequestState:
    """The request's state, made on first use (outside an application context: Flask's
    RuntimeError)."""
    scope = g._get_current_object()  # type: ignore[attr-defined]
    state: RequestState | None = scope.__dict__.get("twinning")
    if state is None:
        state = scope.twinning = RequestState()
    return state


def reader() -> sa.Connection:
    """The request's one connection for reads of the views, opened on first use and closed
    when the request ends (the token is checked apart, by the read cache): autocommit, so no
    BEGIN or ROLLBACK travels, and one checkout, so the pool's pre-ping runs once."""
    state = request_state()
    conn = state.reader
    if conn is None:
        from service.infrastructure.runtime import runtime  # it logs with this module

        conn = state.reader = runtime().reader.connect()
    return conn


def close_reader(state: RequestState) -> None:
    """Returns the request's reader to the pool; one the database dropped is discarded
    (the response is already made: closing must not fail it)."""
    conn, state.reader = state.reader, None
    if conn is None:
        return
    try:
        conn.close()
    except Exception:  # a broken connection: the pool replaces it
        with contextlib.suppress(Exception):
            conn.invalidate()


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id() -> str:
    """The request's id: the client's X-Request-Id when it is a fit one, else a new one."""
    state = request_state()
    known = state.request_id
    if known is None:
        given = current_request().headers.get("X-Request-Id", "")
        known = state.request_id = given if _REQUEST_ID.match(given) else os.urandom(16).hex()
    return known
