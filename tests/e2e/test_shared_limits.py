"""Login limits across processes: gunicorn with several workers counting on the real Redis
(TWINNING_RATE_LIMIT_STORAGE=redis://...), so that the 11th attempt for one email within a
minute is refused whichever worker answers it. Without CI the test skips when Redis does not
answer; with CI=true (.ci/run starts Redis) it must run."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL
from tests.e2e.test_gunicorn_direct import gunicorn_env, start_gunicorn
from tests.e2e.test_serve import TWINNING, call, free_port, wait_ready

pytestmark = pytest.mark.e2e

EMAIL = "admin@gunicorn.test"  # the admin gunicorn_env creates


def test_the_eleventh_login_attempt_is_refused_whichever_worker_answers(
    tmp_path: Path, redis_prefix: str
) -> None:
    port = free_port()
    env = gunicorn_env(
        tmp_path,
        port,
        TWINNING_DATA_DIR=str(tmp_path / "var"),
        TWINNING_DATABASE_URL="",
        TWINNING_WORKERS="3",
        TWINNING_THREADS="4",
        TWINNING_RATE_LIMIT_STORAGE=REDIS_URL,
        TWINNING_RATE_LIMIT_PREFIX=redis_prefix,
        TWINNING_LOGIN_LIMIT_PER_EMAIL="10/minute",
        TWINNING_LOGIN_LIMIT_PER_ADDRESS="1000/minute",
        # gunicorn's access log names the worker (pid) that answered each request; a worker
        # takes one connection at a time, so that concurrent attempts spread over the workers
        # (otherwise the first to wake may take them all).
        TWINNING_ACCESS_LOG="-",
        GUNICORN_CMD_ARGS=(
            "--worker-connections 1 --access-logformat 'pid=%(p)s %(m)s %(U)s %(s)s'"
        ),
    )
    done = subprocess.run([TWINNING, "init"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    log_path = tmp_path / "gunicorn.log"
    log = log_path.open("w")
    process = start_gunicorn(env, log)
    base = f"http://127.0.0.1:{port}"
    wrong = {"email": EMAIL, "password": "not the admin password"}

    def attempt(_: int) -> int:
        # urllib opens a new connection for every request: any worker may take it.
        return call(base, "POST", "/api/v1/auth/tokens", wrong)[0]

    try:
        assert wait_ready(base, process, log_path, 60), "not ready in 60 s"
        with ThreadPoolExecutor(5) as pool:  # concurrent, so that several workers answer
            first = list(pool.map(attempt, range(10)))
            later = list(pool.map(attempt, range(6)))
        assert first == [401] * 10
        assert later == [429] * 6
        status, headers, body = call(
            base, "POST", "/api/v1/auth/tokens", {"email": EMAIL, "password": "x" * 12}
        )
        assert status == 429 and int(headers["Retry-After"]) > 0, body
        assert body["detail"].startswith("Too many login attempts for this email")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)
        log.close()
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    answered: dict[str, set[str]] = {"401": set(), "429": set()}
    for line in lines:
        found = re.search(r"pid=<?(\d+)>? POST /api/v1/auth/tokens (\d+)", line["message"])
        if found and line["logger"] == "gunicorn.access":
            answered[found.group(2)].add(found.group(1))
    assert len(answered["401"] | answered["429"]) >= 2, answered  # several workers answered
    assert not any("counted per process" in line["message"] for line in lines)
