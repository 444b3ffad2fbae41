"""A partner's developer generates a Python client from /api/v1/openapi.json with
openapi-python-client: every schema and every response, without a warning. The client then
logs in, proposes an initiative and reads it back from a service answering HTTP."""

from __future__ import annotations

import datetime
import importlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from service.app import close_app
from service.infrastructure.runtime import runtime
from tests.service.conftest import ADMIN_EMAIL, PASSWORD, other_process

pytestmark = pytest.mark.e2e

PACKAGE = "twinning_client"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    """The app on SQLite, answering HTTP on a free port from a thread."""
    app = other_process({"data_dir": tmp_path / "var", "database_url": ""})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        close_app(app)


@pytest.fixture
def client_package(served: tuple[Any, str], tmp_path: Path) -> Iterator[Any]:
    """The client generated from the running app's OpenAPI document, imported."""
    app, _ = served
    spec = app.test_client().get("/api/v1/openapi.json")
    assert spec.status_code == 200
    (tmp_path / "spec.json").write_text(json.dumps(spec.json))
    # No post hooks: formatting the generated code is the partner's business, not the spec's.
    (tmp_path / "config.json").write_text(json.dumps({"post_hooks": []}))
    generated = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(tmp_path / "spec.json"),
            "--config",
            str(tmp_path / "config.json"),
            "--output-path",
            str(tmp_path / PACKAGE),
            "--meta",
            "none",
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def module(package: Any, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def test_a_generated_client_proposes_and_reads_an_initiative(
    served: tuple[Any, str], client_package: Any
) -> None:
    app, base_url = served
    models = module(client_package, "models")
    auth = module(client_package, "api.auth.post_api_v1_auth_tokens")
    create_organisation = module(client_package, "api.organisations.post_api_v1_organisations")
    create_user = module(client_package, "api.users.post_api_v1_users")
    propose = module(client_package, "api.initiatives.post_api_v1_initiatives")
    read = module(client_package, "api.initiatives.get_api_v1_initiatives_initiative_id")
    listed = module(client_package, "api.initiatives.get_api_v1_initiatives")

    anonymous = client_package.Client(base_url=base_url, raise_on_unexpected_status=True)

    def login(email: str) -> Any:
        token = auth.sync(client=anonymous, body=models.Login(email=email, password=PASSWORD))
        assert isinstance(token, models.Token), token
        assert isinstance(token.expires_at, datetime.datetime)
        return client_package.AuthenticatedClient(
            base_url=base_url, token=token.token, raise_on_unexpected_status=True
        )

    admin = login(ADMIN_EMAIL)
    organisation = create_organisation.sync(
        client=admin,
        body=models.OrganisationCreate(
            name="Comune di Prova",
            type_=models.OrganisationType.LOCAL_AUTHORITY,
            country="IT",
        ),
    )
    assert isinstance(organisation, models.Organisation), organisation
    user = create_user.sync(
        client=admin,
        body=models.UserCreate(
            email="lead@twinning.test",
            name="Lead Person",
            password=PASSWORD,
            organisation_id=organisation.id,
            roles=[models.RoleName.PARTNER],
        ),
    )
    assert isinstance(user, models.User), user
    lead = login("lead@twinning.test")

    body = models.Propose(
        title=models.Multilingual.from_dict({"en": "Youth exchange", "fr": "Échange de jeunes"}),
        summary=models.Multilingual.from_dict({"en": "Young people meet."}),
        original_language="en",
        themes=[models.ThemeId.YOUTH],
        level=models.Level.EUROPEAN,
        countries=["IT", "RS"],
        start_date=datetime.date(2027, 3, 1),
    )
    proposed = propose.sync_detailed(client=lead, body=body)
    assert proposed.status_code == 201
    assert isinstance(proposed.parsed, models.Initiative), proposed.content
    assert proposed.headers["ETag"] == '"1"'

    initiative = read.sync(proposed.parsed.id, client=lead)
    assert isinstance(initiative, models.Initiative), initiative
    assert initiative.id == proposed.parsed.id
    assert initiative.state is models.InitiativeState.PROPOSAL
    assert initiative.version == 1
    assert initiative.level is models.Level.EUROPEAN
    assert initiative.themes == [models.ThemeId.YOUTH]
    assert initiative.title.to_dict() == {"en": "Youth exchange", "fr": "Échange de jeunes"}
    assert initiative.summary["en"] == "Young people meet."
    assert initiative.countries == ["IT", "RS"]
    assert initiative.start_date == datetime.date(2027, 3, 1)
    assert initiative.end_date is None
    assert initiative.lead_organisation_id == str(organisation.id)
    assert isinstance(initiative.created_at, datetime.datetime)
    assert initiative.approval is None
    assert initiative.partners == []
    assert models.Action.EDIT in initiative.allowed_actions
    assert initiative.translations["fr"].stale is False

    # The list's filters are typed parameters too (read views: projected as the projector would).
    runtime(app).projector.catch_up()
    page = listed.sync(
        client=lead, state=models.InitiativeState.PROPOSAL, level=models.Level.EUROPEAN, limit=5
    )
    assert isinstance(page, models.InitiativePage), page
    assert [item.id for item in page.items] == [str(initiative.id)]
    assert isinstance(page.items[0].waiting_on, models.WaitingOn)
