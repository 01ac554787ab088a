"""Blocks for what `provision` made: an `SnsTopic` and an `SqsQueue` per domain."""

from __future__ import annotations

from typing import Any

from prefect_federation.provision.report import ProvisionReport

__all__ = ["save_blocks"]


def save_blocks(
    report: ProvisionReport,
    credentials: Any,
    domains: list[str] | None = None,
    credentials_name: str | None = None,
) -> list[str]:
    """Save an `SnsTopic` and an `SqsQueue` block per domain (named after it) on the current
    Prefect server; returns their slugs.

    What Prefect's `Block.save(name, overwrite=True)` does, with its own parts (the block's
    `_to_block_document`, the client's create and update calls), minus what it repeats for every
    document: registering the block type and schema (here once per type), a new API client (~25
    ms of TLS set-up each, even for http://), reading the existing document by name (here one
    listing per type) and reading it back after an update. ~1 request per document instead of
    ~8: the demo's twelve saves took 3-4 s one by one (SQLite; at once they took longer still).

    Args:
        domains: only these domains (default: all in the report).
        credentials_name: first save a copy of `credentials` under this name on this server, so
            the blocks refer to a credentials block that exists here (one server per domain).
    """
    from prefect.utilities.asyncutils import run_coro_as_sync

    saved = run_coro_as_sync(_save_all(report, credentials, domains, credentials_name))
    assert saved is not None
    return saved


async def _save_all(
    report: ProvisionReport,
    credentials: Any,
    domains: list[str] | None,
    credentials_name: str | None,
) -> list[str]:
    from prefect.client.orchestration import get_client

    from prefect_federation.blocks import SnsTopic, SqsQueue

    saved = []
    async with get_client() as client:
        if credentials_name:
            credentials = type(credentials).model_validate(credentials.model_dump())
            await credentials.asave(credentials_name, overwrite=True, client=client)
            credentials = await type(credentials).aload(credentials_name, client=client)
            saved.append(f"aws-credentials/{credentials_name}")
        blocks: list[tuple[str, Any]] = []
        for domain, resources in sorted(report.resources.items()):
            if domains is not None and domain not in domains:
                continue
            if resources.topic_arn:
                topic = SnsTopic(
                    credentials=credentials,
                    topic_arn=resources.topic_arn,
                    archive_bucket=resources.archive_bucket,
                )
                blocks.append((domain, topic))
            if resources.queue_url:
                queue = SqsQueue(
                    credentials=credentials,
                    queue_url=resources.queue_url,
                    dead_letter_queue_url=resources.dlq_url,
                )
                blocks.append((domain, queue))
        existing: dict[tuple[str, str], Any] = {}
        for kind in (SnsTopic, SqsQueue):
            await kind.aregister_type_and_schema(client=client)
            slug = kind.get_block_type_slug()
            for document in await client.read_block_documents_by_type(slug, include_secrets=False):
                existing[(slug, document.name or "")] = document.id
        for name, block in blocks:
            slug = block.get_block_type_slug()
            await _save(client, block, name, existing.get((slug, name)))
            saved.append(f"{slug}/{name}")
    return saved


async def _save(client: Any, block: Any, name: str, document_id: Any) -> None:
    """`block.asave(name, overwrite=True)` with its type registered already and the id of the
    document of that name, if one exists (`None`: create it; one made meanwhile is updated)."""
    from prefect.client.schemas.actions import BlockDocumentCreate, BlockDocumentUpdate
    from prefect.exceptions import ObjectAlreadyExists

    document = block._to_block_document(name=name, include_secrets=True)
    if document_id is None:
        fields = {"name", "block_schema_id", "block_type_id", "data", "is_anonymous"}
        try:
            created = await client.create_block_document(
                BlockDocumentCreate(**document.model_dump(include=fields))
            )
        except ObjectAlreadyExists:
            found = await client.read_block_document_by_name(
                name=name, block_type_slug=block.get_block_type_slug()
            )
            document_id = found.id
        else:
            block._block_document_id, block._block_document_name = created.id, created.name
            return
    await client.update_block_document(
        block_document_id=document_id,
        block_document=BlockDocumentUpdate(
            **document.model_dump(include={"block_schema_id", "data"})
        ),
    )
    block._block_document_id, block._block_document_name = document_id, name
