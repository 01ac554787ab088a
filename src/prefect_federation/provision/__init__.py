"""Create, idempotently, the topics, queues, DLQs, subscriptions and policies the declarations need.

- one SNS topic per publishing domain;
- one SQS queue per subscribing domain, with its own DLQ (redrive policy, `maxReceiveCount`);
- a subscription of that queue to each upstream topic, raw delivery, with a filter policy on the
  `type` message attribute listing exactly the types the domain subscribes to;
- a queue policy that lets only those topics send;
- when given a DynamoDB client, a table per domain with joins or expectations
  (`<name_prefix><domain>-joins`, `joins.dynamodb.ensure_table`);
- when given an S3 client, the environment's event archive: one bucket (default
  `<name_prefix>event-archive`), versioned, public access blocked (`archive.ensure_archive`).

Running it twice changes nothing; a changed declaration updates filter policies and removes
subscriptions no longer declared.
"""

from __future__ import annotations

from prefect_federation.provision.blocks import save_blocks
from prefect_federation.provision.policies import filter_policy, queue_policy
from prefect_federation.provision.provisioner import provision
from prefect_federation.provision.report import DomainResources, ProvisionReport

__all__ = [
    "DomainResources",
    "ProvisionReport",
    "filter_policy",
    "provision",
    "queue_policy",
    "save_blocks",
]
