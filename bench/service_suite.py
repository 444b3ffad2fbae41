"""The service against real processes (gunicorn, the projector, PostgreSQL and SQLite): command
throughput over HTTP against the same commands issued directly on the application and against
PostgreSQL's own insert-and-commit rate; reads against a hello-world endpoint; projection lag
under a steady load; long histories; a worker's memory as the data grows; SQLite under
concurrent writers. Every ratio compares figures measured side by side in this run, in
alternating rounds (A B B A), so that a slow moment of the shared machine weighs on both."""

from __future__ import annotations

import multiprocessing
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import psycopg
import sqlalchemy as sa

from bench.processes import (
    ADMIN,
    HELLO_CONFIG,
    PASSWORD,
    Client,
    Gunicorn,
    Process,
    rss_kib,
    service_env,
)

CLIENTS = 16
# gunicorn's configuration for the service and its yardstick: 2 workers x 8 threads, which
# carried 1.20x and 1.11x the commands of 4 x 4 in A/B runs, at 0.79x the workers' CPU a
# command, and served the reads as fast (docs/PERFORMANCE.md, item 19). The embedded
# default's writers are measured with the 4 workers its target names.
WORKERS = 2
THREADS = 8
SQLITE_WRITER_WORKERS = 4
COUNTRIES = ["IT", "RS", "AL", "GE", "FR", "DE", "BA", "AM", "UA", "MD"]
Record = tuple[str, float, float, int]  # command, sent, acknowledged, position


# ----------------------------------------------------------------------------- people
@dataclass
class Person:
    account_id: str
    organisation_id: str
    role: str
    token: str = ""


@dataclass
class Team:
    """Per client: a lead and a partner from two towns; two reviewers from elsewhere."""

    pairs: list[tuple[Person, Person]] = field(default_factory=list)
    reviewers: list[Person] = field(default_factory=list)


def person(admin: Client, base: str, country: str, kind: str, role: str) -> Person:
    org, _ = admin.ok(
        "POST",
        "/api/v1/organisations",
        {"name": f"{kind} {country} {uuid.uuid4().hex[:8]}", "type": kind, "country": country},
        retry=True,
    )
    email = f"{role}-{uuid.uuid4().hex[:10]}@bench.test"
    account, _ = admin.ok(
        "POST",
        "/api/v1/users",
        {
            "email": email,
            "name": f"{role} {country}",
            "password": PASSWORD,
            "organisation_id": org["id"],
            "roles": [role],
        },
        retry=True,
    )
    token, _ = Client(base).ok(
        "POST", "/api/v1/auth/tokens", {"email": email, "password": PASSWORD}, retry=True
    )
    return Person(account["id"], org["id"], role, token["token"])


def make_team(base: str, clients: int) -> Team:
    admin = Client(base)
    answer, _ = admin.ok(
        "POST", "/api/v1/auth/tokens", {"email": ADMIN, "password": PASSWORD}, retry=True
    )
    admin.token = answer["token"]
    team = Team()
    for n in range(clients):
        team.pairs.append(
            (
                person(admin, base, COUNTRIES[n % 4], "local_authority", "partner"),
                person(admin, base, COUNTRIES[4 + n % 4], "civil_society", "partner"),
            )
        )
    team.reviewers = [person(admin, base, c, "other", "reviewer") for c in ("UA", "MD")]
    return team


def fields_of(n: int) -> dict[str, Any]:
    return {
        "title": {"en": f"Youth exchange {n}", "fr": f"Échange de jeunes {n}"},
        "summary": {"en": f"Twinned towns bring young people together, round {n}."},
        "original_language": "en",
        "themes": ["youth"],
        "level": "national",
        "countries": ["IT"],
    }


# ------------------------------------------------------------- one lifecycle, two ways
class Pace:
    """Times each command; with a rate, waits for the command's slot first (open loop)."""

    def __init__(self, until: float, interval: float | None, offset: float) -> None:
        self.until, self.interval = until, interval
        self.next = time.monotonic() + offset
        self.records: list[Record] = []

    def __call__(self, name: str, command: Callable[[], tuple[Any, int]]) -> Any:
        if time.monotonic() >= self.until:
            raise TimeoutError
        if self.interval:
            delay = self.next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.next += self.interval
        sent = time.monotonic()
        answer, position = command()
        acknowledged = time.monotonic()
        if acknowledged < self.until:
            self.records.append((name, sent, acknowledged, position))
        return answer


