"""The demo's view of joins: a line each time a join's state changes in its DynamoDB table
("waiting for scoring.completed", then "complete: run started")."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

if TYPE_CHECKING:
    from prefect_federation.declarations import DomainDeclaration
    from prefect_federation.joins.models import JoinRecord
    from prefect_federation.joins.store import JoinStore

__all__ = ["JoinWatcher", "describe_join", "watch_joins"]


def describe_join(domain: DomainDeclaration, record: JoinRecord) -> str:
    """One line about a join's state."""
    from prefect_federation.joins.planner import missing_types

    subscription = next((s for s in domain.joins() if s.join_id == record.subscription), None)
    where = escape(f"join {domain.domain}/{record.subscription} [{record.key}]")
    arrived = ", ".join(sorted(record.arrivals))
    if record.status == "started":
        return f"{where}: complete ({arrived}): its one run is started"
    missing = ", ".join(missing_types(subscription, record)) if subscription else "?"
    if not missing:
        return f"{where}: complete ({arrived}): starting its one run"
    if record.status == "expired":
        return f"{where}: expired with {arrived}; missing {missing} (join.expired published)"
    return f"{where}: {arrived} arrived; waiting for {missing}"


class JoinWatcher:
    """Polls each joining domain's store and says what changed, until `stop()`."""

    def __init__(
        self,
        stores: dict[str, tuple[DomainDeclaration, JoinStore]],
        say: Callable[[str], None],
        interval: float = 0.5,
    ) -> None:
        self.stores = stores
        self.say = say
        self.interval = interval
        self._stop = threading.Event()
        self._seen: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._thread = threading.Thread(target=self._run, name="demo-join-watch", daemon=True)

    def start(self) -> JoinWatcher:
        self._thread.start()
        return self

    def poll(self) -> None:
        for declaration, store in self.stores.values():
            for record in store.joins():
                state = (record.status, tuple(sorted(record.arrivals)))
                if self._seen.get(record.item_id) != state:
                    self._seen[record.item_id] = state
                    self.say(describe_join(declaration, record))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # the demo's view only: the next poll tries again
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        try:
            self.poll()  # the last change, e.g. the run started just before the chain completed
        except Exception:
            return


def watch_joins(
    declarations: Path, credentials_block: str, say: Callable[[str], None]
) -> JoinWatcher:
    """A started watcher of every joining domain's table under `declarations`."""
    from prefect_federation.aws import aws_client, load_aws_credentials
    from prefect_federation.declarations import load_federation
    from prefect_federation.joins.dynamodb import DynamoJoinStore
    from prefect_federation.naming import join_table_name
    from prefect_federation.settings import FederationSettings

    client = aws_client(load_aws_credentials(credentials_block), "dynamodb")
    prefix = FederationSettings().name_prefix
    stores: dict[str, tuple[DomainDeclaration, JoinStore]] = {
        d.domain: (d, DynamoJoinStore(client, join_table_name(prefix, d.domain)))
        for d in load_federation(declarations)
        if d.joins()
    }
    return JoinWatcher(stores, say).start()
