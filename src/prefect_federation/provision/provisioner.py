"""The provisioner: each resource the declarations need, looked up, then created or updated."""

from __future__ import annotations

import json
from typing import Any

from prefect_federation.archive import default_archive_bucket, ensure_archive, validate_bucket_name
from prefect_federation.declarations import DomainDeclaration, Federation
from prefect_federation.errors import ConfigError
from prefect_federation.joins.dynamodb import ensure_table
from prefect_federation.naming import dlq_name, join_table_name, queue_name, topic_name
from prefect_federation.provision.policies import (
    filter_policy,
    queue_policy,
    same_attribute,
    same_json,
)
from prefect_federation.provision.report import DomainResources, ProvisionReport
from prefect_federation.queue_admin import SqsQueueAdmin
from prefect_federation.settings import FederationSettings

__all__ = ["provision"]


class _Provisioner:
    def __init__(
        self,
        federation: Federation,
        settings: FederationSettings,
        sns: Any,
        sqs: Any,
        s3: Any = None,
        archive_bucket: str | None = None,
        dynamodb: Any = None,
    ) -> None:
        self.dynamodb = dynamodb
        self.federation = federation
        self.settings = settings
        self.sns = sns
        self.sqs = sqs
        self.admin = SqsQueueAdmin(sqs, sns=sns)  # finds queues and topics by name
        self.s3 = s3
        self.archive_bucket: str | None = None
        if s3 is not None:  # a bad bucket name fails here, before anything is created
            self.archive_bucket = (
                validate_bucket_name(archive_bucket)
                if archive_bucket
                else default_archive_bucket(settings.name_prefix)
            )
        self.report = ProvisionReport()
        self._topics: dict[str, str] | None = None

    def resources(self, domain: str) -> DomainResources:
        return self.report.resources.setdefault(domain, DomainResources(domain))

    def existing_topics(self) -> dict[str, str]:
        if self._topics is None:
            self._topics = self.admin.topic_arns()
        return self._topics

    # -- topics ---------------------------------------------------------------------------------

    def ensure_topic(self, declaration: DomainDeclaration) -> str:
        name = topic_name(self.settings.name_prefix, declaration.domain, declaration.fifo)
        existing = self.existing_topics().get(name)
        if existing:
            self.report.add("unchanged", "sns topic", name)
            arn = existing
        else:
            attributes = (
                {"FifoTopic": "true", "ContentBasedDeduplication": "false"}
                if (declaration.fifo)
                else {}
            )
            arn = self.sns.create_topic(
                Name=name,
                Attributes=attributes,
                Tags=[{"Key": "prefect-federation:domain", "Value": declaration.domain}],
            )["TopicArn"]
            self.existing_topics()[name] = arn
            self.report.add("created", "sns topic", name)
        self.resources(declaration.domain).topic_arn = arn
        return str(arn)

    def upstream_topic(self, upstream: str) -> str:
        declared = self.federation.domains.get(upstream)
        if declared is not None and declared.publishes:
            return self.ensure_topic_once(declared)
        fifo_name = topic_name(self.settings.name_prefix, upstream, True)
        name = topic_name(self.settings.name_prefix, upstream, False)
        arn = self.existing_topics().get(name) or self.existing_topics().get(fifo_name)
        if arn is None:
            raise ConfigError(
                f"upstream domain {upstream!r} is not declared here and its topic {name!r} does "
                "not exist: provision that domain first, or add its declaration"
            )
        return arn

    def ensure_topic_once(self, declaration: DomainDeclaration) -> str:
        known = self.resources(declaration.domain).topic_arn
        return known if known else self.ensure_topic(declaration)

    # -- queues ---------------------------------------------------------------------------------

    def _queue_url(self, name: str) -> str | None:
        return self.admin.queue_url(name)

    def _ensure_queue(self, name: str, attributes: dict[str, str], kind: str) -> tuple[str, str]:
        url = self._queue_url(name)
        if url is None:
            create_attributes = dict(attributes)
            if name.endswith(".fifo"):
                create_attributes["FifoQueue"] = "true"
            url = self.sqs.create_queue(QueueName=name, Attributes=create_attributes)["QueueUrl"]
            self.report.add("created", kind, name)
        else:
            current = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
                "Attributes"
            ]
            changed = {
                key: value
                for key, value in attributes.items()
                if not same_attribute(current.get(key), value)
            }
            if changed:
                self.sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)
                self.report.add("updated", kind, f"{name} ({', '.join(sorted(changed))})")
            else:
                self.report.add("unchanged", kind, name)
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        return str(url), str(arn)

    def ensure_queues(self, declaration: DomainDeclaration) -> DomainResources:
        prefix, domain, fifo = self.settings.name_prefix, declaration.domain, declaration.fifo
        resources = self.resources(domain)
        resources.dlq_url, resources.dlq_arn = self._ensure_queue(
            dlq_name(prefix, domain, fifo),
            {"MessageRetentionPeriod": str(14 * 24 * 3600)},
            "sqs dead-letter queue",
        )
        redrive = {
            "deadLetterTargetArn": resources.dlq_arn,
            "maxReceiveCount": self.settings.max_receive_count,
        }
        resources.queue_url, resources.queue_arn = self._ensure_queue(
            queue_name(prefix, domain, fifo),
            {
                "VisibilityTimeout": str(self.settings.visibility_timeout),
                "ReceiveMessageWaitTimeSeconds": "20",
                "MessageRetentionPeriod": str(4 * 24 * 3600),
                "RedrivePolicy": json.dumps(redrive),
            },
            "sqs queue",
        )
        return resources

    # -- subscriptions --------------------------------------------------------------------------

    def _subscriptions_of_queue(self, queue_arn: str) -> dict[str, str]:
        """topic ARN -> subscription ARN, for every subscription delivering to this queue."""
        found: dict[str, str] = {}
        for page in self.sns.get_paginator("list_subscriptions").paginate():
            for sub in page.get("Subscriptions", []):
                if sub.get("Endpoint") == queue_arn and sub.get("Protocol") == "sqs":
                    found[sub["TopicArn"]] = sub["SubscriptionArn"]
        return found

    def ensure_subscriptions(self, declaration: DomainDeclaration) -> None:
        resources = self.resources(declaration.domain)
        assert resources.queue_arn is not None
        assert resources.queue_url is not None
        existing = self._subscriptions_of_queue(resources.queue_arn)
        wanted: dict[str, list[str]] = {}
        raw_topics: set[str] = set()
        for upstream, types in declaration.upstreams().items():
            topic_arn = self.upstream_topic(upstream)
            wanted.setdefault(topic_arn, []).extend(types)
            if any(s.adapter == "raw" and s.upstream == upstream for s in declaration.subscribes):
                raw_topics.add(topic_arn)
        for topic_arn, types in wanted.items():
            policy = json.dumps(filter_policy(types, topic_arn in raw_topics), sort_keys=True)
            label = f"{topic_arn.rsplit(':', 1)[-1]} -> {declaration.domain} ({', '.join(types)})"
            subscription_arn = existing.get(topic_arn)
            if subscription_arn is None:
                self.sns.subscribe(
                    TopicArn=topic_arn,
                    Protocol="sqs",
                    Endpoint=resources.queue_arn,
                    Attributes={"FilterPolicy": policy, "RawMessageDelivery": "true"},
                    ReturnSubscriptionArn=True,
                )
                self.report.add("created", "subscription", label)
                continue
            current = self.sns.get_subscription_attributes(SubscriptionArn=subscription_arn)[
                "Attributes"
            ]
            updated = False
            if not same_json(current.get("FilterPolicy"), policy):
                self.sns.set_subscription_attributes(
                    SubscriptionArn=subscription_arn,
                    AttributeName="FilterPolicy",
                    AttributeValue=policy,
                )
                updated = True
            if current.get("RawMessageDelivery", "false").lower() != "true":
                self.sns.set_subscription_attributes(
                    SubscriptionArn=subscription_arn,
                    AttributeName="RawMessageDelivery",
                    AttributeValue="true",
                )
                updated = True
            self.report.add("updated" if updated else "unchanged", "subscription", label)
        for topic_arn, subscription_arn in existing.items():
            if topic_arn not in wanted:
                self.sns.unsubscribe(SubscriptionArn=subscription_arn)
                self.report.add(
                    "removed",
                    "subscription",
                    f"{topic_arn.rsplit(':', 1)[-1]} -> {declaration.domain} (no longer declared)",
                )
        policy_document = json.dumps(queue_policy(resources.queue_arn, list(wanted)))
        current_policy = (
            self.sqs.get_queue_attributes(QueueUrl=resources.queue_url, AttributeNames=["All"])
            .get("Attributes", {})
            .get("Policy")
        )
        if same_json(current_policy, policy_document):
            self.report.add("unchanged", "queue policy", declaration.domain)
        else:
            self.sqs.set_queue_attributes(
                QueueUrl=resources.queue_url, Attributes={"Policy": policy_document}
            )
            self.report.add(
                "updated" if current_policy else "created", "queue policy", declaration.domain
            )

    def check_names(self) -> None:
        """Refuse, before creating anything, names AWS would reject (SQS: 80 characters)."""
        prefix = self.settings.name_prefix
        for declaration in self.federation:
            domain, fifo = declaration.domain, declaration.fifo
            for kind, name in (
                ("topic", topic_name(prefix, domain, fifo)),
                ("queue", queue_name(prefix, domain, fifo)),
                ("dead-letter queue", dlq_name(prefix, domain, fifo)),
            ):
                if len(name) > 80:
                    raise ConfigError(
                        f"domain {domain!r}: its {kind} name {name!r} has {len(name)} characters; "
                        f"AWS allows 80. Shorten the domain name or the prefix {prefix!r}"
                    )

    def retire_queue(self, declaration: DomainDeclaration) -> None:
        """A domain that subscribes to nothing any more: remove what still delivers to it."""
        url = self._queue_url(
            queue_name(self.settings.name_prefix, declaration.domain, declaration.fifo)
        )
        if url is None:
            return
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        for topic_arn, subscription_arn in self._subscriptions_of_queue(arn).items():
            self.sns.unsubscribe(SubscriptionArn=subscription_arn)
            self.report.add(
                "removed",
                "subscription",
                f"{topic_arn.rsplit(':', 1)[-1]} -> {declaration.domain} (no longer declared)",
            )
        policy = (
            self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
            .get("Attributes", {})
            .get("Policy")
        )
        if policy:
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
            self.report.add("removed", "queue policy", declaration.domain)

    def run(self) -> ProvisionReport:
        self.check_names()
        publishers = self.federation.publishers()
        stateful = [d.domain for d in self.federation if d.keeps_state]
        if stateful and self.dynamodb is None:
            raise ConfigError(
                f"domain(s) {', '.join(stateful)} declare joins or expectations, which keep their "
                "state in a DynamoDB table per domain: provision needs a DynamoDB client "
                "(`provision(..., dynamodb=...)`; the `provision` command passes one)"
            )
        if self.s3 is not None and self.archive_bucket and publishers:
            self.report.add(*ensure_archive(self.s3, self.archive_bucket))
        for declaration in publishers:
            self.ensure_topic_once(declaration)
            self.resources(declaration.domain).archive_bucket = self.archive_bucket
        for declaration in self.federation:
            if declaration.subscribes:
                self.ensure_queues(declaration)
                self.ensure_subscriptions(declaration)
            else:
                self.retire_queue(declaration)
            if declaration.keeps_state:
                table = join_table_name(self.settings.name_prefix, declaration.domain)
                self.report.add(ensure_table(self.dynamodb, table), "dynamodb table", table)
                self.resources(declaration.domain).join_table = table
        return self.report


def provision(
    federation: Federation,
    sns: Any,
    sqs: Any,
    settings: FederationSettings | None = None,
    s3: Any = None,
    archive_bucket: str | None = None,
    dynamodb: Any = None,
) -> ProvisionReport:
    """Create or update every resource the declarations need; returns what was done.

    Args:
        s3: an S3 client: also ensure the event archive bucket (skipped when None).
        archive_bucket: its name (default `<name_prefix>event-archive`; S3 names are global, so
            set your own on real AWS).
        dynamodb: a DynamoDB client, for the join tables: required when a domain declares joins
            or expectations (`ConfigError` otherwise: the listener would have no table).
    """
    return _Provisioner(
        federation, settings or FederationSettings(), sns, sqs, s3, archive_bucket, dynamodb
    ).run()
