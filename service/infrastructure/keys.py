"""Each person's data key, in a table of its own beside the credentials (never in the event
store), wrapped with TWINNING_MASTER_KEY when that is set; and the service's lookup key.

Destroying a key erases the person: the row is deleted with its bytes overwritten (SQLite's
`secure_delete`, then the write-ahead log truncated; PostgreSQL's table vacuumed, so that no
dump or live page holds it). A process keeps keys it read for at most `CACHE_SECONDS`, and
forgets a person's key as soon as its read cache sees an event of their account (an erasure
made by another process).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.personal import KEY_BYTES, open_bytes, seal_bytes
from service.config import ConfigError, Settings

log = logging.getLogger("twinning.keys")

metadata = sa.MetaData()

personal_keys = sa.Table(
    "twinning_personal_keys",
    metadata,
    sa.Column("subject", sa.String(36), primary_key=True),
    sa.Column("data_key", sa.LargeBinary, nullable=False),
    # Which master key wrapped it (its fingerprint), or UNWRAPPED.
    sa.Column("wrapped_by", sa.String(24), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

UNWRAPPED = "none"
CACHE_SECONDS = 60.0
CACHE_SIZE = 20_000
ROTATE_BATCH = 500
SECRET_FILE = "secret.key"


def derive(text: str, purpose: bytes) -> bytes:
    """A 256-bit key for one purpose from a key given as text (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(
        text.encode("utf-8")
    )


class MasterKeys:
    """The master key that wraps data keys now, and the one being rotated away from."""

    def __init__(self, current: str = "", previous: str = "") -> None:
        self.current = derive(current, b"twinning master key") if current else None
        self.previous = derive(previous, b"twinning master key") if previous else None

    @staticmethod
    def fingerprint(key: bytes) -> str:
        return "k" + derive(key.hex(), b"twinning master key fingerprint").hex()[:20]

    @property
    def current_name(self) -> str:
        return UNWRAPPED if self.current is None else self.fingerprint(self.current)

    def accepted(self) -> dict[str, bytes | None]:
        """The wrappings a stored key may have: the current, the previous, and unwrapped
        (a key stored before any master key was set, until it is rotated)."""
        known: dict[str, bytes | None] = {UNWRAPPED: None}
        for key in (self.previous, self.current):
            if key is not None:
                known[self.fingerprint(key)] = key
        return known

    def wrap(self, subject: str, data_key: bytes) -> tuple[bytes, str]:
        if self.current is None:
            return data_key, UNWRAPPED
        return seal_bytes(self.current, data_key, subject.encode()), self.current_name

    def unwrap(self, subject: str, stored: bytes, wrapped_by: str) -> bytes:
        known = self.accepted()
        if wrapped_by not in known:
            raise ConfigError(
                "A personal data key is wrapped with a master key that is neither "
                "TWINNING_MASTER_KEY nor TWINNING_PREVIOUS_MASTER_KEY"
            )
        master = known[wrapped_by]
        if master is None:
            return stored
        opened = open_bytes(master, stored, subject.encode())
        if opened is None:
            raise ConfigError(f"The personal data key of {subject} does not open")
        return opened


class DatabaseKeyring:
    """domain.personal.Keyring over the `twinning_personal_keys` table."""

    def __init__(self, engine: sa.Engine, masters: MasterKeys) -> None:
        self.engine = engine
        self.masters = masters
        self._cache: OrderedDict[str, tuple[float, bytes | None]] = OrderedDict()
        self._lock = threading.Lock()

    def create_table(self) -> None:
        metadata.create_all(self.engine, checkfirst=True)

    def check(self, warn: bool = True) -> None:
        """Refuses to start on keys no configured master key opens; warns of keys not
        wrapped with the current master key (unless `warn` is False: a rotation's own)."""
        with self.engine.connect() as conn:
            counts: dict[str, int] = dict(
                conn.execute(
                    sa.select(personal_keys.c.wrapped_by, sa.func.count()).group_by(
                        personal_keys.c.wrapped_by
                    )
                ).all()
            )
        unknown = sum(n for name, n in counts.items() if name not in self.masters.accepted())
        if unknown:
            raise ConfigError(
                f"{unknown} personal data keys are wrapped with a master key that is neither "
                "TWINNING_MASTER_KEY nor TWINNING_PREVIOUS_MASTER_KEY: while rotating, set "
                "TWINNING_PREVIOUS_MASTER_KEY to the master key they were wrapped with"
            )
        behind = sum(n for name, n in counts.items() if name != self.masters.current_name)
        if warn and behind and self.masters.current is not None:
            log.warning(
                "%d personal data keys are not wrapped with TWINNING_MASTER_KEY yet: run "
                "`twinning rotate-master-key`",
                behind,
            )

    def _cached(self, subject: str) -> tuple[bool, bytes | None]:
        with self._lock:
            hit = self._cache.get(subject)
            if hit is None or hit[0] < time.monotonic():
                return False, None
            self._cache.move_to_end(subject)
            return True, hit[1]

    def _remember(self, subject: str, key: bytes | None) -> None:
        with self._lock:
            self._cache[subject] = (time.monotonic() + CACHE_SECONDS, key)
            self._cache.move_to_end(subject)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def forget(self, subject: str) -> None:
        with self._lock:
            self._cache.pop(subject, None)

    def forget_all(self) -> None:
        with self._lock:
            self._cache.clear()

    def create(self, subject: str) -> None:
        found, key = self._cached(subject)
        if found and key is not None:
            return
        data_key = AESGCM.generate_key(KEY_BYTES * 8)
        stored, wrapped_by = self.masters.wrap(subject, data_key)
        row = {
            "subject": subject,
            "data_key": stored,
            "wrapped_by": wrapped_by,
            "created_at": datetime.now(UTC),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(personal_keys), row)
        except sa.exc.IntegrityError:  # it had one already: keep it
            self.forget(subject)
            return
        self._remember(subject, data_key)

    def key(self, subject: str, fresh: bool = False) -> bytes | None:
        found, key = (False, None) if fresh else self._cached(subject)
        if found:
            return key
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(personal_keys.c.data_key, personal_keys.c.wrapped_by).where(
                    personal_keys.c.subject == subject
                )
            ).first()
        key = None if row is None else self.masters.unwrap(subject, bytes(row[0]), row[1])
        self._remember(subject, key)
        return key

    def destroy(self, subject: str) -> None:
        self.destroy_many([subject])

    def destroy_many(self, subjects: Iterable[str]) -> int:
        """Destroys the keys of `subjects` (those already gone are skipped); returns how
        many there were. The files are scrubbed once, after every deletion."""
        subjects = list(subjects)
        for subject in subjects:
            self.forget(subject)
        gone = 0
        for start in range(0, len(subjects), ROTATE_BATCH):
            batch = subjects[start : start + ROTATE_BATCH]
            with self.engine.begin() as conn:
                _secure_delete(conn)
                gone += conn.execute(
                    sa.delete(personal_keys).where(personal_keys.c.subject.in_(batch))
                ).rowcount
        for subject in subjects:  # a read racing the deletion may have cached it again
            self.forget(subject)
        scrub(self.engine)
        return gone

    def subjects(self) -> Iterator[str]:
        with self.engine.connect() as conn:
            yield from conn.execute(sa.select(personal_keys.c.subject)).scalars()

    def status(self) -> dict[str, int]:
        """How many keys are wrapped with the current master key, the previous one, none
        (stored unwrapped), or a master key that is not configured ("unknown")."""
        with self.engine.connect() as conn:
            counts = conn.execute(
                sa.select(personal_keys.c.wrapped_by, sa.func.count()).group_by(
                    personal_keys.c.wrapped_by
                )
            ).all()
        names = {UNWRAPPED: "unwrapped"}
        if self.masters.previous is not None:
            names[self.masters.fingerprint(self.masters.previous)] = "previous"
        if self.masters.current is not None:
            names[self.masters.current_name] = "current"
        status = {"current": 0, "previous": 0, "unwrapped": 0, "unknown": 0}
        for wrapped_by, count in counts:
            status[names.get(wrapped_by, "unknown")] += int(count)
        return status

    def rotate(self) -> int:
        """Rewraps every key not wrapped with the current master key; returns how many.

        Each batch is read first, then written in a transaction of its own that only writes
        (a SQLite transaction that reads before it writes fails at once when another
        process wrote meanwhile), each row updated only if it still holds the bytes read:
        a key destroyed meanwhile stays destroyed, and the service keeps running. Keyset
        order makes every row visited once, whatever happens to it meanwhile."""
        if self.masters.current is None:
            raise ConfigError("Set TWINNING_MASTER_KEY to the key to wrap the data keys with")
        current = self.masters.current_name
        done, after = 0, ""
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(personal_keys)
                    .where(personal_keys.c.wrapped_by != current, personal_keys.c.subject > after)
                    .order_by(personal_keys.c.subject)
                    .limit(ROTATE_BATCH)
                ).all()
            if not rows:
                break
            after = rows[-1].subject
            updates = []
            for row in rows:  # unwrapped before anything is written: a wrong key stops here
                data_key = self.masters.unwrap(row.subject, bytes(row.data_key), row.wrapped_by)
                stored, wrapped_by = self.masters.wrap(row.subject, data_key)
                updates.append((row, stored, wrapped_by))
            with self.engine.begin() as conn:
                # The replaced bytes (the old wrapping) are overwritten, not left in a page.
                _secure_delete(conn)
                for row, stored, wrapped_by in updates:
                    done += conn.execute(
                        sa.update(personal_keys)
                        .where(
                            personal_keys.c.subject == row.subject,
                            personal_keys.c.wrapped_by == row.wrapped_by,
                            personal_keys.c.data_key == row.data_key,
                        )
                        .values(data_key=stored, wrapped_by=wrapped_by)
                    ).rowcount
        scrub(self.engine)
        return done


