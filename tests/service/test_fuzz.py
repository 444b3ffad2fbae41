"""Fuzzing with schemathesis against /api/v1/openapi.json, authenticated as each role: no 5xx,
every error a problem document, every response as the spec documents it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings

from service.app import close_app, create_app
from tests.conftest import FAST_HASHING
from tests.service.conftest import ADMIN_EMAIL, PASSWORD, World

ROLES = ["partner", "reviewer", "auditor", "admin"]
EXAMPLES = int(os.environ.get("TWINNING_FUZZ_EXAMPLES", "12"))


@schemathesis.check
def problem_documents(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx answer is an RFC 9457 problem document."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("Content-Type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(f"{response.status_code} answered as {content_type!r}")
    body = response.json()
    missing = {"type", "title", "status", "detail"} - set(body)
    if missing or body["status"] != response.status_code:
        raise AssertionError(f"not a problem document: {body}")
    return None


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One SQLite service with an account of each role and an initiative to aim at."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    app: Flask = create_app(
        {
            "data_dir": folder,
            "database_url": "",
            **FAST_HASHING,
            "admin_email": ADMIN_EMAIL,
            "admin_password": PASSWORD,
            "login_limit_per_email": "",
            "login_limit_per_address": "",
        }
    )
    world = World(app)
    partner = world.partner()
    world.propose(partner)
    tokens = {
        "partner": partner.token,
        "reviewer": world.reviewer().token,
        "auditor": world.account(world.organisation(type_="other"), "auditor").token,
        "admin": world.admin.token,
    }
    world.project()
    yield {"app": app, "tokens": tokens}
    close_app(app)


@pytest.fixture(params=ROLES)
def role(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def api_schema(fuzz_world: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_world["app"])


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_answers_every_generated_request_as_documented(
    case: Any, role: str, fuzz_world: dict[str, Any]
) -> None:
    headers = {"Authorization": f"Bearer {fuzz_world['tokens'][role]}"}
    if case.operation.path == "/api/v1/auth/tokens/current" and case.method == "DELETE":
        return  # revoking the token would end the session of this role's other cases
    case.call_and_validate(headers=headers, additional_checks=[problem_documents])
