"""End to end, "no byte left": a person works in the real service (gunicorn workers and a
projector), is erased, and then no form of their name or email, nor their data key, is in
any answer of the API or page of the console, any log line, any file of the SQLite data
directory, or a pg_dump of the PostgreSQL schema (and its tables' files, where the server's
data directory is readable) — before and after the read views are rebuilt.

Every scan has a positive control (something that must be found by the same scan), so a
scan that looks in the wrong place fails instead of passing."""

from __future__ import annotations

import base64
import glob
import json
import os
import random
import re
import signal
import sqlite3
import string
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import psycopg
import pytest

from service.infrastructure.keys import MasterKeys
from tests.conftest import IN_CI, PG_URL, drop_schema, require_postgres
from tests.e2e.test_serve import ADMIN, PASSWORD, TWINNING, free_port, wait_ready

pytestmark = pytest.mark.e2e

MASTER_KEY = "an e2e master key that wraps every data key"
SECRET_KEY = "an e2e secret key for the keyed email lookups"
NEW_PASSWORD = "a fresh password after the reset"


def token(length: int = 12) -> str:
    """Random lower-case letters: a needle no file holds by chance."""
    return "".join(random.choices(string.ascii_lowercase, k=length))


# ------------------------------------------------------------------ scanning


def forms(text: str) -> dict[str, bytes]:
    """The byte sequences a string may be written as: UTF-8, JSON-escaped, URL-quoted."""
    return {
        "utf-8": text.encode(),
        "json": json.dumps(text)[1:-1].encode(),
        "url": urllib.parse.quote(text, safe="").encode(),
        "url+": urllib.parse.quote_plus(text).encode(),
    }


def key_forms(label: str, key: bytes) -> dict[str, bytes]:
    return {
        f"{label} (raw)": key,
        f"{label} (hex)": key.hex().encode(),
        f"{label} (base64)": base64.b64encode(key),
        f"{label} (base64url)": base64.urlsafe_b64encode(key).rstrip(b"="),
    }


def found(corpus: Mapping[str, bytes], needles: Mapping[str, bytes]) -> list[str]:
    """Where any needle occurs, ignoring ASCII case (an upper-cased copy leaks as well)."""
    hits = []
    for where, data in corpus.items():
        low = data.lower()
        hits += [f"{label} in {where}" for label, n in needles.items() if n.lower() in low]
    return hits


def decoded_hex(text: bytes) -> bytes:
    """The bytes behind every `\\x…` bytea literal of a dump (PostgreSQL writes bytea, the
    event store's JSON included, as hex: a clear-text email there shows only decoded)."""
    return b"\n".join(
        bytes.fromhex(m.decode()) for m in re.findall(rb"\\x((?:[0-9a-f]{2})+)", text)
    )


def files_under(*roots: Path) -> dict[str, bytes]:
    return {
        str(path): path.read_bytes() for root in roots for path in root.rglob("*") if path.is_file()
    }


def sqlite_rows(path: Path) -> bytes:
    """Every value of every table, read through SQLite: a long value spans overflow pages,
    whose headers split it in the raw file."""
    parts: list[bytes] = []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    parts.append(value if isinstance(value, bytes) else str(value).encode())
    finally:
        conn.close()
    return b"\n".join(parts)


# ------------------------------------------------------------------ the databases


