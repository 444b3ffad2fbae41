"""PostgreSQL restarts in the middle of a load: /readyz says 503 while it is away, the service
answers again by itself afterwards, and no acknowledged command is lost."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from service.config import Settings
from service.infrastructure.runtime import Runtime
from tests import reliability
from tests.conftest import FAST_HASHING
from tests.e2e.test_serve import ADMIN, Server, call
from tests.pg_cluster import Cluster

# Times a recovery: run on the same xdist worker as the browser tests, so never beside them.
pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.xdist_group("timed-recovery")]

CLIENTS = 4


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    made = Cluster()
    try:
        yield made
    finally:
        made.destroy()


class Load:
    """Clients proposing and editing initiatives until stopped; every answer is kept."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token
        self.stop = threading.Event()
        self.acknowledged: list[tuple[str, int, float]] = []  # (initiative id, version, when)
        self.answers: list[tuple[float, int]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(CLIENTS)]

    def request(self, method: str, path: str, body: Any, version: int | None = None) -> Any:
        try:
            status, headers, answer = call(self.base, method, path, body, self.token, version)
        except (urllib.error.URLError, OSError, http.client.HTTPException):
            # No answer, or half of one (a worker killed while it was sending)
            status, headers, answer = 0, {}, None
        with self.lock:
            self.answers.append((time.monotonic(), status))
        if status in (200, 201):
            with self.lock:
                self.acknowledged.append((answer["id"], answer["version"], time.monotonic()))
        else:
            time.sleep(0.05)
        return status, headers, answer

    def run(self, n: int) -> None:
        count = 0
        while not self.stop.is_set():
            count += 1
            status, _, created = self.request(
                "POST",
                "/api/v1/initiatives",
                {
                    "title": {"en": f"Client {n} initiative {count}"},
                    "summary": {"en": "Written while the database restarts."},
                    "original_language": "en",
                    "themes": ["environment"],
                    "level": "national",
                    "countries": ["IT"],
                },
            )
            if status != 201:
                continue
            path = f"/api/v1/initiatives/{created['id']}"
            self.request("PATCH", path, {"expected_participants": count}, created["version"])

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def wait_for(condition: Any, timeout: float) -> float:
    """Polls until `condition()` is true; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if condition():
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def test_the_service_rides_out_a_database_restart(cluster: Cluster, tmp_path: Path) -> None:
    env = {
        "TWINNING_DATABASE_URL": cluster.url,
        "TWINNING_POOL_SIZE": "2",
        "TWINNING_MAX_OVERFLOW": "2",
    }
    server = Server(env, tmp_path, workers=2)
    try:
        lead = server.login(ADMIN)
        partner, _ = server.partner(lead, "lead@restart.test")

        def ready() -> int:
            return call(server.base, "GET", "/readyz")[0]

        with Load(server.base, partner) as load:
            time.sleep(1.5)
            stopped = time.monotonic()
            cluster.stop("fast")
            wait_for(lambda: ready() == 503, 15)

            def refused() -> bool:
                with load.lock:
                    return any(s == 503 for t, s in load.answers if t > stopped)

            # The load's requests fail fast while the database is away. Requests already
            # waiting on the pool when it went answer once their connect timeout (5 s) is
            # up; until the first does, the load may have no answer from the outage at all.
            wait_for(refused, 20)
            cluster.start()
            restarted = time.monotonic()
            recovered = wait_for(lambda: ready() == 200, 30)
            acknowledged_before = len(load.acknowledged)
            time.sleep(2.0)
        reliability.record(__name__, len(load.answers))
        after_restart = [a for a in load.acknowledged if a[2] > restarted]
        assert after_restart, "no command succeeded after the database came back"
        assert len(load.acknowledged) > acknowledged_before
        statuses = {status for _, status in load.answers}
        assert statuses <= {0, 200, 201, 503}, statuses  # never a 500
        assert 503 in {s for t, s in load.answers if t > stopped}
        assert recovered < 30

        # Every acknowledged command is in the event store.
        settings = Settings.from_env(
            environ={}, overrides={"database_url": cluster.url, **FAST_HASHING}
        )
        rt = Runtime(settings)
        try:
            for initiative_id, version, _ in load.acknowledged:
                stored = rt.app.repository.get(UUID(initiative_id), version=version)
                assert stored.version == version
        finally:
            rt.close()

        # The projector recovered by itself too: the views catch up with the store.
        def caught_up() -> bool:
            status, _, body = call(server.base, "GET", "/api/v1/projections", token=lead)
            return status == 200 and all(item["lag"] == 0 for item in body["items"])

        wait_for(caught_up, 30)
        listed: set[str] = set()
        cursor = ""
        while True:
            query = f"?limit=200&cursor={cursor}" if cursor else "?limit=200"
            status, _, page = call(server.base, "GET", f"/api/v1/initiatives{query}", token=lead)
            assert status == 200
            listed |= {item["id"] for item in page["items"]}
            if not page["next_cursor"]:
                break
            cursor = page["next_cursor"]
        assert {a[0] for a in load.acknowledged} <= listed
    finally:
        server.stop()
