"""Real processes for the benchmarks: gunicorn with the service (or a hello-world Flask app,
under the same configuration), the projector, and a keep-alive HTTP client. Every process is
started in its own session and stopped by its PID."""

from __future__ import annotations

import json
import os
import select
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

    def __init__(
        self, command: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT
    ) -> None:
        self.log_path = log
        self.log = log.open("w")
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
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
        cwd: Path = ROOT,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**env, "TWINNING_BIND": f"127.0.0.1:{self.port}"}
        super().__init__(
            [sys.executable, "-m", "gunicorn", "-c", str(config), app],
            env,
            folder / f"gunicorn-{self.port}.log",
            cwd,
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


TICKS = os.sysconf("SC_CLK_TCK")  # the unit of the CPU times in /proc/<pid>/stat


def cpu_times(pid: int) -> tuple[float, float]:
    """The process's user and system CPU time so far, in seconds (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far, user and system (its threads included)."""
    return sum(cpu_times(pid))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(f"no VmRSS for {pid}")


class Client:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closed it.

    A plain socket and a small response reader rather than http.client: the clients share
    the machine's cores with the service they measure, and http.client's header parsing
    (the email package) cost a client more CPU per request than reading the response this
    way (docs/PERFORMANCE.md). Bodies are read by Content-Length, chunked or to the close."""

    def __init__(self, base: str, token: str | None = None) -> None:
        host, _, port = base.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.token = token
        self.sock: socket.socket | None = None
        self.buffer = b""

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
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            lines.append("Content-Type: application/json")
        if data or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(data)}")
        if token or self.token:
            lines.append(f"Authorization: Bearer {token or self.token}")
        if version is not None:
            lines.append(f'If-Match: "{version}"')
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
        for attempt in (1, 2):
            if self.sock is not None and select.select([self.sock], [], [], 0)[0]:
                self.close()  # readable while idle: the server closed it (keep-alive ended)
            if self.sock is None:
                self.sock = socket.create_connection((self.host, self.port), timeout=60)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.buffer = b""
            try:
                self.sock.sendall(request)
                status, headers, raw = self._response(method)
            except (BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2 or not (method == "GET" or retry):
                    raise
                continue
            answer = json.loads(raw) if raw and raw[:1] in (b"{", b"[") else raw
            return status, headers, answer
        raise AssertionError("unreachable")

    def _receive(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        self.buffer += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._receive()
        taken, self.buffer = self.buffer[:n], self.buffer[n:]
        return taken

    def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            self._receive()
        return self._take(end + 2)[:-2]

    def _response(self, method: str) -> tuple[int, dict[str, str], bytes]:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._receive()
        head = self._take(end + 4).decode("latin-1").split("\r\n")[:-2]
        status = int(head[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        lower = {name.lower(): value.lower() for name, value in headers.items()}
        if method == "HEAD" or status in (204, 304) or status < 200:
            raw = b""
        elif "content-length" in lower:
            raw = self._take(int(lower["content-length"]))
        elif "chunked" in lower.get("transfer-encoding", ""):
            parts = []
            while size := int(self._line().split(b";")[0], 16):
                parts.append(self._take(size))
                self._take(2)
            while self._line():  # trailers, then the empty line
                pass
            raw = b"".join(parts)
        else:  # to the close
            try:
                while True:
                    self._receive()
            except ConnectionResetError:
                pass
            raw, self.buffer = self.buffer, b""
            lower["connection"] = "close"
        if lower.get("connection") == "close":
            self.close()
        return status, headers, raw

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
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buffer = b""
