"""The four policies of a domain: runtime, operator, provisioning, replay."""

from __future__ import annotations

from prefect_federation.declarations import Federation
from prefect_federation.errors import ConfigError
from prefect_federation.iam.arns import _location, domain_arns
from prefect_federation.iam.models import (
    ARCHIVE_PROVISIONING_ACTIONS,
    DLQ_OPERATOR_ACTIONS,
    DLQ_RUNTIME_ACTIONS,
    QUEUE_RUNTIME_ACTIONS,
    DomainArns,
    PolicyDocument,
    PolicyStatement,
)
from prefect_federation.settings import FederationSettings


def _document(domain: str, kind: str, statements: list[PolicyStatement]) -> PolicyDocument:
    if not statements:
        raise ConfigError(
            f"domain {domain!r} neither publishes nor subscribes: its {kind} needs no AWS "
            "permissions"
        )
    return PolicyDocument(statements=tuple(statements))


def _archive_prefix(arns: DomainArns) -> str:
    """The domain's prefix in the archive: its topic's name (`archive.archive_key`)."""
    return arns.topic.rsplit(":", 1)[-1]


def runtime_policy(
    federation: Federation,
    domain: str,
    settings: FederationSettings,
    account_id: str,
    region: str,
    *,
    topic_lookup: bool = True,
    archive_bucket: str | None = None,
) -> PolicyDocument:
    """What `domain`'s flows and listener need at run time, and nothing else.

    `topic_lookup=False` drops `sns:ListTopics` (needed only when the topic is found by name, as
    `connect.open_publisher` does without `--topic-arn`; flows publishing through the domain's
    `SnsTopic` block know the ARN). `archive_bucket`: the domain archives what it publishes
    there (its `SnsTopic` block's `archive_bucket`): `s3:PutObject` under its topic's prefix.
    """
    arns = domain_arns(federation, domain, settings, account_id, region)
    statements: list[PolicyStatement] = []
    if arns.publishes:
        statements.append(
            PolicyStatement(
                sid="PublishToOwnTopic", actions=("sns:Publish",), resources=(arns.topic,)
            )
        )
        if archive_bucket:
            location = _location(account_id, region)
            statements.append(
                PolicyStatement(
                    sid="ArchiveOwnEvents",
                    actions=("s3:PutObject",),
                    resources=(location.s3_arn(archive_bucket, _archive_prefix(arns)),),
                )
            )
        if topic_lookup:
            # sns:ListTopics has no resource-level permissions: AWS accepts only "*". It reveals
            # the account's topic ARNs, nothing more; pass the topic ARN to avoid needing it.
            statements.append(
                PolicyStatement(
                    sid="FindOwnTopicByName", actions=("sns:ListTopics",), resources=("*",)
                )
            )
    if arns.subscribes:
        statements.append(
            PolicyStatement(
                sid="ConsumeOwnQueue", actions=QUEUE_RUNTIME_ACTIONS, resources=(arns.queue,)
            )
        )
        statements.append(
            PolicyStatement(
                sid="DeadLetterToOwnDlq", actions=DLQ_RUNTIME_ACTIONS, resources=(arns.dlq,)
            )
        )
        if archive_bucket:  # a subscription paused with --mode skip records what it skipped
            statements.append(
                PolicyStatement(
                    sid="RecordOwnSkippedEvents",
                    actions=("s3:PutObject",),
                    resources=(
                        _location(account_id, region).s3_arn(
                            archive_bucket, _skipped_prefix(domain)
                        ),
                    ),
                )
            )
    if arns.join_table:
        from prefect_federation.joins.dynamodb import TABLE_ACTIONS

        statements.append(
            PolicyStatement(
                sid="KeepOwnJoinState", actions=TABLE_ACTIONS, resources=(arns.join_table,)
            )
        )
    return _document(domain, "runtime", statements)


def _skipped_prefix(domain: str) -> str:
    """The domain's prefix of skipped events in the archive bucket (`listener.skipped`)."""
    return f"skipped/{domain}"


