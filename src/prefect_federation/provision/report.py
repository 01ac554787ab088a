"""What `provision` did, and the resources of each domain."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DomainResources", "ProvisionReport"]


@dataclass
class DomainResources:
    """The AWS resources of one domain, as provisioned."""

    domain: str
    topic_arn: str | None = None
    queue_url: str | None = None
    queue_arn: str | None = None
    dlq_url: str | None = None
    dlq_arn: str | None = None
    archive_bucket: str | None = None
    join_table: str | None = None


@dataclass
class ProvisionReport:
    """What `provision` did: one line per resource, and the resources by domain."""

    actions: list[tuple[str, str, str]] = field(default_factory=list)  # (action, kind, name)
    resources: dict[str, DomainResources] = field(default_factory=dict)

    def add(self, action: str, kind: str, name: str) -> None:
        self.actions.append((action, kind, name))

    @property
    def changed(self) -> bool:
        return any(action != "unchanged" for action, _, _ in self.actions)
