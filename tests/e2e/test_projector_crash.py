"""kill -9 the projector process mid-batch, again and again: the views still equal a rebuild."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from projections import verification
from projections.registry import VIEW_BY_NAME
from service.config import Settings
from service.infrastructure.runtime import Runtime
from tests import reliability
from tests.conftest import FAST_HASHING
from tests.projections.test_runner import populate

pytestmark = pytest.mark.e2e
TWINNING = str(Path(sys.executable).with_name("twinning"))


def assert_views_are_exact(rt: Runtime) -> None:
    """Every stored event is in the audit trail once, and every view equals a fresh rebuild.

    Positions may have gaps on PostgreSQL (a rolled-back insert uses up its number), so the
    audit trail is compared with the events actually stored, not with the head position."""
    head = rt.projector.head()
    with rt.engine.connect() as conn:
        entries = conn.exec_driver_sql(
            "SELECT count(*), count(DISTINCT position) FROM audit_entries"
        ).one()
    stored = len(verification.raw_rows(rt.app.recorder, 1, head, head + 1))
    assert tuple(entries) == (stored, stored)
    projected = rt.projector.checksums()
    for view in VIEW_BY_NAME.values():
        rt.projector.rebuild(view)
    assert rt.projector.checksums() == projected


def environment(backend: dict[str, Any]) -> dict[str, str]:
    env = {"TWINNING_PROJECTION_BATCH": "7"}
    if backend.get("database_url"):
        env["TWINNING_DATABASE_URL"] = backend["database_url"]
        env["TWINNING_DATABASE_SCHEMA"] = backend["database_schema"]
    else:
        env["TWINNING_DATA_DIR"] = str(backend["data_dir"])
        env["TWINNING_DATABASE_URL"] = ""
    return env


def test_killed_projectors_leave_views_equal_to_a_rebuild(
    backend: dict[str, Any], tmp_path: Path
) -> None:
    rt = Runtime(Settings.from_env(environ={}, overrides={**backend, **FAST_HASHING}))
    try:
        populate(rt, initiatives=150)
        head = rt.projector.head()
        env = {**os.environ, **environment(backend)}
        kills = 0
        for _ in range(6):
            process = subprocess.Popen(
                [TWINNING, "project", "--poll-interval", "0.05"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            started = time.monotonic()
            before = min(rt.projector.positions().values())
            # Let it run a moment into its work, then kill it without warning.
            while time.monotonic() - started < 20:
                if min(rt.projector.positions().values()) > before:
                    break
                time.sleep(0.01)
            time.sleep(0.05 * (kills % 3))
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            if min(rt.projector.positions().values()) >= head:
                break
        reliability.record(__name__, kills)
        assert kills >= 2
        # A last projector finishes the work and stops cleanly.
        process = subprocess.Popen(
            [TWINNING, "project", "--poll-interval", "0.05"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        assert "projecting" in process.stderr.readline()  # its signal handlers are in place
        deadline = time.monotonic() + 60
        while min(rt.projector.positions().values()) < head and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert min(rt.projector.positions().values()) == head
        assert_views_are_exact(rt)
    finally:
        rt.close()
