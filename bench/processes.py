"""Real processes for the benchmarks: gunicorn with the service (or a hello-world Flask app,
under the same configuration), the projector, and a keep-alive HTTP client. Every process is
started in its own session and stopped by its PID."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "admin@bench.test"
PASSWORD = "bench password 2026"
HELLO_CONFIG = Path(__file__).with_name("gunicorn_hello.conf.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(database: dict[str, str], **settings: str) -> dict[str, str]:
    """The environment of every process of one benchmarked service."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINNING_")}
    env.update(
        {
            "TWINNING_ADMIN_EMAIL": ADMIN,
            "TWINNING_ADMIN_PASSWORD": PASSWORD,
            # Accounts are made by the hundred here; hashing cost is not what is measured.
            "TWINNING_ARGON2_TIME_COST": "1",
            "TWINNING_ARGON2_MEMORY_KIB": "1024",
            "TWINNING_LOGIN_LIMIT_PER_EMAIL": "10000/minute",
            "TWINNING_LOGIN_LIMIT_PER_ADDRESS": "10000/minute",
            **database,
            **{f"TWINNING_{k.upper()}": v for k, v in settings.items()},
        }
    )
    return env


class Process:
    """A child process in its own session, its output in a log file."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self.log = log.open("w")
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")


class Gunicorn(Process):
    """gunicorn with deploy/gunicorn.conf.py, for the service or for another WSGI app."""

    def __init__(
        self,
        env: dict[str, str],
        folder: Path,
        app: str = "service.wsgi:app",
        ready_path: str = "/readyz",
        config: Path = ROOT / "deploy" / "gunicorn.conf.py",
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**env, "TWINNING_BIND": f"127.0.0.1:{self.port}"}
        super().__init__(
            [sys.executable, "-m", "gunicorn", "-c", str(config), app],
            env,
            folder / f"gunicorn-{self.port}.log",
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"gunicorn stopped:\n{self.output()[-3000:]}")
            try:
                if Client(self.base).call("GET", ready_path)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"gunicorn did not get ready:\n{self.output()[-3000:]}")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return sorted(int(pid) for pid in children)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(f"no VmRSS for {pid}")


class Client:
    """One keep-alive HTTP connection; reconnects when the server closed it."""

    def __init__(self, base: str, token: str | None = None) -> None:
        host, _, port = base.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.token = token
        self.connection: http.client.HTTPConnection | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        version: int | None = None,
        token: str | None = None,
        retry: bool = False,
    ) -> tuple[int, dict[str, str], Any]:
        """One request; a GET (or, with `retry`, any request: setup steps whose repetition
        does no harm) is sent again once when the connection broke."""
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token or self.token:
            headers["Authorization"] = f"Bearer {token or self.token}"
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.connection.request(method, path, data, headers)
                response = self.connection.getresponse()
                raw = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.connection.close()
                self.connection = None
                if attempt == 2 or not (method == "GET" or retry):
                    raise
                continue
            answer = json.loads(raw) if raw and raw[:1] in (b"{", b"[") else raw
            return response.status, dict(response.headers), answer
        raise AssertionError("unreachable")

    def ok(
        self,
        method: str,
        path: str,
        body: Any = None,
        version: int | None = None,
        retry: bool = False,
    ) -> Any:
        status, headers, answer = self.call(method, path, body, version, retry=retry)
        if not 200 <= status < 300:
            raise RuntimeError(f"{method} {path}: {status} {answer!r}")
        return answer, headers

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
