"""The Flask application factory."""

from __future__ import annotations

from collections.abc import Callable
from inspect import iscoroutinefunction
from typing import Any

from flask import Flask, Response, redirect, send_from_directory
from flask_cors import CORS
from flask_smorest import Api
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from domain.errors import InvalidFields
from service import console
from service.api import accounts as users
from service.api import (
    activities,
    activity_lists,
    activity_reads,
    audit,
    auth,
    authentication,
    errors,
    headers,
    health,
    initiatives,
    metrics,
    organisations,
    themes,
)
from service.api import read_views as views
from service.api.errors import ApiProblem
from service.api.request import unfit
from service.api.schemas import register_openapi
from service.config import Settings
from service.context import (
    close_reader,
    current_application,
    current_request,
    request_id,
    request_state,
)
from service.infrastructure import observability, readcache
from service.infrastructure.runtime import RUNTIME_KEY

MAX_BODY = 1024 * 1024
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "X-Min-Position",
    "X-Request-Id",
]
CORS_RESPONSE_HEADERS = ["ETag", "Location", "Retry-After", "X-Position", "X-Request-Id"]
JSON_TYPES = ("application/json",)


class TwinningFlask(Flask):
    """Flask, asking once per function whether it is a coroutine function.

    Flask's ``ensure_sync`` asks again for every hook and view on every request, yet the answer
    never changes (docs/PERFORMANCE.md, item 8)."""

    SYNC_MEMO_SIZE = 4096  # bounded: callables made on the fly must not pile up

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Any, bool] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        key = getattr(func, "__func__", func)  # a bound method by its function
        coroutine = self._sync.get(key)
        if coroutine is None:
            coroutine = iscoroutinefunction(func)
            if len(self._sync) < self.SYNC_MEMO_SIZE:
                self._sync[key] = coroutine
        return self.async_to_sync(func) if coroutine else func


class TwinningApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, answering HTTP errors with problem documents."""

    def handle_http_exception(self, error: HTTPException) -> Response:
        return errors.handle_http_exception(error)


def _check_body() -> None:
    """415 for a body that is not JSON; 400 for JSON that cannot be parsed."""
    req = current_request()
    if req.method not in ("POST", "PUT", "PATCH", "DELETE") or req.blueprint == "console":
        return  # the console takes HTML forms (service.console.forms checks them)
    has_body = (req.content_length or 0) > 0 or "chunked" in req.headers.get(
        "Transfer-Encoding", ""
    ).lower()
    if not has_body:
        return
    if req.content_length is not None and req.content_length > MAX_BODY:
        raise ApiProblem(413, "The request body is larger than 1 MiB.")
    mimetype = req.mimetype or ""
    if mimetype not in JSON_TYPES and not mimetype.endswith("+json"):
        raise ApiProblem(415, "Send the body as application/json.")
    try:
        body = req.get_json(force=True)
    except RecursionError:
        raise ApiProblem(400, "The JSON body is nested too deeply.") from None
    except BadRequest:
        raise ApiProblem(400, "The request body is not valid JSON in UTF-8.") from None
    items = body.items() if isinstance(body, dict) else [("body", body)]
    problems = {str(key): [problem] for key, value in items if (problem := unfit(value, key))}
    if problems:
        raise InvalidFields(problems)


def _check_query() -> None:
    """The same rule for query parameters: 422 keyed by the parameter."""
    problems = {
        key: [problem]
        for key, value in current_request().args.items(multi=True)
        if (problem := unfit(value, key))
    }
    if problems:
        raise InvalidFields(problems)


def _database_gate() -> None:
    """503 at once while the database is known to be away (service.infrastructure.availability)."""
    built = current_application().extensions.get(RUNTIME_KEY)
    if built is None or current_request().endpoint == "health.Health":
        return
    if not built.availability.available():
        raise ApiProblem(
            503,
            "The database is not reachable right now; try again shortly.",
            headers={"Retry-After": "2"},
        )


def _end_request(_error: BaseException | None = None) -> None:
    """Ends what the request held: its loads' freshness and its connection for the views
    (once, though a streamed response's context ends twice)."""
    state = request_state()
    if state.freshness_token is not None:
        readcache.leave(state.freshness_token)
        state.freshness_token = None
    close_reader(state)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Builds the WSGI application; the database is opened on first use, per process."""
    settings = Settings.from_env(overrides=overrides)
    observability.configure_logging(settings.log_level, settings.log_format)
    app = TwinningFlask(__name__)
    app.config.update(
        TWINNING_SETTINGS=settings,
        MAX_CONTENT_LENGTH=MAX_BODY,
        API_TITLE="Twinning initiatives",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="v1/openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/docs/static/",
        # No badge fetched from validator.swagger.io: the page loads nothing from elsewhere.
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "Event-sourced workflow for thematic town-twinning initiatives: propose, "
                    "co-edit, review, approve and report. Errors are RFC 9457 problem "
                    "documents."
                )
            },
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer"},
                }
            },
            "security": [{"bearerAuth": []}],
        },
    )
    if settings.trusted_proxies:
        # Behind N reverse proxies: the client's address, scheme and host come from their
        # X-Forwarded-* headers (login limits are per client address).
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    errors.register(app)
    observability.init_app(app)
    app.before_request(_database_gate)
    app.teardown_request(_end_request)
    if settings.cors_allowed():
        CORS(
            app,
            origins=settings.cors_allowed(),
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_RESPONSE_HEADERS,
            max_age=600,
        )
    authentication.init_app(app)
    app.before_request(_check_body)
    app.before_request(_check_query)

    api = TwinningApi(app)
    register_openapi(api)
    for module in (
        auth,
        organisations,
        users,
        initiatives,
        activities,
        activity_lists,
        themes,
        health,
        audit,
        metrics,
    ):
        api.register_blueprint(module.blp)
    for blueprint in views.BLUEPRINTS:
        api.register_blueprint(blueprint)
    api.register_blueprint(activity_reads.blp)
    console.init_app(app)

    @app.after_request
    def stamp(response: Response) -> Response:
        response.headers["X-Request-Id"] = request_id()
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return headers.secure(response)

    @app.get("/")
    def root() -> Any:
        return redirect("/api/docs", code=302)

    @app.get("/api/docs/static/<path:filename>")
    def swagger_ui_static(filename: str) -> Response:
        from swagger_ui_bundle import swagger_ui_path

        return send_from_directory(swagger_ui_path, filename)

    return app


def close_app(app: Flask) -> None:
    built = app.extensions.pop(RUNTIME_KEY, None)
    if built is not None:
        built.close()
