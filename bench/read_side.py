"""Read-side speed: rebuild rate against the raw read-and-decode rate, and list latency at
1,000 and at 100,000 initiatives. Ratios are measured side by side in one run."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.initiative import Initiative
from domain.values import Caller, system_actor
from projections import verification
from projections.queries import audit as audit_reads
from projections.registry import VIEW_BY_NAME
from service.app import close_app, create_app
from service.infrastructure.runtime import RUNTIME_KEY, Runtime

THEMES = ["youth", "environment", "culture_heritage", "local_democracy", "social_inclusion"]
COUNTRIES = ["IT", "RS", "AL", "GE", "FR", "DE", "BA", "AM"]


def add_initiatives(
    rt: Runtime, count: int, leads: list[Caller], reviewer: Caller, chunk: int = 500
) -> None:
    """Initiatives with a realistic life: proposal, invitation, joining, co-design, edits,
    submission and, for two in three, approval: 7 to 8 events each, saved 500 initiatives
    per transaction."""
    countries = {lead.organisation_id: COUNTRIES[n % 8] for n, lead in enumerate(leads)}
    made = 0
    at = datetime.now(UTC)
    while made < count:
        batch = []
        for n in range(made, min(count, made + chunk)):
            lead, partner = leads[n % len(leads)], leads[(n + 1) % len(leads)]
            initiative = Initiative.propose(
                lead,
                {
                    "title": {"en": f"Initiative {n} on {THEMES[n % 5]}", "fr": f"Initiative {n}"},
                    "summary": {"en": f"Cooperation number {n} between twinned towns."},
                    "original_language": "en",
                    "themes": [THEMES[n % 5]],
                    "level": "national",
                    "countries": [COUNTRIES[n % 8], COUNTRIES[(n + 3) % 8]],
                },
            )
            initiative.invite_partner(lead, partner.organisation_id)
            initiative.join(partner, partner.organisation_id)
            initiative.start_co_design(lead)
            base = dict(initiative.fields)
            initiative.edit(partner, {"expected_participants": n % 500}, base, 4)
            initiative.edit(lead, {"target_groups": ["youth"]}, base, 4)
            initiative.submit(lead, countries)
            if n % 3:
                initiative.review(reviewer, "approve", "Sound plan.", at)
            batch.append(initiative)
        rt.app.save(*batch)
        made += len(batch)


def network(rt: Runtime) -> tuple[list[Caller], Caller]:
    """Twenty towns with a partner each, and a reviewer from elsewhere."""
    orgs = [
        rt.app.register_organisation(
            actor=system_actor(),
            name=f"Town {n}",
            type_="local_authority",
            country=COUNTRIES[n % 8],
        ).aggregate.id
        for n in range(20)
    ]
    leads = [Caller(str(uuid.uuid4()), str(org), frozenset({"partner"})) for org in orgs]
    reviewer = Caller(str(uuid.uuid4()), str(uuid.uuid4()), frozenset({"reviewer"}))
    return leads, reviewer


def raw_rate(rt: Runtime) -> tuple[int, float]:
    """Reads and decodes every notification, in the batches the runner uses."""
    started = time.perf_counter()
    position, count = 0, 0
    while True:
        notifications = rt.app.recorder.select_notifications(start=position + 1, limit=2000)
        if not notifications:
            break
        for notification in notifications:
            rt.app.mapper.to_domain_event(notification)
        count += len(notifications)
        position = notifications[-1].id
    return count, count / (time.perf_counter() - started)


def raw_read_rate(rt: Runtime) -> float:
    """Reads every stored row as the verification does, without hashing or decoding."""
    started = time.perf_counter()
    position, count = 0, 0
    while True:
        rows = verification.raw_rows(rt.app.recorder, position + 1, 2**62, 5000)
        if not rows:
            break
        for row in rows:
            bytes(row[verification.STATE])
        count += len(rows)
        position = int(rows[-1][verification.ID])
    return count / (time.perf_counter() - started)


def p95_of_list(app: Any, token: str, requests: int = 200, rounds: int = 3) -> tuple[float, float]:
    """p50 and p95 of the list endpoint (half unfiltered, half state + theme), in `rounds`
    rounds of `requests`: the median p50 and the lowest p95, so that one slow moment on a
    shared machine does not decide the tail."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    p50s, p95s = [], []
    for _ in range(rounds):
        timings = []
        for n in range(requests + 20):
            query = (
                {"limit": 50}
                if n % 2
                else {"limit": 50, "state": "in_review", "theme": THEMES[n % 5]}
            )
            started = time.perf_counter()
            response = client.get("/api/v1/initiatives", query_string=query, headers=headers)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.json
            assert len(response.json["items"]) == 50
            if n >= 20:  # warm-up excluded
                timings.append(elapsed)
        timings.sort()
        p50s.append(statistics.median(timings))
        p95s.append(timings[int(len(timings) * 0.95) - 1])
    return statistics.median(p50s), min(p95s)


