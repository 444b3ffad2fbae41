"""The application, the request and its globals, taken from Flask's context proxies once.

Each attribute read through a proxy (``request.method``, ``g.get(...)``) looks the context up
again: about 2.5 us on this machine, against 0.1 us on the object itself and 0.26 us to take
the object from the proxy (docs/PERFORMANCE.md, item 17). Code on every request's path takes
the object once and reads it directly."""

from __future__ import annotations

import contextlib
import os
import re

import sqlalchemy as sa
from flask import Flask, Request, current_app, g, request
from flask.ctx import _AppCtxGlobals


def current_application() -> Flask:
    """The application handling the request (outside an application context: RuntimeError)."""
    return current_app._get_current_object()  # type: ignore[attr-defined, no-any-return]


def current_request() -> Request:
    """The request being handled (outside a request: Flask's RuntimeError)."""
    return request._get_current_object()  # type: ignore[attr-defined, no-any-return]


def request_globals() -> _AppCtxGlobals:
    """The request's `g` (outside an application context: Flask's RuntimeError)."""
    return g._get_current_object()  # type: ignore[attr-defined, no-any-return]


def reader() -> sa.Connection:
    """The request's one connection for reads of the views, opened on first use and closed
    when the request ends (the token is checked apart, by the read cache).

    In autocommit mode, so no BEGIN or ROLLBACK travels to the server, and one checkout,
    so the pool's pre-ping runs once however many statements the request makes."""
    scope = request_globals()
    conn: sa.Connection | None = scope.get("_reader")
    if conn is None:
        from service.infrastructure.runtime import runtime  # it logs with this module

        conn = runtime().reader.connect()
        scope._reader = conn
    return conn


def close_reader(_error: BaseException | None = None) -> None:
    """Returns the request's reader to the pool; one the database dropped is discarded
    (the response is already made: closing must not fail it)."""
    conn: sa.Connection | None = request_globals().pop("_reader", None)
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
    scope = request_globals()
    known: str | None = scope.get("request_id")
    if known is None:
        given = current_request().headers.get("X-Request-Id", "")
        known = scope.request_id = given if _REQUEST_ID.match(given) else os.urandom(16).hex()
    return known
