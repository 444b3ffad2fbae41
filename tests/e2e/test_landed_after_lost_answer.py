"""A command whose insert PostgreSQL committed, but whose answer the service never received:
the event store retries, meets its own rows, and the command answers as landed, once.

A proxy between the real service (`twinning serve`) and PostgreSQL reads just enough of the
wire protocol to cut the connection after the server has committed the event insert and
before the service hears of it: no fault in the service's own code is simulated.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.conftest import PG_URL, drop_schema, require_postgres
from tests.e2e.test_serve import ADMIN, PASSWORD, Server, call, propose

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

UNIQUE = "23505"  # unique_violation: the row exists already
SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102
# The recorder's insert calls `<table>_insert_locked` (service/infrastructure/recorder.py).
INSERT = b"_insert_locked"


def receive(sock: socket.socket, size: int) -> bytes:
    """Exactly `size` bytes, or fewer when the peer closed."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def typed_message(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """One message after the start: its type byte and all its bytes (None once closed)."""
    head = receive(sock, 5)
    if len(head) < 5:
        return None
    body = receive(sock, struct.unpack("!I", head[1:])[0] - 4)
    return head[:1], head + body


def sqlstate(error: bytes) -> str:
    """The SQLSTATE of an ErrorResponse: one of its (type byte, C string) fields."""
    at = 5
    while at < len(error) and error[at] != 0:
        field, text = error[at : at + 1], c_string(error, at + 1)
        if field == b"C":
            return text[0].decode()
        at = text[1]
    return ""


def c_string(data: bytes, start: int) -> tuple[bytes, int]:
    end = data.index(b"\0", start)
    return data[start:end], end + 1


class Link:
    """One client connection, passed through to the server; loses one answer when told."""

    def __init__(self, proxy: LosingProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.server = server
        self.inserts: set[bytes] = set()  # the names of statements that call the insert
        self.losing = threading.Event()  # the next answer's bytes are kept back, then cut
        self.inserting = threading.Event()  # an insert's answer is on its way
        self.kept: list[bytes] = []  # the types of the messages kept back
        self.threads = [
            threading.Thread(target=self.upstream, daemon=True),
            threading.Thread(target=self.downstream, daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def upstream(self) -> None:
        try:
            if not self.start():
                return
            while (message := typed_message(self.client)) is not None:
                kind, data = message
                if kind == b"P":  # Parse: statement name, then its SQL
                    name, at = c_string(data, 5)
                    sql, _ = c_string(data, at)
                    if INSERT in sql and sql.lstrip().upper().startswith(b"SELECT"):
                        self.inserts.add(name)
                    else:
                        self.inserts.discard(name)  # a name is reused for another statement
                elif kind == b"B":  # Bind: portal name, then the statement it runs
                    # psycopg prepares the insert (a named Parse once, then Binds); unprepared,
                    # an unnamed Parse comes with its Bind: the Bind starts the call either way.
                    _, at = c_string(data, 5)
                    statement, _ = c_string(data, at)
                    if statement in self.inserts:
                        # Set before the server can see the Bind, so no byte of its answer
                        # (BindComplete, rows, CommandComplete, ReadyForQuery) gets through.
                        self.inserting.set()
                        if self.proxy.take_arm():
                            self.losing.set()
                self.server.sendall(data)
        except OSError:
            pass
        finally:
            self.close()

    def start(self) -> bool:
        """Passes the untyped StartupMessage on; refuses encryption first if asked."""
        while True:
            head = receive(self.client, 8)
            if len(head) < 8:
                return False
            length, code = struct.unpack("!II", head)
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                # Plain text, so the proxy can read it: libpq then sends the StartupMessage.
                self.client.sendall(b"N")
                continue
            self.server.sendall(head + receive(self.client, length - 8))
            return bool(code != CANCEL_REQUEST)

    def downstream(self) -> None:
        try:
            while (message := typed_message(self.server)) is not None:
                kind, data = message
                if self.inserting.is_set() and kind == b"E" and sqlstate(data) == UNIQUE:
                    self.proxy.met_own_rows()  # (or another writer's: the test tells)
                if not self.losing.is_set():
                    if kind == b"Z":
                        self.inserting.clear()
                    self.client.sendall(data)
                    continue
                self.kept.append(kind)
                if kind == b"Z":
                    # ReadyForQuery, idle: the call's implicit transaction has ended (in
                    # autocommit, at the Sync), committed if no error came before it. Cut
                    # both ends, answering nothing.
                    committed = b"C" in self.kept and b"E" not in self.kept and data[5:] == b"I"
                    self.proxy.lost(committed)
                    return
        except OSError:
            pass
        finally:
            self.close()

    def close(self) -> None:
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class LosingProxy:
    """A TCP proxy to PostgreSQL that, once armed, loses the answer to one committed insert."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.lock = threading.Lock()
        self.armed = False
        # Answers to committed inserts lost, and inserts that then met existing rows: a
        # test passing without both would prove nothing.
        self.dropped = 0
        self.unsure = 0  # answers lost that were not a commit's
        self.conflicts = 0
        self.links: list[Link] = []
        self.closing = False
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                if self.closing:
                    client.close()
                    server.close()
                    return
                self.links.append(Link(self, client, server))

    def arm(self) -> None:
        with self.lock:
            self.armed = True

    def take_arm(self) -> bool:
        with self.lock:
            armed, self.armed = self.armed, False
            return armed

    def lost(self, committed: bool) -> None:
        with self.lock:
            if committed:
                self.dropped += 1
            else:
                self.unsure += 1

    def met_own_rows(self) -> None:
        with self.lock:
            self.conflicts += 1

    def close(self) -> None:
        with self.lock:
            self.closing = True
            links = list(self.links)
        self.listener.close()
        for link in links:
            link.close()