def pg_dump_binary() -> str:
    """A pg_dump at least as new as the server (an older one refuses to dump)."""
    with psycopg.connect(PG_URL) as conn:
        server = conn.info.server_version // 10000
    for path in ["/usr/bin/pg_dump", *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))]:
        if not os.access(path, os.X_OK):
            continue
        out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
        match = re.search(r"(\d+)\.", out)
        if match and int(match.group(1)) >= server:
            return path
    message = f"no pg_dump for PostgreSQL {server}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Store:
    """A fresh database of one kind, and how to read it from outside the service."""

    kind: str
    env: dict[str, str]
    data_dir: Path
    schema: str = ""
    pg_dump: str = ""

    def key_row(self, subject: str) -> tuple[bytes, str] | None:
        query = "SELECT data_key, wrapped_by FROM {} WHERE subject = {}"
        if self.kind == "sqlite":
            conn = sqlite3.connect(f"file:{self.data_dir / 'views.sqlite'}?mode=ro", uri=True)
            try:
                row = conn.execute(query.format("twinning_personal_keys", "?"), (subject,))
                found_row = row.fetchone()
            finally:
                conn.close()
        else:
            with psycopg.connect(PG_URL) as pg:
                table = f'"{self.schema}".twinning_personal_keys'
                found_row = pg.execute(query.format(table, "%s"), (subject,)).fetchone()
        return None if found_row is None else (bytes(found_row[0]), str(found_row[1]))

    def contents(self) -> dict[str, bytes]:
        """What the service keeps, as raw bytes: every file of the data directory (the
        metrics' files too), and a read through SQLite of each database or a pg_dump of
        the schema."""
        files = files_under(self.data_dir)
        if self.kind == "sqlite":
            for name in ("events.sqlite", "views.sqlite"):
                files[f"rows of {name}"] = sqlite_rows(self.data_dir / name)
            return files
        dump = subprocess.run(
            [self.pg_dump, "--no-owner", "-n", self.schema, "-d", PG_URL],
            capture_output=True,
            timeout=60,
            check=True,
        ).stdout
        dumped = {"pg_dump": dump, "pg_dump (bytea decoded)": decoded_hex(dump)}
        return {**files, **dumped}

    def table_files(self) -> dict[str, bytes]:
        """The schema's tables as the server keeps them on disk, dead rows and free space
        included (a dump shows live rows only: a deleted key is never in it), when the
        server is local and its data directory readable here; else nothing."""
        if self.kind != "postgres":
            return {}
        try:
            with psycopg.connect(PG_URL, autocommit=True) as pg:
                shown = pg.execute("SHOW data_directory").fetchone()
                root = Path(shown[0]) if shown else Path("/nonexistent")
                if not os.access(root / "base", os.R_OK | os.X_OK):
                    return {}
                pg.execute("CHECKPOINT")  # what is in shared buffers only, written out
                relations = pg.execute(
                    "SELECT c.relname, pg_relation_filepath(c.oid) FROM pg_class c "
                    "WHERE c.relnamespace = %s::regnamespace OR c.oid IN (SELECT "
                    "reltoastrelid FROM pg_class WHERE relnamespace = %s::regnamespace)",
                    (self.schema, self.schema),
                ).fetchall()
        except psycopg.errors.InsufficientPrivilege:
            return {}
        return {
            f"{name} on disk ({Path(segment).name})": Path(segment).read_bytes()
            for name, relative in relations
            if relative
            for segment in glob.glob(f"{root / relative}*")
        }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    data_dir = tmp_path / "var"
    if request.param == "sqlite":
        yield Store(
            "sqlite", {"TWINNING_DATA_DIR": str(data_dir), "TWINNING_DATABASE_URL": ""}, data_dir
        )
        return
    require_postgres()
    schema = f"e_{uuid.uuid4().hex[:16]}"
    env = {
        "TWINNING_DATA_DIR": str(data_dir),
        "TWINNING_DATABASE_URL": PG_URL,
        "TWINNING_DATABASE_SCHEMA": schema,
        "TWINNING_POOL_SIZE": "2",
        "TWINNING_MAX_OVERFLOW": "4",
    }
    try:
        yield Store("postgres", env, data_dir, schema, pg_dump_binary())
    finally:
        drop_schema(schema)


# ------------------------------------------------------------------ the service


