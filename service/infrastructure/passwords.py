"""What a new password must be: long enough, not the account's email, and not one of the
10,000 most common passwords.

The common passwords are the top of the ranked "passwords" frequency list that ships with
the zxcvbn package (MIT licence; https://github.com/dwolfhub/zxcvbn-python), so the list is
maintained upstream rather than typed here."""

from __future__ import annotations

import functools
import importlib

from domain.errors import InvalidFields

PASSWORD_MIN = 12
PASSWORD_MAX = 1024
COMMON_COUNT = 10_000


@functools.cache
def common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords, lower-cased; loaded on first use (the module holds
    several lists and takes a moment to import)."""
    lists = importlib.import_module("zxcvbn.frequency_lists").FREQUENCY_LISTS
    ranked: list[str] = lists["passwords"]
    return frozenset(p.lower() for p in ranked[:COMMON_COUNT])


def password_problems(password: str, email: str | None = None) -> list[str]:
    """Why the password may not be used (empty when it may); never echoes the password."""
    if len(password) < PASSWORD_MIN:
        return [f"At least {PASSWORD_MIN} characters."]
    if len(password) > PASSWORD_MAX:
        return [f"At most {PASSWORD_MAX} characters."]
    folded = password.strip().lower()
    if email is not None and folded == email.strip().lower():
        return ["Must not be the account's email."]
    if folded in common_passwords():
        return ["Too common: choose a password that is not among the most used ones."]
    return []


def require_fit_password(password: str, email: str, field: str = "new_password") -> None:
    """Refuses (422, `errors[field]`) a password that breaks a rule."""
    problems = password_problems(password, email)
    if problems:
        raise InvalidFields({field: problems})
