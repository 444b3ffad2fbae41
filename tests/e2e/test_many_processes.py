"""Many processes, one truth (PostgreSQL): 4 gunicorn workers and 2 projectors, concurrent
clients running whole lifecycles. Afterwards every command that got a 2xx is in the event
store, and the views equal a fresh rebuild."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from service.config import Settings
from service.infrastructure.runtime import Runtime
from tests.conftest import FAST_HASHING, PG_URL, drop_schema, require_postgres
from tests.e2e.test_projector_crash import assert_views_are_exact
from tests.e2e.test_projector_failover import Projector
from tests.e2e.test_serve import ADMIN, PASSWORD, Server, call

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

CLIENTS = 8
LIFECYCLES = 24


@pytest.fixture
def schema() -> Iterator[str]:
    require_postgres()
    name = f"e_{uuid.uuid4().hex[:16]}"
    yield name
    drop_schema(name)


class Team:
    """Accounts over HTTP, and a record of every acknowledged command."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.admin = server.login(ADMIN)
        self.acknowledged: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def call(
        self, token: str, method: str, path: str, body: Any = None, version: Any = None
    ) -> Any:
        status, headers, answer = call(self.server.base, method, path, body, token, version)
        assert 200 <= status < 300, (method, path, status, answer)
        if method != "GET" and path.startswith("/api/v1/initiatives"):
            with self.lock:
                self.acknowledged.append((answer["id"], answer["version"]))
            assert int(headers["X-Position"]) > 0
        return answer

    def account(self, country: str, kind: str, role: str) -> tuple[str, str]:
        org = self.call(
            self.admin,
            "POST",
            "/api/v1/organisations",
            {"name": f"{kind} {country} {uuid.uuid4().hex[:6]}", "type": kind, "country": country},
        )
        email = f"{role}-{uuid.uuid4().hex[:8]}@many.test"
        self.call(
            self.admin,
            "POST",
            "/api/v1/users",
            {
                "email": email,
                "name": role,
                "password": PASSWORD,
                "organisation_id": org["id"],
                "roles": [role],
            },
        )
        return self.server.login(email), org["id"]


def lifecycle(team: Team, people: dict[str, Any], n: int) -> str:
    lead, _ = people["lead"]
    partner, partner_org = people["partner"]
    reviewers = people["reviewers"]
    body = team.call(
        lead,
        "POST",
        "/api/v1/initiatives",
        {
            "title": {"en": f"Many processes {n}", "fr": f"Plusieurs processus {n}"},
            "summary": {"en": "Youth exchange between twinned towns."},
            "original_language": "en",
            "themes": ["youth"],
            "level": "national",
            "countries": ["IT"],
        },
    )
    path = f"/api/v1/initiatives/{body['id']}"
    body = team.call(lead, "POST", f"{path}/partners", {"organisation_id": partner_org}, 1)
    body = team.call(partner, "POST", f"{path}/partners/{partner_org}/join", None, 2)
    body = team.call(lead, "POST", f"{path}/co-design", None, 3)
    team.call(partner, "PATCH", path, {"expected_participants": n, "base_version": 4})
    body = team.call(lead, "PATCH", path, {"target_groups": ["youth"], "base_version": 4})
    body = team.call(lead, "POST", f"{path}/submit", None, body["version"])
    step = 0
    while body["state"] == "in_review":
        reviewer = reviewers[(n + step) % len(reviewers)][0]
        body = team.call(
            reviewer,
            "POST",
            f"{path}/reviews",
            {"decision": "approve", "rationale": "Sound plan."},
            body["version"],
        )
        step += 1
    assert body["state"] == "approved"
    body = team.call(lead, "POST", f"{path}/follow-up", None, body["version"])
    report = {
        "period_start": "2027-03-01",
        "period_end": "2027-05-31",
        "participants": 10 + n,
        "activities": 2,
        "narrative": {"en": "Two workshops."},
    }
    body = team.call(partner, "POST", f"{path}/reports", report, body["version"])
    body = team.call(
        lead, "POST", f"{path}/complete", {"outcomes": {"en": "Done."}}, body["version"]
    )
    assert body["state"] == "completed" and body["expected_participants"] == n
    return str(body["id"])


def test_four_workers_and_two_projectors_keep_one_truth(schema: str, tmp_path: Path) -> None:
    env = {
        "TWINNING_DATABASE_URL": PG_URL,
        "TWINNING_DATABASE_SCHEMA": schema,
        "TWINNING_POOL_SIZE": "2",
        "TWINNING_MAX_OVERFLOW": "2",
    }
    server = Server(env, tmp_path, workers=4)
    second = Projector({**os.environ, **env})
    try:
        team = Team(server)
        people = {
            "lead": team.account("IT", "local_authority", "partner"),
            "partner": team.account("AL", "civil_society", "partner"),
            "reviewers": [team.account(c, "other", "reviewer") for c in ("FR", "DE")],
        }
        with ThreadPoolExecutor(CLIENTS) as pool:
            made = list(pool.map(lambda n: lifecycle(team, people, n), range(LIFECYCLES)))
        assert len(set(made)) == LIFECYCLES

        rt = Runtime(
            Settings.from_env(
                environ={},
                overrides={"database_url": PG_URL, "database_schema": schema, **FAST_HASHING},
            )
        )
        try:
            # Every acknowledged command is in the event store, at the version it answered.
            for initiative_id, version in team.acknowledged:
                assert (
                    rt.app.repository.get(UUID(initiative_id), version=version).version == version
                )
            head = rt.projector.head()
            assert rt.projector.wait(head, timeout=30)
            assert_views_are_exact(rt)
            # And the API's list shows every initiative, completed.
            page = team.call(team.admin, "GET", "/api/v1/initiatives?limit=200&state=completed")
            assert {item["id"] for item in page["items"]} == set(made)
        finally:
            rt.close()
    finally:
        second.stop()
        server.stop()