class Service:
    """`twinning serve`: gunicorn workers and a projector, all their output in two files."""

    def __init__(self, env: dict[str, str], logs: Path, label: str) -> None:
        self.port = free_port()
        self.position = 0  # the last X-Position a command answered, for X-Min-Position
        self.base = f"http://127.0.0.1:{self.port}"
        logs.mkdir(exist_ok=True)
        err = logs / f"{label}.err"
        with (logs / f"{label}.out").open("wb") as out, err.open("wb") as errors:
            self.process = subprocess.Popen(
                [TWINNING, "serve", "--port", str(self.port), "--workers", "2"],
                env=env,
                stdout=out,
                stderr=errors,
                start_new_session=True,
            )
        if not wait_ready(self.base, self.process, err, 60):
            self.stop()
            raise AssertionError("the service did not become ready in 60 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def fetch(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        for _ in range(20):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, dict(response.headers), response.read()
            except urllib.error.HTTPError as error:
                if error.code != 503:  # 503: the views have not reached X-Min-Position yet
                    return error.code, dict(error.headers), error.read()
            time.sleep(0.3)
        raise AssertionError(f"{method} {path}: still 503")

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        status: int = 200,
        **headers: str,
    ) -> Any:
        sent = {name.replace("_", "-"): value for name, value in headers.items()}
        got, answer, raw = self.fetch(method, path, body, token, sent)
        assert got == status, (method, path, got, raw[:500])
        self.position = max(self.position, int(answer.get("X-Position", 0)))
        return json.loads(raw) if raw else None

    def login(self, email: str, password: str = PASSWORD) -> str:
        body = {"email": email, "password": password}
        return str(self.api("POST", "/api/v1/auth/tokens", body, status=201)["token"])


class Console:
    """One browser on the console: its session cookie, the CSRF token of its forms."""

    def __init__(self, svc: Service, email: str, password: str) -> None:
        self.base = svc.base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        page = self.get("/console/login").decode()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None, page[:500]
        form = {"csrf_token": csrf.group(1), "email": email, "password": password}
        data = urllib.parse.urlencode(form).encode()
        with self.opener.open(self.base + "/console/login", data, timeout=30) as answer:
            assert answer.url.endswith("/console/"), answer.url  # signed in, shown home

    def get(self, path: str) -> bytes:
        with self.opener.open(self.base + path, timeout=30) as answer:
            assert answer.status == 200, (path, answer.status)
            return bytes(answer.read())


def service_env(store: Store, tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        **store.env,
        "TWINNING_ADMIN_EMAIL": ADMIN,
        "TWINNING_ADMIN_PASSWORD": PASSWORD,
        "TWINNING_ARGON2_TIME_COST": "1",
        "TWINNING_ARGON2_MEMORY_KIB": "1024",
        "TWINNING_MASTER_KEY": MASTER_KEY,
        "TWINNING_SECRET_KEY": SECRET_KEY,
        # Everything a deployment could log, logged: the application's and gunicorn's.
        "TWINNING_LOG_LEVEL": "DEBUG",
        "TWINNING_ACCESS_LOG": "-",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "var" / "metrics"),
    }


# ------------------------------------------------------------------ the story


@dataclass
class World:
    """What the person did, and the ids needed to read it back."""

    admin: str
    lead: str  # another organisation's partner, who leads the second initiative
    person_id: str
    organisation: str
    organisation_name: str
    initiatives: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)


def proposal(title: str, level: str, countries: list[str]) -> dict[str, Any]:
    return {
        "title": {"en": title},
        "summary": {"en": "Neighbours plant and share gardens along the river."},
        "original_language": "en",
        "themes": ["environment"],
        "level": level,
        "countries": countries,
    }