def run(overrides: dict[str, Any], label: str, large: int) -> list[tuple[str, str]]:
    password = "bench password 2026"
    settings = {
        **overrides,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "log_level": "WARNING",  # no line per request in the measured path
        "admin_email": "bench@twinning.test",
        "admin_password": password,
    }
    app = create_app(settings)
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/tokens", json={"email": "bench@twinning.test", "password": password}
    ).json["token"]
    rt: Runtime = app.extensions[RUNTIME_KEY]
    leads, reviewer = network(rt)
    results: list[tuple[str, str]] = []

    add_initiatives(rt, 1000, leads, reviewer)
    rt.projector.catch_up()
    small_p50, small_p95 = p95_of_list(app, token)

    add_initiatives(rt, large - 1000, leads, reviewer)
    started = time.perf_counter()
    rt.projector.catch_up()
    catch_up = time.perf_counter() - started
    large_p50, large_p95 = p95_of_list(app, token)

    # Raw rate and rebuild interleaved, best of each (raw 3 times, rebuild twice): the
    # machine is shared, and a slow moment must not decide the ratio either way.
    read_views = [VIEW_BY_NAME["organisations"], VIEW_BY_NAME["initiatives"]]
    raws, rebuilds = [], []
    for attempt in range(3):
        events, rate = raw_rate(rt)
        raws.append(rate)
        if attempt < 2:
            started = time.perf_counter()
            rt.projector.rebuild(read_views)
            rebuilds.append(time.perf_counter() - started)
    raw, views_seconds = max(raws), min(rebuilds)
    started = time.perf_counter()
    rt.projector.rebuild(list(VIEW_BY_NAME.values()))
    all_seconds = time.perf_counter() - started
    views_rate, all_rate = events / views_seconds, events / all_seconds
    read_rate = raw_read_rate(rt)
    started = time.perf_counter()
    with rt.engine.connect() as conn:
        head = audit_reads.digest(conn)
        verdict = audit_reads.verify(rt.app, conn, head["position"], head["head_hash"])
    verify_seconds = time.perf_counter() - started
    assert verdict["ok"] and verdict["checked"] == events, verdict
    verify_rate = events / verify_seconds
    close_app(app)

    results += [
        (f"{label}: events in the store", f"{events:,}"),
        (f"{label}: raw read + decode, best of 3", f"{raw:,.0f} events/s"),
        (
            f"{label}: rebuild of the read views, best of 2",
            f"{views_rate:,.0f} events/s ({views_seconds:.1f} s)",
        ),
        (f"{label}: read views rebuild / raw (target >= 0.25)", f"{views_rate / raw:.2f}"),
        (
            f"{label}: rebuild of every view, audit chain included",
            f"{all_rate:,.0f} events/s ({all_seconds:.1f} s)",
        ),
        (f"{label}: every view rebuild / raw", f"{all_rate / raw:.2f}"),
        (f"{label}: raw read of the stored rows (no decoding)", f"{read_rate:,.0f} events/s"),
        (
            f"{label}: audit chain verification",
            f"{verify_rate:,.0f} events/s ({verify_seconds:.1f} s)",
        ),
        (f"{label}: verification / raw read (target >= 0.5)", f"{verify_rate / read_rate:.2f}"),
        (f"{label}: live catch-up of {large - 1000:,} initiatives", f"{catch_up:.1f} s"),
        (
            f"{label}: list p50 / p95 at 1,000 (3 rounds: median p50, lowest p95)",
            f"{small_p50 * 1000:.1f} / {small_p95 * 1000:.1f} ms",
        ),
        (
            f"{label}: list p50 / p95 at {large:,}",
            f"{large_p50 * 1000:.1f} / {large_p95 * 1000:.1f} ms",
        ),
        (
            f"{label}: list p95 ratio {large:,} / 1,000 (target <= 2)",
            f"{large_p95 / small_p95:.2f}",
        ),
    ]
    return results


def sqlite(folder: Path, large: int) -> list[tuple[str, str]]:
    return run({"data_dir": folder, "database_url": ""}, "SQLite", large)


def postgres(url: str, schema: str, large: int) -> list[tuple[str, str]]:
    return run({"database_url": url, "database_schema": schema}, "PostgreSQL", large)
