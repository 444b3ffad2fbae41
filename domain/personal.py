"""Personal data: each value sealed with its subject's own key, so that destroying the key
erases it everywhere at once (crypto-shredding), while the stored bytes, and so the audit
chain over them, never change.

A `Personal` value travels in events and aggregates like any other; the transcoding the
application registers seals it on the way into the store (AES-GCM, a fresh nonce each time,
the subject's id as associated data) and opens it on the way out, as `value=None` once the
subject's key is gone. Keys live in a `Keyring`, outside the event store.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESGCMSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eventsourcing.persistence import Transcoding

NONCE_BYTES = 12
# AES-GCM-SIV with a fixed nonce is deterministic (it reveals only that two values are equal)
# and stays safe when the nonce repeats: what read views need, so a rebuild writes the same
# bytes. Events get a fresh random nonce.
FIXED_NONCE = bytes(NONCE_BYTES)
KEY_BYTES = 32
# The key in a JSON document (audit changes) under which a sealed value is kept.
SEALED = "_personal_"


@dataclass(frozen=True)
class Personal:
    """One piece of personal data about the natural person `subject` (an id); `value` is
    None once it has been erased."""

    subject: str
    value: str | None

    @property
    def erased(self) -> bool:
        return self.value is None


class Keyring(Protocol):
    """Each subject's data key: created before the first value is sealed, destroyed to erase."""

    def create(self, subject: str) -> None:
        """Makes sure the subject has a key (an existing one is kept)."""

    def key(self, subject: str, fresh: bool = False) -> bytes | None:
        """The subject's key; None when it was destroyed or never made. `fresh`: as stored
        now, not as a process may remember it (a key destroyed by another process)."""

    def destroy(self, subject: str) -> None:
        """Destroys the subject's key: everything sealed with it is unreadable from now on."""


class MemoryKeyring:
    """Keys in this process's memory: for tests and the in-memory store."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def create(self, subject: str) -> None:
        with self._lock:
            self._keys.setdefault(subject, AESGCM.generate_key(KEY_BYTES * 8))

    def key(self, subject: str, fresh: bool = False) -> bytes | None:
        return self._keys.get(subject)

    def destroy(self, subject: str) -> None:
        with self._lock:
            self._keys.pop(subject, None)


def seal_bytes(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """nonce + AES-GCM ciphertext (with its tag)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def _siv_key(key: bytes) -> bytes:
    """The deterministic mode's own key, derived from the data key (one key, one algorithm)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"siv").derive(key)


def open_bytes(key: bytes, sealed: bytes, associated: bytes) -> bytes | None:
    """The plaintext, or None when `sealed` was not made with this key for this subject."""
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
    except (InvalidTag, ValueError):
        return None


class PersonalData:
    """Seals and opens personal values with the keyring, and derives the keyed lookup ids
    that must not be computable from a guessed value (an email's uniqueness record)."""

    def __init__(self, keyring: Keyring, lookup_key: bytes) -> None:
        if len(lookup_key) < 16:
            raise ValueError("The lookup key needs at least 16 bytes.")
        self.keyring = keyring
        self._lookup_key = lookup_key
        self._local = threading.local()

    @contextlib.contextmanager
    def deterministic(self) -> Iterator[None]:
        """Within it (in this thread), the same value of one subject always seals to the same
        bytes: for read views, which must come out of a rebuild byte for byte the same."""
        self._local.deterministic = True
        try:
            yield
        finally:
            self._local.deterministic = False

    @classmethod
    def in_memory(cls) -> PersonalData:
        return cls(MemoryKeyring(), os.urandom(KEY_BYTES))

    def seal(self, personal: Personal) -> dict[str, Any]:
        """The stored form: the subject and the sealed value (None once erased; a subject
        without a key is erased, and no key is ever made here, so nothing is sealed anew
        with a key made after an erasure)."""
        key = None if personal.value is None else self.keyring.key(personal.subject)
        if key is None or personal.value is None:
            return {"s": personal.subject, "c": None}
        plain, subject = personal.value.encode("utf-8"), personal.subject.encode()
        if getattr(self._local, "deterministic", False):
            fixed = AESGCMSIV(_siv_key(key)).encrypt(FIXED_NONCE, plain, subject)
            return {"s": personal.subject, "d": base64.b64encode(fixed).decode("ascii")}
        sealed = seal_bytes(key, plain, subject)
        return {"s": personal.subject, "c": base64.b64encode(sealed).decode("ascii")}

    def open(self, data: dict[str, Any], fresh: bool = False) -> Personal:
        subject = str(data["s"])
        sealed, fixed = data.get("c"), data.get("d")
        key = None if sealed is None and fixed is None else self.keyring.key(subject, fresh)
        if key is None:
            return Personal(subject, None)
        plain = None
        if fixed is not None:
            with contextlib.suppress(InvalidTag, ValueError):
                plain = AESGCMSIV(_siv_key(key)).decrypt(
                    FIXED_NONCE, base64.b64decode(fixed), subject.encode()
                )
        elif sealed is not None:
            plain = open_bytes(key, base64.b64decode(sealed), subject.encode())
        return Personal(subject, None if plain is None else plain.decode("utf-8"))

    def reveal(self, document: Any, show: Callable[[Personal], Any] | None = None) -> Any:
        """`document` (parsed JSON) with every sealed value replaced by `show(personal)`
        (by default its value: clear text for an authorised reader, None once erased, even
        by another process a moment ago: keys are read afresh)."""
        if isinstance(document, dict):
            if set(document) == {SEALED}:
                personal = self.open(document[SEALED], fresh=True)
                return personal.value if show is None else show(personal)
            return {k: self.reveal(v, show) for k, v in document.items()}
        if isinstance(document, list):
            return [self.reveal(v, show) for v in document]
        return document

    def lookup_id(self, namespace: str, value: str) -> UUID:
        """An id for `value` that only holders of the lookup key can compute (HMAC-SHA256)."""
        digest = hmac.new(
            self._lookup_key, f"{namespace}\x00{value}".encode(), hashlib.sha256
        ).digest()
        return UUID(bytes=digest[:16], version=4)


class PersonalAsSealed(Transcoding):
    """Stores a `Personal` only sealed (see `PersonalData.seal`)."""

    type = Personal
    name = "personal"

    def __init__(self, personal: PersonalData) -> None:
        self.personal = personal

    def encode(self, obj: Personal) -> dict[str, Any]:
        return self.personal.seal(obj)

    def decode(self, data: dict[str, Any]) -> Personal:
        return self.personal.open(data)
