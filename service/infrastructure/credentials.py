"""Secrets kept outside the event store: Argon2 password hashes and bearer tokens (hashed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)

from projections.view import aware

metadata = MetaData()

credentials = Table(
    "twinning_credentials",
    metadata,
    Column("account_id", String(36), primary_key=True),
    Column("password_hash", String(200), nullable=False),
)

tokens = Table(
    "twinning_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(36), nullable=False, index=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

TOKEN_BYTES = 32  # 256 bits of randomness


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def live_account(row: Mapping[str, Any] | None, digest: str, now: datetime) -> str | None:
    """The account of a looked-up token row, None when there is none or it is expired or
    revoked."""
    if row is None or not hmac.compare_digest(row["token_hash"], digest):
        return None
    if row["revoked_at"] is not None or aware(row["expires_at"]) <= now:
        return None
    return str(row["account_id"])


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


class Credentials:
    """Password hashes and tokens of accounts; tokens are stored only as SHA-256 digests."""

    def __init__(self, engine: Engine, hasher: PasswordHasher, token_ttl: timedelta) -> None:
        self.engine = engine
        self.hasher = hasher
        self.token_ttl = token_ttl
        # Verifying against this when the email is unknown makes both answers take as long.
        self._dummy_hash = hasher.hash(secrets.token_urlsafe(16))

    def create_tables(self) -> None:
        metadata.create_all(self.engine)

    def set_password(self, account_id: str, password: str) -> None:
        digest = self.hasher.hash(password)
        with self.engine.begin() as conn:
            conn.execute(delete(credentials).where(credentials.c.account_id == account_id))
            conn.execute(insert(credentials).values(account_id=account_id, password_hash=digest))

    def check_password(self, account_id: str | None, password: str) -> bool:
        stored = None
        if account_id is not None:
            with self.engine.connect() as conn:
                stored = conn.execute(
                    select(credentials.c.password_hash).where(
                        credentials.c.account_id == account_id
                    )
                ).scalar()
        try:
            ok = self.hasher.verify(stored or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return ok and stored is not None

    def issue_token(self, account_id: str, now: datetime) -> IssuedToken:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires_at = now + self.token_ttl
        with self.engine.begin() as conn:
            conn.execute(
                insert(tokens).values(
                    token_hash=token_digest(token), account_id=account_id, expires_at=expires_at
                )
            )
        return IssuedToken(token, expires_at)

    def revoke_token(self, token: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(tokens)
                .where(tokens.c.token_hash == token_digest(token), tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )

    def revoke_all(self, account_id: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(tokens)
                .where(tokens.c.account_id == account_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
