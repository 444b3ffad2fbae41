"""The deployment files agree with the code: every setting they name exists, every command
they run is a real one, every probe points at a real endpoint, every file they copy is there.
(No container engine runs on the CI machine, so the images themselves are not built here.)"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from service.cli import main as cli
from service.config import NOT_SETTINGS, ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS = {f"TWINNING_{f.name.upper()}" for f in dataclasses.fields(Settings)}
DOCUMENTED = [
    *DEPLOY.rglob("*"),
    ROOT / "docs" / "OPERATIONS.md",
    ROOT / "README.md",
]


TYPO_EXAMPLE = "TWINNING_WORKRES"  # the guide shows the error a typo gets


def named_settings(text: str) -> set[str]:
    return {name.rstrip("_") for name in re.findall(r"\bTWINNING_[A-Z0-9_]*[A-Z0-9]\b", text)}


@pytest.mark.parametrize("path", [p for p in DOCUMENTED if p.is_file()], ids=lambda p: p.name)
def test_every_setting_named_exists(path: Path) -> None:
    unknown = named_settings(path.read_text()) - SETTINGS - NOT_SETTINGS - {TYPO_EXAMPLE}
    assert not unknown, f"{path.name} names settings that do not exist: {sorted(unknown)}"


def test_every_setting_is_documented_in_the_operations_guide() -> None:
    guide = (ROOT / "docs" / "OPERATIONS.md").read_text()
    missing = SETTINGS - named_settings(guide)
    assert not missing, f"not in docs/OPERATIONS.md: {sorted(missing)}"


def twinning_commands(argv: list[str]) -> None:
    """Fails unless `argv` runs an existing twinning subcommand (or gunicorn with our app)."""
    if argv[0].endswith("twinning"):
        assert argv[1] in cli.commands, f"no twinning command {argv[1]!r}"
    elif argv[0].endswith("gunicorn"):
        assert argv[-1] == "service.wsgi:app" and "gunicorn.conf.py" in argv[argv.index("-c") + 1]
    else:
        raise AssertionError(f"unexpected command {argv}")


def test_compose_runs_postgres_redis_two_apis_two_projectors_and_a_proxy() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {
        "postgres",
        "redis",
        "init",
        "api1",
        "api2",
        "projector1",
        "projector2",
        "proxy",
    } <= set(services)
    # Both APIs count login attempts in the one Redis, which they wait for.
    storage = urlsplit(services["api1"]["environment"]["TWINNING_RATE_LIMIT_STORAGE"])
    assert storage.scheme == "redis" and storage.hostname in services
    assert services[storage.hostname]["image"].startswith("redis:")
    assert storage.port == 6379
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]
    for name in ("api1", "api2"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in ("projector1", "projector2"):
        assert services[name]["command"] == ["twinning", "project"]
    twinning_commands(services["init"]["command"])
    for name in ("api1", "api2"):
        assert services[name]["depends_on"]["init"]["condition"] == (
            "service_completed_successfully"
        )
    build = services["api1"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    [volume] = services["proxy"]["volumes"]
    assert (DEPLOY / volume.split(":")[0]).is_file()
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert "server api1:8000" in nginx and "server api2:8000" in nginx
    env_file = DEPLOY / services["api1"]["env_file"]
    example = env_file.with_name(env_file.name + ".example")
    assert example.is_file()


def test_the_image_copies_what_exists_and_runs_as_a_user() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M):
        assert (ROOT / source).exists(), source
    assert re.search(r"^USER twinning$", dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    assert cmd is not None
    twinning_commands(yaml.safe_load(cmd.group(1)))


def test_kubernetes_manifests_have_probes_and_run_real_commands() -> None:
    folder = DEPLOY / "kubernetes"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    documents = []
    for resource in kustomization["resources"]:
        documents += [d for d in yaml.safe_load_all((folder / resource).read_text()) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    assert {
        ("Deployment", "twinning-api"),
        ("Service", "twinning-api"),
        ("Deployment", "twinning-projector"),
        ("Deployment", "twinning-redis"),
        ("Service", "twinning-redis"),
        ("ConfigMap", "twinning"),
    } <= kinds
    secret = yaml.safe_load((folder / "secret.example.yaml").read_text())
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "twinning"
    for document in documents:
        if document["kind"] != "Deployment":
            continue
        spec = document["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        if document["metadata"]["name"] == "twinning-redis":
            [redis] = spec["containers"]
            assert redis["image"].startswith("redis:") and redis["readinessProbe"]
            continue
        for container in spec.get("initContainers", []) + spec["containers"]:
            twinning_commands(container["command"])
            sources = {s.get("secretRef", {}).get("name") for s in container["envFrom"]}
            assert "twinning" in sources
        if document["metadata"]["name"] == "twinning-api":
            [api] = spec["containers"]
            assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
        else:
            assert document["spec"]["replicas"] >= 2  # hot/cold projectors
    config = yaml.safe_load((folder / "configmap.yaml").read_text())["data"]
    for key in config:
        assert key in SETTINGS
    # The API pods share their login counters through the Redis Service.
    storage = urlsplit(config["TWINNING_RATE_LIMIT_STORAGE"])
    [service] = [
        d for d in documents if d["kind"] == "Service" and d["metadata"]["name"] == storage.hostname
    ]
    [port] = service["spec"]["ports"]
    assert storage.scheme == "redis" and storage.port == port["port"]
    [redis] = [
        d
        for d in documents
        if d["kind"] == "Deployment" and d["metadata"]["name"] == storage.hostname
    ]
    labels = redis["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    [container] = redis["spec"]["template"]["spec"]["containers"]
    assert port["targetPort"] in {p["name"] for p in container["ports"]}
    Settings.from_env(environ={"TWINNING_RATE_LIMIT_STORAGE": storage.geturl()})


def test_systemd_units_run_real_commands() -> None:
    for unit in (DEPLOY / "systemd").glob("*.service"):
        text = unit.read_text()
        for line in re.findall(r"^Exec(?:Start|StartPre)=(.+)$", text, re.M):
            twinning_commands(line.split())
        assert "User=twinning" in text and "EnvironmentFile=" in text


def test_gunicorn_takes_its_settings_from_the_environment(tmp_path: Path) -> None:
    code = (
        "import runpy, json; c = runpy.run_path('deploy/gunicorn.conf.py'); "
        "print(json.dumps([c['bind'], c['workers'], c['threads'], c['graceful_timeout'], "
        "c['preload_app'], c['worker_class']]))"
    )
    env = {
        **os.environ,
        "TWINNING_BIND": "0.0.0.0:9000",
        "TWINNING_WORKERS": "4",
        "TWINNING_THREADS": "8",
        "TWINNING_GRACEFUL_TIMEOUT": "15",
        # A metrics folder of the test's own: without one the configuration makes one in
        # /tmp, which only the gunicorn master's exit would remove.
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout) == ["0.0.0.0:9000", 4, 8, 15, False, "gthread"]
    bad = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "TWINNING_WORKERS": "none"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "twinning: configuration error: TWINNING_WORKERS='none' is not a whole number"
    )


ACCESS_PROBE = """
import datetime, json, runpy, types
from gunicorn.config import Config
c = runpy.run_path('deploy/gunicorn.conf.py')
cfg = Config()
for name in ('accesslog', 'logconfig_dict', 'logger_class', 'errorlog', 'loglevel'):
    if name in c:
        cfg.set(name, c[name])
