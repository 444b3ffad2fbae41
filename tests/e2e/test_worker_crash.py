"""Crashes under load: kill -9 gunicorn workers and the projector at random moments (and, on
PostgreSQL, restart the database) while clients run commands. No acknowledged command is
missing, nothing is applied twice, and the views equal a rebuild."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from service.config import Settings
from service.infrastructure.runtime import Runtime
from tests import reliability
from tests.conftest import FAST_HASHING
from tests.e2e.test_database_restart import Load, wait_for
from tests.e2e.test_projector_crash import TWINNING, assert_views_are_exact
from tests.e2e.test_serve import ADMIN, Server, call
from tests.pg_cluster import Cluster

pytestmark = pytest.mark.e2e

SECONDS = float(os.environ.get("TWINNING_CRASH_SECONDS", "8"))
SOAK_SECONDS = 180.0
SOAK = pytest.mark.soak  # the long variant: `make soak`


def children(pid: int) -> list[int]:
    """The PIDs of a process's children (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def gunicorn_workers(server: Server) -> list[int]:
    [master] = [p for p in children(server.process.pid)]
    return children(master)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if request.param == "sqlite":
        yield {"settings": {"data_dir": tmp_path / "var", "database_url": ""}, "cluster": None}
        return
    cluster = Cluster()
    try:
        yield {"settings": {"database_url": cluster.url}, "cluster": cluster}
    finally:
        cluster.destroy()


@pytest.mark.parametrize("seconds", [SECONDS, pytest.param(SOAK_SECONDS, marks=SOAK)])
def test_killed_workers_and_projectors_lose_nothing(
    database: dict[str, Any], tmp_path: Path, seconds: float
) -> None:
    settings, cluster = database["settings"], database["cluster"]
    env = {"TWINNING_DATABASE_URL": settings["database_url"], "TWINNING_POOL_SIZE": "2"}
    if "data_dir" in settings:
        env["TWINNING_DATA_DIR"] = str(settings["data_dir"])
    server = Server(
        {**env, "TWINNING_PROJECTION_BATCH": "20"}, tmp_path, workers=3, projector=False
    )
    projector_env = {**os.environ, **env}

    def start_projector() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [TWINNING, "project"],
            env=projector_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    projector = start_projector()
    kills = 0
    rng = random.Random(7)
    try:
        partner, _ = server.partner(server.login(ADMIN), "crash@e2e.test")
        with Load(server.base, partner) as load:
            deadline = time.monotonic() + seconds
            restarted = cluster is None
            while time.monotonic() < deadline:
                time.sleep(rng.uniform(0.3, 1.0))
                workers = gunicorn_workers(server)
                if workers:
                    os.kill(rng.choice(workers), signal.SIGKILL)
                    kills += 1
                if rng.random() < 0.5:
                    projector.send_signal(signal.SIGKILL)
                    projector.wait()
                    projector = start_projector()
                    kills += 1
                if not restarted and time.monotonic() > deadline - seconds / 2:
                    cluster.stop("fast")
                    time.sleep(0.5)
                    cluster.start()
                    restarted = True
            wait_for(lambda: call(server.base, "GET", "/readyz")[0] == 200, 30)
            time.sleep(1.0)  # commands flow again after the last kill
        assert kills >= 4
        statuses = {status for _, status in load.answers}
        assert statuses <= {0, 200, 201, 503}, statuses  # a killed worker's requests: no answer
        assert len(load.acknowledged) >= 20

        rt = Runtime(Settings.from_env(environ={}, overrides={**settings, **FAST_HASHING}))
        try:
            for initiative_id, version, _ in load.acknowledged:
                assert (
                    rt.app.repository.get(UUID(initiative_id), version=version).version == version
                )
            head = rt.projector.head()
            assert rt.projector.wait(head, timeout=60), rt.projector.positions()
            assert_views_are_exact(rt)
        finally:
            rt.close()
        reliability.record(__name__, len(load.answers))
    finally:
        projector.send_signal(signal.SIGTERM)
        projector.wait(timeout=30)
        server.stop()
