"""Durations in settings: `<number><unit>`, unit s, m, h or d; anything else is refused
with a message naming the setting."""

from __future__ import annotations

from datetime import timedelta

import pytest

from service.config import ConfigError, Settings, parse_duration


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("14d", timedelta(days=14)),
        ("90m", timedelta(minutes=90)),
        ("5s", timedelta(seconds=5)),
        ("12h", timedelta(hours=12)),
        (" 1825d ", timedelta(days=1825)),
    ],
)
def test_good_durations(raw: str, expected: timedelta) -> None:
    assert parse_duration("TWINNING_X", raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "14", "d", "14 d", "1.5h", "-3d", "3w", "14D", "1d2h", "0s", "0d", "1e3s", "٣d"]
)
def test_bad_durations_are_refused_naming_the_setting(raw: str) -> None:
    with pytest.raises(ConfigError, match="TWINNING_X="):
        parse_duration("TWINNING_X", raw)


def test_the_retention_setting() -> None:
    assert Settings.from_env(environ={}).participant_retention == timedelta(days=1825)
    env = {"TWINNING_PARTICIPANT_RETENTION": "30d"}
    assert Settings.from_env(environ=env).participant_retention == timedelta(days=30)
    override = Settings.from_env(environ={}, overrides={"participant_retention": "2h"})
    assert override.participant_retention == timedelta(hours=2)
    with pytest.raises(ConfigError, match="TWINNING_PARTICIPANT_RETENTION='5 years'"):
        Settings.from_env(environ={"TWINNING_PARTICIPANT_RETENTION": "5 years"})