def http_clients(base: str, team: Team, index: int) -> list[Client]:
    """The keep-alive connections of one client process: its lead, its partner and the
    reviewers, each kept from one lifecycle to the next, as an application keeps them."""
    lead_person, partner_person = team.pairs[index]
    people = (lead_person, partner_person, *team.reviewers)
    return [Client(base, p.token) for p in people]


def http_lifecycle(clients: list[Client], team: Team, index: int, n: int, pace: Pace) -> None:
    _, partner_person = team.pairs[index]
    lead, partner, *reviewers = clients

    def ok(client: Client, method: str, path: str, body: Any = None, v: Any = None) -> Any:
        def command() -> tuple[Any, int]:
            answer, headers = client.ok(method, path, body, v)
            return answer, int(headers["X-Position"])

        last = path.rsplit("/", 1)[-1]
        return pace(f"{method} {last if method == 'POST' else 'initiative'}", command)

    body = ok(lead, "POST", "/api/v1/initiatives", fields_of(n))
    path = f"/api/v1/initiatives/{body['id']}"
    org = partner_person.organisation_id
    ok(lead, "POST", f"{path}/partners", {"organisation_id": org}, 1)
    ok(partner, "POST", f"{path}/partners/{org}/join", None, 2)
    ok(lead, "POST", f"{path}/co-design", None, 3)
    ok(partner, "PATCH", path, {"expected_participants": n % 500, "base_version": 4})
    body = ok(lead, "PATCH", path, {"target_groups": ["youth"], "base_version": 4})
    body = ok(lead, "POST", f"{path}/submit", None, body["version"])
    step = 0
    while body["state"] == "in_review":
        body = ok(
            reviewers[step % 2],
            "POST",
            f"{path}/reviews",
            {"decision": "approve", "rationale": "Sound plan."},
            body["version"],
        )
        step += 1


def direct_lifecycle(app: Any, team: Team, index: int, n: int, pace: Pace) -> None:
    from domain.values import Caller

    def caller(p: Person) -> Caller:
        return Caller(p.account_id, p.organisation_id, frozenset({p.role}))

    lead_person, partner_person = team.pairs[index]
    lead, partner = caller(lead_person), caller(partner_person)
    reviewers = [caller(r) for r in team.reviewers]
    org = UUID(partner_person.organisation_id)

    def ok(name: str, run: Callable[[], Any]) -> Any:
        def command() -> tuple[Any, int]:
            outcome = run()
            return outcome.aggregate, outcome.position

        return pace(name, command)

    initiative = ok("propose", lambda: app.propose(caller=lead, fields=fields_of(n)))
    i = initiative.id
    ok(
        "invite",
        lambda: app.invite_partner(i, caller=lead, expected_version=1, organisation_id=org),
    )
    ok("join", lambda: app.join(i, caller=partner, expected_version=2, organisation_id=org))
    ok("co-design", lambda: app.start_co_design(i, caller=lead, expected_version=3))
    ok(
        "edit",
        lambda: app.edit(
            i,
            caller=partner,
            expected_version=None,
            fields={"expected_participants": n % 500},
            base_version=4,
        ),
    )
    initiative = ok(
        "edit",
        lambda: app.edit(
            i,
            caller=lead,
            expected_version=None,
            fields={"target_groups": ["youth"]},
            base_version=4,
        ),
    )
    v = initiative.version
    initiative = ok("submit", lambda: app.submit(i, caller=lead, expected_version=v))
    step = 0
    while initiative.state.value == "in_review":
        v, who = initiative.version, reviewers[step % 2]
        initiative = ok(
            "review",
            lambda v=v, who=who: app.review(
                i, caller=who, expected_version=v, decision="approve", rationale="Sound plan."
            ),
        )
        step += 1


