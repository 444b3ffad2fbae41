"""The login limits count an email under its keyed hash: the shared storage (Redis) holds
no email in clear, not even for the minute a window lasts, and an erased person's email
is in none of its keys."""

from __future__ import annotations

from typing import Any

import redis

from service.app import close_app
from tests.conftest import REDIS_URL
from tests.service.conftest import other_process


def test_the_shared_login_limits_hold_no_email(backend: dict[str, Any], redis_prefix: str) -> None:
    app = other_process(
        backend,
        rate_limit_storage=REDIS_URL,
        rate_limit_prefix=redis_prefix,
        login_limit_per_email="2/minute",
    )
    try:
        guess = {"email": "Wrong.Guess@Twinning.Test", "password": "not the password"}
        statuses = [app.test_client().post("/api/v1/auth/tokens", json=guess).status_code]
        guess["email"] = " wrong.guess@twinning.test"  # the same email: the same budget
        statuses += [app.test_client().post("/api/v1/auth/tokens", json=guess).status_code]
        statuses += [app.test_client().post("/api/v1/auth/tokens", json=guess).status_code]
        assert statuses == [401, 401, 429]
        client = redis.Redis.from_url(REDIS_URL)
        keys = [key.decode() for key in client.scan_iter(match=f"*{redis_prefix}*")]
        assert [key for key in keys if "/login/email/" in key]  # counted per email
        assert not [key for key in keys if "guess" in key.lower()]
    finally:
        close_app(app)
