"""Links to the Prefect UI's event feed, filtered as the UI's own filter writes its query."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from prefect_federation.feed import RECEIVED_EVENT, event_feed_url


def test_the_default_link_shows_only_the_received_events() -> None:
    url = event_feed_url("http://127.0.0.1:4200")

    assert url == "http://127.0.0.1:4200/events?events=prefect-federation.event.received"
    assert parse_qs(urlsplit(url).query) == {"events": [RECEIVED_EVENT]}


def test_several_names_repeat_the_events_parameter_and_keep_a_prefix_star() -> None:
    url = event_feed_url("http://ui.example/", [RECEIVED_EVENT, "prefect.flow-run.*"])

    assert url == (
        "http://ui.example/events?events=prefect-federation.event.received"
        "&events=prefect.flow-run.*"
    )


def test_a_ui_under_a_path_keeps_it_and_no_names_means_the_whole_feed() -> None:
    assert event_feed_url("https://prefect.internal/ui/", []) == (
        "https://prefect.internal/ui/events"
    )