def live_a_working_life(svc: Service, email: str, name: str, renamed: str) -> World:
    """The person registers, logs in and out, resets a password, proposes and co-edits an
    initiative, amends and reviews another; an admin rectifies their name."""
    admin = svc.login(ADMIN)
    control = token(8)
    orgs = []
    for country, kind in (("IT", "local_authority"), ("RS", "civil_society"), ("SI", "other")):
        name_of_org = f"Comune di Verifica {country} {control}"
        body = {"name": name_of_org, "type": kind, "country": country}
        orgs.append((svc.api("POST", "/api/v1/organisations", body, admin, 201)["id"], name_of_org))
    (home, home_name), (other, _), (third, _) = orgs
    account: dict[str, Any] = {"password": PASSWORD, "roles": ["partner"]}
    for who, organisation in (("lead", other), ("guest", third)):
        body = {
            **account,
            "email": f"{who}.{control}@partner.test",
            "organisation_id": organisation,
        }
        svc.api("POST", "/api/v1/users", {**body, "name": "A Partner"}, admin, 201)
    person = svc.api(
        "POST",
        "/api/v1/users",
        {**account, "email": email, "name": name, "organisation_id": home},
        admin,
        201,
    )
    pid = person["id"]
    svc.api("POST", f"/api/v1/users/{pid}/roles", {"role": "reviewer"}, admin)
    lead, guest = (
        svc.login(f"lead.{control}@partner.test"),
        svc.login(f"guest.{control}@partner.test"),
    )
    world = World(admin, lead, pid, home, home_name)

    # Tokens: one logged out, a reset used, then the working one.
    first = svc.login(email)
    svc.api("DELETE", "/api/v1/auth/tokens/current", token=first, status=204)
    reset = svc.api("POST", f"/api/v1/users/{pid}/password-reset", token=admin, status=201)
    body = {"reset_token": reset["reset_token"], "new_password": NEW_PASSWORD}
    svc.api("POST", "/api/v1/auth/password-resets", body, status=204)
    me = svc.login(email.lower(), NEW_PASSWORD)
    Console(svc, email, NEW_PASSWORD).get("/console/initiatives")  # a console session
    assert svc.api("GET", "/api/v1/users/me", token=me)["name"] == name

    # Her initiative, co-edited with the other organisation.
    title = f"Riverside gardens {control}"
    mine = svc.api(
        "POST", "/api/v1/initiatives", proposal(title, "european", ["IT", "RS"]), me, 201
    )
    path = f"/api/v1/initiatives/{mine['id']}"
    svc.api("POST", f"{path}/partners", {"organisation_id": other}, me, If_Match='"1"')
    svc.api("POST", f"{path}/partners/{other}/join", token=lead, If_Match='"2"')
    svc.api("POST", f"{path}/co-design", token=me, If_Match='"3"')
    svc.api("PATCH", path, {"expected_participants": 40, "base_version": 4}, me)
    svc.api("PATCH", path, {"target_groups": ["families"], "base_version": 5}, lead)

    # The other organisation's initiative: she amends it (rejected), then reviews it.
    second_title = f"Bridges of memory {control}"
    theirs = svc.api(
        "POST", "/api/v1/initiatives", proposal(second_title, "national", ["RS"]), lead, 201
    )
    path = f"/api/v1/initiatives/{theirs['id']}"
    change = {
        "changes": {"expected_participants": 12},
        "rationale": "Smaller groups work better.",
        "base_version": 1,
    }
    amended = svc.api("POST", f"{path}/amendments", change, me, 201)
    amendment = amended["amendments"][0]["id"]
    svc.api(
        "POST",
        f"{path}/amendments/{amendment}/reject",
        {"reason": "Too small."},
        lead,
        If_Match='"2"',
    )
    svc.api("POST", f"{path}/partners", {"organisation_id": third}, lead, If_Match='"3"')
    svc.api("POST", f"{path}/partners/{third}/join", token=guest, If_Match='"4"')
    svc.api("POST", f"{path}/co-design", token=lead, If_Match='"5"')
    svc.api("POST", f"{path}/submit", token=lead, If_Match='"6"')
    review = {"decision": "approve", "rationale": "A sound plan."}
    assert svc.api("POST", f"{path}/reviews", review, me, If_Match='"7"')["state"] == "approved"

    # Rectification: the old name stays in an earlier event, sealed like the new one.
    svc.api("PATCH", f"/api/v1/users/{pid}", {"name": renamed}, admin)
    svc.api("GET", "/api/v1/users/me/data", token=me)
    world.initiatives = [mine["id"], theirs["id"]]
    world.titles = [title, second_title]
    return world