@pytest.fixture
def proxy() -> Iterator[LosingProxy]:
    require_postgres()
    target = urlsplit(PG_URL)
    made = LosingProxy((target.hostname or "127.0.0.1", target.port or 5432))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def server(proxy: LosingProxy, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    schema = f"e_{uuid.uuid4().hex[:16]}"
    target = urlsplit(PG_URL)
    through = target._replace(netloc=f"{target.username or 'postgres'}@127.0.0.1:{proxy.port}")
    env = {
        "TWINNING_DATABASE_URL": through.geturl(),
        "TWINNING_DATABASE_SCHEMA": schema,
        "TWINNING_POOL_SIZE": "2",
        "TWINNING_MAX_OVERFLOW": "2",
        "TWINNING_MASTER_KEY": "an e2e master key, long enough to be one",
        "TWINNING_SECRET_KEY": "an e2e secret key, long enough to be one",
        # Plain text to the proxy (it also refuses encryption itself): the service's URL
        # keeps only host, port, user, password and database, so libpq's settings go here.
        "PGSSLMODE": "disable",
        "PGGSSENCMODE": "disable",
    }
    running = Server(env, tmp_path, workers=2)
    try:
        yield running, schema
    finally:
        running.stop()
        drop_schema(schema)


def stored(schema: str, originator_id: str) -> list[tuple[int, str]]:
    """The versions and topics stored for an aggregate, read beside the proxy."""
    with psycopg.connect(PG_URL) as conn:
        rows = conn.execute(
            f'SELECT originator_version, topic FROM "{schema}".twinning_events '
            "WHERE originator_id = %s ORDER BY originator_version",
            (originator_id,),
        ).fetchall()
    return [(int(version), str(topic)) for version, topic in rows]


def registrations(schema: str) -> int:
    with psycopg.connect(PG_URL) as conn:
        row = conn.execute(
            f'SELECT count(*) FROM "{schema}".twinning_events WHERE topic LIKE %s',
            ("%:Account.Registered",),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_command_whose_answer_was_lost_after_commit_lands_once(
    server: tuple[Server, str], proxy: LosingProxy
) -> None:
    running, schema = server
    base = running.base
    admin = running.login(ADMIN)
    status, _, org = call(
        base,
        "POST",
        "/api/v1/organisations",
        {"name": "Comune di Prova", "type": "local_authority", "country": "IT"},
        admin,
    )
    assert status == 201, org
    before = registrations(schema)
    # (The start may have met rows already: processes that bootstrap the admin at once.)
    assert proxy.dropped == 0
    conflicts = proxy.conflicts

    # An account: its email and name sealed, saved with the email's index in one insert.
    proxy.arm()
    status, _, user = call(
        base,
        "POST",
        "/api/v1/users",
        {
            "email": "lost.answer@e2e.test",
            "name": "Lost Answer",
            "password": PASSWORD,
            "organisation_id": org["id"],
            "roles": ["partner"],
        },
        admin,
    )
    assert (proxy.dropped, proxy.unsure) == (1, 0), "no commit's answer was lost"
    assert proxy.conflicts == conflicts + 1, "the retry did not meet the committed rows"
    assert status == 201, user
    assert user["email"] == "lost.answer@e2e.test"
    assert stored(schema, user["id"]) == [(1, "domain.account:Account.Registered")]
    assert registrations(schema) == before + 1
    status, _, read = call(base, "GET", f"/api/v1/users/{user['id']}", token=admin)
    assert status == 200 and read["email"] == "lost.answer@e2e.test", read
    partner = running.login("lost.answer@e2e.test")  # the password was set after the save
    status, _, me = call(base, "GET", "/api/v1/users/me", token=partner)
    assert status == 200 and me["id"] == user["id"] and me["name"] == "Lost Answer", me

    # A command on a version read (If-Match): applied once, answered as applied.
    made = propose(base, partner, "Lost answer")
    path = f"/api/v1/initiatives/{made['id']}"
    proxy.arm()
    status, headers, edited = call(
        base, "PATCH", path, {"expected_participants": 12}, partner, made["version"]
    )
    assert (proxy.dropped, proxy.unsure) == (2, 0), "no commit's answer was lost"
    assert proxy.conflicts == conflicts + 2, "the retry did not meet the committed rows"
    assert status == 200, edited
    assert edited["version"] == made["version"] + 1 and headers["ETag"] == f'"{edited["version"]}"'
    assert [v for v, _ in stored(schema, made["id"])] == [1, 2]
    status, headers, read = call(base, "GET", path, token=partner)
    assert status == 200 and read["version"] == 2 and read["expected_participants"] == 12
