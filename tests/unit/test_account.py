"""Accounts and organisations on their own: what registration accepts, what each command
refuses and with which words, and that the cheap copy the cache hands out is a full copy."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid4, uuid5

import pytest

from domain.account import (
    NAME_MAX,
    SELF,
    Account,
    EmailIndex,
    account_errors,
    normalise_email,
    rectify_errors,
)
from domain.application import Twinning
from domain.errors import DuplicateEmail, InvalidFields, StateConflict
from domain.organisation import Organisation, organisation_errors
from domain.personal import MemoryKeyring, PersonalData
from domain.values import Actor, Role, system_actor

ROLES_PROBLEM = "Each role must be one of partner, reviewer, auditor, admin."


def test_a_copied_account_changes_alone() -> None:
    original = Account.register("A@Example.org", "A", "org", ["partner"], system_actor())
    original.collect_events()
    copied = copy.deepcopy(original)
    assert vars(copied) == vars(original) and copied is not original
    copied.grant("reviewer", system_actor())
    copied.deactivate(system_actor())
    assert original.roles == ["partner"] and original.active and not original.pending_events
    assert copied.roles == ["partner", "reviewer"] and not copied.active
    assert [type(e).__name__ for e in copied.collect_events()] == ["RoleGranted", "Deactivated"]
    again = copy.deepcopy(original)
    again.revoke("partner", system_actor())
    assert original.roles == ["partner"] and again.roles == []


def test_an_account_is_registered_with_a_normalised_email_and_sorted_roles() -> None:
    account = Account.register(
        "  Ana@Example.ORG ",
        "  Ana  ",
        "org-1",
        ["reviewer", "partner", "reviewer"],
        system_actor(),
    )
    assert account.email == "ana@example.org"
    assert account.name == "Ana"
    assert account.organisation_id == "org-1"
    assert account.roles == ["partner", "reviewer"]
    assert account.active is True
    caller = account.caller("req-9")
    assert caller.account_id == str(account.id) and caller.organisation_id == "org-1"
    assert caller.roles == frozenset({"partner", "reviewer"}) and caller.request_id == "req-9"


@pytest.mark.parametrize(
    ("email", "name", "roles", "expected"),
    [
        ("a@b.eu", "A", [], {}),
        ("a@b.eu", "A", ["admin", "auditor"], {}),
        ("a" * 64 + "@b.eu", "A", [], {}),
        ("a@" + "b" * 249 + ".eu", "A", [], {}),  # 254 characters
        ("a" * 65 + "@b.eu", "A", [], {"email": ["Not a valid email address."]}),
        ("a@" + "b" * 250 + ".eu", "A", [], {"email": ["Not a valid email address."]}),
        ("a@b", "A", [], {"email": ["Not a valid email address."]}),
        ("a b@c.eu", "A", [], {"email": ["Not a valid email address."]}),
        ("a@@b.eu", "A", [], {"email": ["Not a valid email address."]}),
        (None, "A", [], {"email": ["Not a valid email address."]}),
        ("a@b.eu", " ", [], {"name": ["Must not be empty."]}),
        ("a@b.eu", None, [], {"name": ["Must not be empty."]}),
        ("a@b.eu", "x" * NAME_MAX, [], {}),
        ("a@b.eu", "x" * (NAME_MAX + 1), [], {"name": ["At most 200 characters."]}),
        ("a@b.eu", "A", ["owner"], {"roles": [ROLES_PROBLEM]}),
        ("a@b.eu", "A", "partner", {"roles": [ROLES_PROBLEM]}),
        (
            "nope",
            "",
            ["x"],
            {
                "email": ["Not a valid email address."],
                "name": ["Must not be empty."],
                "roles": [ROLES_PROBLEM],
            },
        ),
    ],
)
def test_registration_names_each_invalid_field(
    email: Any, name: Any, roles: Any, expected: dict[str, list[str]]
) -> None:
    assert account_errors(email, name, roles) == expected
    if expected:
        with pytest.raises(InvalidFields) as refused:
            Account.register(email, name, "org", roles, system_actor())
        assert refused.value.errors == expected


def test_each_account_command_refuses_what_would_change_nothing() -> None:
    account = Account.register("a@b.eu", "A", "org", ["partner"], system_actor())
    with pytest.raises(InvalidFields) as unknown:
        account.grant("owner", system_actor())
    assert unknown.value.errors == {"role": ["Must be one of partner, reviewer, auditor, admin."]}
    with pytest.raises(StateConflict, match=r"^The account already holds the partner role\.$"):
        account.grant("partner", system_actor())
    with pytest.raises(StateConflict, match=r"^The account does not hold the admin role\.$"):
        account.revoke("admin", system_actor())
    account.grant("admin", system_actor())
    assert account.roles == ["admin", "partner"]
    account.revoke("partner", system_actor())
    assert account.roles == ["admin"]
    account.deactivate(system_actor())
    with pytest.raises(StateConflict, match=r"^The account is already deactivated\.$"):
        account.deactivate(system_actor())
    assert account.version == 4


def test_an_email_is_claimed_under_one_keyed_id_whatever_its_case() -> None:
    assert normalise_email(" A@B.EU ") == "a@b.eu"
    app = Twinning(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    assert app.email_index_id("A@B.eu") == app.email_index_id(" a@b.EU")
    assert app.email_index_id("a@b.eu") != app.email_index_id("b@b.eu")
    # Keyed: another secret gives another id, and a guess at a name-based uuid misses.
    other = Twinning(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    assert app.email_index_id("a@b.eu") != other.email_index_id("a@b.eu")
    guessed = uuid5(NAMESPACE_URL, "/twinning/accounts/email/a@b.eu")
    assert app.email_index_id("a@b.eu") != guessed
    same_key = PersonalData(MemoryKeyring(), b"k" * 32)
    assert same_key.lookup_id("email", "a@b.eu") == PersonalData(
        MemoryKeyring(), b"k" * 32
    ).lookup_id("email", "a@b.eu")


def test_an_organisation_is_registered_with_its_name_trimmed() -> None:
    organisation = Organisation.register(" Bologna ", "local_authority", "IT", system_actor())
    assert (organisation.name, organisation.type, organisation.country) == (
        "Bologna",
        "local_authority",
        "IT",
    )
    other = Organisation.register("Kosovo CSO", "civil_society", "XK", system_actor(), id=None)
    assert other.country == "XK" and other.id != organisation.id
    fixed = Organisation.register("Demo", "other", "FR", system_actor(), id=organisation.id)
    assert fixed.id == organisation.id and fixed.name == "Demo"


TYPES_PROBLEM = (
    "Must be one of local_authority, national_association, civil_society, "
    "local_democracy_agency, other."
)


@pytest.mark.parametrize(
    ("name", "type_", "country", "expected"),
    [
        ("x" * 300, "other", "FR", {}),
        ("x" * 301, "other", "FR", {"name": ["At most 300 characters."]}),
        ("  ", "other", "FR", {"name": ["Must not be empty."]}),
        (None, "other", "FR", {"name": ["Must not be empty."]}),
        ("A", "town", "FR", {"type": [TYPES_PROBLEM]}),
        ("A", "other", "FRA", {"country": ["Must be an ISO 3166-1 alpha-2 country code (or XK)."]}),
        ("A", "other", "fr", {"country": ["Must be an ISO 3166-1 alpha-2 country code (or XK)."]}),
    ],
)
def test_an_organisation_needs_a_name_a_known_type_and_a_country(
    name: Any, type_: Any, country: Any, expected: dict[str, list[str]]
) -> None:
    assert organisation_errors(name, type_, country) == expected
    if expected:
        with pytest.raises(InvalidFields) as refused:
            Organisation.register(name, type_, country, system_actor())
        assert refused.value.errors == expected


def test_roles_are_the_four_the_contract_names() -> None:
    assert [role.value for role in Role] == ["partner", "reviewer", "auditor", "admin"]


# ------------------------------------------------------------------ API 1.1: accounts
def test_a_deactivated_account_is_reactivated_once() -> None:
    account = Account.register("a@b.eu", "A", "org", ["partner"], system_actor())
    with pytest.raises(StateConflict, match=r"^The account is active already\.$"):
        account.reactivate(system_actor())
    account.deactivate(system_actor())
    account.reactivate(system_actor())
    assert account.active
    assert [type(e).__name__ for e in account.collect_events()][-2:] == [
        "Deactivated",
        "Reactivated",
    ]


def test_rectification_records_the_corrected_name_and_email_in_one_event() -> None:
    account = Account.register("a@b.eu", "A", "org", ["partner"], system_actor())
    account.collect_events()
    account.rectify(system_actor(), name="  Ana ")
    assert (account.name, account.email) == ("Ana", "a@b.eu")
    account.rectify(system_actor(), email=" Ana@Example.EU ")
    assert (account.name, account.email) == ("Ana", "ana@example.eu")
    events = account.collect_events()
    assert [type(e).__name__ for e in events] == ["Rectified", "Rectified"]
    assert (events[1].name.value, events[1].email.value) == ("Ana", "ana@example.eu")
    assert rectify_errors(None, None) == {}
    assert rectify_errors("", "nope") == {
        "name": ["Must not be empty."],
        "email": ["Not a valid email address."],
    }
    with pytest.raises(InvalidFields) as refused:
        account.rectify(system_actor(), email="nope")
    assert refused.value.errors == {"email": ["Not a valid email address."]}
    assert account.email == "ana@example.eu" and not account.pending_events


def test_password_events_record_who_and_when_never_a_secret() -> None:
    account = Account.register("a@b.eu", "A", "org", ["partner"], system_actor())
    account.collect_events()
    expires = datetime(2031, 1, 2, tzinfo=UTC)
    account.reset_issued(expires, system_actor())
    own = account.as_self("req-1")
    assert own == Actor(str(account.id), "org", SELF, "req-1")
    account.reset_used(own)
    account.password_changed(own)
    events = account.collect_events()
    assert [type(e).__name__ for e in events] == [
        "PasswordResetIssued",
        "PasswordResetUsed",
        "PasswordChanged",
    ]
    common = {"originator_id", "originator_version", "timestamp", "actor"}
    assert set(vars(events[0])) == common | {"expires_at"} and events[0].expires_at == expires
    assert set(vars(events[1])) == set(vars(events[2])) == common
    account.deactivate(system_actor())
    with pytest.raises(StateConflict, match=r"^The account is deactivated\.$"):
        account.reset_used(own)


def test_an_email_index_is_released_and_claimed_again() -> None:
    one, two, index = uuid4(), uuid4(), uuid4()
    claim = EmailIndex.claim(index, one)
    assert claim.claimed
    with pytest.raises(DuplicateEmail):
        claim.reclaim(two)
    claim.release()
    assert not claim.claimed and claim.account_id is None
    with pytest.raises(StateConflict, match=r"^The email is not claimed\.$"):
        claim.release()
    claim.reclaim(two)
    assert claim.account_id == two and claim.id == index
    assert [type(e).__name__ for e in claim.collect_events()] == [
        "Claimed",
        "Released",
        "Reclaimed",
    ]


def test_an_erased_account_holds_no_personal_data_and_refuses_every_command() -> None:
    account = Account.register("ana@example.eu", "Ana", "org", ["partner"], system_actor())
    with pytest.raises(InvalidFields) as empty:
        account.erase(system_actor(), "  ")
    assert empty.value.errors == {"reason": ["Must not be empty."]}
    account.erase(system_actor(), " At her request ")
    erased = account.collect_events()[-1]
    assert type(erased).__name__ == "Erased" and erased.reason == "At her request"
    assert (account.email, account.name, account.active, account.erased) == (
        None,
        None,
        False,
        True,
    )
    refused = [
        lambda: account.erase(system_actor(), "again"),
        lambda: account.grant("reviewer", system_actor()),
        lambda: account.revoke("partner", system_actor()),
        lambda: account.reactivate(system_actor()),
        lambda: account.deactivate(system_actor()),
        lambda: account.rectify(system_actor(), name="Ana B"),
        lambda: account.password_changed(system_actor()),
        lambda: account.reset_issued(datetime.now(UTC), system_actor()),
    ]
    for command in refused:
        with pytest.raises(StateConflict, match=r"^The account was erased\.$"):
            command()
    assert not account.pending_events
