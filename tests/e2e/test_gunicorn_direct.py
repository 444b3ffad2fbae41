"""The deployment path of containers, systemd and Kubernetes: `twinning init` once, then
gunicorn started directly with deploy/gunicorn.conf.py. /metrics sums every worker's counters
(prometheus-client multiprocess mode), and the logs are JSON lines without secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_serve import TWINNING, call, free_port, wait_ready

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCRAPER = "scraper-token-for-the-e2e-test"
ADMIN_PASSWORD = "an admin password for gunicorn"


def gunicorn_env(tmp_path: Path, port: int, **settings: str) -> dict[str, str]:
    """The environment of gunicorn run directly with deploy/gunicorn.conf.py."""
    return {
        **os.environ,
        "TWINNING_ADMIN_EMAIL": "admin@gunicorn.test",
        "TWINNING_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "TWINNING_ARGON2_TIME_COST": "1",
        "TWINNING_ARGON2_MEMORY_KIB": "1024",
        "TWINNING_BIND": f"127.0.0.1:{port}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        **settings,
    }


def start_gunicorn(env: dict[str, str], log: IO[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "service.wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def admin_login(base: str) -> tuple[int, Any]:
    status, _, body = call(
        base,
        "POST",
        "/api/v1/auth/tokens",
        {"email": "admin@gunicorn.test", "password": ADMIN_PASSWORD},
    )
    return status, body


def test_gunicorn_alone_after_init_serves_and_sums_metrics(tmp_path: Path) -> None:
    port = free_port()
    env = gunicorn_env(
        tmp_path,
        port,
        TWINNING_DATA_DIR=str(tmp_path / "var"),
        TWINNING_DATABASE_URL="",
        TWINNING_METRICS_TOKEN=SCRAPER,
        TWINNING_WORKERS="3",
        # Workers are recycled after 10 + (0..50 jitter) requests: counters of several
        # processes, dead ones included, must add up.
        TWINNING_MAX_REQUESTS="10",
    )
    for _ in range(2):  # idempotent
        done = subprocess.run([TWINNING, "init"], env=env, capture_output=True, text=True)
        assert done.returncode == 0 and "is ready" in done.stdout, done.stderr
    log = (tmp_path / "gunicorn.log").open("w")
    process = start_gunicorn(env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_ready(base, process, tmp_path / "gunicorn.log", 60), "not ready in 60 s"
        status, body = admin_login(base)
        assert status == 201
        token = body["token"]
        requests = 200  # one worker at least answers more than 60: it is recycled
        with ThreadPoolExecutor(8) as pool:  # concurrent, so several workers answer
            statuses = list(
                pool.map(
                    lambda _: call(base, "GET", "/api/v1/themes", token=token)[0], range(requests)
                )
            )
        assert statuses == [200] * requests
        scrape = urllib.request.Request(
            f"{base}/metrics", headers={"Authorization": f"Bearer {SCRAPER}"}
        )
        with urllib.request.urlopen(scrape, timeout=10) as response:
            exposition = response.read().decode()
        counts = {
            tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(exposition)
            for s in family.samples
            if s.name == "twinning_http_requests_total"
        }
        themes = (("endpoint", "/api/v1/themes"), ("method", "GET"), ("status", "200"))
        assert counts[themes] == requests  # whichever workers answered
        pids = {p.stem.split("_")[-1] for p in (tmp_path / "metrics").glob("counter_*.db")}
        assert len(pids) >= 2, pids
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)
        log.close()
    lines = (tmp_path / "gunicorn.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert any(e["logger"] == "gunicorn.error" for e in entries)
    assert any(e.get("route") == "/api/v1/themes" for e in entries)
    text = "\n".join(lines)
    assert ADMIN_PASSWORD not in text and token not in text and SCRAPER not in text


@pytest.mark.postgres
def test_a_worker_started_while_the_database_is_away_does_not_stop_the_server(
    tmp_path: Path,
) -> None:
    """gunicorn stops the whole server when a worker fails to boot; a worker that starts
    during an outage (one replacing a worker that died) must start all the same and answer
    503 until the database is back."""
    from tests.pg_cluster import Cluster

    cluster = Cluster()
    port = free_port()
    env = gunicorn_env(tmp_path, port, TWINNING_DATABASE_URL=cluster.url, TWINNING_WORKERS="2")
    log = (tmp_path / "gunicorn.log").open("w")
    process = None
    base = f"http://127.0.0.1:{port}"
    try:
        done = subprocess.run([TWINNING, "init"], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        cluster.stop("fast")
        process = start_gunicorn(env, log)
        deadline = time.monotonic() + 60
        while True:  # the workers start without their database
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                status = call(base, "GET", "/readyz")[0]
                break
            except OSError:
                assert time.monotonic() < deadline, "no answer in 60 s"
                time.sleep(0.2)
        assert status == 503
        time.sleep(1.0)
        assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
        cluster.start()
        deadline = time.monotonic() + 60
        while call(base, "GET", "/readyz")[0] != 200:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, "not ready in 60 s after the database came back"
            time.sleep(0.3)
        status, body = admin_login(base)
        assert status == 201, body
        assert call(base, "GET", "/api/v1/themes", token=body["token"])[0] == 200
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=40)
        log.close()
        cluster.destroy()
    text = (tmp_path / "gunicorn.log").read_text()
    assert "not reachable at this worker's start" in text
    assert ADMIN_PASSWORD not in text
