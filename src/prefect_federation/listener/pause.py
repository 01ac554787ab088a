"""Pausing a domain's subscriptions: the shared, durable pause state and how listeners read it.

Where the state lives: a Prefect Variable on the domain's own Prefect server,
`prefect-federation-pause-<domain>`, whose value maps a subscription key (its `name`, else its
`flow/deployment`; `*` for every subscription of the domain) to a `PauseEntry`. Every listener of
the domain already talks to that server (nothing new to reach or to grant), a Variable is
durable (in the server's database) and visible in the UI, and each listener re-reads it at most
every `ttl` seconds (`PauseReader`): one cheap GET per few seconds, whatever the traffic.

Each pause and resume is also an event in the domain's event stream
(`prefect-federation.subscription.paused` / `.resumed`: who, why, when, the mode).

Modes: `hold` leaves the messages in SQS (the listener releases them with a delay; see
`listener/outcome.py` for why they are never dead-lettered by receive count); `skip` acks them and
records each as skipped in the archive (`listener/skipped.py`), for `replay --skipped`.
"""

from __future__ import annotations

import contextlib
import getpass
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prefect_federation.declarations import DomainDeclaration, Subscription
from prefect_federation.errors import ConfigError

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

__all__ = [
    "ALL",
    "PAUSED_EVENT",
    "RESUMED_EVENT",
    "PauseEntry",
    "PauseReader",
    "PauseState",
    "apply_pause",
    "apply_resume",
    "read_pause_state",
    "subscription_key",
    "variable_name",
    "write_pause_state",
]

ALL = "*"
"""The key of a pause of every subscription of the domain."""
PAUSED_EVENT = "prefect-federation.subscription.paused"
RESUMED_EVENT = "prefect-federation.subscription.resumed"
PauseMode = Literal["hold", "skip"]


def subscription_key(subscription: Subscription) -> str:
    """How a subscription is named in the pause state: its `name`, else its deployment."""
    return subscription.name or subscription.deployment


def variable_name(domain: str) -> str:
    """The Prefect Variable holding the domain's pause state."""
    return f"prefect-federation-pause-{domain}"


class PauseEntry(BaseModel):
    """One pause: what, how, by whom, why, since when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: PauseMode = "hold"
    reason: str | None = None
    by: str = Field(description="user@host that paused it.")
    since: datetime

    def describe(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        return (
            f"{self.mode} since {self.since.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z by {self.by}{why}"
        )


class PauseState(BaseModel):
    """Subscription key (or `*`) -> its pause."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    paused: dict[str, PauseEntry] = Field(default_factory=dict)

    def entry_for(self, subscription: Subscription) -> PauseEntry | None:
        """The pause in force for this subscription: its own, else the whole domain's."""
        return self.paused.get(subscription_key(subscription)) or self.paused.get(ALL)


def _who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in a container
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def read_pause_state(client: SyncPrefectClient, domain: str) -> PauseState:
    """The domain's pause state on its Prefect server (empty when never paused)."""
    variable = client.read_variable_by_name(variable_name(domain))
    if variable is None or variable.value in (None, "", {}):
        return PauseState()
    try:
        return PauseState.model_validate(variable.value)
    except ValidationError as exc:
        raise ConfigError(
            f"Prefect Variable {variable_name(domain)!r} is not a pause state: {exc}"
        ) from exc


def write_pause_state(client: SyncPrefectClient, domain: str, state: PauseState) -> None:
    from prefect.client.schemas.actions import VariableCreate, VariableUpdate

    name = variable_name(domain)
    value: Any = state.model_dump(mode="json")
    if client.read_variable_by_name(name) is None:
        client.create_variable(VariableCreate(name=name, value=value, tags=["prefect-federation"]))
    else:
        client.update_variable(VariableUpdate(name=name, value=value))


def _emit(
    client: SyncPrefectClient, name: str, domain: str, key: str, payload: dict[str, Any]
) -> None:
    """The pause or resume as an event in the domain's event stream (POST /events)."""
    client.request(
        "POST",
        "/events",
        json=[
            {
                "id": str(uuid4()),
                "occurred": datetime.now(UTC).isoformat(),
                "event": name,
                "resource": {
                    "prefect.resource.id": f"prefect-federation.subscription.{domain}.{key}",
                    "prefect.resource.name": f"{domain} {key}",
                    "federation.domain": domain,
                },
                "related": [],
                "payload": payload,
            }
        ],
    )


def _keys(declaration: DomainDeclaration, subscription: str | None) -> str:
    if subscription is None:
        return ALL
    known = {subscription_key(s) for s in declaration.subscribes} | {
        s.deployment for s in declaration.subscribes
    }
    if subscription not in known:
        names = ", ".join(sorted({subscription_key(s) for s in declaration.subscribes}))
        raise ConfigError(
            f"domain {declaration.domain!r} has no subscription {subscription!r} (its "
            f"subscriptions: {names})"
        )
    matching = [s for s in declaration.subscribes if subscription in (s.name, s.deployment)]
    return subscription_key(matching[0])


def apply_pause(
    client: SyncPrefectClient,
    declaration: DomainDeclaration,
    subscription: str | None,
    mode: PauseMode,
    reason: str | None,
    *,
    now: datetime | None = None,
) -> tuple[str, PauseEntry]:
    """Pause one subscription (or, without one, the whole domain); (its key, the entry)."""
    key = _keys(declaration, subscription)
    entry = PauseEntry(mode=mode, reason=reason, by=_who(), since=now or datetime.now(UTC))
    state = read_pause_state(client, declaration.domain)
    write_pause_state(client, declaration.domain, PauseState(paused={**state.paused, key: entry}))
    _emit(client, PAUSED_EVENT, declaration.domain, key, entry.model_dump(mode="json"))
    return key, entry


def apply_resume(
    client: SyncPrefectClient, declaration: DomainDeclaration, subscription: str | None
) -> tuple[str, PauseEntry | None]:
    """Resume one subscription (or the whole domain: every pause of it); (its key, what was
    lifted, None when it was not paused)."""
    key = _keys(declaration, subscription)
    state = read_pause_state(client, declaration.domain)
    remaining = {} if key == ALL else {k: v for k, v in state.paused.items() if k != key}
    lifted = state.paused.get(key)
    write_pause_state(client, declaration.domain, PauseState(paused=remaining))
    _emit(
        client,
        RESUMED_EVENT,
        declaration.domain,
        key,
        {"by": _who(), "was": lifted.model_dump(mode="json") if lifted else None},
    )
    return key, lifted


class PauseReader:
    """The pause state as a listener sees it: re-read at most every `ttl` seconds; on a read
    error the last known state stands (a listener never un-pauses by failing to read)."""

    def __init__(
        self,
        read: Callable[[], PauseState],
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._state = PauseState()
        self._read_at: float | None = None

    def state(self) -> PauseState:
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self.ttl:
                with contextlib.suppress(Exception):  # keep the last known state
                    self._state = self._read()
                self._read_at = now
            return self._state
