"""Archive first, then publish: an event that is published is archived."""

from __future__ import annotations

from prefect_federation.archive.protocol import EventArchive
from prefect_federation.errors import PublishError
from prefect_federation.events import MAX_EVENT_BYTES, EventEnvelope
from prefect_federation.publisher import Publisher

__all__ = ["ArchivingPublisher"]


class ArchivingPublisher:
    """Archives each event, then publishes it through `inner`: what is published is archived.

    When the archive fails, `PublishError` is raised and nothing is published. An event too large
    for SNS is refused before it is archived (it could never be published, nor replayed).
    """

    def __init__(self, inner: Publisher, archive: EventArchive, topic_name: str) -> None:
        self.inner = inner
        self.archive = archive
        self.topic_name = topic_name

    @property
    def topic_arn(self) -> str | None:
        """The inner publisher's topic ARN, when it has one (an `SnsPublisher`)."""
        arn = getattr(self.inner, "topic_arn", None)
        return str(arn) if arn is not None else None

    def publish(self, envelope: EventEnvelope) -> str:
        size = envelope.size()
        if size > MAX_EVENT_BYTES - 1024:
            raise ValueError(
                f"event {envelope.type} is {size} bytes; SNS takes at most {MAX_EVENT_BYTES} "
                "with attributes: put large data in storage and send its address"
            )
        try:
            self.archive.put(envelope, self.topic_name)
        except PublishError:
            raise
        except Exception as exc:
            raise PublishError(
                f"could not archive {envelope.type} ({envelope.id}); not published: {exc}"
            ) from exc
        return self.inner.publish(envelope)
