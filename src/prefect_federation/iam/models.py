"""IAM policy documents as validated models, and the action lists the policies grant."""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prefect_federation.errors import ConfigError

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


@functools.lru_cache(maxsize=32)
def _partition_of(region: str) -> str:
    import botocore.session
    from botocore.exceptions import UnknownRegionError

    try:
        return str(botocore.session.get_session().get_partition_for_region(region))
    except UnknownRegionError as exc:
        raise ConfigError(f"unknown AWS region {region!r}") from exc


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
    join_table: str | None = Field(
        default=None, description="Its DynamoDB table (when it has joins or expectations)."
    )
