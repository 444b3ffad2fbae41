"""Settings: defaults, then TWINNING_* environment variables, then overrides. Read once."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from service.infrastructure.passwords import password_problems


class ConfigError(Exception):
    """A setting with a value the service cannot use; the message names it and says why."""


def _whole_number(name: str, raw: str, least: int = 1) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < least:
        raise ConfigError(f"{name}={raw!r} must be at least {least}")
    return value


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
_BIND = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$|^unix:/.+$")
# Where rate-limit counters live (the `limits` library's storage URIs): memory:// is per process.
LIMIT_STORAGES = ("memory", "redis", "rediss", "redis+sentinel", "redis+cluster", "memcached")
# Variables read by the test suite and the benchmarks, not by the service.
NOT_SETTINGS = {
    "TWINNING_TEST_POSTGRES_URL",
    "TWINNING_TEST_REDIS_URL",
    "TWINNING_STATEFUL_EXAMPLES",
    "TWINNING_FUZZ_EXAMPLES",
    "TWINNING_TORTURE_SECONDS",
    "TWINNING_CRASH_SECONDS",
}


# The placeholders of deploy/twinning.env.example and deploy/kubernetes/secret.example.yaml:
# a copy of the example deployed as it is would run with secrets everyone can read.
EXAMPLE_SECRET = "change-me"
_PREFIX = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


# Keys given as text: long enough to hold 256 bits however they were made.
SECRET_KEYS = ("secret_key", "master_key", "previous_master_key")
KEY_CHARS = 32

_RATE = re.compile(r"^\s*\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?\s*$", re.I)


_DURATION = re.compile(r"^([0-9]{1,9})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(name: str, raw: str) -> timedelta:
    """`<number><unit>` with unit s, m, h or d (`14d`, `90m`, `5s`); zero is refused (a
    retention of nothing would shred participants the moment an activity ends)."""
    match = _DURATION.match(raw.strip())
    if match is None:
        raise ConfigError(
            f"{name}={raw!r} is not a duration such as '1825d', '12h', '90m' or '30s' "
            "(a whole number, then s, m, h or d)"
        )
    seconds = int(match[1]) * _UNIT_SECONDS[match[2]]
    if seconds < 1:
        raise ConfigError(f"{name}={raw!r} must be longer than zero")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ConfigError(f"{name}={raw!r} is too long") from None


def _rate(name: str, raw: str) -> str:
    if raw.strip().lower() in ("", "none", "off"):
        return ""
    for part in raw.split(";"):
        if not _RATE.match(part):
            raise ConfigError(f"{name}={raw!r} is not a rate such as '10/minute'")
    return raw


@dataclass(frozen=True)
class Settings:
    """Every TWINNING_* setting, documented in the README."""

    data_dir: Path = Path("var")
    database_url: str = ""
    database_schema: str = ""
    admin_email: str = ""
    admin_password: str = field(default="", repr=False)
    token_ttl_hours: int = 12
    snapshot_interval: int = 50
    aggregate_cache: int = field(default=1000, metadata={"least": 0})
    login_limit_per_email: str = "10/minute"
    login_limit_per_address: str = "100/minute"
    rate_limit: str = ""
    rate_limit_storage: str = "memory://"
    # Prepended to every limit counter's key: services (or test runs) sharing one Redis
    # keep their counters apart.
    rate_limit_prefix: str = "twinning"
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    projection_batch: int = 2000
    # The programme's eligibility thresholds (GET /activities/{id}/eligibility).
    town_twinning_min_participants: int = 50
    town_twinning_min_invited_abroad: int = 25
    networks_min_towns: int = 4
    networks_min_countries: int = 4
    # How long after an activity ends its participants' personal data is kept; then the
    # projector shreds it (service/infrastructure/retention.py). Written like 1825d, 12h.
    participant_retention: timedelta = timedelta(days=1825)
    pool_size: int = 5
    # SQLite's heap in each process (its soft heap limit, MiB): the page caches of all the
    # process's connections share it; 0: no limit (each connection then keeps up to 2 MB of pages).
    sqlite_heap_mib: int = field(default=16, metadata={"least": 0})
    max_overflow: int = field(default=10, metadata={"least": 0})
    log_level: str = "INFO"
    log_format: str = "json"
    metrics_token: str = field(default="", repr=False)
    # Keys the lookup of emails (HMAC); unset: a key generated once in <data_dir>/secret.key.
    secret_key: str = field(default="", repr=False)
    # Wraps every person's data key; TWINNING_PREVIOUS_MASTER_KEY is still accepted while
    # `twinning rotate-master-key` rewraps the keys with the new one.
    master_key: str = field(default="", repr=False)
    previous_master_key: str = field(default="", repr=False)
    cors_origins: str = ""
    trusted_proxies: int = field(default=0, metadata={"least": 0})
    # gunicorn (deploy/gunicorn.conf.py)
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    threads: int = 4
    timeout: int = 30
    graceful_timeout: int = 20
    max_requests: int = field(default=0, metadata={"least": 0})
    access_log: str = ""

    def cors_allowed(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def database(self) -> Database:
        return Database.parse(self.database_url, self.data_dir, self.database_schema)

    @classmethod
    def from_env(
        cls, environ: dict[str, str] | None = None, overrides: dict[str, Any] | None = None
    ) -> Settings:
        environ = dict(os.environ if environ is None else environ)
        known = {f"TWINNING_{f.name.upper()}" for f in fields(cls)} | NOT_SETTINGS
        for key in sorted(environ):
            if key.startswith("TWINNING_") and key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ConfigError(f"{key} is not a setting{hint}")
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = f"TWINNING_{f.name.upper()}"
            if key not in environ:
                continue
            raw = environ[key]
            if f.type == "int":
                values[f.name] = _whole_number(key, raw, f.metadata.get("least", 1))
            elif f.type == "Path":
                values[f.name] = Path(raw)
            elif f.type == "timedelta":
                values[f.name] = parse_duration(key, raw)
            elif f.name.endswith("limit") or "limit_per" in f.name:
                values[f.name] = _rate(key, raw)
            else:
                values[f.name] = raw
        settings = replace(cls(), **{**values, **(overrides or {})})
        if not isinstance(settings.data_dir, Path):
            settings = replace(settings, data_dir=Path(settings.data_dir))
        if isinstance(settings.participant_retention, str):  # an override written as text
            settings = replace(
                settings,
                participant_retention=parse_duration(
                    "TWINNING_PARTICIPANT_RETENTION", settings.participant_retention
                ),
            )
        if settings.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(
                f"TWINNING_LOG_LEVEL={settings.log_level!r} must be DEBUG, INFO, WARNING or ERROR"
            )
        scheme = settings.rate_limit_storage.partition("://")[0]
        if "://" not in settings.rate_limit_storage or scheme not in LIMIT_STORAGES:
            raise ConfigError(
                f"TWINNING_RATE_LIMIT_STORAGE must start with one of "
                f"{', '.join(s + '://' for s in LIMIT_STORAGES)}"
            )
        if not _PREFIX.match(settings.rate_limit_prefix):
            raise ConfigError(
                f"TWINNING_RATE_LIMIT_PREFIX={settings.rate_limit_prefix!r} must be 1 to 64 "
                "letters, digits or _ . : -"
            )
        secrets = ("admin_password", "metrics_token", *SECRET_KEYS)
        for name in secrets:
            if getattr(settings, name).strip().lower().startswith(EXAMPLE_SECRET):
                raise ConfigError(
                    f"TWINNING_{name.upper()} is still the example's placeholder "
                    f"({EXAMPLE_SECRET}...): set a secret of your own"
                )
        if settings.database.password.lower().startswith(EXAMPLE_SECRET):
            raise ConfigError(
                "TWINNING_DATABASE_URL's password is still the example's placeholder "
                f"({EXAMPLE_SECRET}...): set a secret of your own"
            )
        if settings.log_format not in ("json", "text"):
            raise ConfigError(f"TWINNING_LOG_FORMAT={settings.log_format!r} must be json or text")
        for origin in settings.cors_allowed():
            if origin != "*" and not _ORIGIN.match(origin):
                raise ConfigError(
                    f"TWINNING_CORS_ORIGINS: {origin!r} is not an origin such as "
                    "https://partners.example.eu (scheme and host, no path)"
                )
        if settings.metrics_token and len(settings.metrics_token) < 16:
            raise ConfigError("TWINNING_METRICS_TOKEN must have at least 16 characters")
        for name in SECRET_KEYS:
            if getattr(settings, name) and len(getattr(settings, name)) < KEY_CHARS:
                raise ConfigError(
                    f"TWINNING_{name.upper()} must have at least {KEY_CHARS} characters "
                    "(for example the output of: python3 -c "
                    "'import secrets; print(secrets.token_urlsafe(32))')"
                )
        if settings.previous_master_key and not settings.master_key:
            raise ConfigError(
                "TWINNING_PREVIOUS_MASTER_KEY needs TWINNING_MASTER_KEY (the new key)"
            )
        if not _BIND.match(settings.bind):
            raise ConfigError(
                f"TWINNING_BIND={settings.bind!r} must be HOST:PORT or unix:/path/to/socket"
            )
        if settings.admin_email and "@" not in settings.admin_email:
            raise ConfigError(f"TWINNING_ADMIN_EMAIL={settings.admin_email!r} is not an email")
        if bool(settings.admin_email) != bool(settings.admin_password):
            raise ConfigError(
                "TWINNING_ADMIN_EMAIL and TWINNING_ADMIN_PASSWORD must be set together"
            )
        if settings.admin_password:
            problems = password_problems(settings.admin_password, settings.admin_email)
            if problems:
                raise ConfigError(f"TWINNING_ADMIN_PASSWORD: {' '.join(problems)}")
        settings.database  # noqa: B018 - validates the URL
        return settings


@dataclass(frozen=True)
class Database:
    """Where the event store and the read views live."""

    kind: str  # "sqlite" | "postgres"
    events_path: Path | None = None
    views_path: Path | None = None
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = field(default="", repr=False)
    dbname: str = ""
    schema: str = ""

    @classmethod
    def parse(cls, url: str, data_dir: Path, schema: str = "") -> Database:
        if not url:
            return cls("sqlite", data_dir / "events.sqlite", data_dir / "views.sqlite")
        if url.startswith("sqlite:///"):
            path = Path(url[len("sqlite:///") :])
            if not path.name:
                raise ConfigError("TWINNING_DATABASE_URL: a sqlite URL needs a file path")
            return cls("sqlite", path, path.with_name(path.stem + "-views" + path.suffix))
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise ConfigError(
                "TWINNING_DATABASE_URL must start with postgresql:// or sqlite:/// "
                f"(got scheme {parts.scheme or 'none'!r})"
            )
        # libpq's URL parameters ?host= and ?port= win over the authority, as in libpq.
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        try:
            port = int(query["port"]) if "port" in query else (parts.port or 5432)
        except ValueError:
            port = 0
        if not 0 < port < 65536:
            raise ConfigError("TWINNING_DATABASE_URL has an invalid port")
        dbname = unquote(parts.path.lstrip("/"))
        # A Unix socket's folder, as libpq takes it: as ?host= (postgresql://u@/db?host=/...)
        # or percent-encoded in the host part (postgresql://u@%2Fvar%2Frun%2Fpostgresql/db).
        netloc_host = parts.netloc.rpartition("@")[2]
        if "host" in query:
            host = query["host"]
        elif netloc_host.lower().startswith("%2f"):  # hostname would lower-case the folder
            host = unquote(netloc_host.partition(":")[0])
        else:
            host = parts.hostname or ""
        if not host or not dbname:
            raise ConfigError("TWINNING_DATABASE_URL needs a host and a database name")
        if schema and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise ConfigError("TWINNING_DATABASE_SCHEMA must be a lower-case SQL identifier")
        return cls(
            "postgres",
            host=host,
            port=port,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            dbname=dbname,
            schema=schema,
        )

    def eventsourcing_env(self, settings: Settings) -> dict[str, str]:
        """eventsourcing's settings, prefixed with the application name so nothing else wins."""
        if self.kind == "sqlite":
            assert self.events_path is not None
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.events_path),
                "SQLITE_LOCK_TIMEOUT": "30",
                # Finds one stored event (a command recorded before a lost connection).
                "APPLICATION_RECORDER_TOPIC": (
                    "service.infrastructure.recorder:LookupSQLiteRecorder"
                ),
            }
        else:
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": self.dbname,
                "POSTGRES_HOST": self.host,
                "POSTGRES_PORT": str(self.port),
                "POSTGRES_USER": self.user,
                "POSTGRES_PASSWORD": self.password,
                "POSTGRES_POOL_SIZE": str(settings.pool_size),
                "POSTGRES_MAX_OVERFLOW": str(settings.max_overflow),
                # No ping before each use of a pooled connection (a round trip per read):
                # eventsourcing retries every recorder call that meets a broken connection
                # (OperationalError, InterfaceError; 10 attempts), and the pool replaces it.
                # tests/e2e/test_database_restart.py restarts PostgreSQL under load.
                "POSTGRES_PRE_PING": "n",
                # Also how long a request waits for a pooled connection: short, so that an
                # outage is answered 503 soon (then the availability guard answers at once).
                "POSTGRES_CONNECT_TIMEOUT": "5",
                "POSTGRES_CONN_MAX_AGE": "600",
                "POSTGRES_LOCK_TIMEOUT": "10",
                "POSTGRES_SCHEMA": self.schema or "public",
                # Inserts run in one server-side statement under the same table lock
                # (service/infrastructure/recorder.py).
                "APPLICATION_RECORDER_TOPIC": (
                    "service.infrastructure.recorder:LockedInsertRecorder"
                ),
            }
        if settings.aggregate_cache:
            # Each process keeps recently used aggregates and, on every read, fetches only
            # the events recorded after the cached version (never stale across processes).
            env["AGGREGATE_CACHE_MAXSIZE"] = str(settings.aggregate_cache)
            env["AGGREGATE_CACHE_FASTFORWARD"] = "y"
        return {f"TWINNING_{key}": value for key, value in env.items()}

    def sqlalchemy_url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.views_path}"
        from sqlalchemy.engine import URL

        socket = self.host.startswith("/")  # a Unix socket's folder goes in the query
        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self.password or None,
            host=None if socket else self.host,
            port=self.port,
            database=self.dbname,
            query={"host": self.host} if socket else {},
        ).render_as_string(hide_password=False)

    def describe(self) -> str:
        if self.kind == "sqlite":
            return f"SQLite ({self.events_path}, {self.views_path})"
        schema = f", schema {self.schema}" if self.schema else ""
        return f"PostgreSQL {self.user}@{self.host}:{self.port}/{self.dbname}{schema}"
