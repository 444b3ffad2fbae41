"""TWINNING_SECRET_KEY, TWINNING_MASTER_KEY and TWINNING_PREVIOUS_MASTER_KEY: long enough,
not the example's placeholder, the previous key only beside a current one, never shown."""

from __future__ import annotations

import pytest

from service.config import ConfigError, Settings

GOOD = "k3y-0f-th1rty-tw0-characters-or-more-xyz"
OTHER = "an0ther-key-0f-thirty-two-characters-plus"
VARIABLES = ("TWINNING_SECRET_KEY", "TWINNING_MASTER_KEY", "TWINNING_PREVIOUS_MASTER_KEY")


def with_keys(**environ: str) -> Settings:
    return Settings.from_env(environ=environ)


def test_keys_of_32_characters_or_more_are_taken() -> None:
    settings = with_keys(
        TWINNING_SECRET_KEY=GOOD, TWINNING_MASTER_KEY=OTHER, TWINNING_PREVIOUS_MASTER_KEY=GOOD
    )
    assert (settings.secret_key, settings.master_key, settings.previous_master_key) == (
        GOOD,
        OTHER,
        GOOD,
    )
    assert GOOD not in repr(settings) and OTHER not in repr(settings)
    assert with_keys(TWINNING_SECRET_KEY="x" * 32).secret_key == "x" * 32


@pytest.mark.parametrize("variable", VARIABLES)
def test_a_short_key_is_refused(variable: str) -> None:
    environ = {variable: "x" * 31}
    if variable == "TWINNING_PREVIOUS_MASTER_KEY":
        environ["TWINNING_MASTER_KEY"] = GOOD
    with pytest.raises(ConfigError, match=f"^{variable} must have at least 32 characters"):
        with_keys(**environ)


@pytest.mark.parametrize("variable", VARIABLES)
def test_the_examples_placeholder_is_refused(variable: str) -> None:
    environ = {variable: "change-me-to-a-long-random-secret-of-your-own"}
    if variable == "TWINNING_PREVIOUS_MASTER_KEY":
        environ["TWINNING_MASTER_KEY"] = GOOD
    with pytest.raises(ConfigError, match=f"^{variable} is still the example's placeholder"):
        with_keys(**environ)


def test_a_previous_master_key_needs_a_current_one() -> None:
    with pytest.raises(ConfigError, match=r"^TWINNING_PREVIOUS_MASTER_KEY needs"):
        with_keys(TWINNING_PREVIOUS_MASTER_KEY=GOOD)


def test_the_deploy_placeholders_are_refused_as_they_are() -> None:
    """The example files' values are long enough, so it is the placeholder check that stops
    them, not the length check (which would say something less helpful)."""
    from tests.unit.test_deploy_files import example_secrets

    for variable, value in example_secrets().items():
        if variable in VARIABLES:
            assert len(value) >= 32, variable
            environ = {variable: value, "TWINNING_MASTER_KEY": GOOD}
            if variable == "TWINNING_MASTER_KEY":
                environ = {variable: value}
            with pytest.raises(ConfigError, match="placeholder"):
                with_keys(**environ)
