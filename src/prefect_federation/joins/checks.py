"""`check` for joins, structurally: each joined type's contract carries the fields the key reads,
and the parameters name only joined types.

A key such as `{{ event.data.snapshot_date }}:{{ event.data.region }}` reads `snapshot_date` and
`region` from every joined event: where the publisher declares a schema, both must be `required`
there (an optional field would leave some events without a key). Deeper contract checks (types,
formats) belong to the contracts package.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect_federation.declarations import DomainDeclaration, Federation

__all__ = ["check_join_keys", "data_fields", "referenced_types"]

_DATA_FIELD = re.compile(r"\bevent\.data\.([A-Za-z_][A-Za-z0-9_]*)")
_DATA_ITEM = re.compile(r"""\bevent\.data\[\s*['"]([^'"]+)['"]\s*\]""")
_EVENTS_ITEM = re.compile(r"""\bevents\[\s*['"]([^'"]+)['"]\s*\]""")


def data_fields(template: str) -> list[str]:
    """The top-level data fields a template reads from `event.data`."""
    found = _DATA_FIELD.findall(template) + _DATA_ITEM.findall(template)
    return list(dict.fromkeys(found))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def referenced_types(parameters: dict[str, Any]) -> list[str]:
    """The event types parameters read as `events['<type>']`."""
    found = [t for text in _strings(parameters) for t in _EVENTS_ITEM.findall(text)]
    return list(dict.fromkeys(found))


def check_join_keys(federation: Federation, declaration: DomainDeclaration) -> str | None:
    """The first problem with `declaration`'s joins, or None."""
    for index, subscription in enumerate(declaration.subscribes):
        join = subscription.join
        if join is None:
            continue
        where = f"subscribes[{index}]"
        for event_type in referenced_types(subscription.parameters):
            if event_type not in join.events:
                return (
                    f"{where}.parameters read events[{event_type!r}], which the join does not "
                    f"wait for (join.events: {', '.join(join.events)})"
                )
        fields = data_fields(join.key)
        for event_type in join.events:
            publication = federation.publication(event_type)
            if publication is None or not publication.data_schema:
                continue
            required = set(publication.data_schema.get("required") or [])
            missing = [f for f in fields if f not in required]
            if missing:
                return (
                    f"{where}.join.key {join.key!r} reads data.{', data.'.join(missing)}, which "
                    f"{event_type!r}'s schema does not require (required: "
                    f"{', '.join(sorted(required)) or 'nothing'})"
                )
    return None
