"""Least-privilege IAM policies of a domain, generated from its declaration.

Identity-based policies per domain, never one for all domains:

- the **runtime** policy, for the domain's flows and listener: publish to its own topic; receive,
  delete and extend messages of its own queue; dead-letter to its own DLQ. Nothing on any other
  domain's topic or queue, nothing that creates or reconfigures anything.
- the **provisioning** policy, for the domain's deploy pipeline: create its own topic, queue and
  DLQ, set their attributes (redrive, queue policy), and subscribe its own queue, and only that
  queue (`sns:Endpoint` condition), to the topics of the domains it subscribes to.
- the **operator** policy, for whoever triages its dead letters (`prefect-federation dlq ...`):
  read and delete from its own DLQ, send back to its own queue.

Every resource ARN comes from `prefect_federation.naming`, exactly as `provision` and `connect`
name the resources. Five SNS actions have no resource-level permissions in AWS (the "resource
types" column of the Service Authorization Reference is empty): `sns:ListTopics`,
`sns:ListSubscriptions`, `sns:GetSubscriptionAttributes`, `sns:SetSubscriptionAttributes` and
`sns:Unsubscribe`. For those, and only those, the resource is `"*"`; each such statement says why.

The deploy pipeline provisions one domain at a time (`provision -d deployments/<domain>.yaml`):
given every declaration, `provision` would also look at other domains' queues, which this policy
rightly refuses. An upstream's topic must exist before a downstream domain is provisioned. A
domain that subscribes to nothing still gets `sqs:GetQueueUrl` on its own queue name (`provision`
looks for a queue to retire); the deploy that drops its last subscription needs `retire_queue`.

What "*" leaves open, because AWS offers nothing narrower: any runtime or provisioning role that
may list topics sees every topic ARN of the account; the provisioning role may read, change and
delete any subscription of the account (it only touches those delivering to its own queue).

The event archive (`prefect_federation.archive`, one S3 bucket per environment, a prefix per
topic): the runtime of a publishing domain may `s3:PutObject` under `<bucket>/<its topic>/*` only,
the one wildcard in a resource ARN this module allows (an S3 object prefix, which is how S3 scopes
objects); `replay_policy` reads that prefix back and publishes to the domain's own topic.
Pass `archive_bucket=None` for a domain that does not archive.

Not covered: SSE-KMS queues or topics with a customer managed key (add `kms:GenerateDataKey` and
`kms:Decrypt` on that key); cross-account subscriptions (the upstream topic's own policy must also
allow `sns:Subscribe`).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from prefect_federation.declarations import DomainDeclaration, Federation
from prefect_federation.errors import ConfigError
from prefect_federation.naming import dlq_name, queue_name, topic_name
from prefect_federation.settings import FederationSettings

__all__ = [
    "ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS",
    "DLQ_OPERATOR_ACTIONS",
    "DLQ_RUNTIME_ACTIONS",
    "QUEUE_RUNTIME_ACTIONS",
    "AwsLocation",
    "DomainArns",
    "PolicyDocument",
    "PolicyStatement",
    "domain_arns",
    "operator_policy",
    "provisioning_policy",
    "replay_policy",
    "runtime_policy",
]

POLICY_VERSION: Literal["2012-10-17"] = "2012-10-17"

ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS = frozenset(
    {
        "sns:ListTopics",
        "sns:ListSubscriptions",
        "sns:GetSubscriptionAttributes",
        "sns:SetSubscriptionAttributes",
        "sns:Unsubscribe",
    }
)
"""The only actions that get `"Resource": "*"`: AWS accepts no other resource for them."""

QUEUE_RUNTIME_ACTIONS = (
    "sqs:ChangeMessageVisibility",  # extend_visibility / retry_later
    "sqs:DeleteMessage",  # delete, once every run exists
    "sqs:GetQueueAttributes",  # RedrivePolicy: maxReceiveCount and the DLQ's ARN
    "sqs:GetQueueUrl",  # connect.open_queue finds the queue by name
    "sqs:ReceiveMessage",  # the long poll
)
"""What the listener does on its own queue (`queue.SqsQueueClient`)."""

DLQ_RUNTIME_ACTIONS = (
    "sqs:GetQueueUrl",  # SqsQueueClient finds the DLQ from the RedrivePolicy's ARN
    "sqs:SendMessage",  # dead_letter: the message, with the reason, to the DLQ
)
"""What the listener does on its own DLQ."""

DLQ_OPERATOR_ACTIONS = (
    "sqs:ChangeMessageVisibility",  # release what was looked at (ChangeMessageVisibilityBatch)
    "sqs:DeleteMessage",  # after a redrive, or a purge
    "sqs:GetQueueAttributes",  # queue_depth: the progress bar's total
    "sqs:ReceiveMessage",  # every operation scans the DLQ
)
"""What DLQ tooling (`prefect_federation.dlq`) does on the DLQ; redrive also sends to the queue."""

ARCHIVE_PROVISIONING_ACTIONS = (
    "s3:CreateBucket",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketVersioning",
    "s3:ListBucket",  # head_bucket: does it exist, is it ours
    "s3:PutBucketPublicAccessBlock",  # only called when a setting differs
    "s3:PutBucketVersioning",  # only called when a setting differs
)
"""What `archive.ensure_archive` does on the archive bucket."""

_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")
_S3_OBJECT_PREFIX = re.compile(r"^arn:[a-z-]+:s3:::[a-z0-9.-]{3,63}/[^*]+/\*$")
"""`arn:aws:s3:::<bucket>/<prefix>/*`: the objects under one prefix (S3 scopes objects so)."""
_SID = re.compile(r"^[A-Za-z0-9]+$")

ConditionBlock = dict[str, dict[str, str | list[str]]]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class PolicyStatement(_Frozen):
    """One `Allow` statement: explicit actions (no wildcards), explicit resources."""

    sid: str = Field(alias="Sid", description="Unique within the document, alphanumeric.")
    effect: Literal["Allow"] = Field(default="Allow", alias="Effect")
    actions: tuple[str, ...] = Field(alias="Action", min_length=1)
    resources: tuple[str, ...] = Field(alias="Resource", min_length=1)
    condition: ConditionBlock | None = Field(default=None, alias="Condition")

    @field_validator("sid")
    @classmethod
    def _sid_is_alphanumeric(cls, value: str) -> str:
        if not _SID.match(value):
            raise ValueError(f"Sid {value!r} must be alphanumeric")
        return value

    @field_validator("actions")
    @classmethod
    def _actions_are_explicit(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for action in value:
            if not _ACTION.match(action):
                raise ValueError(f"action {action!r} must be `service:Action`, without wildcards")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _star_only_where_aws_requires_it(self) -> PolicyStatement:
        if "*" in self.resources:
            scoped = sorted(set(self.actions) - ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS)
            if scoped or len(self.resources) != 1:
                raise ValueError(
                    f"statement {self.sid}: resource '*' is only for actions without "
                    f"resource-level permissions; these have them: {', '.join(scoped)}"
                )
        elif any(
            "*" in resource and not _S3_OBJECT_PREFIX.match(resource) for resource in self.resources
        ):
            raise ValueError(
                f"statement {self.sid}: no wildcards in resource ARNs (except a trailing /* "
                "after an S3 object prefix)"
            )
        return self


class PolicyDocument(_Frozen):
    """An IAM identity-based policy document."""

    version: Literal["2012-10-17"] = Field(default=POLICY_VERSION, alias="Version")
    statements: tuple[PolicyStatement, ...] = Field(alias="Statement", min_length=1)

    @model_validator(mode="after")
    def _sids_are_unique(self) -> PolicyDocument:
        sids = [statement.sid for statement in self.statements]
        duplicated = sorted({sid for sid in sids if sids.count(sid) > 1})
        if duplicated:
            raise ValueError(f"duplicate Sid(s): {', '.join(duplicated)}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The document as IAM expects it (`Version`, `Statement`, `Sid`, ...)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def actions(self) -> set[str]:
        """Every action granted by some statement."""
        return {action for statement in self.statements for action in statement.actions}


class AwsLocation(_Frozen):
    """The account and region the domain's resources live in; the partition follows the region."""

    account_id: str = Field(pattern=r"^\d{12}$", description="12-digit AWS account id.")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$", description="e.g. eu-west-1.")

    @property
    def partition(self) -> str:
        """`aws`, `aws-cn`, `aws-us-gov`, ... from botocore's bundled endpoint data."""
        return _partition_of(self.region)

    def arn(self, service: Literal["sns", "sqs"], name: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{name}"

    def s3_arn(self, bucket: str, prefix: str | None = None) -> str:
        """The bucket, or with `prefix` the objects under `<prefix>/` (S3 ARNs have neither
        region nor account)."""
        bucket_arn = f"arn:{self.partition}:s3:::{bucket}"
        return f"{bucket_arn}/{prefix}/*" if prefix else bucket_arn


class DomainArns(_Frozen):
    """The ARNs of one domain's names. The names exist whether or not the resources do:
    `publishes`/`subscribes` say which resources the declaration calls for."""

    domain: str
    publishes: bool
    subscribes: bool
    topic: str = Field(description="The topic it publishes to (exists when it publishes).")
    queue: str = Field(description="Its queue (exists when it subscribes, or used to).")
    dlq: str = Field(description="Its dead-letter queue.")
    upstream_topics: tuple[str, ...] = Field(
        default=(), description="Topics its queue is subscribed to, sorted."
    )


@functools.lru_cache(maxsize=32)
def _partition_of(region: str) -> str:
    import botocore.session
    from botocore.exceptions import UnknownRegionError

    try:
        return str(botocore.session.get_session().get_partition_for_region(region))
    except UnknownRegionError as exc:
        raise ConfigError(f"unknown AWS region {region!r}") from exc


def _location(account_id: str, region: str) -> AwsLocation:
    try:
        location = AwsLocation(account_id=account_id, region=region)
    except ValidationError as exc:
        problems = "; ".join(
            f"{e['loc'][0]}: {e['msg']} (got {e['input']!r})" for e in exc.errors()
        )
        raise ConfigError(f"not a valid AWS account/region: {problems}") from exc
    _ = location.partition  # an unknown region fails here, not halfway through a policy
    return location


def _upstream_topic_names(
    federation: Federation, declaration: DomainDeclaration, prefix: str
) -> list[str]:
    """As `provision` resolves them: a declared upstream's own FIFO flag; an undeclared one's topic
    is looked up under both names, so both are allowed."""
    names: list[str] = []
    for upstream in declaration.upstreams():
        declared = federation.domains.get(upstream)
        if declared is not None:
            names.append(topic_name(prefix, upstream, declared.fifo))
        else:
            names.extend([topic_name(prefix, upstream, False), topic_name(prefix, upstream, True)])
    return names


def domain_arns(
    federation: Federation,
    domain: str,
    settings: FederationSettings,
    account_id: str,
    region: str,
) -> DomainArns:
    """The ARNs of `domain`'s topic, queue, DLQ and upstream topics, named as `provision` does."""
    declaration = federation.domain(domain)
    location = _location(account_id, region)
    prefix, fifo = settings.name_prefix, declaration.fifo
    return DomainArns(
        domain=domain,
        publishes=bool(declaration.publishes),
        subscribes=bool(declaration.subscribes),
        topic=location.arn("sns", topic_name(prefix, domain, fifo)),
        queue=location.arn("sqs", queue_name(prefix, domain, fifo)),
        dlq=location.arn("sqs", dlq_name(prefix, domain, fifo)),
        upstream_topics=tuple(
            sorted(
                location.arn("sns", name)
                for name in _upstream_topic_names(federation, declaration, prefix)
            )
        ),
    )


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
    return _document(domain, "runtime", statements)


def operator_policy(
    federation: Federation,
    domain: str,
    settings: FederationSettings,
    account_id: str,
    region: str,
) -> PolicyDocument:
    """What `prefect-federation dlq list|show|redrive|purge --domain <domain>` needs
    (`prefect_federation.dlq`): find the queues, read and delete dead letters, send them back.

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
        ],
    )


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
