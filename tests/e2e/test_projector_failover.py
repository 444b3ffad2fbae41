"""Projector high availability on PostgreSQL: two `twinning project` processes, one active per
view by advisory lock; kill -9 the active one under load and the standby takes over within
seconds, with no event lost or applied twice."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from typing import Any

import pytest

from domain.values import Caller, system_actor
from projections.live import holders
from projections.registry import VIEW_BY_NAME
from service.config import Settings
from service.infrastructure.runtime import Runtime
from tests import reliability
from tests.conftest import FAST_HASHING, PG_URL, drop_schema, require_postgres
from tests.e2e.test_projector_crash import TWINNING, assert_views_are_exact

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

TAKEOVER_LIMIT = 5.0  # seconds


class Projector:
    """A `twinning project` process whose stderr lines are collected as they come."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [TWINNING, "project"], env=env, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def expect(self, text: str, timeout: float = 30) -> float:
        """Waits for a line containing `text`; returns when it came (monotonic)."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.05)
            except queue.Empty:
                continue
            seen.append(line)
            if text in line:
                return time.monotonic()
        raise AssertionError(f"no line with {text!r} in {seen}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def schema() -> Any:
    require_postgres()
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    drop_schema(name)


def test_standby_projector_takes_over_when_the_active_one_dies(schema: str) -> None:
    settings = {"database_url": PG_URL, "database_schema": schema, **FAST_HASHING}
    rt = Runtime(Settings.from_env(environ={}, overrides=settings))
    env = {
        **os.environ,
        "TWINNING_DATABASE_URL": PG_URL,
        "TWINNING_DATABASE_SCHEMA": schema,
        "TWINNING_PROJECTION_BATCH": "50",
    }
    every_view = ", ".join(VIEW_BY_NAME)
    org = str(
        rt.app.register_organisation(
            actor=system_actor(), name="Lead", type_="civil_society", country="IT"
        ).aggregate.id
    )
    lead = Caller("lead", org, frozenset({"partner"}))
    written: list[int] = []
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            result = rt.app.propose(
                caller=lead,
                fields={
                    "title": {"en": f"Failover {len(written)}"},
                    "summary": {"en": "Written while projectors come and go."},
                    "original_language": "en",
                    "themes": ["youth"],
                    "level": "national",
                    "countries": ["IT"],
                },
            )
            written.append(result.position)
            time.sleep(0.005)

    first = Projector(env)
    second: Projector | None = None
    writer = threading.Thread(target=write)
    try:
        first.expect(f"active for {every_view}")
        second = Projector(env)
        second.expect("standing by")
        names = holders(rt.engine, schema)
        assert set(names) == set(VIEW_BY_NAME)
        assert all(str(first.process.pid) in holder for holder in names.values()), names

        writer.start()
        time.sleep(1.5)
        first.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        first.process.wait()
        took_over = second.expect(f"active for {every_view}", timeout=TAKEOVER_LIMIT + 5)
        assert took_over - killed <= TAKEOVER_LIMIT
        time.sleep(1.0)  # the new active projector follows the writes live
        stop.set()
        writer.join()

        head = rt.projector.head()
        reliability.record(__name__, len(written))
        assert written and max(written) == head
        assert rt.projector.wait(head, timeout=30)
        assert all(str(second.process.pid) in h for h in holders(rt.engine, schema).values())
        second.stop()
        assert second.process.returncode == 0

        assert_views_are_exact(rt)
    finally:
        stop.set()
        if writer.is_alive():
            writer.join()
        first.stop()
        if second is not None:
            second.stop()
        rt.close()
