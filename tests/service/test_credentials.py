"""Credentials: tokens with >= 128 bits of randomness, stored only as digests and compared in
constant time; passwords only as Argon2 hashes; login rate-limited; an unknown email and a
wrong password take the same time within noise."""

from __future__ import annotations

import base64
import inspect
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from service.api import authentication as auth
from service.app import close_app, create_app
from service.infrastructure import credentials
from service.infrastructure.credentials import tokens
from service.infrastructure.runtime import runtime
from tests import reliability
from tests.service.conftest import ADMIN_EMAIL, PASSWORD, World, problem


@pytest.fixture
def real_cost_app(backend: dict[str, Any]) -> Iterator[Flask]:
    """Argon2 at a cost where skipping the hash would show (the tests' usual cost is 1)."""
    app = create_app(
        {
            **backend,
            "argon2_time_cost": 2,
            "argon2_memory_kib": 16384,
            "admin_email": ADMIN_EMAIL,
            "admin_password": PASSWORD,
            "login_limit_per_email": "",
            "login_limit_per_address": "",
        }
    )
    yield app
    close_app(app)


def test_tokens_carry_256_random_bits_and_are_stored_as_digests(world: World) -> None:
    assert credentials.TOKEN_BYTES * 8 >= 128
    # Eight more logins: the per-email login limit (10 a minute) counts every attempt.
    issued = [world.admin.token] + [world.login(ADMIN_EMAIL).token for _ in range(8)]
    assert len(set(issued)) == len(issued)
    for token in issued:
        raw = base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4))
        assert len(raw) == credentials.TOKEN_BYTES  # the token is the random bytes, nothing else
    with runtime(world.app).engine.connect() as conn:
        stored = set(conn.execute(select(tokens.c.token_hash)).scalars())
    assert not stored & set(issued)  # only digests
    assert {credentials.token_digest(str(t)) for t in issued} <= stored
    reliability.record(__name__, len(issued))


def test_token_lookups_compare_in_constant_time() -> None:
    # The token is found by its SHA-256 digest (an attacker does not choose the digest's
    # prefix), then the digests are compared with hmac.compare_digest.
    assert "token_digest(token)" in inspect.getsource(auth.caller_for_token)
    assert "hmac.compare_digest" in inspect.getsource(credentials.live_account)
    reliability.record(__name__, 1)


def test_passwords_are_stored_only_as_argon2id_hashes(world: World) -> None:
    with runtime(world.app).engine.connect() as conn:
        hashes = list(conn.execute(select(credentials.credentials.c.password_hash)).scalars())
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert all(PASSWORD not in h for h in hashes)
    reliability.record(__name__, len(hashes))


def test_login_is_rate_limited_per_email_and_per_address(world: World) -> None:
    attempt = {"email": "someone@twinning.test", "password": "not the password"}
    statuses = [world.http.post("/api/v1/auth/tokens", json=attempt).status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    refused = world.http.post("/api/v1/auth/tokens", json=attempt)
    problem(refused, 429)
    assert int(refused.headers["Retry-After"]) >= 1
    reliability.record(__name__, 12)


def test_unknown_email_and_wrong_password_take_the_same_time(real_cost_app: Flask) -> None:
    world = World(real_cost_app)
    world.account(world.organisation(), "partner", email="known@twinning.test")

    def timed(email: str) -> float:
        started = time.perf_counter()
        response = world.http.post(
            "/api/v1/auth/tokens", json={"email": email, "password": "a wrong password!"}
        )
        elapsed = time.perf_counter() - started
        problem(response, 401)
        return elapsed

    unknown, wrong = [], []
    for n in range(25):  # interleaved, so drift on the machine touches both alike
        unknown.append(timed(f"nobody{n}@twinning.test"))
        wrong.append(timed("known@twinning.test"))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.75 <= ratio <= 1.33, (ratio, statistics.median(unknown), statistics.median(wrong))
    reliability.record(__name__, 50)
