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
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from service.app import close_app, create_app
from tests import reliability
from tests.conftest import FAST_HASHING
from tests.service.conftest import ADMIN_EMAIL, PASSWORD, World

ROLES = ["partner", "reviewer", "auditor", "admin"]
EXAMPLES = int(os.environ.get("TWINNING_FUZZ_EXAMPLES", "12"))
SOAK_EXAMPLES = 150
SOAK = pytest.mark.soak  # the long variant: `make soak`


@schemathesis.check
def problem_documents(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx answer is an RFC 9457 problem document."""
    if response.status_code < 400:
        return None
    headers = {key.lower(): value for key, value in response.headers.items()}
    content_type = headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(f"{response.status_code} answered as {content_type!r}")
    body = response.json()
    missing = {"type", "title", "status", "detail"} - set(body)
    if missing or body["status"] != response.status_code:
        raise AssertionError(f"not a problem document: {body}")
    return None


@schemathesis.check
def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, but for the one API.md prescribes: 503 for an X-Min-Position not reached."""
    asked_position = any(k.lower() == "x-min-position" for k in (case.headers or {}))
    if response.status_code >= 500 and not (response.status_code == 503 and asked_position):
        raise AssertionError(f"server error {response.status_code}: {response.text[:500]}")
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


@pytest.mark.parametrize(
    "examples", [EXAMPLES, pytest.param(SOAK_EXAMPLES, marks=pytest.mark.soak)]
)
@pytest.mark.parametrize("role", ROLES)
def test_the_api_answers_generated_requests_as_documented(
    fuzz_world: dict[str, Any], role: str, examples: int
) -> None:
    """Every operation of the spec, EXAMPLES generated requests each (TWINNING_FUZZ_EXAMPLES;
    `make soak` raises it), as this role; failures are gathered across operations."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_world["app"])
    headers = {"Authorization": f"Bearer {fuzz_world['tokens'][role]}"}
    failures: dict[str, str] = {}
    operations = 0
    tried = [0]
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/v1/auth/tokens/current" and operation.method.upper() == "DELETE":
            continue  # revoking this role's token would end its other cases
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            tried[0] += 1
            case.call_and_validate(
                headers=headers,
                additional_checks=[problem_documents, no_server_error],
                # Bodies valid by the schema may still break domain rules the schema cannot
                # say (language codes, the theme vocabulary, end >= start): 422 is right.
                excluded_checks=[not_a_server_error, positive_data_acceptance],
            )

        try:
            run()
        except (Exception, BaseExceptionGroup) as error:  # gather: one report an operation
            failures[f"{operation.method.upper()} {operation.path}"] = str(error)[:2000]
    reliability.record(__name__, tried[0])
    assert operations >= 40
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
