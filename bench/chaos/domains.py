"""The two domains of one chaos scenario, provisioned on a `LocalFederation` under their own
name prefix and deployed on one Prefect server, and the `Tally` of what became of their events.

`chaos-up` publishes `chaos-up.tick` (data `{"n": <int>, "sampled": n % 10 == 0}`); `chaos-down`
subscribes to it twice: every tick runs `chaos-all/<tag>`, and every tenth also runs
`chaos-sampled/<tag>` (a data filter). So one event must become exactly one or two runs.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from botocore.config import Config

from prefect_federation.events import EventEnvelope
from prefect_federation.labels import EVENT_ID_TAG, tag_value
from prefect_federation.local import LocalFederation, register_deployments
from prefect_federation.queue_admin import SqsQueueAdmin

UPSTREAM = "chaos-up"
DOWNSTREAM = "chaos-down"
EVENT_TYPE = f"{UPSTREAM}.tick"
ALL_FLOW = "chaos-all"
SAMPLED_FLOW = "chaos-sampled"
POOL = "chaos"

BACKOFF_LINE = "Prefect API unavailable"
RECEIVE_FAILED_LINE = "receive failed"
RUN_LINE = re.compile(r"message \S+ -> run ")

Log = Callable[[str], None]


def tick(n: int, sampled: bool) -> None:
    """The signature both chaos deployments' parameter schemas are made from."""


def quiet(_: str) -> None:
    return None


AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5)
"""The chaos clients' botocore config: a few retries, a short connect timeout."""


@contextlib.contextmanager
def prefect_client(api_url: str) -> Iterator[Any]:
    """A sync Prefect client on `api_url` (whatever PREFECT_API_URL says)."""
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(api_url) as client:
        yield client


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# -- the domains of one scenario ----------------------------------------------------------------


@dataclass
class Tally:
    """What became of a scenario's events: runs per (event, deployment), queues, timings."""

    scenario: str
    events: int
    published: int  # deliveries published, duplicates included
    expected_runs: int
    runs: int
    lost: int  # (event, deployment) pairs that should have a run and have none
    duplicates: int  # runs beyond the first of a pair
    unexpected: int  # runs of pairs that should have none (e.g. an unsampled tick in chaos-sampled)
    queue: tuple[int, int]  # (visible, in flight) at the end
    dlq: tuple[int, int]
    seconds: float
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        """Nothing lost, nothing twice, nothing extra, both queues empty."""
        return (
            self.lost == 0
            and self.duplicates == 0
            and self.unexpected == 0
            and self.runs == self.expected_runs
            and self.queue == (0, 0)
            and self.dlq == (0, 0)
        )

    def line(self) -> str:
        notes = " ".join(f"{k}={v}" for k, v in self.notes.items())
        return (
            f"{self.scenario}: events={self.events} published={self.published} "
            f"expected_runs={self.expected_runs} runs={self.runs} lost={self.lost} "
            f"duplicates={self.duplicates} unexpected={self.unexpected} "
            f"queue={self.queue} dlq={self.dlq} seconds={self.seconds:.1f} {notes}".rstrip()
        )


