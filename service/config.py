"""Settings: defaults, then TWINNING_* environment variables, then overrides. Read once."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit


class ConfigError(Exception):
    """A setting with a value the service cannot use; the message names it and says why."""


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r} must be at least 1")
    return value


_RATE = re.compile(r"^\s*\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?\s*$", re.I)


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
    login_limit_per_email: str = "10/minute"
    login_limit_per_address: str = "100/minute"
    rate_limit: str = ""
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    projection_batch: int = 2000
    pool_size: int = 5
    max_overflow: int = 10
    log_level: str = "INFO"

    @property
    def database(self) -> Database:
        return Database.parse(self.database_url, self.data_dir, self.database_schema)

    @classmethod
    def from_env(
        cls, environ: dict[str, str] | None = None, overrides: dict[str, Any] | None = None
    ) -> Settings:
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = f"TWINNING_{f.name.upper()}"
            if key not in environ:
                continue
            raw = environ[key]
            if f.type == "int":
                values[f.name] = _positive_int(key, raw)
            elif f.type == "Path":
                values[f.name] = Path(raw)
            elif f.name.endswith("limit") or "limit_per" in f.name:
                values[f.name] = _rate(key, raw)
            else:
                values[f.name] = raw
        settings = replace(cls(), **{**values, **(overrides or {})})
        if settings.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(
                f"TWINNING_LOG_LEVEL={settings.log_level!r} must be DEBUG, INFO, WARNING or ERROR"
            )
        if bool(settings.admin_email) != bool(settings.admin_password):
            raise ConfigError(
                "TWINNING_ADMIN_EMAIL and TWINNING_ADMIN_PASSWORD must be set together"
            )
        if settings.admin_password and len(settings.admin_password) < 12:
            raise ConfigError("TWINNING_ADMIN_PASSWORD must have at least 12 characters")
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
        try:
            port = parts.port or 5432
        except ValueError:
            raise ConfigError("TWINNING_DATABASE_URL has an invalid port") from None
        dbname = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not dbname:
            raise ConfigError("TWINNING_DATABASE_URL needs a host and a database name")
        if schema and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise ConfigError("TWINNING_DATABASE_SCHEMA must be a lower-case SQL identifier")
        return cls(
            "postgres",
            host=parts.hostname,
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
                "POSTGRES_PRE_PING": "y",
                "POSTGRES_CONNECT_TIMEOUT": "10",
                "POSTGRES_CONN_MAX_AGE": "600",
                "POSTGRES_LOCK_TIMEOUT": "10",
                "POSTGRES_SCHEMA": self.schema or "public",
            }
        return {f"TWINNING_{key}": value for key, value in env.items()}

    def sqlalchemy_url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.views_path}"
        from sqlalchemy.engine import URL

        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self.password or None,
            host=self.host,
            port=self.port,
            database=self.dbname,
        ).render_as_string(hide_password=False)

    def describe(self) -> str:
        if self.kind == "sqlite":
            return f"SQLite ({self.events_path}, {self.views_path})"
        schema = f", schema {self.schema}" if self.schema else ""
        return f"PostgreSQL {self.user}@{self.host}:{self.port}/{self.dbname}{schema}"