def _secure_delete(conn: sa.Connection) -> None:
    """On SQLite, deleted and replaced bytes are overwritten with zeros rather than left in
    a free page (a connection's setting: pooled connections keep it)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA secure_delete=ON")


def scrub(engine: sa.Engine, attempts: int = 20) -> None:
    """Leaves no copy of deleted or replaced key bytes in the database's files: SQLite's
    write-ahead log is checkpointed and truncated (old page images live there until then);
    PostgreSQL's key table is vacuumed (dead rows removed from its pages)."""
    if engine.dialect.name == "sqlite":
        for _ in range(attempts):
            with engine.connect() as conn:
                busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
            if busy is None or not busy[0]:
                return
            time.sleep(0.05)  # a reader holds an older snapshot: it ends soon
        log.warning("could not truncate the write-ahead log after erasing a key; it will be")
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'VACUUM "{personal_keys.name}"')


def lookup_key(settings: Settings) -> bytes:
    """The key of the service's keyed lookups (email uniqueness): from TWINNING_SECRET_KEY,
    else generated once into <data_dir>/secret.key (readable by its owner only)."""
    if settings.secret_key:
        return derive(settings.secret_key, b"twinning lookup key")
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as file:
            file.write(os.urandom(KEY_BYTES).hex() + "\n")
    for _ in range(50):  # another process may be writing it this very moment
        text = path.read_text().strip()
        if len(text) == KEY_BYTES * 2:
            return derive(text, b"twinning lookup key")
        time.sleep(0.02)
    raise ConfigError(f"{path} does not hold a key: delete it or set TWINNING_SECRET_KEY")
