"""Personal values sealed with their subject's key: opened while the key lives, erased once
it is destroyed, bound to their subject, random in events and repeatable in read views."""

from __future__ import annotations

from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from domain.personal import SEALED, MemoryKeyring, Personal, PersonalData


def sealer() -> tuple[PersonalData, str]:
    personal = PersonalData(MemoryKeyring(), b"l" * 32)
    subject = str(uuid4())
    personal.keyring.create(subject)
    return personal, subject


@given(st.text(max_size=300))
def test_a_sealed_value_opens_to_itself_and_holds_no_clear_text(value: str) -> None:
    personal, subject = sealer()
    sealed = personal.seal(Personal(subject, value))
    assert personal.open(sealed) == Personal(subject, value)
    if len(value.encode()) >= 4:
        assert value.encode() not in repr(sealed).encode()


def test_events_seal_with_a_fresh_nonce_and_views_repeatably() -> None:
    personal, subject = sealer()
    value = Personal(subject, "Ana Novak")
    assert personal.seal(value) != personal.seal(value)
    with personal.deterministic():
        first, second = personal.seal(value), personal.seal(value)
    assert first == second and "d" in first
    assert personal.seal(value) != first  # outside the block: random again
    assert personal.open(first) == value


def test_a_destroyed_key_leaves_every_sealed_value_erased() -> None:
    personal, subject = sealer()
    random = personal.seal(Personal(subject, "ana@example.eu"))
    with personal.deterministic():
        fixed = personal.seal(Personal(subject, "ana@example.eu"))
    personal.keyring.destroy(subject)
    assert personal.open(random) == Personal(subject, None)
    assert personal.open(fixed) == Personal(subject, None)
    # No key is made anew for the subject by sealing: its data stays erased.
    assert personal.seal(Personal(subject, "ana@example.eu")) == {"s": subject, "c": None}
    assert personal.keyring.key(subject) is None


def test_a_value_moved_to_another_subject_does_not_open() -> None:
    personal, subject = sealer()
    other = str(uuid4())
    personal.keyring.create(other)
    sealed = personal.seal(Personal(subject, "Ana"))
    assert personal.open({**sealed, "s": other}) == Personal(other, None)


def test_reveal_opens_the_sealed_values_of_a_document() -> None:
    personal, subject = sealer()
    sealed = {SEALED: personal.seal(Personal(subject, "Ana"))}
    document = {"name": {"old": None, "new": sealed}, "roles": ["partner"], "n": 1}
    assert personal.reveal(document) == {
        "name": {"old": None, "new": "Ana"},
        "roles": ["partner"],
        "n": 1,
    }
    assert personal.reveal([document], show=lambda _: None)[0]["name"]["new"] is None
    personal.keyring.destroy(subject)
    assert personal.reveal(document)["name"]["new"] is None


def test_lookup_ids_are_keyed() -> None:
    one = PersonalData(MemoryKeyring(), b"a" * 32)
    assert one.lookup_id("email", "a@b.eu") == one.lookup_id("email", "a@b.eu")
    assert one.lookup_id("email", "a@b.eu") != one.lookup_id("other", "a@b.eu")
    assert one.lookup_id("email", "a@b.eu") != PersonalData(MemoryKeyring(), b"b" * 32).lookup_id(
        "email", "a@b.eu"
    )