def read_back(svc: Service, world: World) -> dict[str, bytes]:
    """Every answer of the API that may show the person, once the views have everything
    recorded so far: path → body."""
    wait = {"X-Min-Position": str(svc.position)}
    answers: dict[str, bytes] = {}

    def get(path: str, who: str, **headers: str) -> Any:
        status, _, raw = svc.fetch("GET", path, token=who, headers={**wait, **headers})
        assert status == 200, (path, status, raw[:500])
        answers[f"GET {path} ({'admin' if who == world.admin else 'lead'})"] = raw
        return json.loads(raw) if headers.get("Accept") != "text/csv" else None

    def every_page(path: str) -> None:
        cursor = ""
        while True:
            page = get(f"{path}{'&' if '?' in path else '?'}limit=200{cursor}", world.admin)
            if not page["next_cursor"]:
                return
            cursor = f"&cursor={page['next_cursor']}"

    every_page("/api/v1/events")
    every_page("/api/v1/audit/entries")
    get("/api/v1/audit/entries", world.admin, Accept="text/csv")
    get(f"/api/v1/audit/entries?aggregate_id={world.person_id}&limit=200", world.admin)
    get(f"/api/v1/audit/entries?actor_id={world.person_id}&limit=200", world.admin)
    get(f"/api/v1/users/{world.person_id}", world.admin)
    get(f"/api/v1/users/{world.person_id}/data", world.admin)
    for who in (world.admin, world.lead):
        get("/api/v1/initiatives?limit=200", who)
        get("/api/v1/me/inbox", who)
        for initiative in world.initiatives:
            get(f"/api/v1/initiatives/{initiative}", who)
    for initiative in world.initiatives:
        get(f"/api/v1/initiatives/{initiative}?version=2", world.admin)
        get(f"/api/v1/initiatives/{initiative}/history", world.admin)
        get(f"/api/v1/initiatives/{initiative}/diff?from=1&to=3", world.admin)
        get(f"/api/v1/initiatives/{initiative}/audit-bundle", world.admin)
    get(f"/api/v1/organisations/{world.organisation}", world.admin)
    get("/api/v1/organisations?limit=200", world.admin)
    for path in ("/api/v1/good-practices", "/api/v1/stats/impact", "/api/v1/projections"):
        get(path, world.admin)
    # The console reveals personal data to auditors as the API does: its pages too.
    console = Console(svc, ADMIN, PASSWORD)
    pages = [
        f"/console/audit?actor_id={world.person_id}",
        "/console/audit?aggregate_type=account",
        "/console/audit.csv",
        f"/console/accounts/{world.person_id}",
        "/console/initiatives",
    ]
    for initiative in world.initiatives:
        pages += [
            f"/console/initiatives/{initiative}",
            f"/console/initiatives/{initiative}/timeline",
        ]
    answers.update({f"GET {page} (admin)": console.get(page) for page in pages})
    return answers


def assert_erased_over_http(svc: Service, world: World, needles: dict[str, bytes]) -> None:
    answers = read_back(svc, world)
    assert svc.api("GET", "/api/v1/audit/verify", token=world.admin)["ok"] is True
    user = svc.api("GET", f"/api/v1/users/{world.person_id}", token=world.admin)
    assert user["erased"] is True and user["email"] is None and user["name"] is None
    path = f"/api/v1/audit/entries?aggregate_id={world.person_id}&limit=200"
    entries = svc.api("GET", path, token=world.admin)["items"]
    assert [e["type"] for e in entries][-1] == "Erased"
    for entry in entries:
        for key in ("email", "name"):
            if key in entry["changes"]:
                assert entry["changes"][key] == {"old": None, "new": None}, entry
    # What the person did stays theirs: the actor is still their account id.
    history = svc.api(
        "GET", f"/api/v1/initiatives/{world.initiatives[0]}/history", token=world.admin
    )
    assert history["items"][0]["actor"]["account_id"] == world.person_id
    assert found(answers, needles) == []


