"""Alert when a domain's listener falls silent: a Prefect automation on its heartbeats.

Each listener emits `prefect-federation.listener.heartbeat` about the resource
`prefect-federation.listener.<domain>` every `heartbeat_seconds` (see `heartbeat.py`). A proactive
Prefect automation expects at least one such event within a window; when none arrives, it
triggers: it sends a notification through a notification block if one is named, otherwise it does
nothing but its own triggered state, which the Prefect UI shows on the automation and in the event
feed (`prefect.automation.triggered`).

The automation is built with Prefect's own classes (`prefect.automations.Automation`,
`EventTrigger`, `SendNotification`/`DoNothing`) and kept by name, so running this twice updates
the one automation instead of making a second.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from prefect_federation.errors import ConfigError
from prefect_federation.heartbeat import HEARTBEAT_EVENT, listener_resource_id
from prefect_federation.labels import domain_tag

if TYPE_CHECKING:
    from prefect.automations import Automation
    from prefect.client.orchestration import SyncPrefectClient

__all__ = [
    "AutomationResult",
    "automation_name",
    "ensure_automation",
    "ensure_listener_silence_automation",
    "ensure_sla_missed_automation",
    "listener_silence_automation",
    "resolve_notification_block",
    "sla_automation_name",
    "sla_missed_automation",
]

MIN_WINDOW = timedelta(seconds=10)  # Prefect refuses a shorter window for a proactive trigger


def automation_name(domain: str) -> str:
    """The automation's name, which is also how it is found again."""
    return f"prefect-federation: listener {domain} silent"


class AutomationResult(BaseModel):
    """What `ensure_listener_silence_automation` did."""

    model_config = ConfigDict(frozen=True)

    domain: str
    name: str
    automation_id: UUID
    action: Literal["created", "updated", "unchanged"]
    server: str
    notifies: str | None = None
    removed_duplicates: int = 0


def resolve_notification_block(client: SyncPrefectClient, reference: str) -> UUID:
    """The id of a notification block named `type-slug/name` (e.g. `slack-webhook/on-call`) or
    just `name` (when one notification block has that name).

    Raises:
        ConfigError: no such block, not a notification block, or an ambiguous name.
    """
    from prefect.exceptions import ObjectNotFound

    if "/" in reference:
        slug, name = reference.split("/", 1)
        try:
            document = client.read_block_document_by_name(name, slug, include_secrets=False)
        except ObjectNotFound:
            raise ConfigError(
                f"no block {reference!r} on {client.api_url} (create it in the UI or with "
                "`Block.save`, e.g. `SlackWebhook(url=...).save('on-call')`)"
            ) from None
        capabilities = document.block_schema.capabilities if document.block_schema else []
        if "notify" not in capabilities:
            raise ConfigError(
                f"block {reference!r} cannot send notifications (its capabilities: "
                f"{', '.join(capabilities) or 'none'}); name a notification block"
            )
        assert document.id is not None
        return document.id
    documents = [
        d
        for d in client.read_block_documents(include_secrets=False)
        if d.name == reference
        and d.block_schema is not None
        and "notify" in d.block_schema.capabilities
    ]
    if len(documents) == 1 and documents[0].id is not None:
        return documents[0].id
    if not documents:
        raise ConfigError(
            f"no notification block named {reference!r} on {client.api_url} (name it as "
            "`type-slug/name`, e.g. `slack-webhook/on-call`; `prefect block ls` lists them)"
        )
    kinds = ", ".join(
        sorted(f"{d.block_type.slug}/{d.name}" for d in documents if d.block_type is not None)
    )
    raise ConfigError(f"{len(documents)} notification blocks are named {reference!r}: {kinds}")


def listener_silence_automation(
    domain: str, minutes: float, notification_block_id: UUID | None = None
) -> Automation:
    """The automation (not yet saved): no heartbeat of `domain`'s listener for `minutes`."""
    from prefect.automations import Automation, DoNothing, EventTrigger, SendNotification
    from prefect.events.actions import ActionTypes
    from prefect.events.schemas.automations import Posture

    within = timedelta(minutes=minutes)
    if within < MIN_WINDOW:
        raise ConfigError(
            f"--minutes {minutes:g}: the window must be at least {MIN_WINDOW.seconds} seconds"
        )
    name = automation_name(domain)
    action: ActionTypes
    if notification_block_id is not None:
        action = SendNotification(
            block_document_id=notification_block_id,
            subject=f"prefect-federation: the listener of domain {domain} is silent",
            body=(
                f"No heartbeat from the listener of domain {domain!r} "
                f"(resource {listener_resource_id(domain)}) for {minutes:g} minute(s). "
                "Events in its queue are not becoming runs. Check the process "
                f"(`prefect-federation listen --domain {domain}`) and "
                f"`prefect-federation status --domain {domain}`."
            ),
        )
    else:
        action = DoNothing()
    return Automation(
        name=name,
        description=(
            f"Triggers when the listener of domain {domain!r} emits no "
            f"{HEARTBEAT_EVENT} event for {minutes:g} minute(s). Managed by "
            "`prefect-federation alerts`: edits here are overwritten on its next run."
        ),
        enabled=True,
        tags=["prefect-federation", domain_tag(domain)],
        trigger=EventTrigger(
            expect={HEARTBEAT_EVENT},
            match={"prefect.resource.id": listener_resource_id(domain)},
            posture=Posture.Proactive,
            threshold=1,
            within=within,
        ),
        actions=[action],
        actions_on_trigger=[],
        actions_on_resolve=[],
    )