def client_process(
    mode: str,
    base: str,
    env: dict[str, str],
    team: Team,
    index: int,
    start: Any,
    seconds: float,
    rate: float | None,
    results: Any,
    ready: Any,
    go: Any,
) -> None:
    """One of the concurrent clients: lifecycles until the time is up (spawned process).

    It says when it is ready (imported, runtime built) and waits for `start`, set by the
    parent (then `go`) once every client is ready: a client still starting when the round
    began would shorten the round of its mode alone."""
    runtime = None
    try:
        try:
            if mode == "direct":
                from service.config import Settings
                from service.infrastructure.runtime import Runtime

                # One command at a time: one connection (16 processes share max_connections).
                single = {**env, "TWINNING_POOL_SIZE": "1", "TWINNING_MAX_OVERFLOW": "1"}
                runtime = Runtime(Settings.from_env(environ=single))
        finally:
            ready.put(index)
        if not go.wait(300):  # set by the parent once every client is ready
            raise RuntimeError("the round never started")
        begin = start.value
        interval = team_interval(rate, len(team.pairs))
        time.sleep(max(0.0, begin - time.monotonic()))
        offset = (interval or 0) * index / len(team.pairs)
        pace = Pace(begin + seconds, interval, offset)
        n = index * 1_000_000
        clients = http_clients(base, team, index) if runtime is None else []
        try:
            while True:
                if runtime is not None:
                    direct_lifecycle(runtime.app, team, index, n, pace)
                else:
                    http_lifecycle(clients, team, index, n, pace)
                n += 1
        except TimeoutError:
            pass
        finally:
            for client in clients:
                client.close()
        results.put((index, pace.records, None))
    except Exception as error:  # reported to the parent, which fails the run
        results.put((index, [], f"{type(error).__name__}: {error}"))
    finally:
        if runtime is not None:
            runtime.close()


def team_interval(rate: float | None, clients: int) -> float | None:
    return clients / rate if rate else None


def run_clients(
    mode: str,
    base: str,
    env: dict[str, str],
    team: Team,
    seconds: float,
    rate: float | None = None,
) -> list[Record]:
    """Runs one client process per pair of the team for `seconds`, from when all of them
    are ready; every command record."""
    context = multiprocessing.get_context("spawn")
    results, ready = context.Queue(), context.Queue()
    start = context.Value("d", 0.0)  # time.monotonic() is one clock for every process
    go = context.Event()
    processes = [
        context.Process(
            target=client_process,
            args=(mode, base, env, team, index, start, seconds, rate, results, ready, go),
        )
        for index in range(len(team.pairs))
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=300)
    start.value = time.monotonic() + 0.5
    go.set()
    records: list[Record] = []
    errors = []
    for _ in processes:
        _, got, error = results.get(timeout=seconds + 120)
        records += got
        if error:
            errors.append(error)
    for process in processes:
        process.join(30)
    if errors:
        raise RuntimeError(f"{mode} clients failed: {errors[:3]}")
    return records


def throughput(records: list[Record], seconds: float) -> float:
    return len(records) / seconds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def latencies(records: list[Record]) -> list[float]:
    return [acknowledged - sent for _, sent, acknowledged, _ in records]


# ------------------------------------------------------------- PostgreSQL's own limit
def insert_process(
    url: str, table: str, start: float, seconds: float, results: Any, locked: bool
) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        payload = "x" * 400
        insert = f"INSERT INTO {table} (payload) VALUES (%s)"
        time.sleep(max(0.0, start - time.monotonic()))
        count, until = 0, start + seconds
        while time.monotonic() < until:
            if locked:  # as eventsourcing's PostgreSQL recorder orders its notifications
                with conn.transaction():
                    conn.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
                    conn.execute(insert, (payload,))
            else:
                conn.execute(insert, (payload,))
            count += 1
    results.put(count)