def test_an_erased_person_leaves_no_byte_behind(store: Store, tmp_path: Path) -> None:
    env = service_env(store, tmp_path)
    logs = tmp_path / "logs"
    mark = token()
    # Non-ASCII in the new name, so its JSON-escaped form differs from its UTF-8 bytes.
    email = f"Zuzanna.{mark}@Twinning.Test"
    name = f"Zuzanna Erasmus-{mark}"
    renamed = f"Zuzanna Żak-Erasmus {mark}"
    needles = {"the random mark": mark.encode(), "first name": b"Zuzanna"}
    needles.update({f"surname ({form})": b for form, b in forms("Żak").items()})
    for label, text in (
        ("email", email),
        ("lower-case email", email.lower()),
        ("old name", name),
        ("new name", renamed),
    ):
        needles.update({f"{label} ({form})": b for form, b in forms(text).items()})

    svc = Service(env, logs, "serve-1")
    try:
        world = live_a_working_life(svc, email, name, renamed)
        # Control: before erasure, auditors read the email and both names (the scan sees them).
        before = read_back(svc, world)
        hits = found(before, needles)
        assert {"email (utf-8)", "old name (utf-8)", "new name (json)"} <= {
            hit.split(" in ")[0] for hit in hits
        }
        revealing = [
            ("email (utf-8)", "GET /api/v1/audit/entries?aggregate_id="),
            ("email (utf-8)", "GET /api/v1/audit/entries (admin)"),  # the CSV
            ("email (utf-8)", "GET /console/audit.csv"),
            ("email (utf-8)", "GET /console/accounts/"),
            ("new name (utf-8)", "GET /console/audit?actor_id="),
        ]
        for needle, page in revealing:
            assert any(h.startswith(f"{needle} in {page}") for h in hits), (needle, page)
        stored = store.key_row(world.person_id)
        assert stored is not None and stored[1] != "none"  # wrapped with the master key
        data_key = MasterKeys(MASTER_KEY).unwrap(world.person_id, *stored)
        keys = {**key_forms("wrapped data key", stored[0]), **key_forms("data key", data_key)}
        # Control: the wrapped key is in the database (file or dump) before erasure, and
        # in the key table's file on disk where the test can read the server's files.
        wrapped = key_forms("wrapped data key", stored[0])
        assert found(store.contents(), wrapped)
        on_disk = store.table_files()
        if on_disk:
            hits = found(on_disk, wrapped)
            assert any("twinning_personal_keys on disk" in hit for hit in hits), hits

        erased = svc.api(
            "POST",
            f"/api/v1/users/{world.person_id}/erase",
            {"reason": "Art. 17 request"},
            world.admin,
        )
        assert erased["erased"] is True and erased["email"] is None and erased["name"] is None
        assert store.key_row(world.person_id) is None
        assert (
            svc.fetch("POST", "/api/v1/auth/tokens", {"email": email, "password": NEW_PASSWORD})[0]
            == 401
        )
        assert_erased_over_http(svc, world, needles)
    finally:
        svc.stop()

    # The views rebuilt from the events alone: still nothing.
    with (logs / "rebuild.out").open("wb") as out, (logs / "rebuild.err").open("wb") as err:
        rebuilt = subprocess.run(
            [TWINNING, "rebuild"], env=env, stdout=out, stderr=err, timeout=120
        )
    assert rebuilt.returncode == 0, (logs / "rebuild.err").read_text()
    svc = Service(env, logs, "serve-2")
    try:
        assert_erased_over_http(svc, world, needles)
        # The email is free again, for a new account (sealed with a key of its own, so the
        # scans below hold for it too: no email is ever at rest in clear text).
        body = {
            "email": email,
            "name": "Someone Else",
            "password": PASSWORD,
            "organisation_id": world.organisation,
            "roles": ["partner"],
        }
        again = svc.api("POST", "/api/v1/users", body, world.admin, 201)
        assert again["id"] != world.person_id
        assert svc.api("GET", "/api/v1/users/me", token=svc.login(email))["id"] == again["id"]
    finally:
        svc.stop()

    contents, on_disk = store.contents(), store.table_files()
    assert found({**contents, **on_disk}, needles) == []
    # On PostgreSQL the deleted key's row may stay in the key table's file: the VACUUM after
    # the erasure cannot remove it while a transaction older than the erasure is open (the
    # projector's, projecting the erasure), and nothing vacuums that small table again.
    assert found(contents, keys) == []
    # Control: the scans read the database: the organisation's name and the titles are there.
    controls = {text: text.encode() for text in (world.organisation_name, *world.titles)}
    assert {hit.split(" in ")[0] for hit in found(contents, controls)} == set(controls)
    if on_disk:
        assert found(on_disk, controls)

    written = files_under(logs)
    assert len(written) == 6  # out and err of two services and of the rebuild
    assert found(written, needles) == [] and found(written, keys) == []
    # Control: the logs were written and name the person's account (an id, not personal data).
    assert found(written, {"account id": world.person_id.encode()})
