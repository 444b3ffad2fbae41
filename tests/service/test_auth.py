"""Authentication and accounts: tokens, expiry, revocation, deactivation, roles, bootstrap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from service.app import close_app
from service.infrastructure.credentials import token_digest, tokens
from service.infrastructure.runtime import CLOCK_KEY, runtime
from tests.service.conftest import ADMIN_EMAIL, PASSWORD, World, ok, other_process, problem


def test_the_admin_is_bootstrapped_from_the_environment(world: World) -> None:
    me = ok(world.admin.get("/api/v1/users/me"))
    assert me["email"] == ADMIN_EMAIL
    assert me["roles"] == ["admin"]
    organisation = ok(world.admin.get(f"/api/v1/organisations/{me['organisation_id']}"))
    assert organisation["name"] == "Platform administration"


def test_a_token_has_an_expiry_and_a_z_timestamp(world: World) -> None:
    response = world.http.post(
        "/api/v1/auth/tokens", json={"email": ADMIN_EMAIL, "password": PASSWORD}
    )
    body = ok(response, 201)
    assert len(body["token"]) >= 40
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert body["expires_at"].endswith("Z")
    assert timedelta(hours=11) < expires - datetime.now(UTC) <= timedelta(hours=12)


def test_tokens_are_issued_and_checked_at_the_clock_the_service_is_given(
    backend: dict[str, Any],
) -> None:
    at = [datetime(2031, 1, 1, tzinfo=UTC)]
    flask_app = other_process(backend)
    flask_app.config[CLOCK_KEY] = lambda: at[0]
    try:
        client = flask_app.test_client()
        login = {"email": ADMIN_EMAIL, "password": PASSWORD}
        body = ok(client.post("/api/v1/auth/tokens", json=login), 201)
        assert body["expires_at"].startswith("2031-01-01T12:00:00")
        bearer = {"Authorization": f"Bearer {body['token']}"}
        assert ok(client.get("/api/v1/users/me", headers=bearer))["email"] == ADMIN_EMAIL
        at[0] += timedelta(hours=13)
        problem(client.get("/api/v1/users/me", headers=bearer), 401)
    finally:
        close_app(flask_app)


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": ADMIN_EMAIL, "password": "wrong password!"},
        {"email": "nobody@twinning.test", "password": PASSWORD},
    ],
)
def test_wrong_credentials_get_the_same_401(world: World, credentials: dict[str, str]) -> None:
    body = problem(world.http.post("/api/v1/auth/tokens", json=credentials), 401)
    assert body["detail"] == "Wrong email or password."


def test_requests_without_a_valid_token_are_401_with_a_bearer_challenge(world: World) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = world.http.get("/api/v1/users/me", headers=headers)
        problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_stops_working(world: World) -> None:
    person = world.partner()
    assert person.delete("/api/v1/auth/tokens/current").status_code == 204
    problem(person.get("/api/v1/users/me"), 401)


def test_an_expired_token_stops_working(world: World) -> None:
    person = world.partner()
    rt = runtime(world.app)
    with rt.engine.begin() as conn:
        conn.execute(
            update(tokens)
            .where(tokens.c.token_hash == token_digest(str(person.token)))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    problem(person.get("/api/v1/users/me"), 401)


def test_tokens_are_stored_only_as_digests(world: World) -> None:
    person = world.partner()
    rt = runtime(world.app)
    with rt.engine.connect() as conn:
        stored = [row.token_hash for row in conn.execute(tokens.select())]
    assert person.token not in stored
    assert token_digest(str(person.token)) in stored


def test_a_deactivated_account_is_locked_out_at_once(world: World) -> None:
    person = world.partner()
    ok(person.get("/api/v1/users/me"))
    body = ok(world.admin.post(f"/api/v1/users/{person.id}/deactivate"))
    assert body["active"] is False
    problem(person.get("/api/v1/users/me"), 401)
    problem(
        world.http.post(
            "/api/v1/auth/tokens",
            json={"email": person.account["email"], "password": PASSWORD},
        ),
        401,
    )
    problem(world.admin.post(f"/api/v1/users/{person.id}/deactivate"), 409)


def test_roles_are_granted_and_revoked_by_admins_only(world: World) -> None:
    person = world.partner()
    problem(person.post(f"/api/v1/users/{person.id}/roles", {"role": "admin"}), 403)
    body = ok(world.admin.post(f"/api/v1/users/{person.id}/roles", {"role": "reviewer"}))
    assert body["roles"] == ["partner", "reviewer"]
    problem(world.admin.post(f"/api/v1/users/{person.id}/roles", {"role": "reviewer"}), 409)
    problem(world.admin.post(f"/api/v1/users/{person.id}/roles", {"role": "king"}), 422)
    body = ok(world.admin.delete(f"/api/v1/users/{person.id}/roles/partner"))
    assert body["roles"] == ["reviewer"]
    problem(world.admin.delete(f"/api/v1/users/{person.id}/roles/partner"), 409)
    problem(world.admin.delete(f"/api/v1/users/{person.id}/roles/king"), 404)
    assert ok(person.get("/api/v1/users/me"))["roles"] == ["reviewer"]


def test_accounts_are_created_by_admins_with_valid_fields(world: World) -> None:
    organisation = world.organisation()
    person = world.partner()
    good = {
        "email": "new@twinning.test",
        "name": "New Person",
        "password": "a long enough secret",
        "organisation_id": organisation,
        "roles": ["partner"],
    }
    problem(person.post("/api/v1/users", good), 403)
    created = world.admin.post("/api/v1/users", good)
    body = ok(created, 201)
    assert "password" not in body
    assert created.headers["Location"] == f"/api/v1/users/{body['id']}"
    assert int(created.headers["X-Position"]) > 0
    duplicate = problem(
        world.admin.post("/api/v1/users", {**good, "email": "NEW@twinning.test"}), 409
    )
    assert "email" in duplicate["detail"]
    errors = problem(
        world.admin.post(
            "/api/v1/users",
            {**good, "email": "not-an-email", "password": "short", "roles": ["boss"]},
        ),
        422,
    )["errors"]
    assert {"email", "password", "roles"} <= set(errors)
    errors = problem(
        world.admin.post(
            "/api/v1/users",
            {
                **good,
                "email": "x@twinning.test",
                "organisation_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            },
        ),
        422,
    )["errors"]
    assert "organisation_id" in errors


def test_other_accounts_are_visible_to_admins_only(world: World) -> None:
    person = world.partner()
    other = world.partner()
    problem(person.get(f"/api/v1/users/{other.id}"), 403)
    assert ok(world.admin.get(f"/api/v1/users/{other.id}"))["id"] == other.id
    problem(world.admin.get("/api/v1/users/3fa85f64-5717-4562-b3fc-2c963f66afa6"), 404)


def test_passwords_and_tokens_never_reach_the_event_store(world: World) -> None:
    person = world.partner()
    rt = runtime(world.app)
    stored = b"".join(n.state for n in rt.app.recorder.select_notifications(start=1, limit=10_000))
    assert PASSWORD.encode() not in stored
    assert str(person.token).encode() not in stored


def test_login_is_rate_limited_per_email(world: World) -> None:
    statuses = [
        world.http.post(
            "/api/v1/auth/tokens", json={"email": "target@twinning.test", "password": "guess" * 3}
        ).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    response = world.http.post(
        "/api/v1/auth/tokens", json={"email": "target@twinning.test", "password": "x" * 12}
    )
    problem(response, 429)
    assert int(response.headers["Retry-After"]) >= 1
    # Another email is not affected.
    ok(
        world.http.post("/api/v1/auth/tokens", json={"email": ADMIN_EMAIL, "password": PASSWORD}),
        201,
    )
