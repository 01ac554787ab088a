"""How often listeners beat, and how long a silence the alert and `status` allow: one derived
from the other, so heartbeats are as rare in the event feed as the silence alert allows."""

from __future__ import annotations

import pytest

from prefect_federation.heartbeat import (
    HEARTBEAT_SECONDS,
    SILENCE_ALERT_MINUTES,
    SILENCE_HEARTBEATS,
    silence_alert_minutes,
)
from prefect_federation.settings import ListenerSettings
from prefect_federation.status import HealthThresholds, allowed_silence

ENV = "PREFECT_FEDERATION_LISTENER_HEARTBEAT_SECONDS"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> ListenerSettings:
    monkeypatch.delenv(ENV, raising=False)
    return ListenerSettings()


def test_the_default_alert_window_is_three_default_heartbeat_intervals(
    settings: ListenerSettings,
) -> None:
    assert SILENCE_HEARTBEATS == 3
    assert settings.heartbeat_seconds == HEARTBEAT_SECONDS == 300
    assert silence_alert_minutes(settings.heartbeat_seconds) == SILENCE_ALERT_MINUTES == 15


def test_the_default_heartbeat_is_the_longest_that_fits_the_alert_window_and_one_may_be_lost(
    settings: ListenerSettings,
) -> None:
    window = SILENCE_ALERT_MINUTES * 60
    assert settings.heartbeat_seconds == window / SILENCE_HEARTBEATS
    assert 2 * settings.heartbeat_seconds < window  # one lost heartbeat never alerts


def test_five_listeners_put_at_most_one_heartbeat_a_minute_in_the_event_feed(
    settings: ListenerSettings,
) -> None:
    assert 5 * 60 / settings.heartbeat_seconds <= 1


@pytest.mark.parametrize(("interval", "minutes"), [("60", 3), ("100", 5), ("20", 1), ("1", 1)])
def test_the_alert_window_follows_a_configured_heartbeat_interval(
    monkeypatch: pytest.MonkeyPatch, interval: str, minutes: int
) -> None:
    monkeypatch.setenv(ENV, interval)

    assert silence_alert_minutes(ListenerSettings().heartbeat_seconds) == minutes


def test_status_allows_the_same_silence_as_the_alert() -> None:
    thresholds = HealthThresholds()

    assert thresholds.heartbeat_misses == SILENCE_HEARTBEATS
    assert allowed_silence(None, thresholds) == SILENCE_ALERT_MINUTES * 60
