"""What the checks of one subscription share: where it is, its producer's contract, and
the wording of "did you mean"."""

from __future__ import annotations

import difflib
from typing import Any

from prefect_federation.contracts.models import Contract
from prefect_federation.contracts.problems import Problem
from prefect_federation.events import EventEnvelope

__all__ = ["ENVELOPE_ATTRIBUTES", "Where", "defs", "did_you_mean"]

ENVELOPE_ATTRIBUTES = tuple(EventEnvelope.model_fields)


def did_you_mean(word: str, options: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


class Where:
    """What one subscription's checks share: where it is, and its producer's contract."""

    def __init__(self, consumer: str, label: str, producer: str, contract: Contract | None):
        self.consumer, self.label, self.producer, self.contract = (
            consumer,
            label,
            producer,
            contract,
        )

    def problem(
        self, rule: str, message: str, field: str | None = None, severity: str = "error"
    ) -> Problem:
        return Problem(
            rule,
            message,
            consumer=self.consumer,
            subscription=self.label,
            producer=self.producer,
            field=field,
            severity="warning" if severity == "warning" else "error",
        )

    @property
    def of(self) -> str:
        """`scoring.completed v1 (producer scoring)`."""
        assert self.contract is not None
        if self.contract.origin.startswith("raw"):
            return f"the raw body schema of {self.contract.type} (producer {self.producer})"
        return f"{self.contract.type} v{self.contract.version} (producer {self.producer})"


def defs(schema: dict[str, Any]) -> dict[str, Any]:
    """The `$defs`/`definitions` of a schema, to validate one of its parts on its own."""
    return {k: schema[k] for k in ("$defs", "definitions") if k in schema}
