"""The application, the request and its globals, taken from Flask's context proxies once.

Each attribute read through a proxy (``request.method``, ``g.get(...)``) looks the context up
again: about 2.5 us on this machine, against 0.1 us on the object itself and 0.26 us to take
the object from the proxy (docs/PERFORMANCE.md, item 17). Code on every request's path takes
the object once and reads it directly."""

from __future__ import annotations

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