def operator_policy(
    federation: Federation,
    domain: str,
    settings: FederationSettings,
    account_id: str,
    region: str,
    *,
    archive_bucket: str | None = None,
) -> PolicyDocument:
    """What `prefect-federation dlq list|show|redrive|purge --domain <domain>` needs
    (`prefect_federation.dlq`): find the queues, read and delete dead letters, send them back;
    with `archive_bucket`, also `replay --skipped --domain <domain>`: list, read and delete the
    domain's skipped events there (and send them back to its queue, as a redrive does).

    For whoever triages the domain's dead letters, not for the listener: the listener never reads
    its DLQ and never sends to its own queue. Not for `status` (CloudWatch, every domain).
    """
    arns = domain_arns(federation, domain, settings, account_id, region)
    if not arns.subscribes:
        raise ConfigError(f"domain {domain!r} subscribes to nothing: it has no dead-letter queue")
    # locate_queues tries the standard name first, then the FIFO one: a FIFO domain's lookup asks
    # for its standard queue name too (AWS checks permission before existence).
    lookups = tuple(dict.fromkeys((arns.queue.removesuffix(".fifo"), arns.queue, arns.dlq)))
    return _document(
        domain,
        "operator",
        [
            PolicyStatement(sid="LocateOwnQueues", actions=("sqs:GetQueueUrl",), resources=lookups),
            PolicyStatement(
                sid="TriageOwnDlq", actions=DLQ_OPERATOR_ACTIONS, resources=(arns.dlq,)
            ),
            PolicyStatement(
                sid="RedriveToOwnQueue", actions=("sqs:SendMessage",), resources=(arns.queue,)
            ),
            *_skipped_replay_statements(domain, account_id, region, archive_bucket),
        ],
    )


def _skipped_replay_statements(
    domain: str, account_id: str, region: str, archive_bucket: str | None
) -> list[PolicyStatement]:
    if not archive_bucket:
        return []
    location = _location(account_id, region)
    prefix = _skipped_prefix(domain)
    return [
        PolicyStatement(
            sid="ListOwnSkippedEvents",
            actions=("s3:ListBucket",),
            resources=(location.s3_arn(archive_bucket),),
            condition={"StringLike": {"s3:prefix": f"{prefix}/*"}},
        ),
        PolicyStatement(
            sid="ReplayOwnSkippedEvents",
            actions=("s3:DeleteObject", "s3:GetObject"),
            resources=(location.s3_arn(archive_bucket, prefix),),
        ),
    ]


