"""One problem `check` found: which rule, where (producer, consumer, subscription, field), what."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["Problem"]


@dataclass(frozen=True)
class Problem:
    """A problem with a subscription, a declaration or a contract.

    `text()` reads `<consumer> <subscription>: <field>: <message>`; the message names the
    producer and the contract.
    """

    rule: str
    message: str
    consumer: str | None = None
    subscription: str | None = None
    producer: str | None = None
    field: str | None = None
    severity: Literal["error", "warning"] = "error"
    standalone: bool = False
    """The message names everything itself (a change between versions): `text()` is it."""

    def text(self) -> str:
        if self.standalone:
            return self.message
        where = " ".join(part for part in (self.consumer, self.subscription) if part)
        parts = [part for part in (where, self.field) if part]
        return ": ".join([*parts, self.message])

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
