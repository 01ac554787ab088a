"""The chaos scenarios, each on its own domains (bench.chaos.domains) of a `LocalFederation`,
each doing one unkind thing (bench.chaos.faults) and returning the `Tally` of its events. The
reliability tests run them small, the soak (bench/soak.py) full size.

Every process goes into the federation's stack (stopped on exit, even on failure); every port is
free when taken. Nothing here imports the rest of `bench`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

from bench.chaos.domains import (
    BACKOFF_LINE,
    RECEIVE_FAILED_LINE,
    RUN_LINE,
    ChaosDomains,
    Log,
    Tally,
    quiet,
    setup_domains,
)
from bench.chaos.faults import (
    PacedPublisher,
    TcpProxy,
    count_lines,
    exit_stats,
    sigkill,
    start_listener,
    stop_gracefully,
)
from prefect_federation.events import EventEnvelope
from prefect_federation.local import LocalFederation, ManagedProcess

__all__ = [
    "aws_outage_scenario",
    "crash_scenario",
    "prefect_outage_scenario",
    "scale_out_scenario",
]


@dataclass
class _Ending:
    """How a scenario's listeners ended, once everything published was drained (or not)."""

    published: int
    drained: bool
    alive: list[bool]
    exits: list[int | None]

    def of_one(self, listener: ManagedProcess) -> dict[str, object]:
        """The tally fields of a one-listener scenario."""
        return {
            "received": exit_stats(listener).get("received"),
            "drained": self.drained,
            "listener_alive": self.alive[0],
            "listener_exit": self.exits[0],
        }


def _wind_down(
    domains: ChaosDomains,
    batch: list[EventEnvelope],
    publisher: PacedPublisher,
    listeners: list[ManagedProcess],
    *,
    publish_timeout: float,
    drain_timeout: float,
) -> _Ending:
    """Every scenario's end: wait for the publisher, for the runs, then stop the listeners."""
    published = publisher.finish(timeout=publish_timeout)
    drained = domains.wait_drained(len(domains.expected(batch)), timeout=drain_timeout)
    alive = [process.alive() for process in listeners]
    return _Ending(published, drained, alive, [stop_gracefully(p) for p in listeners])


def crash_scenario(
    federation: LocalFederation,
    workdir: Path,
    *,
    server: str = "main",
    events: int = 100,
    kills: int = 5,
    rate: float = 4.0,
    visibility_timeout: int = 5,
    max_receive_count: int | None = None,
    concurrency: int = 2,
    seed: int | None = None,
    log: Log = quiet,
) -> Tally:
    """A listener process SIGKILLed `kills` times at random moments while `events` are published
    at `rate`/s, restarted each time; then every event is counted.

    Every SIGKILL spends one receive of each message in flight, and SQS moves a message to the
    DLQ once it has been received `maxReceiveCount` times, whatever the reason: the queue gets
    `maxReceiveCount` = `kills + 5` (default), so that a message unlucky enough to be in flight
    at every kill is still run. (With the default 5, a listener that crash-loops five times on
    the same batch sends those messages to the DLQ, without a `federation-reason`; `dlq redrive`
    brings them back.)"""
    rng = random.Random(seed)
    domains = setup_domains(
        federation,
        workdir,
        federation.api_url(server),
        "crash",
        visibility_timeout=visibility_timeout,
        max_receive_count=max_receive_count or kills + 5,
    )
    env = domains.listener_env(visibility_timeout=visibility_timeout, concurrency=concurrency)
    batch = domains.make_events(events)
    started = time.monotonic()
    listener = start_listener(federation, "crash-listener-0", env)
    publisher = PacedPublisher(domains, batch, rate)
    publisher.start()
    in_flight_at_kill: list[int] = []
    handled_before_kill: list[int] = []
    # spread the kills over the publishing time; each one a random moment after a restart
    span = max(1.0, events / rate) / kills
    for number in range(1, kills + 1):
        time.sleep(rng.uniform(0.2, max(0.4, span * 0.8)))
        in_flight_at_kill.append(domains.depth()[1])
        handled_before_kill.append(count_lines(listener, RUN_LINE))
        sigkill(listener)
        log(
            f"kill {number}/{kills}: SIGKILL after {handled_before_kill[-1]} run lines, "
            f"{in_flight_at_kill[-1]} message(s) in flight"
        )
        listener = start_listener(federation, f"crash-listener-{number}", env)
    end = _wind_down(
        domains,
        batch,
        publisher,
        [listener],
        publish_timeout=events / rate + 120,
        drain_timeout=120 + events / 2,
    )
    return domains.tally(
        "crash",
        batch,
        end.published,
        started,
        {
            "kills": kills,
            "max_receive_count": max_receive_count or kills + 5,
            "kills_with_messages_in_flight": sum(1 for n in in_flight_at_kill if n),
            "drained": end.drained,
            "last_listener_alive": end.alive[0],
            "last_listener_exit": end.exits[0],
        },
    )


