"""Accounts and security (API 1.1): changing a password, admin-issued resets, rectifying
names and emails, reactivation, and the cleanup of credentials that can no longer work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from service.app import close_app
from service.infrastructure.credentials import PURGE_GRACE, password_resets, tokens
from service.infrastructure.runtime import CLOCK_KEY, runtime
from tests.service.conftest import PASSWORD, Client, World, ok, other_process, problem

NEW_PASSWORD = "a brand new passphrase 42"
A = "/api/v1"


def change(person: Client, current: str = PASSWORD, new: str = NEW_PASSWORD) -> Any:
    return person.post(
        f"{A}/users/me/password", {"current_password": current, "new_password": new}
    )


def reset_for(world: World, person: Client) -> dict[str, Any]:
    return ok(world.admin.post(f"{A}/users/{person.id}/password-reset"), 201)


def redeem(world: World, reset_token: str, new: str = NEW_PASSWORD) -> Any:
    return world.http.post(
        f"{A}/auth/password-resets", json={"reset_token": reset_token, "new_password": new}
    )


def can_log_in(world: World, email: str, password: str) -> bool:
    response = world.http.post(f"{A}/auth/tokens", json={"email": email, "password": password})
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
    assert not can_log_in(world, person.account["email"], PASSWORD)
    assert can_log_in(world, person.account["email"], NEW_PASSWORD)


def test_a_wrong_current_password_is_403_and_changes_nothing(world: World) -> None:
    person = world.partner()
    problem(change(person, current="not my password at all"), 403)
    ok(person.get(f"{A}/users/me"))
    assert can_log_in(world, person.account["email"], PASSWORD)


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