log = cfg.logger_class(cfg)
built = []
atoms = log.atoms
log.atoms = lambda *args: built.append(1) or atoms(*args)
resp = types.SimpleNamespace(status='200 OK', headers=[('Content-Type', 'text/plain')], sent=5)
req = types.SimpleNamespace(headers=[('USER-AGENT', 'probe')])
environ = {'REQUEST_METHOD': 'GET', 'RAW_URI': '/probe', 'PATH_INFO': '/probe',
           'QUERY_STRING': '', 'SERVER_PROTOCOL': 'HTTP/1.1', 'REMOTE_ADDR': '127.0.0.1'}
log.access(resp, req, environ, datetime.timedelta(milliseconds=3))
print(json.dumps([type(log).__name__, log.access_log_enabled, len(built)]))
"""


@pytest.mark.parametrize("access_log", ["", "-"])
def test_gunicorn_builds_access_lines_only_when_it_writes_them(
    access_log: str, tmp_path: Path
) -> None:
    """The JSON format's logging configuration makes gunicorn count its access log as on;
    without TWINNING_ACCESS_LOG no line is built (a twentieth of a small request's CPU),
    with it every request gets one, as JSON."""
    env = {
        **os.environ,
        "TWINNING_ACCESS_LOG": access_log,
        "TWINNING_LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", ACCESS_PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    logger, enabled, built = json.loads(done.stdout)
    assert logger == "GunicornLogger"
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    if access_log:
        assert (enabled, built, len(access)) == (True, 1, 1)
        assert "GET /probe" in access[0]["message"]
    else:
        assert (enabled, built, access) == (False, 0, [])


# Secrets every process needs, which the examples hold as placeholders refused at start.
SECRETS = (
    "TWINNING_ADMIN_PASSWORD",
    "TWINNING_METRICS_TOKEN",
    "TWINNING_SECRET_KEY",
    "TWINNING_MASTER_KEY",
)


def env_file_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def example_secrets() -> dict[str, str]:
    """The secrets of deploy/twinning.env.example and deploy/kubernetes/secret.example.yaml
    (which must agree)."""
    env = env_file_values(DEPLOY / "twinning.env.example")
    secret = yaml.safe_load((DEPLOY / "kubernetes" / "secret.example.yaml").read_text())
    held = secret["stringData"]
    for name in SECRETS:
        assert name in env, f"{name} is not in twinning.env.example"
        assert name in held, f"{name} is not in secret.example.yaml"
        assert env[name] == held[name], name
    return {name: env[name] for name in SECRETS}


@pytest.mark.parametrize("name", SECRETS)
def test_every_secret_is_in_both_examples_as_a_placeholder_refused_at_start(name: str) -> None:
    value = example_secrets()[name]
    assert value.startswith("change-me")
    with pytest.raises(ConfigError, match=f"^{name} is still the example's placeholder"):
        Settings.from_env(environ={name: value})


def test_every_process_reads_the_secrets() -> None:
    """The keys must reach every process (API, projector, init) alike: one that lacked
    them would seal or look up personal data with other keys than its peers."""
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    for name, service in services.items():
        if service.get("image", "").startswith("twinning"):
            assert service["env_file"] == "twinning.env", name
            assert not set(service.get("environment", {})) & set(SECRETS), name
    for unit in (DEPLOY / "systemd").glob("*.service"):
        assert "EnvironmentFile=/etc/twinning/twinning.env" in unit.read_text(), unit.name
