"""The AWS path against moto in server mode (real HTTP): provisioning, publishing, filtering,
fan-out, FIFO, the SQS queue client and finding resources by name."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from prefect_federation.connect import find_topic_arn, open_publisher, open_queue
from prefect_federation.declarations import Federation
from prefect_federation.errors import ConfigError
from prefect_federation.provision import ProvisionReport, provision
from prefect_federation.publisher import SnsPublisher
from prefect_federation.queue import SqsQueueClient
from prefect_federation.settings import FederationSettings
from prefect_federation.testing import make_event

pytestmark = pytest.mark.integration

# the fixtures of tests/integration/conftest.py
Federate = Callable[..., Federation]
Provision = Callable[..., tuple[Federation, ProvisionReport]]
Depth = Callable[[str], tuple[int, int]]

INGESTION = {
    "domain": "ingestion",
    "publishes": [{"type": "ingestion.completed"}, {"type": "ingestion.started"}],
}
BILLING = {"domain": "billing", "publishes": [{"type": "billing.closed"}]}


def subscriber(domain: str, *events: str, fifo: bool = False) -> dict[str, Any]:
    """A domain that subscribes to `events`, one deployment per event."""
    return {
        "domain": domain,
        "fifo": fifo,
        "subscribes": [
            {"event": event, "deployment": f"{domain}-flow/{event.replace('.', '-')}"}
            for event in events
        ],
    }


def subscriptions_to_queue(sns: Any, topic_arn: str, queue_arn: str) -> list[dict[str, Any]]:
    """The subscriptions of `topic_arn` delivering to `queue_arn`, with their attributes."""
    found = []
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for sub in page["Subscriptions"]:
            if sub["Endpoint"] == queue_arn:
                attributes = sns.get_subscription_attributes(
                    SubscriptionArn=sub["SubscriptionArn"]
                )["Attributes"]
                found.append({**sub, "Attributes": attributes})
    return found


def queue_attributes(sqs: Any, url: str) -> dict[str, str]:
    return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])


def receive_all(client: SqsQueueClient, expected: int) -> list[Any]:
    """Receive until `expected` messages arrived (a few short polls at most)."""
    received: list[Any] = []
    for _ in range(5):
        received += client.receive(10, 1)
        if len(received) >= expected:
            break
    return received


# -- provisioning ---------------------------------------------------------------------------------


def test_provision_creates_topic_queue_dlq_subscription_and_a_policy_naming_only_subscribed_topics(
    provisioned: Provision,
    sns: Any,
    sqs: Any,
    name_prefix: str,
    federation_settings: FederationSettings,
) -> None:
    _, report = provisioned(INGESTION, BILLING, subscriber("scoring", "ingestion.completed"))

    ingestion_arn = find_topic_arn(sns, f"{name_prefix}ingestion")
    billing_arn = find_topic_arn(sns, f"{name_prefix}billing")
    assert ingestion_arn is not None
    assert billing_arn is not None
    assert report.resources["ingestion"].topic_arn == ingestion_arn

    queue_url = sqs.get_queue_url(QueueName=f"{name_prefix}scoring-inbox")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName=f"{name_prefix}scoring-inbox-dlq")["QueueUrl"]
    scoring = report.resources["scoring"]
    assert (scoring.queue_url, scoring.dlq_url) == (queue_url, dlq_url)

    attributes = queue_attributes(sqs, queue_url)
    dlq_arn = queue_attributes(sqs, dlq_url)["QueueArn"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn
    assert int(redrive["maxReceiveCount"]) == federation_settings.max_receive_count
    assert attributes["VisibilityTimeout"] == str(federation_settings.visibility_timeout)

    [subscription] = subscriptions_to_queue(sns, ingestion_arn, attributes["QueueArn"])
    assert subscription["Protocol"] == "sqs"
    assert subscription["Attributes"]["RawMessageDelivery"] == "true"
    assert json.loads(subscription["Attributes"]["FilterPolicy"]) == {
        "type": ["ingestion.completed"]
    }
    assert subscriptions_to_queue(sns, billing_arn, attributes["QueueArn"]) == []

    policy = json.loads(attributes["Policy"])
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == attributes["QueueArn"]
    source_arns = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert (source_arns if isinstance(source_arns, list) else [source_arns]) == [ingestion_arn]

    created = {(action, kind) for action, kind, _ in report.actions}
    assert created == {
        ("created", "sns topic"),
        ("created", "sqs dead-letter queue"),
        ("created", "sqs queue"),
        ("created", "subscription"),
        ("created", "queue policy"),
    }
    assert report.changed


def test_a_second_provision_run_reports_every_action_unchanged(provisioned: Provision) -> None:
    domains = (
        INGESTION,
        BILLING,
        subscriber("scoring", "ingestion.completed", "billing.closed"),
        {"domain": "ledger", "fifo": True, "publishes": [{"type": "ledger.posted"}]},
        subscriber("audit", "ledger.posted", fifo=True),
    )
    _, first = provisioned(*domains)
    _, second = provisioned(*domains)

    assert len(second.actions) == len(first.actions)
    assert [action for action, _, _ in second.actions] == ["unchanged"] * len(second.actions), (
        second.actions
    )
    assert second.changed is False
    assert second.resources == first.resources


def test_an_extra_subscribed_type_updates_the_filter_policy(
    provisioned: Provision, sns: Any
) -> None:
    _, first = provisioned(INGESTION, subscriber("scoring", "ingestion.completed"))
    _, report = provisioned(
        INGESTION, subscriber("scoring", "ingestion.completed", "ingestion.started")
    )

    assert [(a, k) for a, k, _ in report.actions if k == "subscription"] == [
        ("updated", "subscription")
    ]
    ingestion = first.resources["ingestion"].topic_arn
    queue_arn = first.resources["scoring"].queue_arn
    assert ingestion is not None
    assert queue_arn is not None
    [subscription] = subscriptions_to_queue(sns, ingestion, queue_arn)
    assert json.loads(subscription["Attributes"]["FilterPolicy"]) == {
        "type": ["ingestion.completed", "ingestion.started"]
    }


def test_a_subscription_no_longer_declared_is_removed_and_the_policy_follows(
    provisioned: Provision, sns: Any, sqs: Any
) -> None:
    _, first = provisioned(
        INGESTION, BILLING, subscriber("scoring", "ingestion.completed", "billing.closed")
    )
    _, report = provisioned(INGESTION, BILLING, subscriber("scoring", "billing.closed"))

    removed = [name for action, kind, name in report.actions if action == "removed"]
    assert len(removed) == 1
    assert "ingestion" in removed[0]
    scoring = first.resources["scoring"]
    ingestion_arn = first.resources["ingestion"].topic_arn
    billing_arn = first.resources["billing"].topic_arn
    assert scoring.queue_arn is not None
    assert scoring.queue_url is not None
    assert ingestion_arn is not None
    assert billing_arn is not None
    assert subscriptions_to_queue(sns, ingestion_arn, scoring.queue_arn) == []
    assert len(subscriptions_to_queue(sns, billing_arn, scoring.queue_arn)) == 1

    statement = json.loads(queue_attributes(sqs, scoring.queue_url)["Policy"])["Statement"][0]
    source_arns = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert (source_arns if isinstance(source_arns, list) else [source_arns]) == [billing_arn]


def test_a_domain_that_stops_subscribing_altogether_loses_its_subscription(
    provisioned: Provision, sns: Any
) -> None:
    _, first = provisioned(INGESTION, subscriber("scoring", "ingestion.completed"))
    no_longer = {"domain": "scoring", "publishes": [{"type": "scoring.completed"}]}

    _, report = provisioned(INGESTION, no_longer)

    ingestion_arn = first.resources["ingestion"].topic_arn
    queue_arn = first.resources["scoring"].queue_arn
    assert ingestion_arn is not None
    assert queue_arn is not None
    assert subscriptions_to_queue(sns, ingestion_arn, queue_arn) == []
    assert "removed" in [action for action, _, _ in report.actions]


def test_provision_repairs_raw_delivery_turned_off_and_a_changed_visibility_timeout(
    provisioned: Provision, sns: Any, sqs: Any, federation_settings: FederationSettings
) -> None:
    domains = (INGESTION, subscriber("scoring", "ingestion.completed"))
    _, first = provisioned(*domains)
    topic_arn = first.resources["ingestion"].topic_arn
    queue_url = first.resources["scoring"].queue_url
    queue_arn = first.resources["scoring"].queue_arn
    assert topic_arn is not None
    assert queue_url is not None
    assert queue_arn is not None
    [subscription] = subscriptions_to_queue(sns, topic_arn, queue_arn)
    sns.set_subscription_attributes(
        SubscriptionArn=subscription["SubscriptionArn"],
        AttributeName="RawMessageDelivery",
        AttributeValue="false",
    )
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "5"})

    _, report = provisioned(*domains)

    changed = {
        (action, kind)
        for action, kind, _ in report.actions
        # moto's SetQueueAttributes drops a queue's Policy when the call does not include one
        # (AWS keeps it), so provision puts the policy back here: not what this test is about
        if action != "unchanged" and kind != "queue policy"
    }
    assert changed == {("updated", "subscription"), ("updated", "sqs queue")}
    [subscription] = subscriptions_to_queue(sns, topic_arn, queue_arn)
    assert subscription["Attributes"]["RawMessageDelivery"] == "true"
    visibility = queue_attributes(sqs, queue_url)["VisibilityTimeout"]
    assert visibility == str(federation_settings.visibility_timeout)


def test_a_changed_max_receive_count_updates_the_queue_redrive_policy(
    federate: Federate, sns: Any, sqs: Any, federation_settings: FederationSettings
) -> None:
    federation = federate(INGESTION, subscriber("scoring", "ingestion.completed"))
    first = provision(federation, sns, sqs, federation_settings)
    changed = federation_settings.model_copy(update={"max_receive_count": 3})

    report = provision(federation, sns, sqs, changed)

    queue_url = first.resources["scoring"].queue_url
    assert queue_url is not None
    queue_actions = [(a, name) for a, kind, name in report.actions if kind == "sqs queue"]
    assert len(queue_actions) == 1
    assert queue_actions[0][0] == "updated"
    assert "RedrivePolicy" in queue_actions[0][1]
    redrive = json.loads(queue_attributes(sqs, queue_url)["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 3
    assert SqsQueueClient(sqs, queue_url).max_receive_count() == 3


def test_a_domain_name_too_long_for_its_queue_name_is_a_config_error_naming_the_domain(
    provisioned: Provision,
) -> None:
    long_domain = "scoring-" + "x" * 55  # 63 characters: a valid domain name
    with pytest.raises(ConfigError, match=long_domain):
        provisioned(INGESTION, subscriber(long_domain, "ingestion.completed"))


def test_an_undeclared_upstream_without_a_topic_is_a_config_error_naming_the_domain(
    provisioned: Provision,
) -> None:
    with pytest.raises(ConfigError, match="'external'"):
        provisioned(subscriber("scoring", "external.done"))


def test_an_undeclared_upstream_whose_topic_exists_is_subscribed(
    provisioned: Provision, sns: Any, name_prefix: str
) -> None:
    topic_arn = sns.create_topic(Name=f"{name_prefix}external")["TopicArn"]

    _, report = provisioned(subscriber("scoring", "external.done"))

    queue_arn = report.resources["scoring"].queue_arn
    assert queue_arn is not None
    [subscription] = subscriptions_to_queue(sns, topic_arn, queue_arn)
    assert json.loads(subscription["Attributes"]["FilterPolicy"]) == {"type": ["external.done"]}


# -- publishing: filter policies and fan-out ------------------------------------------------------


def test_only_the_subscribed_type_reaches_the_queue(
    provisioned: Provision, sns: Any, sqs: Any, depth: Depth
) -> None:
    _, report = provisioned(INGESTION, subscriber("scoring", "ingestion.completed"))
    topic_arn = report.resources["ingestion"].topic_arn
    queue_url = report.resources["scoring"].queue_url
    assert topic_arn is not None
    assert queue_url is not None
    publisher = SnsPublisher(sns, topic_arn)

    publisher.publish(make_event("ingestion.started", {"n": 1}))
    wanted = make_event("ingestion.completed", {"n": 2})
    publisher.publish(wanted)

    assert depth(queue_url) == (1, 0)
    [message] = SqsQueueClient(sqs, queue_url).receive(10, 1)
    assert message.attributes["type"] == "ingestion.completed"
    assert message.attributes["source"] == "ingestion"
    assert json.loads(message.body)["id"] == str(wanted.id)  # raw delivery: the envelope itself


def test_two_subscriber_domains_of_one_topic_both_receive_the_event(
    provisioned: Provision, sns: Any, sqs: Any
) -> None:
    _, report = provisioned(
        INGESTION,
        subscriber("scoring", "ingestion.completed"),
        subscriber("reporting", "ingestion.completed"),
    )
    topic_arn = report.resources["ingestion"].topic_arn
    assert topic_arn is not None
    event = make_event("ingestion.completed", {"snapshot_date": "2026-11-01"})
    SnsPublisher(sns, topic_arn).publish(event)

    for domain in ("scoring", "reporting"):
        queue_url = report.resources[domain].queue_url
        assert queue_url is not None
        [message] = SqsQueueClient(sqs, queue_url).receive(10, 1)
        assert json.loads(message.body)["id"] == str(event.id), domain


# -- FIFO -----------------------------------------------------------------------------------------

FIFO_INGESTION = {**INGESTION, "fifo": True}


def test_a_fifo_domain_gets_a_fifo_topic_queue_and_dlq(
    provisioned: Provision, sns: Any, sqs: Any, name_prefix: str
) -> None:
    _, report = provisioned(FIFO_INGESTION, subscriber("scoring", "ingestion.completed", fifo=True))

    topic_arn = report.resources["ingestion"].topic_arn
    scoring = report.resources["scoring"]
    assert topic_arn == find_topic_arn(sns, f"{name_prefix}ingestion.fifo")
    assert scoring.queue_url is not None
    assert scoring.dlq_url is not None
    assert scoring.queue_url.endswith(f"/{name_prefix}scoring-inbox.fifo")
    assert scoring.dlq_url.endswith(f"/{name_prefix}scoring-inbox-dlq.fifo")
    assert sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["FifoTopic"] == "true"
    assert queue_attributes(sqs, scoring.queue_url)["FifoQueue"] == "true"
    assert queue_attributes(sqs, scoring.dlq_url)["FifoQueue"] == "true"
    assert find_topic_arn(sns, f"{name_prefix}ingestion") is None  # no standard twin


def test_the_fifo_publisher_sets_the_group_and_the_event_id_as_deduplication_id(
    provisioned: Provision, sns: Any, sqs: Any
) -> None:
    _, report = provisioned(FIFO_INGESTION, subscriber("scoring", "ingestion.completed", fifo=True))
    topic_arn = report.resources["ingestion"].topic_arn
    queue_url = report.resources["scoring"].queue_url
    assert topic_arn is not None
    publisher = SnsPublisher(sns, topic_arn)
    assert publisher.fifo
    event = make_event("ingestion.completed")
    publisher.publish(event)

    [raw] = sqs.receive_message(
        QueueUrl=queue_url,
        WaitTimeSeconds=1,
        MessageSystemAttributeNames=["MessageGroupId", "MessageDeduplicationId"],
    )["Messages"]
    assert raw["Attributes"]["MessageGroupId"] == "ingestion"  # default: the event's source
    assert raw["Attributes"]["MessageDeduplicationId"] == str(event.id)


def test_publishing_the_same_envelope_twice_to_a_fifo_topic_delivers_it_once(
    provisioned: Provision, sns: Any, sqs: Any, depth: Depth
) -> None:
    _, report = provisioned(FIFO_INGESTION, subscriber("scoring", "ingestion.completed", fifo=True))
    topic_arn = report.resources["ingestion"].topic_arn
    queue_url = report.resources["scoring"].queue_url
    assert topic_arn is not None
    assert queue_url is not None
    publisher = SnsPublisher(sns, topic_arn)
    event = make_event("ingestion.completed")

    publisher.publish(event)
    publisher.publish(event)
    publisher.publish(make_event("ingestion.completed"))  # a different event is not deduplicated

    assert depth(queue_url) == (2, 0)
    ids = [json.loads(m.body)["id"] for m in receive_all(SqsQueueClient(sqs, queue_url), 2)]
    assert ids.count(str(event.id)) == 1


def test_events_of_one_fifo_group_arrive_in_publish_order(
    provisioned: Provision, sns: Any, sqs: Any
) -> None:
    _, report = provisioned(FIFO_INGESTION, subscriber("scoring", "ingestion.completed", fifo=True))
    topic_arn = report.resources["ingestion"].topic_arn
    queue_url = report.resources["scoring"].queue_url
    assert topic_arn is not None
    assert queue_url is not None
    publisher = SnsPublisher(sns, topic_arn)
    events = [make_event("ingestion.completed", {"seq": seq}) for seq in range(6)]
    for event in events:
        publisher.publish(event)

    client = SqsQueueClient(sqs, queue_url)
    received = receive_all(client, len(events))
    assert [json.loads(m.body)["data"]["seq"] for m in received] == list(range(6))
    assert {m.group_id for m in received} == {"ingestion"}


# -- the SQS queue client -------------------------------------------------------------------------


@pytest.fixture
def scoring_queue(provisioned: Provision, sqs: Any) -> tuple[SqsQueueClient, str, str]:
    """A provisioned standard queue (client without a given DLQ url), its url and its DLQ url."""
    _, report = provisioned(INGESTION, subscriber("scoring", "ingestion.completed"))
    scoring = report.resources["scoring"]
    assert scoring.queue_url is not None
    assert scoring.dlq_url is not None
    return SqsQueueClient(sqs, scoring.queue_url), scoring.queue_url, scoring.dlq_url


def test_the_queue_client_receives_attributes_and_counts_redeliveries(
    scoring_queue: tuple[SqsQueueClient, str, str], sqs: Any
) -> None:
    client, queue_url, _ = scoring_queue
    sent = sqs.send_message(
        QueueUrl=queue_url,
        MessageBody='{"hello": "world"}',
        MessageAttributes={
            "type": {"DataType": "String", "StringValue": "ingestion.completed"},
            "source": {"DataType": "String", "StringValue": "ingestion"},
        },
    )

    [first] = client.receive(10, 1)
    assert first.message_id == sent["MessageId"]
    assert first.body == '{"hello": "world"}'
    assert first.attributes == {"type": "ingestion.completed", "source": "ingestion"}
    assert first.receive_count == 1
    assert first.sent_at is not None
    assert client.receive(10, 0) == []  # hidden while in flight

    client.retry_later(first, 0)
    [second] = client.receive(10, 1)
    assert second.message_id == first.message_id
    assert second.receive_count == 2


def test_dead_letter_puts_the_original_body_and_attributes_in_the_dlq_with_a_reason(
    scoring_queue: tuple[SqsQueueClient, str, str], sqs: Any, depth: Depth
) -> None:
    client, queue_url, dlq_url = scoring_queue
    body = "not json at all"
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=body,
        MessageAttributes={"type": {"DataType": "String", "StringValue": "ingestion.completed"}},
    )
    [message] = client.receive(10, 1)

    client.dead_letter(message, "EnvelopeParseError: message body is not JSON")

    [dead] = sqs.receive_message(
        QueueUrl=dlq_url, WaitTimeSeconds=1, MessageAttributeNames=["All"]
    )["Messages"]
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert dead["Body"] == body
    assert attributes["federation-reason"] == "EnvelopeParseError: message body is not JSON"
    assert attributes["type"] == "ingestion.completed"
    assert attributes["federation-source-queue"] == queue_url
    assert attributes["federation-original-message-id"] == message.message_id
    assert attributes["federation-receive-count"] == "1"
    assert depth(queue_url) == (0, 1)  # dead_letter copies; deleting is the listener's job


def test_max_receive_count_and_dlq_url_are_read_from_the_redrive_policy(
    scoring_queue: tuple[SqsQueueClient, str, str], federation_settings: FederationSettings
) -> None:
    client, _, dlq_url = scoring_queue

    assert client.max_receive_count() == federation_settings.max_receive_count
    assert client.dlq_url == dlq_url


def test_a_queue_without_redrive_policy_has_no_dlq_and_dead_letter_refuses(
    sqs: Any, name_prefix: str
) -> None:
    from prefect_federation.errors import ConfigError

    url = sqs.create_queue(QueueName=f"{name_prefix}bare")["QueueUrl"]
    client = SqsQueueClient(sqs, url)
    sqs.send_message(QueueUrl=url, MessageBody="x")
    [message] = client.receive(1, 1)

    assert client.max_receive_count() is None
    assert client.dlq_url is None
    with pytest.raises(ConfigError, match="no dead-letter queue"):
        client.dead_letter(message, "reason")


# -- connect: finding resources by name -----------------------------------------------------------


def test_open_publisher_and_open_queue_find_the_resources_by_name(
    provisioned: Provision, federation_settings: FederationSettings, sqs: Any
) -> None:
    federation, report = provisioned(INGESTION, subscriber("scoring", "ingestion.completed"))

    publisher = open_publisher("ingestion", federation_settings)
    queue = open_queue(federation.domain("scoring"), federation_settings)

    assert publisher.topic_arn == report.resources["ingestion"].topic_arn
    assert queue.queue_url == report.resources["scoring"].queue_url
    assert queue.dlq_url == report.resources["scoring"].dlq_url
    event = make_event("ingestion.completed")
    publisher.publish(event)
    [message] = queue.receive(10, 1)
    assert json.loads(message.body)["id"] == str(event.id)


def test_open_publisher_finds_a_fifo_topic(
    provisioned: Provision, federation_settings: FederationSettings
) -> None:
    federation, report = provisioned(
        FIFO_INGESTION, subscriber("scoring", "ingestion.completed", fifo=True)
    )

    publisher = open_publisher("ingestion", federation_settings)
    queue = open_queue(federation.domain("scoring"), federation_settings)

    assert publisher.fifo
    assert publisher.topic_arn == report.resources["ingestion"].topic_arn
    assert queue.fifo
    assert queue.queue_url == report.resources["scoring"].queue_url


def test_open_queue_of_an_unprovisioned_domain_is_a_config_error(
    federate: Federate, federation_settings: FederationSettings, aws_env: str, name_prefix: str
) -> None:
    federation = federate(INGESTION, subscriber("scoring", "ingestion.completed"))

    with pytest.raises(ConfigError, match=f"{name_prefix}scoring-inbox"):
        open_queue(federation.domain("scoring"), federation_settings)


def test_open_publisher_of_an_unprovisioned_domain_is_a_config_error(
    federation_settings: FederationSettings, aws_env: str
) -> None:
    with pytest.raises(ConfigError, match="'nowhere'"):
        open_publisher("nowhere", federation_settings)


def test_provision_with_default_settings_uses_the_environment_prefix(
    federate: Federate, sns: Any, sqs: Any, name_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_FEDERATION_NAME_PREFIX", name_prefix)

    report = provision(federate(INGESTION), sns, sqs)

    assert report.resources["ingestion"].topic_arn == find_topic_arn(sns, f"{name_prefix}ingestion")
