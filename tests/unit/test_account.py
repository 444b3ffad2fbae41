"""Accounts: the cheap copy the repository's cache hands out is a full copy."""

from __future__ import annotations

import copy

from domain.account import Account
from domain.values import system_actor


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
