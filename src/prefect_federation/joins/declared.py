"""What a declaration says about joins and expectations: `join:` on a subscription, `expects:`.

```yaml
subscribes:
  - name: daily-report
    join:
      events: [scoring.completed, customer-master.completed]
      key: "{{ event.data.snapshot_date }}:{{ event.data.region }}"
      within: 6h
    deployment: write-risk-report/reporting
    parameters:
      scores_path: "{{ events['scoring.completed'].data.scores_path }}"
expects:
  - event: scoring.completed
    by: "07:00"
    timezone: Europe/Berlin
    for_each: "{{ event.data.region }}"
    values: [north, south, east]
```
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prefect_federation.events import EVENT_TYPE_PATTERN
from prefect_federation.templates import check_template

__all__ = [
    "JOIN_EXPIRED",
    "SLA_MISSED",
    "SLA_RECOVERED",
    "Expectation",
    "Join",
    "alert_type",
    "parse_duration",
]

JOIN_EXPIRED = "join.expired"
SLA_MISSED = "sla.missed"
SLA_RECOVERED = "sla.recovered"

_DURATION = re.compile(r"^\s*(?P<n>\d+)\s*(?P<unit>[smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


def alert_type(domain: str, what: str) -> str:
    """The SNS event type a domain publishes for `join.expired` / `sla.missed` / `sla.recovered`:
    `reporting.join.expired` (a domain publishes events named after itself)."""
    return f"{domain}.{what}"


def parse_duration(value: Any) -> Any:
    """`6h`, `30m`, `90s`, `1d` -> timedelta; other values are left to pydantic (seconds, ISO)."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=int(match["n"]) * _UNITS[match["unit"]])
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Join(_Strict):
    """Wait for every one of `events` with the same rendered `key`, within `within` of the first."""

    events: list[str] = Field(
        min_length=2, description="The event types to wait for (each from its own domain)."
    )
    key: str = Field(description="A template rendered per event; events with equal keys join.")
    within: timedelta = Field(description="The window from the first arrival: `6h`, `30m`, ...")

    @field_validator("events")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        for index, item in enumerate(value):
            if not re.match(EVENT_TYPE_PATTERN, item):
                raise ValueError(
                    f"events[{index}] {item!r}: expected an event type `<domain>.<what-happened>`"
                )
        if len(set(value)) != len(value):
            raise ValueError(f"events {value}: each type may appear once")
        return value

    @field_validator("key")
    @classmethod
    def _key_is_template(cls, value: str) -> str:
        if "{{" not in value:
            raise ValueError(
                f"key {value!r} is not a template: it must render from each event, e.g. "
                "'{{ event.data.snapshot_date }}'"
            )
        check_template(value, "join.key")
        return value

    @field_validator("within", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @field_validator("within")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"within {value}: must be positive")
        return value


class Expectation(_Strict):
    """`event` must arrive every day by `by` (`timezone`), once per value of `for_each`."""

    event: str = Field(pattern=EVENT_TYPE_PATTERN, description="The expected event type.")
    by: str = Field(pattern=_HHMM, description="The deadline, local time `HH:MM`.")
    timezone: str = Field(default="UTC", description="An IANA time zone, e.g. `Europe/Berlin`.")
    for_each: str | None = Field(
        default=None, description="A template rendered per event: one expectation per value."
    )
    values: list[str] | None = Field(
        default=None, description="The values of `for_each` expected every day."
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {value!r} is not an IANA time zone") from None
        return value

    @model_validator(mode="after")
    def _for_each_needs_values(self) -> Expectation:
        if (self.for_each is None) != (self.values is None):
            raise ValueError("`for_each` and `values` go together: give both or neither")
        if self.for_each is not None:
            check_template(self.for_each, "for_each")
        if self.values is not None and not self.values:
            raise ValueError("values: give at least one")
        return self

    @property
    def deadline(self) -> time:
        hours, minutes = self.by.split(":")
        return time(int(hours), int(minutes))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