def provisioning_policy(
    federation: Federation,
    domain: str,
    settings: FederationSettings,
    account_id: str,
    region: str,
    *,
    retire_queue: bool = False,
    archive_bucket: str | None = None,
) -> PolicyDocument:
    """What `provision` calls for `domain` alone (its declaration file), and nothing else.

    `archive_bucket`: `provision` also ensures the environment's event archive (a publishing
    domain's deploy creates it if it is the first; `ensure_archive` writes a setting only when it
    differs, so once the bucket is right only the read actions are used).

    A domain that subscribes to nothing still has its queue name looked up (`provision` retires
    a queue left from earlier subscriptions). `retire_queue=True` adds what retiring an existing
    queue takes (unsubscribe it, clear its policy): for the deploy that removes a domain's last
    subscription; without it, that deploy is refused on `sqs:GetQueueAttributes`.
    """
    arns = domain_arns(federation, domain, settings, account_id, region)
    statements: list[PolicyStatement] = []
    if arns.publishes or arns.subscribes:
        # provision finds every topic by name (its own and its upstreams'); sns:ListTopics has no
        # resource-level permissions, so "*" is the only resource AWS accepts.
        statements.append(
            PolicyStatement(sid="ListTopicsByName", actions=("sns:ListTopics",), resources=("*",))
        )
    if arns.publishes:
        statements.append(
            PolicyStatement(
                sid="CreateOwnTopic",
                # create_topic with Tags needs sns:TagResource as well
                actions=("sns:CreateTopic", "sns:TagResource"),
                resources=(arns.topic,),
            )
        )
        if archive_bucket:
            statements.append(
                PolicyStatement(
                    sid="EnsureEventArchive",
                    actions=ARCHIVE_PROVISIONING_ACTIONS,
                    resources=(_location(account_id, region).s3_arn(archive_bucket),),
                )
            )
    # The subscription actions below have no resource-level permissions and no condition key
    # naming the topic or the endpoint: "*" is the only resource AWS accepts. provision lists
    # subscriptions to find its queue's, then reads, updates and removes only those.
    unscoped: tuple[str, ...] = ()
    if arns.subscribes:
        statements.append(
            PolicyStatement(
                sid="CreateAndConfigureOwnQueues",
                actions=(
                    "sqs:CreateQueue",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:SetQueueAttributes",  # attributes, RedrivePolicy, the queue policy
                ),
                resources=(arns.queue, arns.dlq),
            )
        )
        statements.append(
            PolicyStatement(
                sid="SubscribeOwnQueueToUpstreamTopics",
                actions=("sns:Subscribe",),
                resources=arns.upstream_topics,
                # only its own queue, only as an SQS subscription
                condition={
                    "StringEquals": {"sns:Endpoint": arns.queue, "sns:Protocol": "sqs"},
                },
            )
        )
        unscoped = (
            "sns:GetSubscriptionAttributes",
            "sns:ListSubscriptions",
            "sns:SetSubscriptionAttributes",
            "sns:Unsubscribe",
        )
    elif retire_queue:
        statements.append(
            PolicyStatement(
                sid="RetireOwnQueue",
                actions=("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SetQueueAttributes"),
                resources=(arns.queue,),
            )
        )
        unscoped = ("sns:ListSubscriptions", "sns:Unsubscribe")
    else:
        statements.append(
            PolicyStatement(
                sid="LookForOwnRetiredQueue", actions=("sqs:GetQueueUrl",), resources=(arns.queue,)
            )
        )
    if unscoped:
        statements.append(
            PolicyStatement(
                sid="ManageSubscriptionsUnscopedByAws", actions=unscoped, resources=("*",)
            )
        )
    if arns.join_table:
        statements.append(
            PolicyStatement(
                sid="CreateOwnJoinTable",
                actions=("dynamodb:CreateTable", "dynamodb:DescribeTable"),
                resources=(arns.join_table,),
            )
        )
    return _document(domain, "provisioning", statements)


def replay_policy(
    federation: Federation,
    domain: str,
    settings: FederationSettings,
    account_id: str,
    region: str,
    *,
    archive_bucket: str,
) -> PolicyDocument:
    """What `prefect-federation replay --source <domain>` needs: list and read the domain's
    prefix of the archive, find its topic by name and publish to it. For whoever re-sends the
    domain's history, not for its runtime (which never reads the archive)."""
    arns = domain_arns(federation, domain, settings, account_id, region)
    if not arns.publishes:
        raise ConfigError(f"domain {domain!r} publishes nothing: it has no events to replay")
    location = _location(account_id, region)
    prefix = _archive_prefix(arns)
    return _document(
        domain,
        "replay",
        [
            PolicyStatement(
                sid="ListOwnArchivedDays",
                actions=("s3:ListBucket",),
                resources=(location.s3_arn(archive_bucket),),
                condition={"StringLike": {"s3:prefix": f"{prefix}/*"}},
            ),
            PolicyStatement(
                sid="ReadOwnArchivedEvents",
                actions=("s3:GetObject",),
                resources=(location.s3_arn(archive_bucket, prefix),),
            ),
            PolicyStatement(
                sid="RepublishToOwnTopic", actions=("sns:Publish",), resources=(arns.topic,)
            ),
            # replay finds the topic by name (connect.open_publisher); sns:ListTopics has no
            # resource-level permissions, so "*" is the only resource AWS accepts.
            PolicyStatement(
                sid="FindOwnTopicByName", actions=("sns:ListTopics",), resources=("*",)
            ),
        ],
    )
