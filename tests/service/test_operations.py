"""Operations: /metrics, structured logs without secrets, CORS, trusted proxies, settings."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from service.app import close_app, create_app
from service.config import ConfigError, Database, Settings
from service.infrastructure.observability import JsonFormatter
from service.infrastructure.runtime import runtime
from tests.conftest import FAST_HASHING, PG_URL, drop_schema, require_postgres
from tests.service.conftest import ADMIN_EMAIL, PASSWORD, World, problem, proposal

SCRAPER = "a-scraper-token-of-some-length"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def ops_app(backend: dict[str, Any]) -> Iterator[Flask]:
    flask_app = create_app(
        {
            **backend,
            **FAST_HASHING,
            "admin_email": ADMIN_EMAIL,
            "admin_password": PASSWORD,
            "metrics_token": SCRAPER,
            "cors_origins": "https://partners.example.eu, http://localhost:5173",
            "trusted_proxies": 1,
            "login_limit_per_address": "3/minute",
        }
    )
    yield flask_app
    close_app(flask_app)


def test_metrics_count_requests_commands_events_and_lag(ops_app: Flask) -> None:
    world = World(ops_app)
    scrape = {"Authorization": f"Bearer {SCRAPER}"}
    before = samples(world.anonymous.get("/metrics", headers=scrape).get_data(as_text=True))
    lead = world.partner()
    body = world.propose(lead)
    problem(lead.post(f"/api/v1/initiatives/{body['id']}/submit", version=body["version"]), 409)
    response = world.anonymous.get("/metrics", headers=scrape)
    assert response.status_code == 200 and response.mimetype == "text/plain"
    after = samples(response.get_data(as_text=True))

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    propose = "POST /api/v1/initiatives"
    submit = "POST /api/v1/initiatives/<uuid:initiative_id>/submit"
    assert grew("twinning_commands_total", command=propose, outcome="ok") == 1
    assert grew("twinning_commands_total", command=submit, outcome="conflict") == 1
    assert grew("twinning_events_recorded_total", type="Initiative.Proposed") == 1
    route = {"method": "POST", "endpoint": "/api/v1/initiatives", "status": "201"}
    assert grew("twinning_http_requests_total", **route) == 1
    assert grew("twinning_http_request_duration_seconds_count", **route) == 1
    head = value(after, "twinning_event_store_head_position")
    assert head >= 1
    for view in ("organisations", "initiatives", "audit"):
        lag = value(after, "twinning_projection_lag_events", view=view)
        position = value(after, "twinning_projection_position", view=view)
        assert lag == head - position and lag > 0  # nothing projected in this test yet
    world.project()
    caught_up = samples(world.anonymous.get("/metrics", headers=scrape).get_data(as_text=True))
    assert value(caught_up, "twinning_projection_lag_events", view="initiatives") == 0


def test_metrics_need_the_scraper_token_or_an_admin_or_auditor(ops_app: Flask) -> None:
    world = World(ops_app)
    problem(world.anonymous.get("/metrics"), 401)
    problem(world.anonymous.get("/metrics", headers={"Authorization": "Bearer wrong-token"}), 401)
    problem(world.partner().get("/metrics"), 403)
    assert world.admin.get("/metrics").status_code == 200
    auditor = world.account(world.organisation(type_="other"), "auditor")
    assert auditor.get("/metrics").status_code == 200
    # The scraper token is good for /metrics only.
    problem(
        world.anonymous.get("/api/v1/users/me", headers={"Authorization": f"Bearer {SCRAPER}"}),
        401,
    )


def test_logs_are_json_with_request_id_and_actor_and_no_secrets(ops_app: Flask) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        world = World(ops_app)
        new_password = "another secret passphrase"
        account = world.admin.post(
            "/api/v1/users",
            {
                "email": "secretive@twinning.test",
                "name": "S",
                "password": new_password,
                "organisation_id": world.organisation(),
                "roles": ["partner"],
            },
        )
        assert account.status_code == 201
        partner = world.login("secretive@twinning.test", new_password)
        response = partner.post("/api/v1/initiatives", proposal())
        assert response.status_code == 201
        world.anonymous.post(
            "/api/v1/auth/tokens", json={"email": ADMIN_EMAIL, "password": "a wrong password"}
        )
    finally:
        root.removeHandler(handler)
    text = stream.getvalue()
    for secret in (PASSWORD, new_password, "a wrong password", world.admin.token, partner.token):
        assert secret and secret not in text
    entries = [json.loads(line) for line in text.splitlines()]
    mine = [e for e in entries if e.get("request_id") == response.headers["X-Request-Id"]]
    assert mine, entries
    [line] = [e for e in mine if e["logger"] == "twinning.requests"]
    assert line["status"] == 201 and line["method"] == "POST"
    assert line["route"] == "/api/v1/initiatives"
    assert line["actor"]["account_id"] == partner.id
    assert line["actor"]["roles"] == ["partner"]
    assert line["time"].endswith("Z")


def test_cors_answers_allowed_origins_only(ops_app: Flask) -> None:
    world = World(ops_app)
    preflight = world.anonymous.request(
        "OPTIONS",
        "/api/v1/initiatives",
        headers={
            "Origin": "https://partners.example.eu",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, If-Match, Content-Type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://partners.example.eu"
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "if-match" in allowed
    answer = world.admin.get("/api/v1/themes", headers={"Origin": "http://localhost:5173"})
    assert answer.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "X-Position" in answer.headers["Access-Control-Expose-Headers"]
    other = world.admin.get("/api/v1/themes", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    # A preflight reveals nothing: an OPTIONS request to a protected route carries no data.
    assert not preflight.get_data()


def test_without_cors_origins_no_cors_headers(world: World) -> None:
    answer = world.admin.get("/api/v1/themes", headers={"Origin": "https://partners.example.eu"})
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_login_limits_use_the_forwarded_client_address(ops_app: Flask) -> None:
    world = World(ops_app)
    attempt = {"email": "nobody@twinning.test", "password": "wrong password 1"}

    def login(address: str) -> int:
        return world.http.post(
            "/api/v1/auth/tokens", json=attempt, headers={"X-Forwarded-For": address}
        ).status_code

    assert [login("203.0.113.7") for _ in range(4)] == [401, 401, 401, 429]
    assert login("198.51.100.20") == 401  # another client behind the same proxy


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"TWINNING_WORKRES": "4"},
            "TWINNING_WORKRES is not a setting (did you mean TWINNING_WORKERS?)",
        ),
        ({"TWINNING_WORKERS": "0"}, "TWINNING_WORKERS='0' must be at least 1"),
        ({"TWINNING_THREADS": "many"}, "not a whole number"),
        ({"TWINNING_SQLITE_HEAP_MIB": "-1"}, "TWINNING_SQLITE_HEAP_MIB='-1' must be at least 0"),
        ({"TWINNING_LOG_FORMAT": "xml"}, "must be json or text"),
        ({"TWINNING_CORS_ORIGINS": "https://ok.eu,ftp://x"}, "'ftp://x' is not an origin"),
        ({"TWINNING_CORS_ORIGINS": "https://ok.eu/path"}, "no path"),
        ({"TWINNING_METRICS_TOKEN": "short"}, "at least 16 characters"),
        ({"TWINNING_BIND": "8000"}, "HOST:PORT"),
        ({"TWINNING_RATE_LIMIT_STORAGE": "sql://x"}, "TWINNING_RATE_LIMIT_STORAGE"),
        ({"TWINNING_ADMIN_EMAIL": "nobody", "TWINNING_ADMIN_PASSWORD": "x" * 12}, "not an email"),
        (
            {"TWINNING_ADMIN_EMAIL": "a@b.eu", "TWINNING_ADMIN_PASSWORD": "123456789qwerty"},
            "TWINNING_ADMIN_PASSWORD: Too common",
        ),
        (
            {
                "TWINNING_ADMIN_EMAIL": "boss@twinning.eu",
                "TWINNING_ADMIN_PASSWORD": "Boss@Twinning.eu",
            },
            "Must not be the account's email.",
        ),
        (
            {"TWINNING_ADMIN_EMAIL": "a@b.eu", "TWINNING_ADMIN_PASSWORD": "eleven-char"},
            "TWINNING_ADMIN_PASSWORD: At least 12 characters.",
        ),
        ({"TWINNING_DATABASE_URL": "postgresql://h:99999/db"}, "invalid port"),
        ({"TWINNING_DATABASE_URL": "postgresql://u@/db?host=/s&port=x"}, "invalid port"),
        ({"TWINNING_DATABASE_URL": "postgresql://u@/db?host=/s&port=0"}, "invalid port"),
        (
            {"TWINNING_DATABASE_SCHEMA": "Bad-Name", "TWINNING_DATABASE_URL": "postgresql://h/d"},
            "SQL identifier",
        ),
    ],
)
def test_every_setting_is_validated(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(environ=environ)
    assert message in str(raised.value)


def test_good_settings_are_taken() -> None:
    settings = Settings.from_env(
        environ={
            "TWINNING_MAX_OVERFLOW": "0",
            "TWINNING_MAX_REQUESTS": "0",
            "TWINNING_BIND": "[::1]:9000",
            "TWINNING_CORS_ORIGINS": "*",
            "TWINNING_TEST_POSTGRES_URL": "ignored by the service",
        }
    )
    assert settings.max_overflow == 0 and settings.bind == "[::1]:9000"
    assert settings.cors_allowed() == ["*"]
    assert Settings.from_env(environ={"TWINNING_BIND": "unix:/run/twinning.sock"}).bind


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("postgresql://u@/db?host=/var/run/postgresql", "/var/run/postgresql", 5432),
        ("postgresql://u@%2Fvar%2Frun%2FPostgreSQL:5433/db", "/var/run/PostgreSQL", 5433),
        ("postgresql://u:p@DB.example:6000/db", "db.example", 6000),
        ("postgresql://u@/db?host=/run/pg&port=5433", "/run/pg", 5433),
        ("postgresql://u@db.example/db?host=/run/pg", "/run/pg", 5432),  # libpq: ?host= wins
    ],
)
def test_postgres_is_reached_by_host_or_by_unix_socket(url: str, host: str, port: int) -> None:
    database = Database.parse(url, Path("."))
    assert (database.host, database.port, database.dbname, database.user) == (host, port, "db", "u")
    engine_url = sa.engine.make_url(database.sqlalchemy_url())
    if host.startswith("/"):  # the folder goes in the query, as SQLAlchemy and libpq take it
        assert engine_url.host is None and engine_url.query["host"] == host
    else:
        assert engine_url.host == host
    assert engine_url.port == port
    assert database.eventsourcing_env(Settings())["TWINNING_POSTGRES_HOST"] == host


@pytest.mark.postgres
def test_the_service_runs_over_postgres_unix_socket() -> None:
    require_postgres()
    with psycopg.connect(PG_URL) as conn:
        row = conn.execute("SHOW unix_socket_directories").fetchone()
    assert row is not None
    parts = urlsplit(PG_URL)
    port = parts.port or 5432
    folder = next(
        (
            d.strip()
            for d in row[0].split(",")
            if d.strip() and (Path(d.strip()) / f".s.PGSQL.{port}").exists()
        ),
        None,
    )
    if folder is None:  # a server in a container, say: its socket is not on this machine
        pytest.skip(f"the test PostgreSQL's Unix socket ({row[0]!r}) is not on this machine")
    user = parts.username or "postgres"
    if parts.password:
        user += f":{parts.password}"
    url = f"postgresql://{user}@:{port}/{parts.path.lstrip('/')}?host={folder}"
    schema = f"t_{uuid.uuid4().hex[:16]}"
    app = create_app(
        {
            "database_url": url,
            "database_schema": schema,
            "admin_email": ADMIN_EMAIL,
            "admin_password": PASSWORD,
            **FAST_HASHING,
        }
    )
    try:
        client = app.test_client()
        login = client.post(
            "/api/v1/auth/tokens", json={"email": ADMIN_EMAIL, "password": PASSWORD}
        )
        assert login.status_code == 201, login.json
        me = client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {login.json['token']}"}
        )
        assert me.status_code == 200 and me.json["email"] == ADMIN_EMAIL
    finally:
        close_app(app)
        drop_schema(schema)


@pytest.mark.parametrize("mib", [3, 0])
def test_an_sqlite_process_shares_one_heap_limit_between_its_connections(
    tmp_path: Path, mib: int
) -> None:
    """TWINNING_SQLITE_HEAP_MIB becomes the process's SQLite soft heap limit, which bounds the
    page caches of all its connections together (views, event store, read checks); 0 lifts
    it."""

    def limit(set_to: int | None = None) -> int:
        with contextlib.closing(sqlite3.connect(":memory:")) as conn:
            if set_to is not None:
                conn.execute(f"PRAGMA soft_heap_limit={set_to}")
            return int(conn.execute("PRAGMA soft_heap_limit").fetchone()[0])

    before = limit()
    limit(5 * 1024 * 1024)  # neither value: the process must set its own
    app = create_app(
        {"data_dir": tmp_path / "var", "database_url": "", "sqlite_heap_mib": mib, **FAST_HASHING}
    )
    try:
        runtime(app)  # as a worker opens the database when it starts
        assert limit() == mib * 1024 * 1024
        assert Settings.from_env(environ={}).sqlite_heap_mib == 16
    finally:
        close_app(app)
        limit(before)


def test_the_scraper_token_never_shows_in_settings() -> None:
    settings = Settings.from_env(environ={"TWINNING_METRICS_TOKEN": SCRAPER})
    assert SCRAPER not in repr(settings)


def test_a_global_rate_limit_answers_429_but_spares_the_probes(backend: dict[str, Any]) -> None:
    limited = create_app(
        {
            **backend,
            **FAST_HASHING,
            "admin_email": ADMIN_EMAIL,
            "admin_password": PASSWORD,
            "rate_limit": "8/minute",
        }
    )
    try:
        http = limited.test_client()
        token = http.post(
            "/api/v1/auth/tokens", json={"email": ADMIN_EMAIL, "password": PASSWORD}
        ).json["token"]
        headers = {"Authorization": f"Bearer {token}"}
        statuses = [http.get("/api/v1/themes", headers=headers).status_code for _ in range(8)]
        assert statuses == [200] * 7 + [429]  # the login counted too
        refused = http.get("/api/v1/users/me", headers=headers)
        assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
        assert int(refused.headers["Retry-After"]) > 0
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200
        other = http.get("/api/v1/themes", headers={**headers, "X-Forwarded-For": "192.0.2.1"})
        assert other.status_code == 429  # no trusted proxy: the header is ignored
    finally:
        close_app(limited)