_COMPARED = {"name", "description", "enabled", "tags", "trigger", "actions"}


def _same(existing: Automation, wanted: Automation) -> bool:
    def view(automation: Automation) -> object:
        data = automation.model_dump(mode="json", include=_COMPARED)
        data["trigger"].pop("id", None)
        data["tags"] = sorted(data.get("tags") or [])
        for key in ("expect", "after", "for_each"):
            if isinstance(data["trigger"].get(key), list):
                data["trigger"][key] = sorted(data["trigger"][key])
        return data

    return view(existing) == view(wanted)


def ensure_listener_silence_automation(
    domain: str,
    minutes: float,
    notification_block: str | None,
    *,
    client: SyncPrefectClient | None = None,
) -> AutomationResult:
    """Create or update the automation that alerts when `domain`'s listener falls silent.

    Found again by its name (`prefect-federation: listener <domain> silent`): a second call
    updates it (or leaves it unchanged) and never makes a second one; stray duplicates of that
    name are removed. `notification_block` (`type-slug/name`, or a unique name): the action is
    `SendNotification` through it; None: `DoNothing`. `client`: the domain's Prefect server
    (default: the current one).
    """
    from prefect.client.orchestration import get_client

    if client is None:
        with get_client(sync_client=True) as own:
            return ensure_listener_silence_automation(
                domain, minutes, notification_block, client=own
            )
    block_id = (
        resolve_notification_block(client, notification_block) if notification_block else None
    )
    wanted = listener_silence_automation(domain, minutes, block_id)
    return ensure_automation(client, wanted, domain, notification_block)


def ensure_automation(
    client: SyncPrefectClient, wanted: Automation, domain: str, notification_block: str | None
) -> AutomationResult:
    """Create `wanted`, or update the automation of its name (removing stray duplicates)."""
    from prefect.automations import Automation
    from prefect.events.schemas.automations import AutomationCore

    existing = [
        Automation(**a.model_dump())
        for a in client.read_automations_by_name(wanted.name)
        if a.name == wanted.name
    ]
    server = str(client.api_url).rstrip("/")
    common = {
        "domain": domain,
        "name": wanted.name,
        "server": server,
        "notifies": notification_block,
    }
    if not existing:
        # as `Automation.create` does, on the domain's own server
        automation_id = client.create_automation(
            AutomationCore(**wanted.model_dump(exclude={"id"}))
        )
        return AutomationResult(automation_id=automation_id, action="created", **common)
    keep, *duplicates = existing  # newest first (the API sorts by `updated`, descending)
    for duplicate in duplicates:
        assert duplicate.id is not None
        client.delete_automation(duplicate.id)
    assert keep.id is not None
    unchanged = _same(keep, wanted)
    if not unchanged:
        # as `Automation.update` does (the API refuses `owner_resource` on an update)
        client.update_automation(
            keep.id, AutomationCore(**wanted.model_dump(exclude={"id", "owner_resource"}))
        )
    return AutomationResult(
        automation_id=keep.id,
        action="unchanged" if unchanged else "updated",
        removed_duplicates=len(duplicates),
        **common,
    )


def sla_automation_name(domain: str) -> str:
    return f"prefect-federation: {domain} expectation missed"


def sla_missed_automation(domain: str, notification_block_id: UUID | None = None) -> Automation:
    """The automation (not yet saved): each `prefect-federation.sla.missed` of `domain` (an
    expected event that had not arrived by its deadline, `expects:` in its declaration)."""
    from prefect.automations import Automation, DoNothing, EventTrigger, SendNotification
    from prefect.events.actions import ActionTypes
    from prefect.events.schemas.automations import Posture

    from prefect_federation.joins.coordinator import prefect_event_name
    from prefect_federation.joins.declared import SLA_MISSED

    event = prefect_event_name(SLA_MISSED)
    action: ActionTypes
    if notification_block_id is not None:
        action = SendNotification(
            block_document_id=notification_block_id,
            subject=f"prefect-federation: {domain}: an expected event is late",
            body=(
                "{{ event.payload.event }} for {{ event.payload.day }} "
                "{{ event.payload.value or '' }} had not arrived by {{ event.payload.deadline }} "
                f"(domain {domain}). `prefect-federation status --domain {domain}` shows what "
                "arrived."
            ),
        )
    else:
        action = DoNothing()
    return Automation(
        name=sla_automation_name(domain),
        description=(
            f"Triggers on every {event} event of domain {domain!r}. Managed by "
            "`prefect-federation alerts`: edits here are overwritten on its next run."
        ),
        enabled=True,
        tags=["prefect-federation", domain_tag(domain)],
        trigger=EventTrigger(
            expect={event},
            match={"federation.domain": domain},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[action],
        actions_on_trigger=[],
        actions_on_resolve=[],
    )


def ensure_sla_missed_automation(
    domain: str, notification_block: str | None, *, client: SyncPrefectClient
) -> AutomationResult:
    """Create or update the automation on `domain`'s `sla.missed` events (idempotent, by name)."""
    block_id = (
        resolve_notification_block(client, notification_block) if notification_block else None
    )
    return ensure_automation(
        client, sla_missed_automation(domain, block_id), domain, notification_block
    )
