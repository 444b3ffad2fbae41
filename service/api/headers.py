"""Security headers every response gets: no caching of what a credential unlocked, HSTS over
HTTPS, and a Content-Security-Policy for the API docs page."""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Response

from service.context import current_request, request_state

HSTS = "max-age=31536000; includeSubDomains"
DOCS_ENDPOINT = "api-docs.openapi_swagger_ui"
# The docs page loads Swagger UI's script and style sheet from this service and runs one
# inline script (flask-smorest's template), allowed by its hash; Swagger UI sets inline
# styles and shows data: images; "Try it out" calls this same API.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


# Files that are the same for everyone: caches may keep them whoever asked.
STATIC_ENDPOINTS = ("static", "console.static", "swagger_ui_static")


def _credentialed() -> bool:
    """The request showed a credential, or may have been given one (a login, a reset)."""
    req, state = current_request(), request_state()
    if req.endpoint in STATIC_ENDPOINTS:
        return False
    return (
        state.caller is not None
        or state.scraper
        or state.session_token is not None
        or "Authorization" in req.headers
        or req.method not in ("GET", "HEAD", "OPTIONS")
    )


def script_hashes(html: bytes) -> str:
    """The CSP sources of the page's inline scripts ('sha256-...' each)."""
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    )


def secure(response: Response) -> Response:
    """Adds the security headers (after_request, every blueprint)."""
    req = current_request()
    if _credentialed():
        # Shared caches and the browser's history must not keep what a token unlocked.
        response.headers["Cache-Control"] = "no-store"
    if req.is_secure:  # over HTTPS itself, or behind a trusted proxy that says so (ProxyFix)
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if req.endpoint == DOCS_ENDPOINT and not response.direct_passthrough:
        hashes = script_hashes(response.get_data())
        response.headers["Content-Security-Policy"] = DOCS_CSP.format(hashes=hashes)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
