"""What every blueprint shares: the parser, the caller, If-Match, headers, problem docs."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import flask_smorest
from flask.views import MethodView
from marshmallow import Schema
from webargs.flaskparser import FlaskParser

from domain.values import Caller
from projections.view import iso as iso_utc
from service.api.errors import ApiProblem
from service.context import current_request, request_state

T = TypeVar("T")
# The most a request waits for the read views to reach a position (X-Min-Position, and the
# console's ?at= after a command).
WAIT_SECONDS = 2.0
# A position as a client sends it back: ASCII digits only (str.isdigit() also takes "²",
# which int() refuses), short enough for any store.
_POSITION = re.compile(r"[0-9]{1,18}")


def parse_position(raw: str) -> int | None:
    """The event position `raw` names (X-Position as sent back), None when it names none."""
    return int(raw) if _POSITION.fullmatch(raw) else None


F = TypeVar("F", bound=Callable[..., Any])


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso_utc(moment)


class QueryMemoParser(FlaskParser):
    """webargs' Flask parser that remembers what each query string parsed to.

    Parsing a query is a pure function of the schema and the string, and on a list page
    served from the read cache it was a tenth of the request. Bodies, headers and failures
    are parsed every time; each caller gets its own copy of the result."""

    SIZE = 1024

    def __init__(self) -> None:
        super().__init__()
        self._memo: dict[tuple[int, Any, bytes], tuple[Schema, dict[str, Any]]] = {}

    def parse(self, argmap: Any, req: Any = None, *, location: str | None = None, **kw: Any) -> Any:
        if location != "query" or not isinstance(argmap, Schema) or kw.get("validate"):
            return super().parse(argmap, req, location=location, **kw)
        key = (id(argmap), kw.get("unknown"), current_request().query_string)
        hit = self._memo.get(key)
        if hit is None or hit[0] is not argmap:
            parsed = super().parse(argmap, req, location=location, **kw)
            if len(self._memo) >= self.SIZE:
                self._memo.clear()
            hit = self._memo[key] = (argmap, parsed)
        return copy.deepcopy(hit[1])


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """flask-smorest's blueprint with the memoizing query parser and documented headers;
    every blueprint of the service is one."""

    ARGUMENTS_PARSER = QueryMemoParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_headers_doc)

    @staticmethod
    def headers(*parameters: dict[str, Any]) -> Callable[[F], F]:
        """Documents header parameters read by hand. `doc(parameters=...)` would replace the
        list, dropping the query parameters that `arguments` documents."""

        def decorate(func: F) -> F:
            func._apidoc = {  # type: ignore[attr-defined]
                **getattr(func, "_apidoc", {}),
                "headers": list(parameters),
            }
            return func

        return decorate

    @staticmethod
    def _prepare_headers_doc(doc: dict[str, Any], doc_info: dict[str, Any], **_: Any) -> Any:
        if doc_info.get("headers"):
            doc.setdefault("parameters", []).extend(doc_info["headers"])
        return doc


def public(view: type[MethodView]) -> type[MethodView]:
    """Marks a view as readable without an account (and says so in the OpenAPI spec)."""
    view.public = True  # type: ignore[attr-defined]
    for method in ("get", "post"):
        if hasattr(view, method):
            setattr(view, method, Blueprint.doc(security=[])(getattr(view, method)))
    return view


def current_caller() -> Caller:
    caller = request_state().caller
    if caller is None:
        raise ApiProblem(401, "Send a bearer token: Authorization: Bearer <token>.")
    return caller


# C0 controls but tab, newline and carriage return; DEL; lone surrogates (not UTF-8 at all).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_NUMBER_LIMIT = 2**53  # beyond it JSON numbers stop being exact in most clients


def unfit(value: Any, key: Any = "") -> str | None:
    """Why a JSON value cannot be taken as text or number anywhere in the service, or None.

    Control characters and lone surrogates have no place in names, texts or identifiers
    (and PostgreSQL refuses NUL in text); numbers beyond 2^53 are not exact in JSON."""
    stack = [key, value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _CONTROL.search(item):
                return "Must not contain control characters or lone surrogates."
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) > _NUMBER_LIMIT:
                return "Numbers must lie between -2^53 and 2^53."
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                return "Numbers must be finite."
        elif isinstance(item, dict):
            for k, v in item.items():
                stack += [k, v]
        elif isinstance(item, list):
            stack += item
    return None


_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,12})"?\s*$')


def if_match_version() -> int | None:
    """The version named by If-Match, None when the header is absent."""
    raw = current_request().headers.get("If-Match")
    if raw is None:
        return None
    match = _ETAG.match(raw)
    if not match:
        raise ApiProblem(
            412, 'If-Match must name a version of the initiative, as in If-Match: "3".'
        )
    return int(match.group(1))


def with_headers(
    body: T,
    *,
    position: int | None = None,
    version: int | None = None,
    location: str | None = None,
) -> tuple[T, dict[str, str]]:
    headers = {}
    if position is not None:
        headers["X-Position"] = str(position)
    if version is not None:
        headers["ETag"] = f'"{version}"'
    if location is not None:
        headers["Location"] = location
    return body, headers


ERROR_DESCRIPTIONS = {
    400: "Malformed JSON, or a malformed header (X-Min-Position).",
    401: "No or bad credentials.",
    403: "Authenticated, but not allowed.",
    404: "Unknown resource.",
    409: "Not allowed in the current state, or a co-editing conflict.",
    412: "Stale If-Match: the resource changed since you read it.",
    413: "Body larger than 1 MiB.",
    415: "A body sent with a type other than JSON.",
    422: "Invalid fields.",
    428: "If-Match (or base_version) is missing.",
    429: "Rate limited.",
    503: "Not ready.",
}


def documents(blp: Blueprint, *statuses: int) -> Callable[[Callable[..., Any]], Any]:
    """Documents the problem responses of a view in the OpenAPI spec.

    flask-smorest's `alt_response` documents by wrapping: one more call per request for each
    status (ten on a command). The spec is what it leaves on the wrapper, so it is applied
    to a stand-in and only its documentation is kept on the view."""
    from service.api.schemas import ProblemSchema

    def decorate(func: Callable[..., Any]) -> Any:
        stand_in: Any = functools.wraps(func)(lambda *args, **kwargs: None)
        for status in statuses:
            stand_in = blp.alt_response(
                status,
                schema=ProblemSchema,
                description=ERROR_DESCRIPTIONS.get(status, "Error."),
                content_type="application/problem+json",
                success=False,
            )(stand_in)
        func._apidoc = stand_in._apidoc  # type: ignore[attr-defined]
        return func

    return decorate