def prefect_outage_scenario(
    federation: LocalFederation,
    workdir: Path,
    *,
    server: str = "main",
    events: int = 40,
    rate: float = 2.0,
    outage_after: float = 4.0,
    outage_seconds: float = 20.0,
    visibility_timeout: int = 30,
    max_receive_count: int = 5,
    concurrency: int = 2,
    client_retries: int | None = None,
    log: Log = quiet,
) -> Tally:
    """The Prefect server is stopped for `outage_seconds` while events flow, then started again
    on the same port with the same database; the listener must wait, not crash, not spin.

    With Prefect's client defaults an outage of up to ~60 s is absorbed inside the client (it
    retries a refused connection 5 times, 2 + 4 + ... + 32 s): the batch in flight waits there,
    kept hidden, and the rest waits in SQS. `client_retries=0` (PREFECT_CLIENT_MAX_RETRIES)
    makes the listener see the outage at once, so its own back-off and health check are what
    is tested."""
    domains = setup_domains(
        federation,
        workdir,
        federation.api_url(server),
        "prefect-outage",
        visibility_timeout=visibility_timeout,
        max_receive_count=max_receive_count,
    )
    env = domains.listener_env(
        visibility_timeout=visibility_timeout,
        concurrency=concurrency,
        extra=None
        if client_retries is None
        else {"PREFECT_CLIENT_MAX_RETRIES": str(client_retries)},
    )
    batch = domains.make_events(events)
    started = time.monotonic()
    listener = start_listener(federation, "prefect-outage-listener", env)
    publisher = PacedPublisher(domains, batch, rate)
    publisher.start()
    time.sleep(outage_after)
    runs_before = domains.run_total()
    federation.stop_prefect(server)
    down_at = time.monotonic()
    log(f"Prefect server stopped after {runs_before} runs; down for {outage_seconds:.0f}s")
    time.sleep(outage_seconds)
    queued_during_outage = sum(domains.depth())
    backoff_lines_during_outage = count_lines(listener, BACKOFF_LINE)
    federation.start_prefect(server, timeout=180)  # same port, home and database
    down_for = time.monotonic() - down_at
    log(
        f"Prefect server back after {down_for:.0f}s; {queued_during_outage} message(s) waited "
        f"in SQS; {backoff_lines_during_outage} back-off line(s) so far"
    )
    end = _wind_down(
        domains,
        batch,
        publisher,
        [listener],
        publish_timeout=events / rate + 120,
        drain_timeout=240,
    )
    return domains.tally(
        "prefect-outage",
        batch,
        end.published,
        started,
        {
            "down_seconds": round(down_for, 1),
            "queued_during_outage": queued_during_outage,
            "backoff_lines": count_lines(listener, BACKOFF_LINE),
            "retry_lines": count_lines(listener, "will be retried"),
            "dead_letter_lines": count_lines(listener, "dead-lettered"),
            **end.of_one(listener),
        },
    )


def aws_outage_scenario(
    federation: LocalFederation,
    workdir: Path,
    *,
    server: str = "main",
    events: int = 40,
    rate: float = 2.0,
    outage_after: float = 4.0,
    outage_seconds: float = 15.0,
    visibility_timeout: int = 30,
    concurrency: int = 2,
    log: Log = quiet,
) -> Tally:
    """The listener reaches AWS through a TCP proxy that is closed for `outage_seconds` (open
    connections cut, new ones refused) while events are published straight to AWS."""
    domains = setup_domains(
        federation,
        workdir,
        federation.api_url(server),
        "aws-outage",
        visibility_timeout=visibility_timeout,
    )
    batch = domains.make_events(events)
    started = time.monotonic()
    with TcpProxy.to_url(domains.aws) as proxy:
        env = domains.listener_env(
            aws_endpoint=proxy.url, visibility_timeout=visibility_timeout, concurrency=concurrency
        )
        listener = start_listener(federation, "aws-outage-listener", env)
        publisher = PacedPublisher(domains, batch, rate)
        publisher.start()
        time.sleep(outage_after)
        proxy.close()
        log(f"AWS endpoint cut off for {outage_seconds:.0f}s (proxy closed)")
        time.sleep(outage_seconds)
        failures_during_outage = count_lines(listener, RECEIVE_FAILED_LINE)
        proxy.open()
        log(f"AWS endpoint back; {failures_during_outage} 'receive failed' line(s) meanwhile")
        end = _wind_down(
            domains,
            batch,
            publisher,
            [listener],
            publish_timeout=events / rate + 120,
            drain_timeout=180,
        )
    return domains.tally(
        "aws-outage",
        batch,
        end.published,
        started,
        {
            "receive_failed_during_outage": failures_during_outage,
            "receive_failed_lines": count_lines(listener, RECEIVE_FAILED_LINE),
            **end.of_one(listener),
        },
    )


def scale_out_scenario(
    federation: LocalFederation,
    workdir: Path,
    *,
    server: str = "main",
    events: int = 200,
    listeners: int = 2,
    duplicate_every: int = 4,
    visibility_timeout: int = 30,
    concurrency: int = 2,
    log: Log = quiet,
) -> Tally:
    """`listeners` listener processes on one queue; `events` published at once, every
    `duplicate_every`-th twice in a row."""
    domains = setup_domains(
        federation,
        workdir,
        federation.api_url(server),
        "scale-out",
        visibility_timeout=visibility_timeout,
    )
    env = domains.listener_env(visibility_timeout=visibility_timeout, concurrency=concurrency)
    batch = domains.make_events(events)
    processes = [
        start_listener(federation, f"scale-out-listener-{i}", env, wait=False)
        for i in range(listeners)
    ]
    federation.wait_listening(processes)
    started = time.monotonic()
    publisher = PacedPublisher(domains, batch, rate=0, duplicate_every=duplicate_every)
    publisher.start()
    end = _wind_down(
        domains, batch, publisher, processes, publish_timeout=300, drain_timeout=120 + events / 2
    )
    log(f"published {end.published} deliveries of {events} events to {listeners} listeners")
    return domains.tally(
        "scale-out",
        batch,
        end.published,
        started,
        {
            "listeners": listeners,
            "run_lines_per_listener": [count_lines(p, RUN_LINE) for p in processes],
            "drained": end.drained,
            "listeners_alive": all(end.alive),
            "listener_exits": end.exits,
        },
    )
