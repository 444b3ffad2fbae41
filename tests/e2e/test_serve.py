"""End to end: the real `twinning serve` (gunicorn, several workers) over HTTP, and the CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_URL, drop_schema, require_postgres

pytestmark = pytest.mark.e2e

ADMIN = "admin@e2e.test"
PASSWORD = "an e2e admin password"
TWINNING = str(Path(sys.executable).with_name("twinning"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    version: int | None = None,
) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if version is not None:
        request.add_header("If-Match", f'"{version}"')
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, dict(error.headers), json.loads(raw) if raw else None


def wait_ready(base: str, process: subprocess.Popen[Any], log: Path, timeout: float) -> bool:
    """Whether the server at `base` answered /readyz with 200 within `timeout` seconds;
    fails at once, with the log, when the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if call(base, "GET", "/readyz")[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def propose(base: str, token: str, title: str) -> dict[str, Any]:
    status, _, body = call(
        base,
        "POST",
        "/api/v1/initiatives",
        {
            "title": {"en": title},
            "summary": {"en": "S"},
            "original_language": "en",
            "themes": ["youth"],
            "level": "national",
            "countries": ["IT"],
        },
        token,
    )
    assert status == 201, body
    return dict(body)


class Server:
    def __init__(
        self,
        env: dict[str, str],
        tmp: Path,
        workers: int = 3,
        ready_timeout: float = 60,
        projector: bool = True,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = (tmp / f"serve-{self.port}.log").open("w")
        self.process = subprocess.Popen(
            [
                TWINNING,
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--projector" if projector else "--no-projector",
            ],
            env={
                **os.environ,
                **env,
                "TWINNING_ADMIN_EMAIL": ADMIN,
                "TWINNING_ADMIN_PASSWORD": PASSWORD,
                "TWINNING_ARGON2_TIME_COST": "1",
                "TWINNING_ARGON2_MEMORY_KIB": "1024",
                "TWINNING_ACCESS_LOG": "",
            },
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait_ready(self.base, self.process, tmp / f"serve-{self.port}.log", ready_timeout):
            return
        self.stop()
        raise AssertionError(f"the server did not become ready in {ready_timeout} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()

    def partner(self, admin: str, email: str, country: str = "IT") -> tuple[str, str]:
        """A new organisation with a partner account: (its token, the organisation id)."""
        status, _, org = call(
            self.base,
            "POST",
            "/api/v1/organisations",
            {"name": f"Comune {email}", "type": "local_authority", "country": country},
            admin,
        )
        assert status == 201, org
        status, _, body = call(
            self.base,
            "POST",
            "/api/v1/users",
            {
                "email": email,
                "name": "Partner",
                "password": PASSWORD,
                "organisation_id": org["id"],
                "roles": ["partner"],
            },
            admin,
        )
        assert status == 201, body
        return self.login(email), str(org["id"])

    def login(self, email: str, password: str = PASSWORD) -> str:
        status, _, body = call(
            self.base, "POST", "/api/v1/auth/tokens", {"email": email, "password": password}
        )
        assert status == 201, body
        return str(body["token"])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    env = {"TWINNING_DATA_DIR": str(tmp_path / "var"), "TWINNING_DATABASE_URL": ""}
    schema = None
    if request.param == "postgres":
        require_postgres()
        schema = f"e_{uuid.uuid4().hex[:16]}"
        env = {
            "TWINNING_DATABASE_URL": PG_URL,
            "TWINNING_DATABASE_SCHEMA": schema,
            "TWINNING_POOL_SIZE": "2",
            "TWINNING_MAX_OVERFLOW": "4",
        }
    running = Server(env, tmp_path)
    try:
        yield running
    finally:
        running.stop()
        if schema:
            drop_schema(schema)


def test_many_clients_run_initiatives_through_gunicorn(server: Server) -> None:
    admin = server.login(ADMIN)
    base = server.base
    orgs = []
    for country in ("IT", "RS"):
        status, _, body = call(
            base,
            "POST",
            "/api/v1/organisations",
            {"name": f"Town {country}", "type": "local_authority", "country": country},
            admin,
        )
        assert status == 201, body
        orgs.append(body["id"])
    for index, org in enumerate(orgs):
        status, _, body = call(
            base,
            "POST",
            "/api/v1/users",
            {
                "email": f"p{index}@e2e.test",
                "name": "P",
                "password": PASSWORD,
                "organisation_id": org,
                "roles": ["partner"],
            },
            admin,
        )
        assert status == 201, body
    lead, partner = server.login("p0@e2e.test"), server.login("p1@e2e.test")

    def lifecycle(n: int) -> list[int]:
        statuses = []
        status, headers, body = call(
            base,
            "POST",
            "/api/v1/initiatives",
            {
                "title": {"en": f"Initiative {n}"},
                "summary": {"en": "S"},
                "original_language": "en",
                "themes": ["youth"],
                "level": "european",
                "countries": ["IT", "RS"],
            },
            lead,
        )
        statuses.append(status)
        path = f"/api/v1/initiatives/{body['id']}"
        steps = [
            (lead, "POST", f"{path}/partners", {"organisation_id": orgs[1]}, 1),
            (partner, "POST", f"{path}/partners/{orgs[1]}/join", None, 2),
            (lead, "POST", f"{path}/co-design", None, 3),
            (partner, "PATCH", path, {"expected_participants": n, "base_version": 4}, None),
            (lead, "POST", f"{path}/submit", None, 5),
        ]
        for who, method, where, payload, version in steps:
            status, headers, body = call(base, method, where, payload, who, version)
            statuses.append(status)
            assert int(headers["X-Position"]) > 0
        assert body["state"] == "in_review" and body["expected_participants"] == n
        return statuses

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lifecycle, range(16)))
    assert all(s == [201, 200, 200, 200, 200, 200] for s in results), results
    # Concurrent edits of one initiative across workers: all land, none twice.
    body = propose(base, lead, "Shared")
    path = f"/api/v1/initiatives/{body['id']}"
    edits = [
        {"expected_participants": 5},
        {"target_groups": ["a"]},
        {"start_date": "2027-01-01"},
        {"description": {"en": "D"}},
    ]
    with ThreadPoolExecutor(4) as pool:
        codes = list(
            pool.map(lambda e: call(base, "PATCH", path, {**e, "base_version": 1}, lead)[0], edits)
        )
    assert codes == [200] * 4
    status, headers, final = call(base, "GET", path, token=lead)
    assert final["version"] == 5 and headers["ETag"] == '"5"'
    assert final["expected_participants"] == 5 and final["target_groups"] == ["a"]

    # The projector started beside the API makes a new initiative visible within a second.
    made = propose(base, lead, "Visible soon")
    acknowledged = time.monotonic()
    while True:
        _, _, page = call(base, "GET", "/api/v1/initiatives?q=visible", token=lead)
        if [item["id"] for item in page["items"]] == [made["id"]]:
            break
        assert time.monotonic() - acknowledged < 1.0, "not in the list within a second"
        time.sleep(0.02)
    _, _, page = call(base, "GET", "/api/v1/initiatives?limit=200", token=lead)
    assert len(page["items"]) == 18


def run_cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TWINNING, *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_create_admin_makes_an_account_that_can_log_in(tmp_path: Path) -> None:
    env = {
        "TWINNING_DATA_DIR": str(tmp_path / "var"),
        "TWINNING_ARGON2_TIME_COST": "1",
        "TWINNING_ARGON2_MEMORY_KIB": "1024",
    }
    made = run_cli("create-admin", "--email", "boss@e2e.test", "--password", PASSWORD, env=env)
    assert made.returncode == 0, made.stderr
    assert "created" in made.stdout and PASSWORD not in made.stdout
    again = run_cli("create-admin", "--email", "Boss@e2e.test", "--password", PASSWORD, env=env)
    assert again.returncode == 1 and "exists already" in again.stderr
    short = run_cli("create-admin", "--email", "x@e2e.test", "--password", "short", env=env)
    assert short.returncode == 2
    common = run_cli("create-admin", "--email", "x@e2e.test", "--password", "1q2w3e4r5t6y", env=env)
    assert common.returncode == 2 and "Too common" in common.stderr
    assert "1q2w3e4r5t6y" not in common.stderr
    from service.app import close_app, create_app

    app = create_app(
        {"data_dir": tmp_path / "var", "argon2_time_cost": 1, "argon2_memory_kib": 1024}
    )
    try:
        response = app.test_client().post(
            "/api/v1/auth/tokens", json={"email": "boss@e2e.test", "password": PASSWORD}
        )
        assert response.status_code == 201
    finally:
        close_app(app)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TWINNING_DATABASE_URL", "mysql://x/y", "postgresql://"),
        ("TWINNING_TOKEN_TTL_HOURS", "soon", "not a whole number"),
        ("TWINNING_LOGIN_LIMIT_PER_EMAIL", "lots", "rate"),
        ("TWINNING_LOG_LEVEL", "LOUD", "TWINNING_LOG_LEVEL"),
        ("TWINNING_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/test", "cannot open"),
    ],
)
def test_a_wrong_setting_stops_the_start_with_one_clear_line(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    result = run_cli(
        "serve",
        "--port",
        str(free_port()),
        env={"TWINNING_DATA_DIR": str(tmp_path), variable: value},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr
