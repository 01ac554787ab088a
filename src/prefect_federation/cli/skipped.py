"""`prefect-federation replay --skipped`: the events a paused subscription skipped, sent back to
its domain's queue (see `listener/skipped.py`)."""

from __future__ import annotations

import json

from prefect_federation.cli._common import SETUP_ERRORS, aws_clients, build_settings, console, fail

__all__ = ["replay_skipped"]


def replay_skipped(
    domain: str,
    subscription: str | None,
    archive_bucket: str | None,
    credentials_block: str | None,
    dry_run: bool,
    json_output: bool,
) -> None:
    from prefect_federation.archive import default_archive_bucket, validate_bucket_name
    from prefect_federation.declarations import load_federation
    from prefect_federation.listener.pause import subscription_key
    from prefect_federation.listener.skipped import SkipRecords, resend_skipped
    from prefect_federation.queue_admin import SqsQueueAdmin, locate_queues

    try:
        settings = build_settings(None, credentials_block)
        declaration = load_federation(settings.declarations).domain(domain)
        key = None
        if subscription is not None:
            matching = [s for s in declaration.subscribes if subscription in (s.name, s.deployment)]
            if not matching:
                raise fail(f"domain {domain!r} has no subscription {subscription!r}")
            key = subscription_key(matching[0])
        bucket = validate_bucket_name(
            archive_bucket or default_archive_bucket(settings.name_prefix)
        )
        sqs, s3 = aws_clients(settings, "sqs", "s3")
        admin = SqsQueueAdmin(sqs)
        queues = locate_queues(admin, settings.name_prefix, domain, declaration.fifo)
        sent = resend_skipped(
            SkipRecords(s3, bucket), admin, queues.queue_url, domain, key, dry_run=dry_run
        )
    except SETUP_ERRORS as exc:
        raise fail(str(exc)) from exc
    if json_output:
        print(
            json.dumps({"domain": domain, "dry_run": dry_run, "events": [str(e.id) for e in sent]})
        )
        return
    verb = "would send" if dry_run else "sent"
    console.print(
        f"{verb} {len(sent)} skipped event(s) back to {queues.queue_name} (original ids)",
        highlight=False,
    )
