"""Process settings (pydantic-settings). Named infrastructure and credentials live in blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from prefect_federation.heartbeat import HEARTBEAT_SECONDS

__all__ = ["FederationSettings", "ListenerSettings"]


class FederationSettings(BaseSettings):
    """Where the declarations are and how AWS resources are named (`PREFECT_FEDERATION_*`)."""

    model_config = SettingsConfigDict(env_prefix="PREFECT_FEDERATION_", extra="ignore")

    declarations: Path = Field(
        default=Path("deployments"),
        description="A directory of domain declarations (*.yaml), or one declaration file.",
    )
    name_prefix: str = Field(
        default="federation-",
        pattern=r"^[a-zA-Z0-9_-]{0,40}$",
        description="Prefix of every topic and queue name, e.g. one per environment.",
    )
    aws_credentials_block: str | None = Field(
        default=None,
        description="Name of a prefect-aws AwsCredentials block; unset: the AWS environment.",
    )
    max_receive_count: int = Field(
        default=5, ge=1, le=1000, description="Receives before SQS moves a message to the DLQ."
    )
    visibility_timeout: int = Field(
        default=60, ge=1, le=43200, description="Queue visibility timeout in seconds."
    )
    servers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="More Prefect API URLs that `trace`/`explain`/`publish --wait` read, besides "
        "PREFECT_API_URL and the declarations' `prefect_api_url` (comma-separated).",
    )

    @field_validator("servers", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [url.strip().rstrip("/") for url in value.split(",") if url.strip()]
        return value

    @field_validator("servers")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not a Prefect API URL (http://host:port/api)")
        return value


class ListenerSettings(BaseSettings):
    """A listener process's knobs (`PREFECT_FEDERATION_LISTENER_*`)."""

    model_config = SettingsConfigDict(env_prefix="PREFECT_FEDERATION_LISTENER_", extra="ignore")

    domain: str | None = Field(default=None, description="The domain this listener serves.")
    wait_time_seconds: int = Field(
        default=20, ge=0, le=20, description="SQS long-poll wait per receive."
    )
    max_messages: int = Field(default=10, ge=1, le=10, description="Messages per receive.")
    visibility_timeout: int = Field(
        default=60,
        ge=2,
        le=43200,
        description="How long a received message stays hidden; extended while it is handled.",
    )
    concurrency: int = Field(
        default=10, ge=1, le=64, description="Messages handled at once (in flight)."
    )
    batch_wait_seconds: float = Field(
        default=2.0,
        ge=0,
        le=300,
        description="How long the next receive waits for the slowest message of the last "
        "batch; after that it receives again while the slow one finishes (not on FIFO queues).",
    )
    prefect_client_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of the Prefect client within one call on the listener's path "
        "(Prefect's own default, 5, sleeps ~62 s); past them the message is left for the "
        "listener's own back-off, which keeps it queued.",
    )
    record_events: bool = Field(
        default=True,
        description="Record each received event in Prefect's event feed, related to its run "
        "(costs more than the run itself on a SQLite-backed server under load).",
    )
    heartbeat_seconds: float = Field(
        default=HEARTBEAT_SECONDS,
        gt=0,
        le=3600,
        description="Seconds between heartbeat events to Prefect (default 300: as rare as the "
        "15-minute silence alert allows; the alert's window is 3 intervals).",
    )
    stop_timeout_seconds: float = Field(
        default=8.0,
        gt=0,
        le=3600,
        description="After SIGTERM, SIGINT or SIGHUP the process exits within this many seconds "
        "(below `docker stop`'s 10): it receives nothing new at once; the batch in flight and "
        "the flow runs it executes may finish until shortly before, then are abandoned "
        "(messages are redelivered, runs terminated and marked Crashed).",
    )
    backpressure: bool = Field(
        default=True,
        description="Create no run for a subscription whose deployment cannot take it (its "
        "work pool has no live worker, or `max_waiting` runs wait to start); its messages wait "
        "in the queue.",
    )
    capacity_ttl_seconds: float = Field(
        default=2.0, ge=0, le=300, description="How long a deployment's capacity reading is used."
    )
    hold_delay_seconds: int = Field(
        default=10, ge=1, le=900, description="A message held back (backpressure) comes back after."
    )
    pause_ttl_seconds: float = Field(
        default=5.0, ge=0, le=300, description="How long the pause state read from Prefect is used."
    )
    pause_delay_seconds: int = Field(
        default=30,
        ge=1,
        le=900,
        description="A message of a paused (hold) subscription comes back after.",
    )
    archive_bucket: str | None = Field(
        default=None,
        description="Where skip records go (pause --mode skip); default "
        "<PREFECT_FEDERATION_NAME_PREFIX>event-archive.",
    )
    ready_file: Path | None = Field(
        default=None,
        description="Write the listener's pid to this file once it has received from its queue "
        "(and is long-polling); removed when it stops. What the demo and tests wait for.",
    )