def raw_insert_rate(
    url: str, schema: str, clients: int, seconds: float, locked: bool = False
) -> float:
    """Single-row insert-and-commit by `clients` processes with psycopg, no framework;
    `locked`: each under the table lock eventsourcing's recorder takes."""
    table = f'"{schema}".bench_raw_insert'
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id bigserial PRIMARY KEY, payload text)")
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start = time.monotonic() + 4
    processes = [
        context.Process(target=insert_process, args=(url, table, start, seconds, results, locked))
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    total = sum(results.get(timeout=seconds + 60) for _ in processes)
    for process in processes:
        process.join(30)
    return total / seconds


# ---------------------------------------------------------------------------- reads
def wrk_rate(url: str, token: str | None, seconds: float, connections: int = CLIENTS) -> float:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", url]
    if token:
        command[1:1] = ["-H", f"Authorization: Bearer {token}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]


def python_rate(url: str, token: str | None, seconds: float) -> float:
    """The load without wrk: CLIENTS threads with keep-alive connections."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    path = f"{parts.path}?{parts.query}" if parts.query else parts.path
    counts = [0] * CLIENTS
    until = time.monotonic() + seconds

    def load(n: int) -> None:
        client = Client(base, token)
        while time.monotonic() < until:
            status, _, _ = client.call("GET", path)
            assert status == 200, status
            counts[n] += 1

    threads = [threading.Thread(target=load, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def read_rate(url: str, token: str | None, seconds: float) -> float:
    if shutil.which("wrk"):
        return wrk_rate(url, token, seconds)
    return python_rate(url, token, seconds)


# ------------------------------------------------------------------------- the suite
@dataclass
class Measure:
    label: str
    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, measure: str, figure: str) -> None:
        self.rows.append((f"{self.label}: {measure}", figure))


def commands(
    m: Measure, server: Gunicorn, env: dict[str, str], team: Team, seconds: float, pg: Any
) -> float | None:
    """HTTP against direct (and against PostgreSQL's raw rate, with and without the table
    lock), rounds A B B A; returns the raw insert-and-commit rate (None on SQLite)."""
    http: list[Record] = []
    direct: list[Record] = []
    raw: list[float] = []
    locked: list[float] = []
    for mode in ("direct", "http", "http", "direct"):
        if pg is not None and mode == "direct":
            raw.append(raw_insert_rate(pg[0], pg[1], CLIENTS, seconds))
            locked.append(raw_insert_rate(pg[0], pg[1], CLIENTS, seconds, locked=True))
        got = run_clients(mode, server.base, env, team, seconds)
        (http if mode == "http" else direct).extend(got)
    http_rate = throughput(http, 2 * seconds)
    direct_rate = throughput(direct, 2 * seconds)
    m.add(
        f"commands over HTTP, {CLIENTS} clients ({WORKERS} workers x {THREADS} threads)",
        f"{http_rate:,.0f}/s",
    )
    m.add(f"the same commands on the application, {CLIENTS} processes", f"{direct_rate:,.0f}/s")
    target = "target >= 0.6" if pg is not None else "the target is PostgreSQL's"
    m.add(f"HTTP / direct throughput ({target})", f"{http_rate / direct_rate:.2f}")
    for name, records in (("HTTP", http), ("direct", direct)):
        times = latencies(records)
        m.add(
            f"{name} command latency p50 / p99",
            f"{percentile(times, 0.5) * 1000:.1f} / {percentile(times, 0.99) * 1000:.1f} ms",
        )
    kinds = sorted({name for name, *_ in http})
    m.add("commands measured (HTTP)", f"{len(http):,} ({', '.join(kinds)})")
    if not raw:
        return None
    insert_rate, locked_rate = statistics.mean(raw), statistics.mean(locked)
    m.add(f"PostgreSQL insert-and-commit, {CLIENTS} connections", f"{insert_rate:,.0f}/s")
    m.add(
        "HTTP commands / raw insert-and-commit (target >= 0.4)",
        f"{http_rate / insert_rate:.2f}",
    )
    m.add(
        f"PostgreSQL insert-and-commit under eventsourcing's table lock, {CLIENTS} connections",
        f"{locked_rate:,.0f}/s ({locked_rate / insert_rate:.2f} of the raw rate)",
    )
    m.add(
        "the same commands on the application / raw insert-and-commit",
        f"{direct_rate / insert_rate:.2f}",
    )
    return insert_rate


READ_CYCLES = 6


def hello_server(env: dict[str, str], folder: Path) -> Gunicorn:
    """The read yardsticks (`bench/hello.py`) under the service's gunicorn configuration."""
    # The yardstick's workers use only the read check's connection per thread: no pools
    # beyond the two connections its start-up needs, so that both servers stay within
    # max_connections.
    hello_env = {**env, "TWINNING_POOL_SIZE": "2", "TWINNING_MAX_OVERFLOW": "0"}
    return Gunicorn(
        hello_env, folder, app="bench.hello:app", ready_path="/hello", config=HELLO_CONFIG
    )


def reads(m: Measure, server: Gunicorn, env: dict[str, str], token: str, folder: Path) -> float:
    """The list (50 items) and a single initiative against hello-world: READ_CYCLES cycles of
    short rounds, the order reversed every other cycle; each ratio is the median of its
    cycles' ratios (a slow moment of the shared machine spoils one cycle, not the figure)."""
    page, _ = Client(server.base, token).ok("GET", "/api/v1/initiatives?limit=50")
    assert len(page["items"]) == 50, "the read benchmark needs 50 initiatives"
    one = f"{server.base}/api/v1/initiatives/{page['items'][7]['id']}"
    hello = hello_server(env, folder)
    seconds = 4.0
    rates: dict[str, list[float]] = {"hello": [], "checked": [], "list": [], "one": []}
    try:
        urls = {
            "hello": (f"{hello.base}/hello", None),
            "checked": (f"{hello.base}/hello/checked", token),
            "list": (f"{server.base}/api/v1/initiatives?limit=50", token),
            "one": (one, token),
        }
        for cycle in range(READ_CYCLES):
            order = ["hello", "checked", "list", "one"]
            for name in order if cycle % 2 == 0 else reversed(order):
                url, auth = urls[name]
                rates[name].append(read_rate(url, auth, seconds))
    finally:
        hello.stop()
    hello_rate = statistics.median(rates["hello"])
    tool = "wrk" if shutil.which("wrk") else "Python threads"
    m.add(
        f"hello-world Flask, same gunicorn config ({tool}, {CLIENTS} connections; median of "
        f"{READ_CYCLES} rounds)",
        f"{hello_rate:,.0f} req/s",
    )

    def ratio(name: str, base: str) -> str:
        ratios = [rate / of for rate, of in zip(rates[name], rates[base], strict=True)]
        return f"{statistics.median(ratios):.2f} ({min(ratios):.2f} to {max(ratios):.2f})"

    m.add(
        "hello-world after the read check (the token and head statement every authenticated "
        "request makes; median)",
        f"{statistics.median(rates['checked']):,.0f} req/s",
    )
    m.add(
        f"hello-world after the read check / hello-world (the ceiling for reads; median of "
        f"{READ_CYCLES} cycles, range)",
        ratio("checked", "hello"),
    )
    for name, label in (("list", "list of 50"), ("one", "one initiative")):
        m.add(f"{label} (median)", f"{statistics.median(rates[name]):,.0f} req/s")
        m.add(
            f"{label} / hello-world (target >= 0.5; median of {READ_CYCLES} cycles, range)",
            ratio(name, "hello"),
        )
        m.add(f"{label} / hello-world after the read check", ratio(name, "checked"))
    return hello_rate


def projection_lag(
    m: Measure, server: Gunicorn, env: dict[str, str], team: Team, folder: Path, target: int
) -> None:
    """Commit to visibility in the list view under a steady 200 commands/s."""
    twinning = str(Path(sys.executable).with_name("twinning"))
    projector = Process([twinning, "project"], env, folder / "projector.log")
    try:
        lags, achieved = lag_samples(server, env, team, 200.0, 20.0)
    finally:
        projector.stop()

    def p50_p99(name: str) -> str:
        values = lags[name]
        return f"{percentile(values, 0.5) * 1000:.0f} / {percentile(values, 0.99) * 1000:.0f} ms"

    m.add("steady load for the lag (target 200 commands/s)", f"{achieved:,.0f} commands/s")
    # Commit lies between the event's time and the acknowledgement: the first measure is an
    # upper bound of commit to visibility, the second a lower one; the third adds the
    # command's own wait and handling.
    m.add(
        "lag from the event's time (taken before its commit) to the list view, p50 / p99 "
        f"(target p99 <= {target} ms)",
        p50_p99("event"),
    )
    m.add("lag from the acknowledgement to the list view, p50 / p99", p50_p99("ack"))
    m.add("lag from sending the command to the list view, p50 / p99", p50_p99("sent"))


def lag_samples(
    server: Gunicorn, env: dict[str, str], team: Team, rate: float, seconds: float
) -> tuple[dict[str, list[float]], float]:
    """Seconds from each command to its visibility in the list view, under `rate` commands/s
    (a projector must be running): measured from the event's time ("event"), from the
    acknowledgement ("ack") and from sending ("sent"); and the rate achieved."""
    from service.config import Settings
    from service.infrastructure.runtime import Runtime

    # The store may be an earlier release's (bench.ab --separate-stores): only positions
    # and initiatives' times are read from it.
    rt = Runtime(Settings.from_env(environ=env), earlier_release=True)
    seen: list[tuple[float, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            position = rt.projector.positions().get("initiatives", 0)
            if not seen or position > seen[-1][1]:
                seen.append((time.time(), position))
            time.sleep(0.002)

    try:
        assert rt.projector.wait(rt.projector.head(), timeout=120), "projector did not catch up"
        watcher = threading.Thread(target=watch)
        watcher.start()
        # The clients' clock is time.monotonic(); the watcher's and the events' the wall clock.
        offset = time.time() - time.monotonic()
        records = run_clients("http", server.base, env, team, seconds, rate=rate)
        time.sleep(2)
        stop.set()
        watcher.join()
        recorded = event_times(rt, [position for *_, position in records])
    finally:
        stop.set()
        rt.close()
    lags: dict[str, list[float]] = {"ack": [], "event": [], "sent": []}
    for _, sent, acknowledged, position in records:
        visible = next((t for t, p in seen if p >= position), None)
        if visible is None:
            raise RuntimeError(f"position {position} never became visible")
        lags["ack"].append(max(0.0, visible - offset - acknowledged))
        lags["event"].append(visible - recorded[position])
        lags["sent"].append(visible - offset - sent)
    return lags, len(records) / seconds


def event_times(rt: Any, positions: list[int]) -> dict[int, float]:
    """The time (wall clock, seconds) of the event at each position, as the application
    stamped it when the command made it, before its insert and commit."""
    wanted = set(positions)
    times: dict[int, float] = {}
    start = min(wanted)
    while start <= max(wanted):
        batch = rt.app.recorder.select_notifications(start=start, limit=1000)
        if not batch:
            break
        for notification in batch:
            if notification.id in wanted:
                event = rt.app.mapper.to_domain_event(notification)
                times[notification.id] = event.timestamp.timestamp()
        start = batch[-1].id + 1
    missing = wanted - set(times)
    if missing:
        raise RuntimeError(f"no event at positions {sorted(missing)[:5]}")
    return times


def long_history(m: Measure, server: Gunicorn, env: dict[str, str], team: Team) -> None:
    """GET of an initiative with 10,000 events against one with 10."""
    from domain.values import Caller
    from service.config import Settings
    from service.infrastructure.runtime import Runtime

    lead_person = team.pairs[0][0]
    lead = Caller(lead_person.account_id, lead_person.organisation_id, frozenset({"partner"}))
    rt = Runtime(Settings.from_env(environ=env))
    ids = {}
    try:
        for events in (10, 10_000):
            initiative = rt.app.propose(caller=lead, fields=fields_of(events)).aggregate
            rt.app.start_co_design(initiative.id, caller=lead, expected_version=1)
            version = 2
            while version < events:
                loaded = rt.app.initiative(initiative.id)
                for _ in range(min(100, events - version)):
                    loaded.edit(
                        lead, {"expected_participants": version}, dict(loaded.fields), version
                    )
                    version += 1
                rt.app.save(loaded)
            assert rt.app.initiative(initiative.id).version == events
            ids[events] = initiative.id
    finally:
        rt.close()
    client = Client(server.base, lead_person.token)
    times: dict[int, list[float]] = {10: [], 10_000: []}
    for round_ in range(400):
        for events in (10, 10_000) if round_ % 2 else (10_000, 10):
            started = time.perf_counter()
            body, _ = client.ok("GET", f"/api/v1/initiatives/{ids[events]}")
            times[events].append(time.perf_counter() - started)
            assert body["version"] == events
    small, large = statistics.median(times[10]), statistics.median(times[10_000])
    m.add(
        "GET of an initiative with 10 / 10,000 events (median)",
        f"{small * 1000:.1f} / {large * 1000:.1f} ms",
    )
    m.add("10,000 events / 10 events (target <= 3)", f"{large / small:.2f}")


def sqlite_writers(m: Measure, team: Team, env: dict[str, str], folder: Path) -> None:
    """The embedded default under 16 concurrent writers, served by 4 workers of 4 threads
    each (a server of its own on the same files): no "database is locked"."""
    seconds = 15.0
    workers = SQLITE_WRITER_WORKERS
    writers_env = {**env, "TWINNING_WORKERS": str(workers), "TWINNING_THREADS": "4"}
    server = Gunicorn(writers_env, folder)
    try:
        records = run_clients("http", server.base, writers_env, team, seconds)
        locked = server.output().lower().count("database is locked")
    finally:
        server.stop()
    rate = len(records) / seconds
    m.add(
        f"{CLIENTS} concurrent writers, {workers} workers x 4 threads: commands", f"{rate:,.0f}/s"
    )
    m.add('"database is locked" errors (target 0)', f"{locked}")


def workload(base: str, token: str, ids: list[str], requests: int = 3000) -> None:
    """What people do with the read side: list pages followed by cursor (filtered, searched,
    sorted), single initiatives, their history, statistics, the catalogue."""
    import random

    counter = iter(range(requests))
    lock = threading.Lock()

    def next_request() -> int | None:
        with lock:
            return next(counter, None)

    def load(seed: int) -> None:
        rng = random.Random(seed)
        client = Client(base, token)
        cursors: dict[str, str | None] = {}
        while (n := next_request()) is not None:
            kind = n % 5
            if n % 200 == 0:  # statistics scan every initiative: now and then
                client.ok("GET", "/api/v1/stats/impact")
            elif kind in (0, 1):
                query = ["limit=50", "sort=-updated_at", "sort=title"][n % 3]
                if n % 8 == 0:
                    query += "&q=youth"
                path = f"/api/v1/initiatives?{query}"
                if cursors.get(query) and kind == 1:  # a cursor goes with its own query
                    path += f"&cursor={cursors[query]}"
                body, _ = client.ok("GET", path)
                cursors[query] = body["next_cursor"]
            elif kind == 2:
                client.ok("GET", f"/api/v1/initiatives/{rng.choice(ids)}")
            elif kind == 3:
                client.ok("GET", f"/api/v1/initiatives/{rng.choice(ids)}/history")
            else:
                client.ok("GET", "/api/v1/good-practices?limit=50")
        client.close()

    threads = [threading.Thread(target=load, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def memory(label: str, database: dict[str, str], folder: Path, large: int) -> list[tuple[str, str]]:
    """An API worker's RSS after the read workload at 100 initiatives, then at `large`."""
    from bench.read_side import add_initiatives, network
    from service.config import Settings
    from service.infrastructure.runtime import Runtime

    m = Measure(label)
    env = service_env(database, workers=str(WORKERS), threads=str(THREADS), log_level="WARNING")
    rt = Runtime(Settings.from_env(environ=env))
    try:
        rt.bootstrap_admin()
        leads, reviewer = network(rt)
        add_initiatives(rt, 100, leads, reviewer)
        rt.projector.catch_up()
        server = Gunicorn(env, folder)
        try:
            token = Client(server.base).ok(
                "POST", "/api/v1/auth/tokens", {"email": ADMIN, "password": PASSWORD}
            )[0]["token"]
            ids = view_ids(rt)
            workload(server.base, token, ids)
            small = [rss_kib(pid) for pid in server.worker_pids()]
            started = time.perf_counter()
            add_initiatives(rt, large - 100, leads, reviewer)
            rt.projector.catch_up()
            loading = time.perf_counter() - started
            ids = view_ids(rt)
            workload(server.base, token, ids)
            big = [rss_kib(pid) for pid in server.worker_pids()]
            client = Client(server.base, token)
            stats = []
            for _ in range(3):
                started = time.perf_counter()
                client.ok("GET", "/api/v1/stats/impact")
                stats.append(time.perf_counter() - started)
        finally:
            server.stop()
    finally:
        rt.close()
    m.add(f"loading {large - 100:,} more initiatives and projecting them", f"{loading:.0f} s")
    m.add(
        f"impact statistics over {large:,} initiatives (median of 3)",
        f"{statistics.median(stats):.2f} s",
    )
    m.add(
        f"API worker RSS after the read workload at 100 / {large:,} initiatives (mean of "
        f"{WORKERS})",
        f"{statistics.mean(small) / 1024:.0f} / {statistics.mean(big) / 1024:.0f} MiB",
    )
    m.add(
        f"RSS at {large:,} / at 100 (target <= 1.5; largest worker {max(big) / max(small):.2f})",
        f"{statistics.mean(big) / statistics.mean(small):.2f}",
    )
    return m.rows


def view_ids(rt: Any) -> list[str]:
    """Every initiative id in the list view."""
    from projections.registry import LIVE

    with rt.engine.connect() as conn:
        main = LIVE["initiatives"]["main"]
        return [row[0] for row in conn.execute(sa.select(main.c.id))]


def suite(
    label: str, database: dict[str, str], folder: Path, seconds: float
) -> list[tuple[str, str]]:
    m = Measure(label)
    env = service_env(database, workers=str(WORKERS), threads=str(THREADS), log_level="WARNING")
    pg = None  # PostgreSQL's URL and schema, for its own insert-and-commit rate
    if "TWINNING_DATABASE_SCHEMA" in database:
        pg = (database["TWINNING_DATABASE_URL"], database["TWINNING_DATABASE_SCHEMA"])
    init = subprocess.run(
        [str(Path(sys.executable).with_name("twinning")), "init"],
        env=env,
        capture_output=True,
        text=True,
    )
    if init.returncode:
        raise RuntimeError(init.stderr)
    server = Gunicorn(env, folder)
    try:
        team = make_team(server.base, CLIENTS)
        admin = Client(server.base)
        token = admin.ok("POST", "/api/v1/auth/tokens", {"email": ADMIN, "password": PASSWORD})[0]
        insert_rate = commands(m, server, env, team, seconds, pg)
        if pg is None:
            sqlite_writers(m, team, env, folder)
        projection_lag(m, server, env, team, folder, 250 if pg else 500)
        hello_rate = reads(m, server, env, token["token"], folder)
        if insert_rate:
            # What an HTTP request that does nothing reaches against the raw rate: no
            # command served by this stack on this machine can pass it.
            m.add(
                "hello-world requests (wrk) / raw insert-and-commit: the ceiling for HTTP",
                f"{hello_rate / insert_rate:.2f}",
            )
        long_history(m, server, env, team)
        m.add("errors in the service log", str(server.output().count("Traceback")))
    except Exception:
        print(f"{label}: the service's log ends with:\n{server.output()[-4000:]}", file=sys.stderr)
        raise
    finally:
        server.stop()
    return m.rows


Part = Callable[[str, dict[str, str], Path, int], list[tuple[str, str]]]


def on_sqlite(part: Part) -> Callable[[Path, int], list[tuple[str, str]]]:
    """A part of this suite as `bench/__main__.py` runs it on SQLite, in `folder`."""

    def run(folder: Path, size: int) -> list[tuple[str, str]]:
        database = {"TWINNING_DATA_DIR": str(folder / "var"), "TWINNING_DATABASE_URL": ""}
        return part("SQLite", database, folder, size)

    return run


def on_postgres(part: Part) -> Callable[[str, str, int], list[tuple[str, str]]]:
    """A part of this suite on PostgreSQL, in `schema`; logs in a folder of its own."""

    def run(url: str, schema: str, size: int) -> list[tuple[str, str]]:
        database = {"TWINNING_DATABASE_URL": url, "TWINNING_DATABASE_SCHEMA": schema}
        folder = Path(tempfile.mkdtemp(prefix="twinning-bench-"))
        try:
            return part("PostgreSQL", database, folder, size)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return run


sqlite, postgres = on_sqlite(suite), on_postgres(suite)
memory_sqlite, memory_postgres = on_sqlite(memory), on_postgres(memory)
