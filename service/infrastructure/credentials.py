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
    inspect,
    select,
    text,
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
    # When it was issued (shown in a person's data export); none on rows of older releases.
    Column("issued_at", DateTime(timezone=True), nullable=True),
)

# One-use password resets an admin issues; like tokens, kept only as SHA-256 digests.
password_resets = Table(
    "twinning_password_resets",
    metadata,
    Column("reset_hash", String(64), primary_key=True),
    Column("account_id", String(36), nullable=False, index=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
)

ISSUED_AT = "TIMESTAMP WITH TIME ZONE"
TOKEN_BYTES = 32  # 256 bits of randomness
RESET_TTL = timedelta(hours=24)
# Rows expired (or revoked, or used) longer ago than this are deleted: they can never be
# accepted again, and the grace keeps a just-expired token's 401 the same as before.
PURGE_GRACE = timedelta(hours=1)
# Logins purge at most this often per process: a DELETE on every login would be waste.
PURGE_EVERY = timedelta(minutes=10)


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
        self._next_purge: datetime | None = None

    def create_tables(self) -> None:
        metadata.create_all(self.engine)
        present = {c["name"] for c in inspect(self.engine).get_columns(tokens.name)}
        if "issued_at" not in present:  # a table of an earlier release
            with self.engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE {tokens.name} ADD COLUMN issued_at {ISSUED_AT}"))

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
        if self._next_purge is None or now >= self._next_purge:
            self.purge(now)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires_at = now + self.token_ttl
        with self.engine.begin() as conn:
            conn.execute(
                insert(tokens).values(
                    token_hash=token_digest(token),
                    account_id=account_id,
                    expires_at=expires_at,
                    issued_at=now,
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

    def tokens_of(self, account_id: str) -> list[dict[str, Any]]:
        """When each token of the account still on record was issued, expires and was
        revoked (never a token or its digest)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(tokens.c.issued_at, tokens.c.expires_at, tokens.c.revoked_at)
                .where(tokens.c.account_id == account_id)
                .order_by(tokens.c.expires_at)
            ).all()
        return [
            {
                "issued_at": None if row.issued_at is None else aware(row.issued_at),
                "expires_at": aware(row.expires_at),
                "revoked_at": None if row.revoked_at is None else aware(row.revoked_at),
            }
            for row in rows
        ]

    def forget(self, account_id: str) -> None:
        """Deletes the account's password hash, tokens and resets (an erased account)."""
        with self.engine.begin() as conn:
            for table in (credentials, tokens, password_resets):
                conn.execute(delete(table).where(table.c.account_id == account_id))

    def purge(self, now: datetime) -> int:
        """Deletes the token and reset rows that can no longer be accepted (expired,
        revoked or used more than PURGE_GRACE ago); returns how many."""
        before = now - PURGE_GRACE
        self._next_purge = now + PURGE_EVERY
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(tokens).where(
                    (tokens.c.expires_at < before) | (tokens.c.revoked_at < before)
                )
            ).rowcount
            gone += conn.execute(
                delete(password_resets).where(
                    (password_resets.c.expires_at < before) | (password_resets.c.used_at < before)
                )
            ).rowcount
        return int(gone)

    def issue_reset(self, account_id: str, now: datetime) -> IssuedToken:
        """A one-use reset token for the account, valid for RESET_TTL."""
        reset = secrets.token_urlsafe(TOKEN_BYTES)
        expires_at = now + RESET_TTL
        with self.engine.begin() as conn:
            conn.execute(
                insert(password_resets).values(
                    reset_hash=token_digest(reset), account_id=account_id, expires_at=expires_at
                )
            )
        return IssuedToken(reset, expires_at)

    def reset_account(self, reset: str, now: datetime) -> str | None:
        """The account a reset token is for, None when unknown, used or expired."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(password_resets).where(
                        password_resets.c.reset_hash == token_digest(reset)
                    )
                )
                .mappings()
                .first()
            )
        if row is None or row["used_at"] is not None or aware(row["expires_at"]) <= now:
            return None
        return str(row["account_id"])

    def use_reset(self, reset: str, now: datetime) -> bool:
        """Marks the reset used; False when it was used (or expired) meanwhile, so that of
        two redemptions at once only one succeeds."""
        with self.engine.begin() as conn:
            used = conn.execute(
                update(password_resets)
                .where(
                    password_resets.c.reset_hash == token_digest(reset),
                    password_resets.c.used_at.is_(None),
                    password_resets.c.expires_at > now,
                )
                .values(used_at=now)
            ).rowcount
        return bool(used == 1)
