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

from prefect_federation.iam.arns import domain_arns
from prefect_federation.iam.models import (
    ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS,
    DLQ_OPERATOR_ACTIONS,
    DLQ_RUNTIME_ACTIONS,
    QUEUE_RUNTIME_ACTIONS,
    AwsLocation,
    DomainArns,
    PolicyDocument,
    PolicyStatement,
)
from prefect_federation.iam.policies import (
    operator_policy,
    provisioning_policy,
    replay_policy,
    runtime_policy,
)

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
