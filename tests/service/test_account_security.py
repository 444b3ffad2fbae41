"""Accounts and security (API 1.1): changing a password, admin-issued resets, rectifying
names and emails, reactivation, and the cleanup of credentials that can no longer work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from service.app import close_app
from service.infrastructure.credentials import PURGE_GRACE, password_resets, token_digest, tokens
from service.infrastructure.runtime import CLOCK_KEY, runtime
from tests.service.conftest import (
    PASSWORD,
    Client,
    World,
    as_in,
    ok,
    other_process,
    problem,
)

NEW_PASSWORD = "a brand new passphrase 42"
A = "/api/v1"


def change(person: Client, current: str = PASSWORD, new: str = NEW_PASSWORD) -> Any:
    return person.post(f"{A}/users/me/password", {"current_password": current, "new_password": new})


def reset_for(world: World, person: Client) -> dict[str, Any]:
    return ok(world.admin.post(f"{A}/users/{person.id}/password-reset"), 201)


def redeem(world: World, reset_token: str, new: str = NEW_PASSWORD) -> Any:
    return world.http.post(
        f"{A}/auth/password-resets", json={"reset_token": reset_token, "new_password": new}
    )


def can_log_in(http: FlaskClient, email: str, password: str) -> bool:
    response = http.post(f"{A}/auth/tokens", json={"email": email, "password": password})
    return response.status_code == 201


# ------------------------------------------------------------------ password change
def test_a_password_change_revokes_every_token_and_the_new_password_logs_in(
    world: World,
) -> None:
    person = world.partner()
    other_session = world.login(person.account["email"])
    response = change(person)
    assert response.status_code == 204, response.json
    assert int(response.headers["X-Position"]) > 0
    problem(person.get(f"{A}/users/me"), 401)  # the token used
    problem(other_session.get(f"{A}/users/me"), 401)
    assert not can_log_in(world.http, person.account["email"], PASSWORD)
    assert can_log_in(world.http, person.account["email"], NEW_PASSWORD)


def test_a_wrong_current_password_is_403_and_changes_nothing(world: World) -> None:
    person = world.partner()
    problem(change(person, current="not my password at all"), 403)
    ok(person.get(f"{A}/users/me"))
    assert can_log_in(world.http, person.account["email"], PASSWORD)


@pytest.mark.parametrize(
    "new",
    ["short pw", "1qaz2wsx3edc", "COUNTERSTRIKE", "EMAIL"],
    ids=["short", "common", "common-any-case", "email"],
)
def test_a_weak_new_password_is_422_on_new_password(world: World, new: str) -> None:
    person = world.partner()
    new = person.account["email"].upper() if new == "EMAIL" else new
    body = problem(change(person, new=new), 422)
    assert list(body["errors"]) == ["new_password"]
    assert new not in str(body)
    ok(person.get(f"{A}/users/me"))  # nothing revoked


@pytest.mark.parametrize(
    ("password", "email"),
    [("1qaz2wsx3edc4rfv", "weak1@twinning.test"), ("Weak2@Twinning.test", "weak2@twinning.test")],
)
def test_an_admin_cannot_create_an_account_with_a_weak_password(
    world: World, password: str, email: str
) -> None:
    body = problem(
        world.admin.post(
            f"{A}/users",
            {
                "email": email,
                "name": "Weak",
                "password": password,
                "organisation_id": world.organisation(),
                "roles": ["partner"],
            },
        ),
        422,
    )
    assert list(body["errors"]) == ["password"]


# ------------------------------------------------------------------ resets
def test_a_reset_sets_a_new_password_once_and_revokes_every_token(world: World) -> None:
    person = world.partner()
    issued = reset_for(world, person)
    assert issued["expires_at"].endswith("Z") and len(issued["reset_token"]) >= 40
    expires = datetime.fromisoformat(issued["expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)
    response = redeem(world, issued["reset_token"])
    assert response.status_code == 204, response.json
    assert int(response.headers["X-Position"]) > 0
    problem(person.get(f"{A}/users/me"), 401)
    assert can_log_in(world.http, person.account["email"], NEW_PASSWORD)
    assert not can_log_in(world.http, person.account["email"], PASSWORD)
    again = problem(redeem(world, issued["reset_token"], "yet another passphrase 7"), 400)
    assert issued["reset_token"] not in str(again)
    assert can_log_in(world.http, person.account["email"], NEW_PASSWORD)


def test_an_unknown_reset_is_400_and_a_weak_password_422_without_using_it(
    world: World,
) -> None:
    problem(redeem(world, "no-such-reset-token"), 400)
    person = world.partner()
    issued = reset_for(world, person)
    body = problem(redeem(world, issued["reset_token"], person.account["email"]), 422)
    assert list(body["errors"]) == ["new_password"]
    problem(redeem(world, issued["reset_token"], "password"), 422)
    ok(person.get(f"{A}/users/me"))  # a refused redemption revokes nothing
    assert redeem(world, issued["reset_token"]).status_code == 204


def test_a_deactivated_account_cannot_redeem_a_reset(world: World) -> None:
    person = world.partner()
    issued = reset_for(world, person)
    ok(world.admin.post(f"{A}/users/{person.id}/deactivate"))
    problem(redeem(world, issued["reset_token"]), 400)
    ok(world.admin.post(f"{A}/users/{person.id}/reactivate"))
    assert redeem(world, issued["reset_token"]).status_code == 204


def test_resets_are_for_admins_and_known_accounts(world: World) -> None:
    person = world.partner()
    problem(person.post(f"{A}/users/{person.id}/password-reset"), 403)
    problem(world.admin.post(f"{A}/users/00000000-0000-0000-0000-000000000000/password-reset"), 404)


@pytest.fixture
def clocked(backend: dict[str, Any]) -> Any:
    """A process whose clock the test moves: (app, [now])."""
    at = [datetime(2031, 1, 1, tzinfo=UTC)]
    flask_app = other_process(backend)
    flask_app.config[CLOCK_KEY] = lambda: at[0]
    yield flask_app, at
    close_app(flask_app)


def test_a_reset_expires_after_24_hours(clocked: tuple[Flask, list[datetime]]) -> None:
    flask_app, at = clocked
    world = World(flask_app)
    person = world.partner()
    issued = reset_for(world, person)
    assert issued["expires_at"] == "2031-01-02T00:00:00Z"
    at[0] += timedelta(hours=24)
    problem(redeem(world, issued["reset_token"]), 400)
    at[0] -= timedelta(seconds=1)
    assert redeem(world, issued["reset_token"]).status_code == 204


def test_no_password_reset_token_or_digest_is_ever_in_an_event(world: World) -> None:
    person = world.partner()
    issued = reset_for(world, person)
    assert redeem(world, issued["reset_token"]).status_code == 204
    changer = world.login(person.account["email"], NEW_PASSWORD)
    assert change(changer, NEW_PASSWORD, "the third passphrase here").status_code == 204
    rt = runtime(world.app)
    stored = b"".join(
        n.state + n.topic.encode() for n in rt.app.recorder.select_notifications(1, 100_000)
    )
    reset = issued["reset_token"]
    for secret in (PASSWORD, NEW_PASSWORD, "the third passphrase here", reset, token_digest(reset)):
        assert secret.encode() not in stored, secret
    for token in (world.admin.token, changer.token):
        assert str(token).encode() not in stored and token_digest(str(token)).encode() not in stored
    for name in (b"PasswordResetIssued", b"PasswordResetUsed", b"PasswordChanged"):
        assert name in stored


# ------------------------------------------------------------------ rectification
def test_people_correct_their_name_and_admins_the_email(world: World) -> None:
    person = world.partner()
    response = person.patch(f"{A}/users/me", {"name": "  Ana Novak "})
    assert ok(response)["name"] == "Ana Novak" and int(response.headers["X-Position"]) > 0
    problem(person.patch(f"{A}/users/me", {"name": ""}), 422)
    problem(person.patch(f"{A}/users/me", {"email": "x@y.eu", "name": "A"}), 422)
    problem(person.patch(f"{A}/users/{person.id}", {"name": "Self-service"}), 403)
    old_email = person.account["email"]
    response = world.admin.patch(f"{A}/users/{person.id}", {"email": "Ana.Novak@Example.EU"})
    body = ok(response)
    assert body["email"] == "ana.novak@example.eu" and body["name"] == "Ana Novak"
    assert int(response.headers["X-Position"]) > 0
    assert can_log_in(world.http, "ana.novak@example.eu", PASSWORD)
    assert not can_log_in(world.http, old_email, PASSWORD)
    # The old email is free again: a new account takes it, and logs in with it.
    newcomer = world.account(email=old_email)
    assert newcomer.id != person.id
    assert ok(world.login("ana.novak@example.eu").get(f"{A}/users/me"))["id"] == person.id


def test_a_taken_email_is_409_and_changes_nothing(world: World) -> None:
    one, two = world.partner(), world.partner()
    body = problem(
        world.admin.patch(f"{A}/users/{one.id}", {"email": two.account["email"].upper()}), 409
    )
    assert body["type"].endswith("duplicate-email")
    assert ok(world.admin.get(f"{A}/users/{one.id}"))["email"] == one.account["email"]
    assert can_log_in(world.http, one.account["email"], PASSWORD)
    problem(world.admin.patch(f"{A}/users/{one.id}", {}), 422)
    problem(world.admin.patch(f"{A}/users/{one.id}", {"email": "not an email"}), 422)


def test_an_email_moves_back_and_forth(world: World) -> None:
    person = world.partner()
    first = person.account["email"]
    ok(world.admin.patch(f"{A}/users/{person.id}", {"email": "moved@twinning.test"}))
    ok(world.admin.patch(f"{A}/users/{person.id}", {"email": first}))
    assert can_log_in(world.http, first, PASSWORD)
    assert not can_log_in(world.http, "moved@twinning.test", PASSWORD)
    world.account(email="moved@twinning.test")


# ------------------------------------------------------------------ reactivation
def test_a_reactivated_account_logs_in_again(world: World) -> None:
    person = world.partner()
    problem(world.admin.post(f"{A}/users/{person.id}/reactivate"), 409)
    ok(world.admin.post(f"{A}/users/{person.id}/deactivate"))
    assert not can_log_in(world.http, person.account["email"], PASSWORD)
    problem(person.post(f"{A}/users/{person.id}/reactivate"), 401)
    response = world.admin.post(f"{A}/users/{person.id}/reactivate")
    assert ok(response)["active"] is True and int(response.headers["X-Position"]) > 0
    problem(person.get(f"{A}/users/me"), 401)  # the old tokens were revoked for good
    assert can_log_in(world.http, person.account["email"], PASSWORD)
    problem(world.admin.post(f"{A}/users/{person.id}/reactivate"), 409)


# ------------------------------------------------------------------ cleanup
def test_credentials_past_use_are_deleted(clocked: tuple[Flask, list[datetime]]) -> None:
    flask_app, at = clocked
    world = World(flask_app)
    person = world.partner()
    used = reset_for(world, person)
    assert redeem(world, used["reset_token"]).status_code == 204
    reset_for(world, person)  # left to expire
    rt = runtime(flask_app)

    def rows() -> tuple[int, int]:
        with rt.engine.connect() as conn:
            count = [
                conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (tokens, password_resets)
            ]
        return count[0], count[1]

    before = rows()
    assert before[1] == 2
    at[0] += timedelta(hours=25) + PURGE_GRACE
    world.login(person.account["email"], NEW_PASSWORD)  # a login purges
    assert rows() == (1, 0)  # only the token just issued is left


def test_another_process_sees_the_corrections_at_once(world: World, second: Flask) -> None:
    """Each process caches accounts and email claims: a correction made through one is what
    the other answers with next (logins, and the caller's own account)."""
    person = world.partner()
    there = as_in(second, person)
    old_email = person.account["email"]
    assert ok(there.get(f"{A}/users/me"))["email"] == old_email
    other = second.test_client()
    assert can_log_in(other, old_email, PASSWORD)  # the claim is cached there now
    ok(person.patch(f"{A}/users/me", {"name": "Renamed Here"}))
    ok(world.admin.patch(f"{A}/users/{person.id}", {"email": "moved-here@twinning.test"}))
    mine = ok(there.get(f"{A}/users/me"))
    assert (mine["name"], mine["email"]) == ("Renamed Here", "moved-here@twinning.test")
    assert not can_log_in(other, old_email, PASSWORD)
    assert can_log_in(other, "moved-here@twinning.test", PASSWORD)


def test_password_change_attempts_count_against_the_login_limits(world: World) -> None:
    person = world.partner()  # its login was one attempt of the 10 a minute
    for _ in range(9):
        problem(change(person, current="a wrong guess, again"), 403)
    response = change(person)
    problem(response, 429)
    assert int(response.headers["Retry-After"]) >= 1
    ok(person.get(f"{A}/users/me"))


def test_the_new_events_are_in_the_feed_and_the_audit_trail(world: World) -> None:
    person = world.partner()
    reset = reset_for(world, person)
    assert redeem(world, reset["reset_token"]).status_code == 204
    ok(world.admin.patch(f"{A}/users/{person.id}", {"email": "audited@twinning.test"}))
    ok(world.admin.post(f"{A}/users/{person.id}/deactivate"))
    ok(world.admin.post(f"{A}/users/{person.id}/reactivate"))
    world.project()
    feed = ok(world.admin.get(f"{A}/events?limit=200"))
    types = [item["type"] for item in feed["items"]]
    for name in ("PasswordResetIssued", "PasswordResetUsed", "Rectified", "Reactivated"):
        assert any(t.endswith(name) for t in types), (name, types)
    entries = ok(world.admin.get(f"{A}/audit/entries?limit=200"))
    assert any(e["type"].endswith("PasswordResetUsed") for e in entries["items"])
    [released] = [e for e in entries["items"] if e["type"].endswith("Released")]
    assert released["changes"] == {"account_id": {"old": str(person.id), "new": None}}
    assert ok(world.admin.get(f"{A}/audit/verify"))["ok"] is True
    everything = str(feed) + str(entries)
    assert reset["reset_token"] not in everything and NEW_PASSWORD not in everything
