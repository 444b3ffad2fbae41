"""An API world for the service tests: a Flask test client, an admin, helpers for accounts."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from service.app import close_app, create_app
from tests.conftest import FAST_HASHING

ADMIN_EMAIL = "admin@twinning.test"
PASSWORD = "correct horse battery staple"

_numbers = itertools.count(1)


def proposal(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": {"en": "Youth exchange on shared heritage"},
        "summary": {"en": "Young people from twinned towns document their heritage."},
        "original_language": "en",
        "themes": ["youth", "culture_heritage"],
        "level": "national",
        "countries": ["IT"],
    }
    body.update(overrides)
    return body


class Client:
    """One account's view of the API."""

    def __init__(self, http: FlaskClient, token: str | None, account: dict[str, Any] | None):
        self.http = http
        self.token = token
        self.account = account or {}

    @property
    def id(self) -> str:
        return str(self.account["id"])

    @property
    def organisation_id(self) -> str:
        return str(self.account["organisation_id"])

    def _headers(self, headers: dict[str, str] | None, version: int | None) -> dict[str, str]:
        result = dict(headers or {})
        if self.token:
            result.setdefault("Authorization", f"Bearer {self.token}")
        if version is not None:
            result["If-Match"] = f'"{version}"'
        return result

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        version: int | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> TestResponse:
        if json is not None:
            kwargs["json"] = json
        return self.http.open(
            path, method=method, headers=self._headers(headers, version), **kwargs
        )

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> TestResponse:
        return self.request("POST", path, json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> TestResponse:
        return self.request("PATCH", path, json, **kw)

    def delete(self, path: str, **kw: Any) -> TestResponse:
        return self.request("DELETE", path, **kw)


class World:
    """An admin plus helpers to add organisations, accounts and initiatives."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.http = app.test_client()
        self.anonymous = Client(self.http, None, None)
        self.admin = self.login(ADMIN_EMAIL, PASSWORD)

    def project(self) -> None:
        """Brings every read view up to date, as the projector process would."""
        from service.infrastructure.runtime import runtime

        runtime(self.app).projector.catch_up()

    def login(self, email: str, password: str = PASSWORD) -> Client:
        response = self.http.post(
            "/api/v1/auth/tokens", json={"email": email, "password": password}
        )
        assert response.status_code == 201, response.json
        client = Client(self.http, response.json["token"], None)
        client.account = client.get("/api/v1/users/me").json
        return client

    def organisation(
        self, name: str = "", type_: str = "local_authority", country: str = "IT"
    ) -> str:
        name = name or f"Organisation {next(_numbers)}"
        response = self.admin.post(
            "/api/v1/organisations", {"name": name, "type": type_, "country": country}
        )
        assert response.status_code == 201, response.json
        return str(response.json["id"])

    def account(self, organisation_id: str | None = None, *roles: str, email: str = "") -> Client:
        organisation_id = organisation_id or self.organisation()
        email = email or f"person{next(_numbers)}@twinning.test"
        response = self.admin.post(
            "/api/v1/users",
            {
                "email": email,
                "name": "Test Person",
                "password": PASSWORD,
                "organisation_id": organisation_id,
                "roles": list(roles) or ["partner"],
            },
        )
        assert response.status_code == 201, response.json
        return self.login(email)

    def partner(self, country: str = "IT", type_: str = "local_authority") -> Client:
        return self.account(self.organisation(type_=type_, country=country), "partner")

    def reviewer(self, country: str = "FR") -> Client:
        return self.account(self.organisation(type_="other", country=country), "reviewer")

    def propose(self, lead: Client, **fields: Any) -> dict[str, Any]:
        response = lead.post("/api/v1/initiatives", proposal(**fields))
        assert response.status_code == 201, response.json
        return dict(response.json)

    def in_co_design(self, lead: Client, partner: Client, **fields: Any) -> dict[str, Any]:
        """An initiative with one joined partner, open for co-design."""
        body = self.propose(lead, **fields)
        path = f"/api/v1/initiatives/{body['id']}"
        body = ok(
            lead.post(
                f"{path}/partners",
                {"organisation_id": partner.organisation_id},
                version=body["version"],
            )
        )
        body = ok(
            partner.post(f"{path}/partners/{partner.organisation_id}/join", version=body["version"])
        )
        return ok(lead.post(f"{path}/co-design", version=body["version"]))

    def invite(self, lead: Client, body: dict[str, Any], guest: Client) -> dict[str, Any]:
        """The initiative after its lead invited the guest's organisation."""
        return ok(
            lead.post(
                f"/api/v1/initiatives/{body['id']}/partners",
                {"organisation_id": guest.organisation_id},
                version=body["version"],
            )
        )

    def amend(
        self, author: Client, body: dict[str, Any], changes: dict[str, Any], rationale: str
    ) -> dict[str, Any]:
        """The initiative after the author proposed an amendment on its current version."""
        return ok(
            author.post(
                f"/api/v1/initiatives/{body['id']}/amendments",
                {"changes": changes, "rationale": rationale, "base_version": body["version"]},
            ),
            201,
        )


def ok(response: TestResponse, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.json)
    return dict(response.json)


def problem(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.json)
    assert response.mimetype == "application/problem+json"
    body = dict(response.json)
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


def other_process(backend: dict[str, Any], **overrides: Any) -> Flask:
    """An application on the test's database, as one API process would run it."""
    app = create_app(
        {
            **backend,
            **FAST_HASHING,
            "admin_email": ADMIN_EMAIL,
            "admin_password": PASSWORD,
            **overrides,
        }
    )
    app.config["TESTING"] = True
    return app


def serving(backend: dict[str, Any], **overrides: Any) -> Iterator[Flask]:
    """`other_process` for a fixture: closed when the test ends."""
    flask_app = other_process(backend, **overrides)
    yield flask_app
    close_app(flask_app)


@pytest.fixture
def app(backend: dict[str, Any]) -> Iterator[Flask]:
    yield from serving(backend)


@pytest.fixture
def world(app: Flask) -> World:
    return World(app)


@pytest.fixture
def second(backend: dict[str, Any]) -> Iterator[Flask]:
    """Another API process on the same database, with caches of its own."""
    yield from serving(backend)


@pytest.fixture
def uncached(backend: dict[str, Any]) -> Iterator[Flask]:
    """A process with the caches off: every read replays the store and reads the views."""
    yield from serving(backend, aggregate_cache=0)


def as_in(app: Flask, person: Client) -> Client:
    """The same person (same token) talking to another process."""
    return Client(app.test_client(), person.token, person.account)


CSRF_INPUT = 'name="csrf_token" value="'


def csrf_of(page: TestResponse) -> str:
    """The CSRF token a console page put in its forms."""
    html = page.get_data(as_text=True)
    start = html.index(CSRF_INPUT) + len(CSRF_INPUT)
    return html[start : html.index('"', start)]


class Browser:
    """One person in the console: a test client with its own cookies."""

    def __init__(self, app: Flask) -> None:
        self.http = app.test_client()
        self.csrf = ""

    def get(self, path: str, **kw: Any) -> TestResponse:
        response = self.http.get(path, **kw)
        if CSRF_INPUT in response.get_data(as_text=True):
            self.csrf = csrf_of(response)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> TestResponse:
        """Posts a form as a page of the console would, CSRF token included."""
        if not self.csrf:
            self.get("/console/login")
        return self.http.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kw)

    def sign_in(self, email: str, password: str = PASSWORD) -> TestResponse:
        self.get("/console/login")
        response = self.post("/console/login", {"email": email, "password": password})
        assert response.status_code == 303, response.get_data(as_text=True)
        self.get("/console/")  # the signed-in CSRF token
        return response


def browser(world: World, account: Client | None = None) -> Browser:
    """A console session for an account made with `world` (None: signed out)."""
    person = Browser(world.app)
    if account is not None:
        person.sign_in(account.account["email"])
    return person
