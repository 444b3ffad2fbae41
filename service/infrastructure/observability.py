"""Metrics (Prometheus; multiprocess mode under gunicorn) and structured JSON logs.

Under gunicorn every worker writes its counters to files in `PROMETHEUS_MULTIPROC_DIR`
(set by `deploy/gunicorn.conf.py` and `twinning serve` before the workers start) and any worker
answers `/metrics` with the sum. The projection lag is read from the database at scrape time.
Logs are one JSON object a line, with the request id and the acting account; no header, body
or query string is ever logged, so no password or token can reach a log.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Recording
from flask import Flask, Response, has_request_context
from gunicorn import glogging  # type: ignore[import-untyped]
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from service.context import current_request, request_state

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "twinning_http_requests",
    "HTTP requests answered, by method, route and status.",
    ["method", "endpoint", "status"],
)
LATENCY = Histogram(
    "twinning_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route and status.",
    ["method", "endpoint", "status"],
    buckets=LATENCY_BUCKETS,
)
COMMANDS = Counter(
    "twinning_commands",
    "Commands (requests that change state), by command and outcome.",
    ["command", "outcome"],
)
EVENTS = Counter(
    "twinning_events_recorded",
    "Events recorded in the event store by this service, by event type.",
    ["type"],
)

log = logging.getLogger("twinning.requests")


class EventMetrics:
    """Counts the events each save recorded, by type (a domain.application.SaveObserver)."""

    def saved(self, aggregates: Mapping[UUID, Any], recordings: Sequence[Recording[UUID]]) -> None:
        for recording in recordings:
            EVENTS.labels(type(recording.domain_event).__qualname__).inc()

    def conflicted(self, tried: Mapping[UUID, int]) -> None:
        return


def outcome_of(status: int) -> str:
    if status < 400:
        return "ok"
    return {409: "conflict", 412: "stale", 429: "limited"}.get(
        status, "error" if status >= 500 else "refused"
    )


class ProjectionCollector(Collector):
    """Each view's position and lag, and the event store's head, read when scraped."""

    def __init__(self, rt: Any) -> None:
        self.rt = rt

    def collect(self) -> Iterator[GaugeMetricFamily]:
        head = self.rt.projector.head()
        positions = self.rt.projector.positions()
        yield GaugeMetricFamily(
            "twinning_event_store_head_position",
            "The position of the last event recorded in the event store.",
            value=head,
        )
        position = GaugeMetricFamily(
            "twinning_projection_position", "The last position a view has applied.", labels=["view"]
        )
        lag = GaugeMetricFamily(
            "twinning_projection_lag_events",
            "Events recorded but not yet applied to a view.",
            labels=["view"],
        )
        for name, at in sorted(positions.items()):
            position.add_metric([name], at)
            lag.add_metric([name], max(0, head - at))
        yield position
        yield lag


def exposition(rt: Any) -> Response:
    """The Prometheus text of this service: every process's counters and the live lag."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_DIR):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    lag = CollectorRegistry()
    lag.register(ProjectionCollector(rt))
    return Response(body + generate_latest(lag), content_type=CONTENT_TYPE_LATEST)


# ---------------------------------------------------------------------------- requests
def _started() -> None:
    request_state().started = time.perf_counter()


# The labelled children of the request metrics, by (method, route, status): asking the
# metric for them (``labels``) validates and locks on every call.
_series: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}


def _request_series(method: str, endpoint: str, status: int, routed: bool) -> tuple[Any, Any, Any]:
    key = (method, endpoint, status)
    series = _series.get(key)
    if series is None:
        labels = (method, endpoint, str(status))
        command = None
        if method in ("POST", "PUT", "PATCH", "DELETE") and routed:
            command = COMMANDS.labels(f"{method} {endpoint}", outcome_of(status))
        series = (REQUESTS.labels(*labels), LATENCY.labels(*labels), command)
        if len(_series) < 10_000:  # routes x methods x statuses: bounded, but be sure
            _series[key] = series
    return series


def _finished(response: Response) -> Response:
    started = request_state().started
    if started is None:
        return response
    elapsed = time.perf_counter() - started
    req = current_request()
    rule = req.url_rule
    endpoint = rule.rule if rule is not None else "unmatched"
    method = req.method
    status = response.status_code
    requests, latency, command = _request_series(method, endpoint, status, rule is not None)
    requests.inc()
    latency.observe(elapsed)
    if command is not None:
        command.inc()
    if log.isEnabledFor(logging.INFO):
        log.info(
            "%s %s %s",
            method,
            req.path,
            status,
            extra={
                "method": method,
                "path": req.path,
                "route": endpoint,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )
    return response


def init_app(app: Flask) -> None:
    """Times and counts every request; registered before authentication so that refusals
    count too."""
    app.before_request(_started)
    app.after_request(_finished)


# -------------------------------------------------------------------------------- logs
CONTEXT_FIELDS = ("method", "path", "route", "status", "duration_ms", "view", "views", "pid")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, actor, fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            state = request_state()
            entry["request_id"] = state.request_id
            caller = state.caller
            if caller is not None:
                entry["actor"] = {
                    "account_id": caller.account_id,
                    "organisation_id": caller.organisation_id,
                    "roles": sorted(caller.roles),
                }
        for key in CONTEXT_FIELDS:
            if key in record.__dict__:
                entry[key] = record.__dict__[key]
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: str, form: str) -> None:
    """Sends every log line to stderr, as JSON (default) or as plain text."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if form == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        # Replace plain stream handlers (gunicorn's, an earlier call's); keep others, such
        # as a test runner's capture.
        if type(existing) is logging.StreamHandler:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())


class GunicornLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, building an access log line only when one will be written.

    Given a logging configuration, gunicorn builds every request's line even when its logger
    drops it (docs/PERFORMANCE.md, item 13); here that logger's level decides, so
    ``TWINNING_ACCESS_LOG`` alone turns the lines on."""

    @property
    def access_log_enabled(self) -> bool:  # gunicorn's access() returns early when False
        return bool(super().access_log_enabled) and self.access_log.isEnabledFor(logging.INFO)
