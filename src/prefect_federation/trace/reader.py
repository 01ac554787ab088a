"""Reading a chain's runs off every Prefect server of the federation (the I/O of `trace`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect_federation.trace.records import RunRecord, record_from_flow_run
from prefect_federation.trace.tree import ChainTrace, build_trace

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun

    from prefect_federation.declarations import Federation

__all__ = ["RunReader", "federation_clients", "known_servers", "trace_chain"]


class RunReader:
    """Reads the chain's runs from several Prefect servers; remembers deployment names."""

    PAGE = 200

    def __init__(
        self,
        clients: Mapping[str, SyncPrefectClient],
        ui_urls: Mapping[str, str] | None = None,
    ) -> None:
        self.clients = dict(clients)
        self.ui_urls = dict(ui_urls or {})
        self._deployments: dict[tuple[str, UUID], tuple[str, list[str], str | None]] = {}

    def deployment(self, server: str, deployment_id: UUID) -> tuple[str, list[str], str | None]:
        """(`flow/deployment`, its tags, its work pool), cached."""
        key = (server, deployment_id)
        if key not in self._deployments:
            from prefect.exceptions import ObjectNotFound

            client = self.clients[server]
            try:
                deployment = client.read_deployment(deployment_id)
                flow = client.read_flow(deployment.flow_id)
                self._deployments[key] = (
                    f"{flow.name}/{deployment.name}",
                    list(deployment.tags or []),
                    deployment.work_pool_name,
                )
            except ObjectNotFound:
                self._deployments[key] = (f"(deleted deployment {deployment_id})", [], None)
        return self._deployments[key]

    def read_server(self, server: str, correlation_id: UUID | str) -> list[RunRecord]:
        """The chain's runs on one server."""
        from prefect_federation.chain import chain_runs

        client = self.clients[server]
        runs: list[FlowRun] = []
        while True:
            page = chain_runs(client, correlation_id, limit=self.PAGE, offset=len(runs))
            runs.extend(page)
            if len(page) < self.PAGE:
                break
        return self.records_of(server, runs)

    def records_of(self, server: str, runs: Iterable[Any]) -> list[RunRecord]:
        """`server`'s flow runs as records, with their deployments' names, tags and pools."""
        records = []
        for run in runs:
            name, tags, pool = (
                self.deployment(server, run.deployment_id)
                if run.deployment_id
                else (None, [], None)
            )
            records.append(
                record_from_flow_run(
                    run,
                    server,
                    deployment=name,
                    deployment_tags=tags,
                    work_pool=pool,
                    ui_url=self.ui_urls.get(server),
                )
            )
        return records

    def read(self, correlation_id: UUID | str) -> tuple[list[RunRecord], list[str]]:
        """The chain's runs on every server; and the servers that could not be read, why."""
        import httpx

        records: list[RunRecord] = []
        problems: list[str] = []
        for server in self.clients:
            try:
                records.extend(self.read_server(server, correlation_id))
            except httpx.HTTPError as exc:
                problems.append(f"{server}: {type(exc).__name__}: {exc}")
        return records, problems


def known_servers(federation: Federation | None, current: str | None) -> list[str]:
    """Every Prefect API URL the federation knows: the current one, each domain's own, then
    `PREFECT_FEDERATION_SERVERS`."""
    from prefect_federation.settings import FederationSettings

    urls = [current.rstrip("/")] if current else []
    listed = [d.resolved_prefect_api_url() for d in federation or ()]
    for url in [*listed, *FederationSettings().servers]:
        if url and url not in urls:
            urls.append(url)
    return urls


@contextmanager
def federation_clients(
    federation: Federation | None,
) -> Iterator[tuple[dict[str, SyncPrefectClient], dict[str, str]]]:
    """Open a client per known server: (API URL -> client, API URL -> UI URL).

    The current server is `PREFECT_API_URL` (its UI `PREFECT_UI_URL` when set); without one,
    Prefect's own default client (e.g. its ephemeral server).
    """
    from prefect.client.orchestration import SyncPrefectClient, get_client
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    current = PREFECT_API_URL.value()
    clients: dict[str, SyncPrefectClient] = {}
    ui_urls: dict[str, str] = {}
    with ExitStack() as stack:
        if not current:
            client = stack.enter_context(get_client(sync_client=True))
            clients[str(client.api_url).rstrip("/")] = client
        for url in known_servers(federation, current):
            clients[url] = stack.enter_context(SyncPrefectClient(url))
        if current and PREFECT_UI_URL.value():
            ui_urls[current.rstrip("/")] = str(PREFECT_UI_URL.value()).rstrip("/")
        yield clients, ui_urls


def trace_chain(
    clients: Mapping[str, SyncPrefectClient],
    correlation_id: UUID | str,
    *,
    ui_urls: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> ChainTrace:
    """The chain of `correlation_id` across every server in `clients` (API URL -> client).

    A server that cannot be read is named in `ChainTrace.problems`; the others are still shown.
    """
    records, problems = RunReader(clients, ui_urls).read(correlation_id)
    return build_trace(correlation_id, records, now=now, servers=list(clients), problems=problems)
