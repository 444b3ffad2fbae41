"""Audit chain speed: verifying the chain over 1,000,000 events against the raw rate of reading
the same stored rows, and command latency with the chain kept live against without it.
Each ratio compares figures measured side by side in one run."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.read_side import add_initiatives, network, raw_read_rate
from projections.queries import audit as audit_reads
from projections.registry import VIEW_BY_NAME
from service.app import close_app, create_app
from service.config import Settings
from service.infrastructure.runtime import Runtime, runtime

TWINNING = str(Path(sys.executable).with_name("twinning"))
FAST = {"argon2_time_cost": 1, "argon2_memory_kib": 1024}
READ_VIEWS = ["organisations", "initiatives"]


def verify_rate(rt: Runtime) -> tuple[int, float]:
    """Verifies the whole chain; returns (events checked, events/s)."""
    started = time.perf_counter()
    with rt.engine.connect() as conn:
        head = audit_reads.digest(conn)
        verdict = audit_reads.verify(rt.app, conn, head["position"], head["head_hash"])
    elapsed = time.perf_counter() - started
    assert verdict["ok"], verdict
    return verdict["checked"], verdict["checked"] / elapsed


def chain_at_scale(overrides: dict[str, Any], label: str, events: int) -> list[tuple[str, str]]:
    rt = Runtime(Settings.from_env(environ={}, overrides={**overrides, **FAST}))
    try:
        leads, reviewer = network(rt)
        while rt.projector.head() < events:
            add_initiatives(rt, 10_000, leads, reviewer)
        started = time.perf_counter()
        rt.projector.rebuild(VIEW_BY_NAME["audit"])
        chain_seconds = time.perf_counter() - started
        stored = rt.projector.head()
        # Interleaved, best of three each: the machine is shared and noisy.
        reads, verifies = [], []
        for _ in range(3):
            reads.append(raw_read_rate(rt))
            checked, rate = verify_rate(rt)
            assert checked == stored
            verifies.append(rate)
        read, verify = max(reads), max(verifies)
    finally:
        rt.close()
    return [
        (f"{label}: events in the chain", f"{stored:,}"),
        (
            f"{label}: building the chain (audit view rebuild)",
            f"{stored / chain_seconds:,.0f} events/s ({chain_seconds:.1f} s)",
        ),
        (f"{label}: raw read of the stored rows, best of 3", f"{read:,.0f} events/s"),
        (f"{label}: chain verification, best of 3", f"{verify:,.0f} events/s"),
        (f"{label}: verification / raw read at {stored:,} (target >= 0.5)", f"{verify / read:.2f}"),
    ]


def environment(overrides: dict[str, Any]) -> dict[str, str]:
    env = {**os.environ, "TWINNING_LOG_LEVEL": "WARNING"}
    if overrides.get("database_url"):
        env["TWINNING_DATABASE_URL"] = overrides["database_url"]
        env["TWINNING_DATABASE_SCHEMA"] = overrides.get("database_schema", "")
    else:
        env["TWINNING_DATA_DIR"] = str(overrides["data_dir"])
        env["TWINNING_DATABASE_URL"] = ""
    return env


def command_latency(
    overrides: dict[str, Any], label: str, pairs: int = 8, lifecycles: int = 15
) -> list[tuple[str, str]]:
    """Commands over the service (Flask test client, one client) while a projector process
    follows the log: with every view, the audit chain included, and with the read views only.
    Rounds come in pairs, one of each kind, in alternating order (ABBA…), so drift on a
    shared machine touches both alike; the figure is the median of the pairs' ratios."""
    password = "bench password 2026"
    app = create_app(
        {
            **overrides,
            **FAST,
            "admin_email": "bench@twinning.test",
            "admin_password": password,
            "log_level": "WARNING",  # no request lines: the same for both kinds of round
        }
    )
    http = app.test_client()
    rt = runtime(app)

    def token(email: str) -> dict[str, str]:
        answer = http.post("/api/v1/auth/tokens", json={"email": email, "password": password})
        return {"Authorization": f"Bearer {answer.json['token']}"}

    admin = token("bench@twinning.test")
    people = []
    for n, country in enumerate(("IT", "RS")):
        org = http.post(
            "/api/v1/organisations",
            json={"name": f"Town {country}", "type": "local_authority", "country": country},
            headers=admin,
        ).json["id"]
        email = f"p{n}@bench.test"
        body = {"email": email, "name": "P", "password": password, "organisation_id": org}
        http.post("/api/v1/users", json={**body, "roles": ["partner"]}, headers=admin)
        people.append((token(email), org))
    (lead, _), (partner, partner_org) = people

    def lifecycle(n: int, timings: list[float]) -> None:
        def command(
            method: str, path: str, who: dict[str, str], version: int | None, body: Any = None
        ) -> Any:
            headers = dict(who)
            if version is not None:
                headers["If-Match"] = f'"{version}"'
            started = time.perf_counter()
            answer = http.open(path, method=method, json=body, headers=headers)
            timings.append(time.perf_counter() - started)
            assert answer.status_code in (200, 201), answer.json
            return answer.json

        made = command(
            "POST",
            "/api/v1/initiatives",
            lead,
            None,
            {
                "title": {"en": f"Latency {n}"},
                "summary": {"en": "S"},
                "original_language": "en",
                "themes": ["youth"],
                "level": "national",
                "countries": ["IT"],
            },
        )
        path = f"/api/v1/initiatives/{made['id']}"
        command("POST", f"{path}/partners", lead, 1, {"organisation_id": partner_org})
        command("POST", f"{path}/partners/{partner_org}/join", partner, 2)
        command("POST", f"{path}/co-design", lead, 3)
        command("PATCH", path, partner, None, {"expected_participants": n, "base_version": 4})
        command("POST", f"{path}/submit", lead, 5)

    samples: dict[str, list[float]] = {"chain": [], "no chain": []}
    ratios: list[float] = []
    env = environment(overrides)
    number = 0
    try:
        for pair in range(pairs):
            medians = {}
            for mode in ("no chain", "chain") if pair % 2 else ("chain", "no chain"):
                timings: list[float] = []
                views = [] if mode == "chain" else [a for v in READ_VIEWS for a in ("--view", v)]
                projector = subprocess.Popen(
                    [TWINNING, "project", *views],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                try:
                    names = READ_VIEWS if views else list(VIEW_BY_NAME)
                    head = rt.projector.head()
                    while min(rt.projector.positions()[n] for n in names) < head:
                        time.sleep(0.05)  # caught up before measuring
                    for _ in range(lifecycles):
                        number += 1
                        lifecycle(number, timings)
                finally:
                    projector.send_signal(signal.SIGTERM)
                    projector.wait(timeout=30)
                samples[mode] += timings
                medians[mode] = statistics.median(timings)
            ratios.append(medians["chain"] / medians["no chain"])
    finally:
        close_app(app)
    with_chain, without = samples["chain"], samples["no chain"]
    p50 = statistics.median(ratios)
    mean = statistics.fmean(with_chain) / statistics.fmean(without)

    def shown(timings: list[float]) -> str:
        return (
            f"{statistics.median(timings) * 1000:.2f} / {statistics.fmean(timings) * 1000:.2f} ms"
        )

    return [
        (f"{label}: command p50 / mean, projector without the chain", shown(without)),
        (f"{label}: command p50 / mean, projector keeping the chain", shown(with_chain)),
        (
            f"{label}: command p50 with / without the chain, median of {pairs} pairs "
            "(target <= 1.05)",
            f"{p50:.3f} (pairs {min(ratios):.2f} to {max(ratios):.2f})",
        ),
        (f"{label}: command mean with / without the chain, pooled", f"{mean:.3f}"),
    ]


def sqlite_latency(folder: Path, _size: int) -> list[tuple[str, str]]:
    return command_latency({"data_dir": folder / "latency", "database_url": ""}, "SQLite")


def postgres_latency(url: str, schema: str, _size: int) -> list[tuple[str, str]]:
    return command_latency({"database_url": url, "database_schema": f"{schema}_l"}, "PostgreSQL")


def sqlite(folder: Path, events: int) -> list[tuple[str, str]]:
    rows = chain_at_scale({"data_dir": folder / "chain", "database_url": ""}, "SQLite", events)
    return rows + command_latency({"data_dir": folder / "latency", "database_url": ""}, "SQLite")


def postgres(url: str, schema: str, events: int) -> list[tuple[str, str]]:
    rows = chain_at_scale({"database_url": url, "database_schema": schema}, "PostgreSQL", events)
    latency_schema = {"database_url": url, "database_schema": f"{schema}_l"}
    return rows + command_latency(latency_schema, "PostgreSQL")