@dataclass
class ChaosDomains:
    """`chaos-up` -> `chaos-down`, provisioned under one name prefix, deployed on one server."""

    tag: str
    workdir: Path
    aws: str
    api_url: str
    prefix: str
    declarations: Path
    topic_arn: str
    queue_url: str
    dlq_url: str
    deployments: dict[str, UUID]
    sns: Any
    sqs: Any
    federation: LocalFederation

    @property
    def all_deployment(self) -> str:
        return f"{ALL_FLOW}/{self.tag}"

    @property
    def sampled_deployment(self) -> str:
        return f"{SAMPLED_FLOW}/{self.tag}"

    def publisher(self) -> Any:
        from prefect_federation.publisher import SnsPublisher

        return SnsPublisher(self.sns, self.topic_arn)

    def make_events(self, count: int) -> list[EventEnvelope]:
        return [
            EventEnvelope(
                type=EVENT_TYPE,
                source=UPSTREAM,
                subject=self.tag,
                data={"n": n, "sampled": n % 10 == 0},
            )
            for n in range(count)
        ]

    def expected(self, events: Iterable[EventEnvelope]) -> set[tuple[str, str]]:
        pairs = set()
        for event in events:
            pairs.add((str(event.id), self.all_deployment))
            if event.data["sampled"]:
                pairs.add((str(event.id), self.sampled_deployment))
        return pairs

    def depth(self, queue_url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages of the queue (default: the inbox), no long poll."""
        counts = SqsQueueAdmin(self.sqs).counts(queue_url or self.queue_url)
        return counts.visible, counts.in_flight

    def _deployment_filter(self) -> Any:
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

        return DeploymentFilter(id=DeploymentFilterId(any_=list(self.deployments.values())))

    def run_total(self) -> int:
        with prefect_client(self.api_url) as client:
            return int(client.count_flow_runs(deployment_filter=self._deployment_filter()))

    def run_counts(self) -> Counter[tuple[str, str]]:
        """Runs of this scenario's deployments per (event id, deployment)."""
        from prefect.client.schemas.sorting import FlowRunSort

        names = {v: k for k, v in self.deployments.items()}
        counts: Counter[tuple[str, str]] = Counter()
        seen: set[UUID] = set()
        with prefect_client(self.api_url) as client:
            offset = 0
            while True:
                page = client.read_flow_runs(
                    deployment_filter=self._deployment_filter(),
                    sort=FlowRunSort.ID_DESC,
                    limit=200,
                    offset=offset,
                )
                for run in page:
                    if run.id in seen:
                        continue
                    seen.add(run.id)
                    event_id = tag_value(run.tags, EVENT_ID_TAG) or "(no event-id tag)"
                    deployment = names.get(run.deployment_id, str(run.deployment_id))
                    counts[(event_id, deployment)] += 1
                if len(page) < 200:
                    break
                offset += len(page)
        return counts

    def tally(
        self,
        scenario: str,
        events: list[EventEnvelope],
        published: int,
        started: float,
        notes: dict[str, Any] | None = None,
    ) -> Tally:
        expected = self.expected(events)
        counts = self.run_counts()
        return Tally(
            scenario=scenario,
            events=len(events),
            published=published,
            expected_runs=len(expected),
            runs=sum(counts.values()),
            lost=sum(1 for pair in expected if counts[pair] == 0),
            duplicates=sum(c - 1 for pair, c in counts.items() if pair in expected and c > 1),
            unexpected=sum(c for pair, c in counts.items() if pair not in expected),
            queue=self.depth(),
            dlq=self.depth(self.dlq_url),
            seconds=time.monotonic() - started,
            notes=dict(notes or {}),
        )

    def wait_drained(
        self, expected_runs: int, timeout: float, quiet_for: float = 3.0, poll: float = 1.0
    ) -> bool:
        """Wait until the inbox is empty (nothing visible, nothing in flight) for `quiet_for`
        seconds and the runs are counted; give up `quiet_for + 12` seconds after the inbox
        emptied if runs are still missing (they are lost), or at `timeout`."""
        deadline = time.monotonic() + timeout
        empty_since: float | None = None
        while time.monotonic() < deadline:
            if self.depth() == (0, 0):
                empty_since = empty_since or time.monotonic()
                quiet = time.monotonic() - empty_since
                if quiet >= quiet_for and self.run_total() >= expected_runs:
                    return True
                if quiet >= quiet_for + 12:
                    return False
            else:
                empty_since = None
            time.sleep(poll)
        return False

    def listener_env(
        self,
        *,
        aws_endpoint: str | None = None,
        visibility_timeout: int,
        concurrency: int = 2,
        extra: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment of this scenario's `prefect-federation listen` processes.

        `concurrency` (messages of a batch handled at once) is 2, not the default 10: on a
        Prefect server with SQLite, 10 concurrent run creations per listener mostly wait on the
        database lock (~2 runs/s against ~6 runs/s with 1 or 2)."""
        return self.federation.domain_env(
            self.api_url,
            self.declarations,
            name_prefix=self.prefix,
            prefect_home=self.workdir / "listener-prefect-home",
            aws_endpoint=aws_endpoint or self.aws,
            extra={
                "PREFECT_FEDERATION_LISTENER_VISIBILITY_TIMEOUT": str(visibility_timeout),
                "PREFECT_FEDERATION_LISTENER_CONCURRENCY": str(concurrency),
                **(extra or {}),
            },
        )


def declarations_for(tag: str) -> dict[str, dict[str, Any]]:
    parameters = {"n": "{{ event.data.n }}", "sampled": "{{ event.data.sampled }}"}
    return {
        UPSTREAM: {"domain": UPSTREAM, "publishes": [{"type": EVENT_TYPE}]},
        DOWNSTREAM: {
            "domain": DOWNSTREAM,
            "subscribes": [
                {"event": EVENT_TYPE, "deployment": f"{ALL_FLOW}/{tag}", "parameters": parameters},
                {
                    "event": EVENT_TYPE,
                    "filter": {"sampled": True},
                    "deployment": f"{SAMPLED_FLOW}/{tag}",
                    "parameters": parameters,
                },
            ],
        },
    }


def setup_domains(
    federation: LocalFederation,
    workdir: Path,
    api_url: str,
    scenario: str,
    *,
    visibility_timeout: int,
    max_receive_count: int = 5,
) -> ChaosDomains:
    """Write the declarations, provision topic/queue/DLQ on the federation's AWS endpoint,
    register the deployments on `api_url`."""
    from prefect_federation.settings import FederationSettings

    tag = f"{scenario}-{secrets.token_hex(3)}"
    prefix = f"chaos-{tag}-"
    workdir = workdir / tag
    declarations = federation.write_declarations(workdir / "declarations", declarations_for(tag))
    settings = FederationSettings(
        name_prefix=prefix,
        visibility_timeout=visibility_timeout,
        max_receive_count=max_receive_count,
        declarations=declarations,
    )
    report = federation.provision(settings, config=AWS_CONFIG)
    up, down = report.resources[UPSTREAM], report.resources[DOWNSTREAM]
    assert up.topic_arn is not None
    assert down.queue_url is not None
    assert down.dlq_url is not None
    names = [f"{ALL_FLOW}/{tag}", f"{SAMPLED_FLOW}/{tag}"]
    return ChaosDomains(
        tag=tag,
        workdir=workdir,
        aws=federation.start_aws(),
        api_url=api_url,
        prefix=prefix,
        declarations=declarations,
        topic_arn=up.topic_arn,
        queue_url=down.queue_url,
        dlq_url=down.dlq_url,
        deployments=register_deployments(api_url, tick, names, work_pool=POOL),
        sns=federation.aws_client("sns", AWS_CONFIG),
        sqs=federation.aws_client("sqs", AWS_CONFIG),
        federation=federation,
    )
